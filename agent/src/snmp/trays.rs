//! A printer's paper trays: the Printer-MIB `prtInputTable`, walked and
//! decoded into [`PaperTray`]s.
//!
//! Only printers have the table; the poller walks it on every poll of a
//! device whose last inventory had marker supplies, so other devices are
//! not asked and an empty tray shows within a poll. [`TrayRows::take`] accepts any binding without I/O: one of an
//! unexpected type or index is skipped.

use std::collections::BTreeMap;

use async_snmp::{Oid, Value, VarBind};
use atalaya_common::model::{PaperTray, SupplyAmount};

use super::inventory::{int, text};
use super::oids::{self, split};
use super::walk::{SnmpSource, WalkError, WalkLimits, WalkState, walk_columns_into};

/// `prtInputEntry` columns: type, maximum capacity, current level, status,
/// media name, name, description.
const COLUMNS: &[u32] = &[2, 9, 10, 11, 12, 13, 18];

/// The columns walked.
pub fn columns() -> Vec<Oid> {
    oids::columns(oids::PRT_INPUT_ENTRY, COLUMNS)
}

/// Walks the tray table of a printer.
pub async fn walk<S: SnmpSource>(
    source: &S,
    state: &mut WalkState,
    limits: WalkLimits,
) -> Result<Vec<PaperTray>, WalkError> {
    let mut rows = TrayRows::default();
    walk_columns_into(source, state, limits, &columns(), |vb| rows.take(&vb)).await?;
    Ok(rows.finish())
}

/// Tray rows read so far, by `(hrDeviceIndex, prtInputIndex)`.
#[derive(Debug, Default)]
pub struct TrayRows {
    rows: BTreeMap<(u32, u32), PaperTray>,
}

impl TrayRows {
    /// Reads one binding into its row; others are ignored.
    pub fn take(&mut self, vb: &VarBind) {
        let (oid, v) = (&vb.oid, &vb.value);
        if v.is_exception() {
            return;
        }
        let Some((col, [dev, i])) = split(oid, oids::PRT_INPUT_ENTRY) else {
            return;
        };
        let t = self.rows.entry((*dev, *i)).or_default();
        t.device_index = *dev;
        t.index = *i;
        let code = |v: &Value| int(v).and_then(|c| u32::try_from(c).ok()).unwrap_or(0);
        let amount = |v: &Value| int(v).map_or(SupplyAmount::Unknown, SupplyAmount::from_raw);
        match col {
            2 => t.tray_type = code(v),
            9 => t.max_capacity = amount(v),
            10 => t.level = amount(v),
            11 => t.status = code(v),
            12 => t.media = text(v).unwrap_or_default(),
            13 => t.name = text(v).unwrap_or_default(),
            18 => t.descr = text(v).unwrap_or_default(),
            _ => {}
        }
    }

    /// The trays, sorted by index, with their percents.
    pub fn finish(self) -> Vec<PaperTray> {
        self.rows
            .into_values()
            .map(|mut t| {
                t.fill_percent();
                t
            })
            .collect()
    }
}

/// The trays of `bindings`, in any order.
pub fn build(bindings: &[VarBind]) -> Vec<PaperTray> {
    let mut rows = TrayRows::default();
    for vb in bindings {
        rows.take(vb);
    }
    rows.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snmp::testvb::{at, s, vb};

    fn col(c: u32, idx: &[u32], v: Value) -> VarBind {
        vb(&at(oids::PRT_INPUT_ENTRY, c, idx), v)
    }

    #[test]
    fn a_walk_of_the_input_table_gives_each_tray_and_its_level() {
        let bindings = vec![
            col(2, &[1, 2], Value::Integer(4)),
            col(9, &[1, 2], Value::Integer(500)),
            col(10, &[1, 2], Value::Integer(0)),
            col(11, &[1, 2], Value::Integer(9)),
            col(12, &[1, 2], s("iso-a4-white")),
            col(13, &[1, 2], s("Tray 2")),
            col(18, &[1, 2], s("Cassette 1")),
            col(2, &[1, 1], Value::Integer(5)),
            col(9, &[1, 1], Value::Integer(100)),
            col(10, &[1, 1], Value::Integer(-3)),
            col(13, &[1, 1], s("Bypass Tray")),
            col(2, &[1, 3], Value::Integer(4)),
            col(9, &[1, 3], Value::Integer(-2)),
            col(10, &[1, 3], Value::Integer(250)),
            // A malformed index and a wrong type are skipped, not a panic.
            col(10, &[1], Value::Integer(7)),
            col(13, &[1, 3], Value::Integer(7)),
        ];
        let trays = build(&bindings);
        assert_eq!(trays.len(), 3);
        assert_eq!(trays[0].name, "Bypass Tray");
        assert_eq!(trays[0].level, SupplyAmount::SomeRemaining);
        assert_eq!(trays[0].percent, None);
        let t2 = &trays[1];
        assert_eq!((t2.device_index, t2.index), (1, 2));
        assert_eq!(t2.tray_type, 4);
        assert_eq!(t2.media, "iso-a4-white");
        assert_eq!(t2.descr, "Cassette 1");
        assert_eq!(t2.status, 9);
        assert_eq!(t2.max_capacity, SupplyAmount::Units(500));
        assert_eq!(t2.percent, Some(0));
        assert!(t2.is_empty());
        assert_eq!(trays[2].name, "");
        assert_eq!(trays[2].label(), "tray 3");
        assert_eq!(trays[2].level, SupplyAmount::Units(250));
        assert_eq!(trays[2].max_capacity, SupplyAmount::Unknown);
        assert_eq!(trays[2].percent, None);
    }

    #[test]
    fn other_tables_are_ignored() {
        let trays = build(&[vb(
            &at(oids::PRT_SUPPLIES_ENTRY, 9, &[1, 1]),
            Value::Integer(10),
        )]);
        assert!(trays.is_empty());
    }
}
