//! The value forms GLPI's schema constrains (dates, datetimes, CPU
//! architectures, MAC addresses, netmasks…), and the object builder that
//! sets a field only when it has such a value. Each function answers
//! `None` for a value GLPI would refuse, so the caller leaves the field out.

use std::net::{Ipv4Addr, Ipv6Addr};

use atalaya_common::model::Timestamp;
use serde_json::{Map, Value};

/// Bytes in one of GLPI's "MB": its agents divide by 1024 twice.
const MIB: u64 = 1024 * 1024;

/// A size in bytes as GLPI's whole megabytes, rounded down.
pub(super) fn mib(bytes: u64) -> u64 {
    bytes / MIB
}

/// A time as GLPI's `datetime`: `YYYY-MM-DD hh:mm:ss` (UTC).
pub(super) fn datetime(t: Timestamp) -> Option<String> {
    let s = t.to_rfc3339()?;
    let (date, rest) = s.split_once('T')?;
    let time = rest.get(..8)?;
    Some(format!("{date} {time}"))
}

/// A time's day as GLPI's `date`: `YYYY-MM-DD` (UTC).
pub(super) fn date(t: Timestamp) -> Option<String> {
    let s = t.to_rfc3339()?;
    s.split_once('T').map(|(d, _)| d.to_owned())
}

/// A firmware release date as GLPI's `date`. SMBIOS writes `MM/DD/YYYY`;
/// some firmware writes `YYYY-MM-DD` already. Anything else (two-digit
/// years, words, impossible days) is no date.
pub(super) fn firmware_date(s: &str) -> Option<String> {
    let s = s.trim();
    let (y, m, d) = if let Some((m, rest)) = s.split_once('/') {
        let (d, y) = rest.split_once('/')?;
        (y, m, d)
    } else {
        let mut parts = s.splitn(3, '-');
        (parts.next()?, parts.next()?, parts.next()?)
    };
    let number = |p: &str, digits: usize| {
        (p.len() == digits && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse::<u32>().ok())
            .flatten()
    };
    let pad = |p: &str| {
        if p.len() == 1 {
            format!("0{p}")
        } else {
            p.to_owned()
        }
    };
    let (year, month, day) = (number(y, 4)?, number(&pad(m), 2)?, number(&pad(d), 2)?);
    ((1..=12).contains(&month) && (1..=days_in(year, month)).contains(&day))
        .then(|| format!("{year:04}-{month:02}-{day:02}"))
}

fn days_in(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A machine architecture as GLPI's CPU `arch` pattern has it
/// (`mips|mips64|alpha|sparc|sparc64|m68k|i386|x86_64|powerpc|powerpc64|arm.*|aarch64`).
/// Others (riscv64, s390x…) have no GLPI name.
pub(super) fn cpu_arch(arch: &str) -> Option<String> {
    let a = arch.trim();
    let name = match a {
        "x86_64" | "amd64" | "x64" => "x86_64",
        "i386" | "i486" | "i586" | "i686" | "x86" => "i386",
        "aarch64" | "arm64" => "aarch64",
        "ppc64" | "ppc64le" | "powerpc64" | "powerpc64le" => "powerpc64",
        "ppc" | "powerpc" => "powerpc",
        "mips" | "mipsel" => "mips",
        "mips64" | "mips64el" => "mips64",
        "sparc" => "sparc",
        "sparc64" => "sparc64",
        "alpha" => "alpha",
        "m68k" => "m68k",
        // armv7l, armv6l, armhf…: GLPI takes any `arm` name as it is.
        a if a.starts_with("arm") && !a.contains(char::is_whitespace) => a,
        _ => return None,
    };
    Some(name.to_owned())
}

/// A MAC address in GLPI's `00:00:00:00:00:00` form, lower case; `None`
/// for other lengths (InfiniBand's 20 bytes) and the all-zero address.
pub(super) fn mac(s: &str) -> Option<String> {
    let mac = s.trim().to_ascii_lowercase();
    let groups: Vec<&str> = mac.split(':').collect();
    let well_formed = groups.len() == 6
        && groups
            .iter()
            .all(|g| g.len() == 2 && g.bytes().all(|b| b.is_ascii_hexdigit()));
    (well_formed && groups.iter().any(|g| *g != "00")).then_some(mac)
}

/// The IPv4 netmask of a prefix length, e.g. `255.255.255.0` for 24.
pub(super) fn mask_v4(prefix: u8) -> Option<Ipv4Addr> {
    (prefix <= 32)
        .then(|| Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)))
}

/// The IPv6 netmask of a prefix length, e.g. `ffff:ffff:ffff:ffff::` for 64.
pub(super) fn mask_v6(prefix: u8) -> Option<Ipv6Addr> {
    (prefix <= 128)
        .then(|| Ipv6Addr::from(u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)))
}

/// A PCI address as GLPI writes a slot: `00:02.0`, the domain left out
/// when it is the first (`0000:`), as `lspci` does.
pub(super) fn pci_slot(address: &str) -> &str {
    address.strip_prefix("0000:").unwrap_or(address)
}

/// One of GLPI's JSON objects being filled. A field is set only when it
/// has a value: blank text, absent numbers and empty lists are left out,
/// never sent empty.
#[derive(Debug, Default)]
pub(super) struct Obj(Map<String, Value>);

impl Obj {
    /// An object with no field yet.
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// Sets a string field to the trimmed text, unless it is blank or absent.
    pub(super) fn text<S: AsRef<str>>(mut self, key: &str, value: Option<S>) -> Self {
        if let Some(v) = value {
            let v = v.as_ref().trim();
            if !v.is_empty() {
                self.0.insert(key.to_owned(), Value::String(v.to_owned()));
            }
        }
        self
    }

    /// Sets an integer field, unless absent.
    pub(super) fn int(mut self, key: &str, value: Option<u64>) -> Self {
        if let Some(v) = value {
            self.0.insert(key.to_owned(), Value::from(v));
        }
        self
    }

    /// Sets a boolean field.
    pub(super) fn flag(mut self, key: &str, value: bool) -> Self {
        self.0.insert(key.to_owned(), Value::Bool(value));
        self
    }

    /// Sets a list field, unless the list is empty.
    pub(super) fn list(mut self, key: &str, items: Vec<Value>) -> Self {
        if !items.is_empty() {
            self.0.insert(key.to_owned(), Value::Array(items));
        }
        self
    }

    /// Sets an object field, unless the object has no field.
    pub(super) fn object(mut self, key: &str, value: Obj) -> Self {
        if !value.0.is_empty() {
            self.0.insert(key.to_owned(), Value::Object(value.0));
        }
        self
    }

    /// The JSON object.
    pub(super) fn done(self) -> Value {
        Value::Object(self.0)
    }
}
