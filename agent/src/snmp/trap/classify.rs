//! What an accepted notification says, as a [`TrapEvent`]: its kind, the
//! interface of a link trap (named from the poller's last inventory of the
//! device), its bindings rendered as text and bounded.

use std::collections::BTreeMap;

use async_snmp::{Value, VarBind};
use atalaya_common::model::Timestamp;
use atalaya_common::model::device::trap::{
    MAX_VALUE_BYTES, MAX_VARBINDS, TrapEvent, TrapInterface, TrapKind, TrapVersion,
};

use super::decode::Notice;

/// `ifIndex` column of the `ifTable` (its instance is the `ifIndex`).
const IF_INDEX: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 1];
/// `ifAdminStatus` column.
const IF_ADMIN_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 7];
/// `ifOperStatus` column.
const IF_OPER_STATUS: &[u32] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 8];

/// Who sent a notification and when it came.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The device's name.
    pub device: &'a str,
    /// `ip:port` it came from.
    pub source: &'a str,
    /// When it was received.
    pub received_at: Timestamp,
    /// The version it came in.
    pub version: TrapVersion,
}

/// The event of `notice` from `origin`; `names` are the device's interface
/// names by `ifIndex` from the poller's last inventory (empty when none).
pub fn classify(origin: Origin<'_>, notice: &Notice, names: &BTreeMap<u32, String>) -> TrapEvent {
    let kind = TrapKind::of_oid(&notice.trap_oid);
    let interface = matches!(kind, TrapKind::LinkDown | TrapKind::LinkUp)
        .then(|| link_interface(&notice.varbinds, names))
        .flatten();
    let varbinds = notice
        .varbinds
        .iter()
        .take(MAX_VARBINDS)
        .map(|vb| (vb.oid.to_string(), render(&vb.value)))
        .collect();
    TrapEvent {
        device: origin.device.to_owned(),
        received_at: origin.received_at,
        source: origin.source.to_owned(),
        version: origin.version,
        inform: notice.inform,
        trap_oid: notice.trap_oid.clone(),
        kind,
        interface,
        uptime_ticks: notice.uptime,
        varbinds,
    }
}

/// The interface of a link trap, from its `ifIndex`, `ifAdminStatus` and
/// `ifOperStatus` bindings (RFC 2863); `None` when it names none.
fn link_interface(varbinds: &[VarBind], names: &BTreeMap<u32, String>) -> Option<TrapInterface> {
    let mut if_index = None;
    let mut admin_up = None;
    let mut oper_up = None;
    for vb in varbinds {
        let arcs = vb.oid.arcs();
        let column = |col: &[u32]| arcs.len() == col.len() + 1 && arcs.starts_with(col);
        let instance = arcs.last().copied();
        if column(IF_INDEX) {
            if let Value::Integer(i) = vb.value {
                if_index = u32::try_from(i).ok().or(if_index);
            }
            if_index = if_index.or(instance);
        } else if column(IF_ADMIN_STATUS) {
            admin_up = status(&vb.value);
            if_index = if_index.or(instance);
        } else if column(IF_OPER_STATUS) {
            oper_up = status(&vb.value);
            if_index = if_index.or(instance);
        }
    }
    let if_index = if_index?;
    Some(TrapInterface {
        if_index,
        name: names.get(&if_index).cloned(),
        admin_up,
        oper_up,
    })
}

/// `up(1)` → true, any other status (down, testing, dormant…) → false.
fn status(value: &Value) -> Option<bool> {
    match value {
        Value::Integer(1) => Some(true),
        Value::Integer(_) => Some(false),
        _ => None,
    }
}

