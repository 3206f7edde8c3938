//! `atalaya changes`: each inventory change as a sentence
//! ([`atalaya_common::render::changes`]), with when and on which host; a
//! network device's inventory changes come in the same list, under the
//! device's name.
//!
//! The API gives a change as its path, action and the JSON of its sides
//! ([`ChangeLine`]); the typed change is rebuilt from them so the CLI tells
//! it in the same words as every other Atalaya screen.

use atalaya_common::diff::Change;
use atalaya_common::render::changes::describe;
use serde_json::{Value, json};

use super::client::ApiClient;
use super::{CliError, Format, Table, decode, path_seg, pretty, seconds};
use crate::records::device::DeviceChangeItem;
use crate::store::{Action, ChangeEvent, ChangeLine};

/// `atalaya changes [--since] [--asset] [--limit]`: oldest first.
pub fn run(
    client: &ApiClient,
    since: String,
    asset: Option<String>,
    limit: usize,
    format: Format,
) -> Result<String, CliError> {
    let q = [("since", Some(since)), ("limit", Some(limit.to_string()))];
    let body = match asset {
        Some(a) => client.get(&format!("/api/v1/assets/{}/changes", path_seg(&a)), &q)?,
        None => client.get("/api/v1/changes", &q)?,
    };
    if format == Format::Json {
        return Ok(pretty(&body));
    }
    let events: Vec<ChangeEvent> = decode(&body, "changes")?;
    Ok(table(&events).output(format))
}

/// The typed change a line of the API stands for; `None` for a part this
/// CLI does not know (a newer collector) or sides that do not parse.
pub fn change_of(line: &ChangeLine) -> Option<Change> {
    let side = |v: &Option<Value>| v.clone().unwrap_or(Value::Null);
    let inner = match (line.key.is_some(), line.action) {
        (false, _) => json!({ "before": side(&line.before), "after": side(&line.after) }),
        (true, Action::Added) => json!({ "added": side(&line.after) }),
        (true, Action::Removed) => json!({ "removed": side(&line.before) }),
        (true, Action::Changed) => json!({
            "changed": { "before": side(&line.before), "after": side(&line.after) }
        }),
    };
    Change::decode(&line.path, inner).ok().flatten()
}

/// The sentences for one line of the API; a line that cannot be rebuilt
/// still says what and where.
pub fn sentences(line: &ChangeLine) -> Vec<String> {
    match change_of(line) {
        Some(change) => describe(&change),
        None => {
            let action = match line.action {
                Action::Added => "added",
                Action::Removed => "removed",
                Action::Changed => "changed",
            };
            let key = line.key.as_deref().map(|k| format!(" {k}"));
            vec![format!("{action} {}{}", line.path, key.unwrap_or_default())]
        }
    }
}

/// The sentence for one change of a network device's inventory.
pub fn device_sentence(item: &DeviceChangeItem) -> String {
    match item {
        DeviceChangeItem::System {
            field,
            before,
            after,
        } => {
            let name = match field.as_str() {
                "descr" => "sysDescr",
                "object_id" => "sysObjectID",
                "name" => "sysName",
                "location" => "sysLocation",
                "contact" => "sysContact",
                other => other,
            };
            // sysDescr runs over several lines; its first tells the version.
            let first = |s: &str| s.lines().next().unwrap_or("").to_owned();
            format!("changed {name} {} → {}", first(before), first(after))
        }
        DeviceChangeItem::InterfaceAdded { if_index, name } => {
            format!("added interface {name} (ifIndex {if_index})")
        }
        DeviceChangeItem::InterfaceRemoved { if_index, name } => {
            format!("removed interface {name} (ifIndex {if_index})")
        }
        DeviceChangeItem::ModuleAdded { name, serial, .. } => {
            format!("added module {name}, serial {serial}")
        }
        DeviceChangeItem::ModuleRemoved { name, serial, .. } => {
            format!("removed module {name}, serial {serial}")
        }
        DeviceChangeItem::SerialChanged {
            name,
            before,
            after,
            ..
        } => format!("changed serial of {name} {before} → {after}"),
        DeviceChangeItem::FirmwareChanged {
            name,
            before,
            after,
            ..
        } => format!("changed firmware / software of {name} {before} → {after}"),
        DeviceChangeItem::NeighbourAdded(n) => format!(
            "{} neighbour {} port {} appeared on {}",
            n.protocol.as_str().to_uppercase(),
            n.neighbour,
            n.port,
            n.interface
        ),
        DeviceChangeItem::NeighbourRemoved(n) => format!(
            "{} neighbour {} port {} left {}",
            n.protocol.as_str().to_uppercase(),
            n.neighbour,
            n.port,
            n.interface
        ),
    }
}

