//! The devices file (`[devices] file` of the collector's configuration):
//! `[[device]]` tables declaring devices to poll, read at start and again
//! on reload (SIGHUP, `atalaya-collector reload`).
//!
//! ```toml
//! [[device]]
//! name = "core-sw1"
//! address = "192.0.2.10"
//! poller = "probe-1"        # agent id or host name; the only agent if left out
//! community = "s3cret"      # SNMPv2c (version = "v1" for SNMPv1)
//! interval = 60             # seconds between polls
//!
//! [[device]]
//! address = "192.0.2.11"
//! user = "monitor"          # SNMPv3
//! auth_protocol = "sha256"
//! auth_password = "…"
//! priv_protocol = "aes"
//! priv_password = "…"
//! ```
//!
//! A device in the file is added, or changed in place when it differs; a
//! device that came from the file and is no longer in it is removed.
//! Devices added with the API or the CLI are left alone. Every error names
//! the file, the line and the key (`device[2].community`); a file with
//! errors changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use atalaya_common::config::{ConfigErrors, Document, LoadError, Section};
use atalaya_common::model::Timestamp;
use atalaya_common::model::device::{AuthProtocol, Credentials, PrivProtocol, Secret};

use super::devices::{
    DeviceError, MIN_V3_PASSWORD, NewDevice, add, check_name, choose_poller, spec_of,
};
use crate::store::{Store, StoreError};

/// One `[[device]]` of the file, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDevice {
    /// The line its table starts on.
    pub line: usize,
    /// The device as asked for.
    pub new: NewDevice,
}

/// What applying the file did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Applied {
    /// Devices added.
    pub added: Vec<String>,
    /// Devices changed in place.
    pub updated: Vec<String>,
    /// Devices removed (they left the file).
    pub removed: Vec<String>,
    /// Devices as they were.
    pub unchanged: usize,
    /// Devices not applied, each with its file, line and reason.
    pub failed: Vec<String>,
    /// Agents whose device list changed, to be told.
    #[serde(skip)]
    pub pollers: BTreeSet<String>,
}

fn auth_protocol(s: &Section<'_, '_>) -> AuthProtocol {
    match s.choice(
        "auth_protocol",
        "sha",
        &["md5", "sha", "sha224", "sha256", "sha384", "sha512"],
    ) {
        "md5" => AuthProtocol::Md5,
        "sha224" => AuthProtocol::Sha224,
        "sha256" => AuthProtocol::Sha256,
        "sha384" => AuthProtocol::Sha384,
        "sha512" => AuthProtocol::Sha512,
        _ => AuthProtocol::Sha1,
    }
}

fn priv_protocol(s: &Section<'_, '_>) -> PrivProtocol {
    match s.choice("priv_protocol", "aes", &["des", "aes", "aes192", "aes256"]) {
        "des" => PrivProtocol::Des,
        "aes192" => PrivProtocol::Aes192,
        "aes256" => PrivProtocol::Aes256,
        _ => PrivProtocol::Aes128,
    }
}

/// The credentials of one table; errors are recorded on it.
fn credentials(s: &Section<'_, '_>) -> Option<Credentials> {
    let version = s.choice("version", "", &["v1", "v2c", "v3"]);
    let community = s.string("community");
    let user = s.string("user");
    // A value of the wrong type is reported already.
    if (community.is_none() && s.has("community")) || (user.is_none() && s.has("user")) {
        return None;
    }
    let short = std::cell::Cell::new(false);
    let password = |key: &str| {
        let p = s.string(key)?;
        if p.chars().count() < MIN_V3_PASSWORD {
            short.set(true);
            s.invalid(
                key,
                format!("an SNMPv3 password has at least {MIN_V3_PASSWORD} characters"),
            );
        }
        Some(Secret::new(&p))
    };
    match (version, community, user) {
        ("v3", _, None) => {
            s.missing("user", "an SNMPv3 device needs a user");
            None
        }
        ("v3" | "", None, Some(user)) => {
            let auth = password("auth_password").map(|p| (auth_protocol(s), p));
            let privacy = password("priv_password").map(|p| (priv_protocol(s), p));
            if privacy.is_some() && auth.is_none() {
                s.invalid(
                    "priv_password",
                    "SNMPv3 privacy needs authentication: give auth_password too",
                );
                return None;
            }
            if short.get() {
                return None;
            }
            Some(Credentials::V3 {
                user,
                auth,
                privacy,
            })
        }
        (_, Some(_), Some(_)) => {
            s.invalid(
                "user",
                "give either community (SNMPv1/v2c) or user (SNMPv3), not both",
            );
            None
        }
        (_, Some(c), None) if c.is_empty() => {
            s.invalid("community", "the community is empty");
            None
        }
        ("v1", Some(c), None) => Some(Credentials::V1 {
            community: Secret::new(&c),
        }),
        (_, Some(c), None) => Some(Credentials::V2c {
            community: Secret::new(&c),
        }),
        (_, None, _) => {
            s.missing("community", "give community (SNMPv1/v2c) or user (SNMPv3)");
            None
        }
    }
}