/// A binding's value as text: printable strings as they are, other bytes
/// in hex, at most [`MAX_VALUE_BYTES`].
pub fn render(value: &Value) -> String {
    let text = match value {
        Value::OctetString(bytes) => match std::str::from_utf8(bytes) {
            Ok(s)
                if !s
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) =>
            {
                s.to_owned()
            }
            _ => hex(bytes),
        },
        Value::TimeTicks(t) => t.to_string(),
        other => other.to_string(),
    };
    truncate(text, MAX_VALUE_BYTES)
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 + 2 * bytes.len().min(MAX_VALUE_BYTES));
    out.push_str("0x");
    for b in bytes.iter().take(MAX_VALUE_BYTES / 2) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    text.truncate(text.floor_char_boundary(max));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::testvb::{b, s, vb};

    fn notice(trap_oid: &str, varbinds: Vec<VarBind>) -> Notice {
        Notice {
            inform: false,
            request_id: Some(7),
            uptime: Some(4200),
            trap_oid: trap_oid.into(),
            generic: None,
            all: varbinds.clone(),
            varbinds,
        }
    }

    fn origin() -> Origin<'static> {
        Origin {
            device: "core-sw",
            source: "192.0.2.1:40000",
            received_at: Timestamp(1_800_000_000_000),
            version: TrapVersion::V2c,
        }
    }

    #[test]
    fn a_link_down_names_its_interface_from_the_last_inventory() {
        let n = notice(
            "1.3.6.1.6.3.1.1.5.3",
            vec![
                vb(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 3], Value::Integer(3)),
                vb(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 7, 3], Value::Integer(1)),
                vb(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 3], Value::Integer(2)),
            ],
        );
        let names = BTreeMap::from([(3, "ge-0/0/1".to_owned())]);
        let event = classify(origin(), &n, &names);
        assert_eq!(event.kind, TrapKind::LinkDown);
        assert_eq!(
            event.interface,
            Some(TrapInterface {
                if_index: 3,
                name: Some("ge-0/0/1".into()),
                admin_up: Some(true),
                oper_up: Some(false),
            })
        );
        assert_eq!(event.interface_subject().as_deref(), Some("ge-0/0/1"));
        assert_eq!(event.uptime_ticks, Some(4200));
        assert_eq!(
            event.varbinds[2],
            ("1.3.6.1.2.1.2.2.1.8.3".into(), "2".into())
        );
    }

    #[test]
    fn a_link_up_without_an_if_index_binding_takes_the_instance() {
        let n = notice(
            "1.3.6.1.6.3.1.1.5.4",
            vec![vb(&[1, 3, 6, 1, 2, 1, 2, 2, 1, 8, 12], Value::Integer(1))],
        );
        let event = classify(origin(), &n, &BTreeMap::new());
        assert_eq!(event.kind, TrapKind::LinkUp);
        let interface = event.interface.unwrap();
        assert_eq!((interface.if_index, interface.oper_up), (12, Some(true)));
        assert_eq!(interface.subject(), "12");
    }

    #[test]
    fn standard_and_other_traps_are_told_apart() {
        for (oid, kind) in [
            ("1.3.6.1.6.3.1.1.5.1", TrapKind::ColdStart),
            ("1.3.6.1.6.3.1.1.5.2", TrapKind::WarmStart),
            ("1.3.6.1.6.3.1.1.5.5", TrapKind::AuthenticationFailure),
            ("1.3.6.1.4.1.99999.0.7", TrapKind::Other),
            ("1.3.6.1.6.3.1.1.5.3.1", TrapKind::Other),
        ] {
            let event = classify(origin(), &notice(oid, Vec::new()), &BTreeMap::new());
            assert_eq!(event.kind, kind, "{oid}");
            assert_eq!(event.interface, None, "{oid}");
        }
        // A link trap naming no interface has none.
        let event = classify(
            origin(),
            &notice("1.3.6.1.6.3.1.1.5.3", Vec::new()),
            &BTreeMap::new(),
        );
        assert_eq!((event.kind, event.interface), (TrapKind::LinkDown, None));
    }

    #[test]
    fn bindings_are_bounded_and_rendered_as_text() {
        let many: Vec<VarBind> = (0..100)
            .map(|i| vb(&[1, 3, 6, 1, 4, 1, 99999, i], Value::Integer(i as i32)))
            .collect();
        let event = classify(
            origin(),
            &notice("1.3.6.1.4.1.99999.0.1", many),
            &BTreeMap::new(),
        );
        assert_eq!(event.varbinds.len(), MAX_VARBINDS);
        let long = Value::OctetString(vec![b'a'; 5000].into());
        assert_eq!(render(&long).len(), MAX_VALUE_BYTES);
        let wide = Value::OctetString("é".repeat(1000).into_bytes().into());
        let shown = render(&wide);
        assert!(shown.len() <= MAX_VALUE_BYTES && shown.chars().all(|c| c == 'é'));
        assert_eq!(render(&b(&[0, 1, 0xff])), "0x0001ff");
        assert_eq!(render(&s("port 3 down")), "port 3 down");
        assert_eq!(render(&Value::TimeTicks(4200)), "4200");
        assert!(render(&Value::OctetString(vec![0xab; 4000].into())).len() <= MAX_VALUE_BYTES + 2);
    }
}