/// The `atalaya changes` table: time, host (or device) and a sentence per change.
pub fn table(events: &[ChangeEvent]) -> Table {
    let mut t = Table::new(["TIME", "HOST", "CHANGE"]);
    for e in events {
        if let Some(d) = &e.device {
            for item in &d.items {
                t.push([seconds(e.at), d.name.clone(), device_sentence(item)]);
            }
            continue;
        }
        if e.changes.is_empty() {
            t.push([seconds(e.at), e.hostname.clone(), "first inventory".into()]);
        }
        for sentence in e.changes.iter().flat_map(sentences) {
            t.push([seconds(e.at), e.hostname.clone(), sentence]);
        }
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use atalaya_common::diff::{Edit, ItemChange};
    use atalaya_common::model::{Filesystem, Host, Login, Package, Timestamp};

    use super::*;
    use crate::store::ChangeKind;
    use crate::store::query::change_line;

    /// As the CLI receives it: through the API's JSON.
    fn over_the_wire(c: &Change) -> ChangeLine {
        let text = serde_json::to_string(&change_line(c)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn every_kind_of_change_comes_back_from_the_api_form() {
        let pkg = |v: &str| Package {
            name: "openssl".into(),
            version: v.into(),
            arch: Some("amd64".into()),
            ..Package::default()
        };
        let host = |name: &str| Host {
            hostname: name.into(),
            ..Host::default()
        };
        let changes = [
            Change::Package(ItemChange::Added(pkg("3.0.18"))),
            Change::Package(ItemChange::Removed(pkg("3.0.18"))),
            Change::Package(ItemChange::Changed {
                before: pkg("3.0.18"),
                after: pkg("3.0.19"),
            }),
            Change::Host(Edit {
                before: host("web1"),
                after: host("web2"),
            }),
            // Parts that are themselves optional: `null` on one side.
            Change::PackageManager(Edit {
                before: None,
                after: Some("dpkg".into()),
            }),
            Change::LastLogin(Edit {
                before: Some(Login {
                    user: "maria".into(),
                    tty: "tty2".into(),
                    remote_host: None,
                    at: Timestamp(0),
                }),
                after: None,
            }),
            Change::Filesystem(ItemChange::Removed(Filesystem {
                mount_point: "/media/usb".into(),
                ..Filesystem::default()
            })),
        ];
        for c in &changes {
            assert_eq!(change_of(&over_the_wire(c)).as_ref(), Some(c));
        }
    }

    #[test]
    fn the_table_tells_each_change_as_a_sentence() {
        let pkg = |v: &str| Package {
            name: "sl".into(),
            version: v.into(),
            arch: Some("amd64".into()),
            ..Package::default()
        };
        let event = |changes: Vec<ChangeLine>| ChangeEvent {
            asset_id: "a1".into(),
            hostname: "web1".into(),
            at: Timestamp(1_764_000_000_123),
            seq: 1,
            kind: ChangeKind::Delta,
            changes,
            device: None,
        };
        let unknown = ChangeLine {
            path: "hardware.tpm".into(),
            key: Some("\"tpm0\"".into()),
            action: Action::Added,
            before: None,
            after: Some(json!({"name": "tpm0"})),
        };
        let events = [
            event(Vec::new()),
            event(vec![
                over_the_wire(&Change::Package(ItemChange::Added(pkg("5.02-1+b1")))),
                over_the_wire(&Change::Host(Edit {
                    before: Host {
                        hostname: "web1".into(),
                        ..Host::default()
                    },
                    after: Host {
                        hostname: "web2".into(),
                        ..Host::default()
                    },
                })),
                unknown,
            ]),
        ];
        assert_eq!(
            table(&events).render(),
            "\
TIME                  HOST  CHANGE
2025-11-24T16:00:00Z  web1  first inventory
2025-11-24T16:00:00Z  web1  added package sl 5.02-1+b1 (amd64)
2025-11-24T16:00:00Z  web1  changed hostname web1 → web2
2025-11-24T16:00:00Z  web1  added hardware.tpm \"tpm0\"
"
        );
        let mut device = event(Vec::new());
        device.hostname = "core-sw1".into();
        device.device = Some(crate::store::DeviceChanged {
            name: "core-sw1".into(),
            agent_id: "agent-1".into(),
            items: vec![
                DeviceChangeItem::InterfaceRemoved {
                    if_index: 2,
                    name: "Gi1/0/2".into(),
                },
                DeviceChangeItem::System {
                    field: "name".into(),
                    before: "core-sw1".into(),
                    after: "core-sw2".into(),
                },
                DeviceChangeItem::SerialChanged {
                    index: 1,
                    name: "chassis".into(),
                    before: "A1".into(),
                    after: "B2".into(),
                },
            ],
        });
        assert_eq!(
            table(&[device]).render(),
            "\
TIME                  HOST      CHANGE
2025-11-24T16:00:00Z  core-sw1  removed interface Gi1/0/2 (ifIndex 2)
2025-11-24T16:00:00Z  core-sw1  changed sysName core-sw1 → core-sw2
2025-11-24T16:00:00Z  core-sw1  changed serial of chassis A1 → B2
"
        );
    }
}