/// Parses the file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<FileDevice>, ConfigErrors> {
    let doc = Document::parse(file, text)?;
    let mut out: Vec<FileDevice> = Vec::new();
    let mut lines: BTreeMap<String, usize> = BTreeMap::new();
    for s in doc.sections("device") {
        let Some(address) = s.string("address").map(|a| a.trim().to_owned()) else {
            s.missing("address", "every device needs an address");
            s.skip_unread();
            continue;
        };
        let name = s.string("name").map(|n| n.trim().to_owned());
        let shown = name.clone().unwrap_or_else(|| address.clone());
        if let Err(DeviceError::Invalid(m)) = check_name(&shown) {
            let key = if name.is_some() { "name" } else { "address" };
            s.invalid(key, m);
        }
        if let Some(first) = lines.insert(shown.clone(), s.line()) {
            let key = if name.is_some() { "name" } else { "address" };
            s.invalid(
                key,
                format!("a device named `{shown}` is declared already, on line {first}"),
            );
        }
        let int = |key, default, max, unit| {
            let v = s.integer(key, default, 0..=max, unit);
            s.has(key).then(|| u32::try_from(v).unwrap_or(u32::MAX))
        };
        let port = s.integer("port", 161, 1..=65_535, "ports");
        let new = NewDevice {
            address,
            name,
            poller: s.string("poller"),
            port: Some(u16::try_from(port).unwrap_or(161)),
            poll_interval_seconds: int("interval", 60, 86_400, "seconds").map(|i| i.max(1)),
            timeout_ms: int("timeout_ms", 2_000, 60_000, "milliseconds"),
            retries: int("retries", 1, 10, "retries"),
            credentials: match credentials(&s) {
                Some(c) => c,
                None => continue,
            },
        };
        if let Err(e) = spec_of(new.clone()) {
            s.missing("address", e.to_string());
            continue;
        }
        out.push(FileDevice {
            line: s.line(),
            new,
        });
    }
    doc.finish()?;
    Ok(out)
}

/// Reads and parses the devices file.
pub fn load(path: &Path) -> Result<Vec<FileDevice>, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| LoadError::read(path, e))?;
    Ok(parse(&path.display().to_string(), &text)?)
}

/// Makes the store's devices what the file says: each device of `devices`
/// added or changed, those from an earlier file no longer in it removed.
/// A device whose poller cannot be found is reported in `failed`; the
/// others are applied.
pub fn apply(
    store: &Store,
    file: &str,
    devices: &[FileDevice],
    now: Timestamp,
) -> Result<Applied, StoreError> {
    let mut done = Applied::default();
    let agents = store.list_agents()?;
    let mut named = BTreeSet::new();
    for d in devices {
        let Ok(spec) = spec_of(d.new.clone()) else {
            continue;
        };
        let name = spec.name.clone();
        named.insert(name.clone());
        let poller = match choose_poller(&agents, d.new.poller.as_deref()) {
            Ok(p) => p,
            Err(e) => {
                done.failed.push(format!(
                    "{file}:{}: device {}: poller: {e}",
                    d.line, spec.name
                ));
                continue;
            }
        };
        match store.device(&spec.name)? {
            Some(old) if old.spec == spec && old.poller == poller => done.unchanged += 1,
            Some(old) => {
                let new = crate::records::device::DeviceRecord {
                    spec,
                    poller: poller.clone(),
                    ..old.clone()
                };
                store.replace_device(&new)?;
                done.pollers.insert(old.poller);
                done.pollers.insert(poller);
                done.updated.push(new.name);
            }
            None => {
                let new = NewDevice {
                    poller: Some(poller.clone()),
                    ..d.new.clone()
                };
                match add(store, new, now) {
                    Ok(rec) => {
                        done.pollers.insert(rec.poller);
                        done.added.push(rec.name);
                    }
                    Err(DeviceError::Store(e)) => return Err(e),
                    Err(e) => done
                        .failed
                        .push(format!("{file}:{}: device {name}: {e}", d.line)),
                }
            }
        }
        store.mark_file_device(&name, true)?;
    }
    for name in store.file_devices()? {
        if named.contains(&name) {
            continue;
        }
        if let Some(rec) = store.remove_device(&name)? {
            done.pollers.insert(rec.poller);
            done.removed.push(name.clone());
        }
        store.mark_file_device(&name, false)?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AgentRecord;

    const FILE: &str = r#"
[[device]]
name = "core-sw1"
address = "192.0.2.10"
poller = "probe-1"
community = "s3cret"
interval = 30

[[device]]
address = "192.0.2.11"
user = "monitor"
auth_protocol = "sha256"
auth_password = "longenough"
"#;

    #[test]
    fn devices_are_read_with_their_credentials() {
        let devices = parse("devices.toml", FILE).unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(devices[0].line, 2);
        assert_eq!(devices[0].new.name.as_deref(), Some("core-sw1"));
        assert_eq!(devices[0].new.poll_interval_seconds, Some(30));
        assert!(matches!(
            &devices[1].new.credentials,
            Credentials::V3 { user, auth: Some((AuthProtocol::Sha256, _)), privacy: None } if user == "monitor"
        ));
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let text = "[[device]]\naddress = \"192.0.2.1\"\n\n[[device]]\naddress = \"192.0.2.2\"\ncommunity = 5\ncolour = \"red\"\n\n[[device]]\nname = \"a\"\naddress = \"192.0.2.1\"\nuser = \"m\"\nauth_password = \"short\"\n";
        let shown: Vec<String> = parse("devices.toml", text)
            .unwrap_err()
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        let expect = [
            "devices.toml:1:1: `device[0].community`: give community",
            "devices.toml:6:13: `device[1].community`: expected a string, found 5",
            "devices.toml:7:1: `device[1].colour`: unknown key",
            "devices.toml:13:17: `device[2].auth_password`: an SNMPv3 password has at least 8",
        ];
        assert_eq!(shown.len(), expect.len(), "{shown:#?}");
        for (s, e) in shown.iter().zip(expect) {
            assert!(s.starts_with(e), "{s}\n  expected {e}");
        }
    }

    #[test]
    fn applying_adds_changes_and_removes_only_file_devices() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        for (id, host) in [("ag-1", "probe-1"), ("ag-2", "probe-2")] {
            store
                .add_agent(&AgentRecord::enrolled(
                    id,
                    host,
                    "",
                    [0; 32],
                    "0.1.0",
                    Timestamp(1),
                ))
                .unwrap();
        }
        let by_hand = NewDevice {
            poller: Some("ag-2".into()),
            ..parse(
                "d",
                "[[device]]\nname = \"by-hand\"\naddress = \"192.0.2.99\"\ncommunity = \"c\"\n",
            )
            .unwrap()[0]
                .new
                .clone()
        };
        add(&store, by_hand, Timestamp(1)).unwrap();
        let first = parse("devices.toml", FILE).unwrap();
        let done = apply(&store, "devices.toml", &first, Timestamp(2)).unwrap();
        assert_eq!(done.added, ["core-sw1"]);
        assert_eq!(
            done.failed.len(),
            1,
            "two agents: the second device names none"
        );
        assert!(
            done.failed[0]
                .starts_with("devices.toml:9: device 192.0.2.11: poller: 2 agents could poll"),
            "{:?}",
            done.failed
        );
        let again = apply(&store, "devices.toml", &first, Timestamp(3)).unwrap();
        assert_eq!((again.unchanged, again.added.len()), (1, 0));
        let moved = FILE.replace("poller = \"probe-1\"", "poller = \"probe-2\"");
        let changed = apply(
            &store,
            "devices.toml",
            &parse("d", &moved).unwrap(),
            Timestamp(4),
        )
        .unwrap();
        assert_eq!(changed.updated, ["core-sw1"]);
        assert_eq!(
            changed
                .pollers
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["ag-1", "ag-2"]
        );
        assert_eq!(store.device("core-sw1").unwrap().unwrap().poller, "ag-2");
        let emptied = apply(&store, "devices.toml", &[], Timestamp(5)).unwrap();
        assert_eq!(emptied.removed, ["core-sw1"]);
        assert!(store.device("by-hand").unwrap().is_some());
    }
}
