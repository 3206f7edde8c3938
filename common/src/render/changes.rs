//! Inventory changes as sentences a person reads: `added package sl
//! 5.02-1+b1 (amd64)`, `upgraded openssl 3.0.18 → 3.0.19`, `removed
//! memory module DIMM B 16 GiB`, `changed hostname web1 → web2`.
//!
//! A part replaced whole (the host, the OS…) gives a sentence per field
//! that changed (and per value the agent could no longer read, or can
//! again); an item of a collection gives one sentence, naming the
//! fields that changed when it was changed rather than added or removed.
//! Volatile values ([`crate::diff`]) are never named: they are not changes.

use std::cmp::Ordering;
use std::net::SocketAddr;

use super::{disk, memory_module, os_name, protocol_name, session};
use crate::diff::{Change, Edit, ItemChange};
use crate::format::bytes;
use crate::model::*;
use crate::version;

/// The sentences that tell `change`, at least one.
pub fn describe(change: &Change) -> Vec<String> {
    match change {
        Change::Host(e) => {
            let mut lines: Vec<String> = differences(host_fields(&e.before), host_fields(&e.after))
                .into_iter()
                .map(|d| format!("changed {d}"))
                .collect();
            lines.extend(unreadable(&e.before.unavailable, &e.after.unavailable));
            if lines.is_empty() {
                lines.push("changed host".to_owned());
            }
            lines
        }
        Change::Os(e) => {
            let mut lines = edit("OS", e, os_fields);
            // A new kernel release has a new build string: say it once.
            if lines.iter().any(|l| l.starts_with("changed kernel ")) {
                lines.retain(|l| !l.starts_with("changed kernel build "));
            }
            lines
        }
        Change::System(e) => edit("system", e, system_fields),
        Change::Board(e) => edit("mainboard", e, board_fields),
        Change::Bios(e) => edit("firmware", e, |b| vec![("firmware", firmware(b))]),
        Change::Chassis(e) => edit("chassis", e, chassis_fields),
        Change::Cpu(e) => edit("CPU", e, cpu_fields),
        Change::Memory(e) => edit("memory", e, |m| {
            vec![
                ("memory", bytes(m.total_bytes)),
                ("swap", bytes(m.swap_total_bytes)),
            ]
        }),
        Change::PackageManager(e) => edit("package manager", e, |m| {
            vec![("package manager", value(m))]
        }),
        Change::SkippedPackages(e) => edit("package database", e, |n| {
            vec![("corrupt package entries skipped", n.to_string())]
        }),
        Change::Dns(e) => edit("resolver", e, |d| {
            vec![
                ("DNS servers", list(&d.servers)),
                ("DNS search domains", list(&d.search)),
            ]
        }),
        Change::LastLogin(e) => edit("last login", e, |l| {
            vec![("last login", l.as_ref().map_or_else(none, login))]
        }),
        Change::ServiceManager(e) => edit("service manager", e, |m| {
            vec![("service manager", value(m))]
        }),
        Change::MemoryModule(c) => vec![item(c, memory_module_item)],
        Change::Pci(c) => vec![item(c, pci_item)],
        Change::Usb(c) => vec![item(c, usb_item)],
        Change::Battery(c) => vec![item(c, battery_item)],
        Change::Gpu(c) => vec![item(c, gpu_item)],
        Change::Monitor(c) => vec![item(c, monitor_item)],
        Change::Package(c) => vec![package(c)],
        Change::Interface(c) => vec![item(c, interface_item)],
        Change::Gateway(c) => vec![item(c, |g| Item {
            noun: "gateway",
            name: format!("{} via {}", g.address, g.interface),
            label: format!("{} via {}", g.address, g.interface),
            fields: Vec::new(),
        })],
        Change::Disk(c) => vec![item(c, disk_item)],
        Change::Filesystem(c) => vec![item(c, filesystem_item)],
        Change::Account(c) => vec![item(c, account_item)],
        Change::Group(c) => vec![item(c, group_item)],
        Change::Session(c) => vec![item(c, session_item)],
        Change::Service(c) => vec![item(c, service_item)],
        Change::Listener(c) => vec![item(c, listener_item)],
    }
}

/// Labelled values of a part or item, compared side by side.
type Fields = Vec<(&'static str, String)>;

/// A sentence per field that differs: `changed hostname web1 → web2`.
fn edit<T>(part: &str, e: &Edit<T>, fields: impl Fn(&T) -> Fields) -> Vec<String> {
    let lines = differences(fields(&e.before), fields(&e.after))
        .into_iter()
        .map(|d| format!("changed {d}"))
        .collect::<Vec<_>>();
    if lines.is_empty() {
        // Only values no sentence names changed (e.g. a volatile one).
        vec![format!("changed {part}")]
    } else {
        lines
    }
}

/// `label before → after` for each field that differs.
fn differences(before: Fields, after: Fields) -> Vec<String> {
    before
        .into_iter()
        .zip(after)
        .filter(|((_, b), (_, a))| b != a)
        .map(|((label, b), (_, a))| format!("{label} {b} → {a}"))
        .collect()
}

/// How an item of a collection is told.
struct Item {
    /// What it is, e.g. `memory module`.
    noun: &'static str,
    /// Which one, e.g. `DIMM B`.
    name: String,
    /// Which one and what it is, for an addition or removal, e.g. `DIMM B 16 GiB DDR4`.
    label: String,
    /// What a change can be told by.
    fields: Fields,
}

fn item<T>(c: &ItemChange<T>, view: impl Fn(&T) -> Item) -> String {
    match c {
        ItemChange::Added(x) => {
            let v = view(x);
            format!("added {} {}", v.noun, v.label)
        }
        ItemChange::Removed(x) => {
            let v = view(x);
            format!("removed {} {}", v.noun, v.label)
        }
        ItemChange::Changed { before, after } => {
            let (b, a) = (view(before), view(after));
            let changed = differences(b.fields, a.fields);
            if changed.is_empty() {
                format!("changed {} {}", a.noun, a.name)
            } else {
                format!("changed {} {}: {}", a.noun, a.name, changed.join(", "))
            }
        }
    }
}

/// Packages: an upgrade or downgrade is told as such.
fn package(c: &ItemChange<Package>) -> String {
    let arch = |p: &Package| {
        p.arch
            .as_ref()
            .map(|a| format!(" ({a})"))
            .unwrap_or_default()
    };
    match c {
        ItemChange::Changed { before, after } if before.version != after.version => {
            let verb = match version::cmp(&after.version, &before.version) {
                Ordering::Greater => "upgraded",
                Ordering::Less => "downgraded",
                Ordering::Equal => "changed the version of",
            };
            format!(
                "{verb} {} {} → {}{}",
                after.name,
                before.version,
                after.version,
                arch(after)
            )
        }
        _ => item(c, |p| Item {
            noun: "package",
            name: format!("{} {}{}", p.name, p.version, arch(p)),
            label: format!("{} {}{}", p.name, p.version, arch(p)),
            fields: vec![
                ("vendor", value(&p.vendor)),
                (
                    "installed",
                    p.installed_at.map_or_else(none, |t| t.to_string()),
                ),
                ("size", p.size_bytes.map_or_else(none, bytes)),
                ("source", value(&p.source)),
            ],
        }),
    }
}

/// Values the agent could no longer read, or can read again.
fn unreadable(before: &[Unavailable], after: &[Unavailable]) -> Vec<String> {
    let what = |u: &Unavailable| (u.source.clone(), u.item.clone());
    let had = |list: &[Unavailable], u: &Unavailable| list.iter().any(|o| what(o) == what(u));
    let lost = after
        .iter()
        .filter(|u| !had(before, u))
        .map(|u| format!("could not read {} {}: {}", u.source, u.item, u.reason));
    let back = before
        .iter()
        .filter(|u| !had(after, u))
        .map(|u| format!("read {} {} again", u.source, u.item));
    lost.chain(back).collect()
}

fn host_fields(h: &Host) -> Fields {
    let v = &h.virtualization;
    let kind = match v.kind {
        MachineKind::Physical => "physical".to_owned(),
        MachineKind::Virtual => match &v.hypervisor {
            Some(hv) => format!("virtual ({hv})"),
            None => "virtual".to_owned(),
        },
        MachineKind::Unknown => "unknown".to_owned(),
    };
    vec![
        ("hostname", h.hostname.clone()),
        ("FQDN", value(&h.fqdn)),
        ("machine-id", value(&h.machine_id)),
        (
            "boot time",
            h.boot_time.map_or_else(none, |t| t.to_string()),
        ),
        ("time zone", value(&h.timezone)),
        ("machine kind", kind),
        ("VM product", value(&v.vm_product)),
        ("container", value(&v.container)),
    ]
}

fn os_fields(os: &Os) -> Fields {
    vec![
        ("OS", os_name(os)),
        ("OS id", value(&os.id)),
        ("OS family", list(&os.id_like)),
        ("kernel", value(&os.kernel_release)),
        ("kernel build", value(&os.kernel_version)),
        ("kernel name", value(&os.kernel_name)),
        ("architecture", value(&os.arch)),
    ]
}

fn system_fields(s: &SystemInfo) -> Fields {
    vec![
        ("system", product(&s.vendor, &s.product)),
        ("system version", value(&s.version)),
        ("system serial", value(&s.serial)),
        ("system UUID", value(&s.uuid)),
        ("system SKU", value(&s.sku)),
        ("product family", value(&s.family)),
    ]
}

fn board_fields(b: &Board) -> Fields {
    vec![
        ("mainboard", product(&b.vendor, &b.product)),
        ("mainboard version", value(&b.version)),
        ("mainboard serial", value(&b.serial)),
        ("mainboard asset tag", value(&b.asset_tag)),
    ]
}

fn firmware(b: &Bios) -> String {
    let version = product(&b.vendor, &b.version);
    match &b.date {
        Some(date) => format!("{version} ({date})"),
        None => version,
    }
}

fn chassis_fields(c: &Chassis) -> Fields {
    vec![
        ("chassis type", value(&c.kind)),
        ("chassis vendor", value(&c.vendor)),
        ("chassis serial", value(&c.serial)),
        ("chassis asset tag", value(&c.asset_tag)),
    ]
}

fn cpu_fields(c: &Cpu) -> Fields {
    let number = |n: Option<u32>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    vec![
        ("CPU", value(&c.model)),
        ("CPU vendor", value(&c.vendor)),
        (
            "CPU signature",
            format!(
                "family {} model {} stepping {}",
                number(c.family),
                number(c.model_number),
                number(c.stepping)
            ),
        ),
        (
            "CPU layout",
            format!(
                "{} socket(s), {} cores, {} threads",
                c.sockets, c.physical_cores, c.logical_cores
            ),
        ),
        (
            "CPU top frequency",
            c.max_mhz.map_or_else(none, |m| format!("{m} MHz")),
        ),
    ]
}

fn memory_module_item(m: &MemoryModule) -> Item {
    Item {
        noun: "memory module",
        name: m.locator.clone(),
        label: memory_module(m),
        fields: vec![
            ("size", bytes(m.size_bytes)),
            ("type", value(&m.kind)),
            ("form factor", value(&m.form_factor)),
            (
                "speed",
                m.speed_mts.map_or_else(none, |s| format!("{s} MT/s")),
            ),
            ("manufacturer", value(&m.manufacturer)),
            ("serial", value(&m.serial)),
            ("part number", value(&m.part_number)),
            ("bank", value(&m.bank)),
        ],
    }
}

fn pci_item(d: &PciDevice) -> Item {
    let what = match (&d.vendor_name, &d.device_name) {
        (None, None) => format!("{}:{}", d.vendor_id, d.device_id),
        (vendor, device) => product(vendor, device),
    };
    Item {
        noun: "PCI device",
        name: d.address.clone(),
        label: format!("{} {what}", d.address),
        fields: vec![
            ("device", what),
            (
                "class",
                d.class_name.clone().unwrap_or_else(|| d.class.clone()),
            ),
            ("revision", value(&d.revision)),
            ("driver", value(&d.driver)),
        ],
    }
}

fn usb_item(d: &UsbDevice) -> Item {
    let what = match (&d.manufacturer, &d.product) {
        (None, None) => format!("{}:{}", d.vendor_id, d.product_id),
        (vendor, product_name) => product(vendor, product_name),
    };
    Item {
        noun: "USB device",
        name: d.port.clone(),
        label: format!("{} {what}", d.port),
        fields: vec![
            ("device", what),
            ("serial", value(&d.serial)),
            ("class", value(&d.class)),
            (
                "speed",
                d.speed_mbps.map_or_else(none, |s| format!("{s} Mb/s")),
            ),
        ],
    }
}

fn battery_item(b: &Battery) -> Item {
    let wh =
        |uwh: Option<u64>| uwh.map_or_else(none, |u| format!("{:.1} Wh", u as f64 / 1_000_000.0));
    let what = product(&b.manufacturer, &b.model);
    Item {
        noun: "battery",
        name: b.name.clone(),
        label: format!("{} {what}", b.name),
        fields: vec![
            ("model", what),
            ("serial", value(&b.serial)),
            ("technology", value(&b.technology)),
            ("design capacity", wh(b.design_capacity_uwh)),
            ("full capacity", wh(b.full_capacity_uwh)),
            ("cycles", b.cycle_count.map_or_else(none, |c| c.to_string())),
        ],
    }
}

fn gpu_item(g: &Gpu) -> Item {
    let what = product(&g.vendor, &g.model);
    Item {
        noun: "GPU",
        name: g.pci_address.clone(),
        label: format!("{} {what}", g.pci_address),
        fields: vec![("model", what), ("driver", value(&g.driver))],
    }
}

fn monitor_item(m: &Monitor) -> Item {
    let what = product(&m.manufacturer, &m.model);
    let size = match (m.width_cm, m.height_cm) {
        (Some(w), Some(h)) => format!("{w} × {h} cm"),
        _ => none(),
    };
    Item {
        noun: "monitor",
        name: m.connector.clone(),
        label: format!("{} {what}", m.connector),
        fields: vec![
            ("model", what),
            ("product code", value(&m.product_code)),
            ("serial", value(&m.serial)),
            ("year", m.year.map_or_else(none, |y| y.to_string())),
            ("size", size),
        ],
    }
}

fn interface_item(i: &Interface) -> Item {
    let addresses: Vec<String> = i
        .addresses
        .iter()
        .map(|a| format!("{}/{}", a.address, a.prefix))
        .collect();
    let mut label = i.name.clone();
    if let Some(mac) = &i.mac {
        label.push_str(&format!(" {mac}"));
    }
    if !addresses.is_empty() {
        label.push_str(&format!(" {}", addresses.join(" ")));
    }
    let kind = match i.kind {
        InterfaceKind::Physical => "physical",
        InterfaceKind::Virtual => "virtual",
        InterfaceKind::Loopback => "loopback",
    };
    Item {
        noun: "interface",
        name: i.name.clone(),
        label,
        fields: vec![
            ("state", i.state.clone()),
            ("addresses", list(&addresses)),
            ("MAC", value(&i.mac)),
            ("MTU", i.mtu.map_or_else(none, |m| m.to_string())),
            (
                "speed",
                i.speed_mbps.map_or_else(none, |s| format!("{s} Mb/s")),
            ),
            ("kind", kind.to_owned()),
            ("driver", value(&i.driver)),
        ],
    }
}

fn disk_item(d: &Disk) -> Item {
    Item {
        noun: "disk",
        name: d.name.clone(),
        label: disk(d),
        fields: vec![
            ("size", bytes(d.size_bytes)),
            ("model", product(&d.vendor, &d.model)),
            ("serial", value(&d.serial)),
            ("removable", yes_no(d.removable)),
        ],
    }
}

fn filesystem_item(f: &Filesystem) -> Item {
    Item {
        noun: "filesystem",
        name: f.mount_point.clone(),
        label: format!("{} {} on {}", f.mount_point, f.fs_type, f.device),
        fields: vec![
            ("device", f.device.clone()),
            ("type", f.fs_type.clone()),
            ("size", f.total_bytes.map_or_else(none, bytes)),
            ("read-only", yes_no(f.read_only)),
        ],
    }
}

fn account_item(a: &Account) -> Item {
    let mut label = format!("{} (uid {}", a.name, a.uid);
    if let Some(full) = &a.full_name {
        label.push_str(&format!(", {full}"));
    }
    label.push(')');
    Item {
        noun: if a.system {
            "system account"
        } else {
            "account"
        },
        name: a.name.clone(),
        label,
        fields: vec![
            ("uid", a.uid.to_string()),
            ("gid", a.gid.to_string()),
            ("full name", value(&a.full_name)),
            ("home", a.home.clone()),
            ("shell", a.shell.clone()),
            ("system", yes_no(a.system)),
        ],
    }
}

fn group_item(g: &Group) -> Item {
    Item {
        noun: "group",
        name: g.name.clone(),
        label: format!("{} (gid {})", g.name, g.gid),
        fields: vec![("gid", g.gid.to_string()), ("members", list(&g.members))],
    }
}

fn session_item(s: &Session) -> Item {
    Item {
        noun: "session",
        name: format!("{} on {}", s.user, s.tty),
        label: session(s),
        fields: vec![
            ("from", value(&s.remote_host)),
            ("since", s.started_at.map_or_else(none, |t| t.to_string())),
            ("process", s.pid.map_or_else(none, |p| p.to_string())),
        ],
    }
}

fn service_item(s: &Service) -> Item {
    let startup = match s.startup {
        Startup::Unknown => "startup unknown",
        Startup::Enabled => "enabled",
        Startup::Disabled => "disabled",
        Startup::Static => "static",
        Startup::Masked => "masked",
    };
    let state = match s.state {
        RunState::Unknown => "state unknown",
        RunState::Active => "running",
        RunState::Inactive => "stopped",
    };
    Item {
        noun: "service",
        name: s.name.clone(),
        label: format!("{} ({startup}, {state})", s.name),
        fields: vec![
            ("startup", startup.to_owned()),
            ("state", state.to_owned()),
            ("description", value(&s.description)),
        ],
    }
}

fn listener_item(l: &Listener) -> Item {
    let socket = format!(
        "{} {}",
        protocol_name(l.protocol),
        SocketAddr::new(l.address, l.port)
    );
    Item {
        noun: "listener",
        name: socket.clone(),
        label: match &l.process {
            Some(p) => format!("{socket} ({p})"),
            None => socket,
        },
        fields: vec![("process", value(&l.process))],
    }
}

fn login(l: &Login) -> String {
    let from = l
        .remote_host
        .as_ref()
        .map(|h| format!(" from {h}"))
        .unwrap_or_default();
    format!("{} on {}{from} at {}", l.user, l.tty, l.at)
}

/// `Dell Inc. Latitude 7440`, either half alone, or `unknown`.
fn product(vendor: &Option<String>, product: &Option<String>) -> String {
    match (vendor, product) {
        (Some(v), Some(p)) => format!("{v} {p}"),
        (Some(x), None) | (None, Some(x)) => x.clone(),
        (None, None) => "unknown".to_owned(),
    }
}

fn value(v: &Option<String>) -> String {
    match v.as_deref() {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => none(),
    }
}

fn list<T: ToString>(items: &[T]) -> String {
    if items.is_empty() {
        none()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn none() -> String {
    "none".to_owned()
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            arch: Some("amd64".into()),
            ..Package::default()
        }
    }

    fn one(change: Change) -> String {
        let lines = describe(&change);
        assert_eq!(lines.len(), 1, "{lines:?}");
        lines.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn packages_are_added_removed_upgraded_and_downgraded() {
        assert_eq!(
            one(Change::Package(ItemChange::Added(pkg("sl", "5.02-1+b1")))),
            "added package sl 5.02-1+b1 (amd64)"
        );
        assert_eq!(
            one(Change::Package(ItemChange::Removed(pkg("sl", "5.02-1+b1")))),
            "removed package sl 5.02-1+b1 (amd64)"
        );
        let mut openssl = pkg("openssl", "3.0.18");
        openssl.arch = None;
        let mut newer = openssl.clone();
        newer.version = "3.0.19".into();
        assert_eq!(
            one(Change::Package(ItemChange::Changed {
                before: openssl.clone(),
                after: newer.clone()
            })),
            "upgraded openssl 3.0.18 → 3.0.19"
        );
        assert_eq!(
            one(Change::Package(ItemChange::Changed {
                before: newer,
                after: openssl
            })),
            "downgraded openssl 3.0.19 → 3.0.18"
        );
        let mut reinstalled = pkg("curl", "7.88.1-10");
        reinstalled.installed_at = Some(Timestamp::from_secs(1_768_435_200));
        assert_eq!(
            one(Change::Package(ItemChange::Changed {
                before: pkg("curl", "7.88.1-10"),
                after: reinstalled
            })),
            "changed package curl 7.88.1-10 (amd64): installed none → 2026-01-15T00:00:00Z"
        );
    }

    #[test]
    fn a_part_replaced_whole_gives_a_sentence_per_field() {
        let host = |name: &str, zone: &str| Host {
            hostname: name.into(),
            timezone: Some(zone.into()),
            ..Host::default()
        };
        assert_eq!(
            describe(&Change::Host(Edit {
                before: host("web1", "UTC"),
                after: host("web2", "Europe/Madrid"),
            })),
            [
                "changed hostname web1 → web2",
                "changed time zone UTC → Europe/Madrid"
            ]
        );
        let mut blind = host("web1", "UTC");
        blind.unavailable.push(Unavailable {
            source: "software".into(),
            item: "packages.installed_at".into(),
            reason: "not found".into(),
        });
        assert_eq!(
            describe(&Change::Host(Edit {
                before: host("web1", "UTC"),
                after: blind.clone(),
            })),
            ["could not read software packages.installed_at: not found"]
        );
        assert_eq!(
            describe(&Change::Host(Edit {
                before: blind,
                after: host("web1", "UTC"),
            })),
            ["read software packages.installed_at again"]
        );
        let os = |pretty: &str, release: &str, build: &str| Os {
            pretty_name: Some(pretty.into()),
            kernel_release: Some(release.into()),
            kernel_version: Some(build.into()),
            ..Os::default()
        };
        assert_eq!(
            describe(&Change::Os(Edit {
                before: os(
                    "Debian GNU/Linux 12 (bookworm)",
                    "6.1.0-26-amd64",
                    "#1 6.1.112-1"
                ),
                after: os(
                    "Debian GNU/Linux 13 (trixie)",
                    "6.12.8-amd64",
                    "#1 6.12.8-1"
                ),
            })),
            [
                "changed OS Debian GNU/Linux 12 (bookworm) → Debian GNU/Linux 13 (trixie)",
                "changed kernel 6.1.0-26-amd64 → 6.12.8-amd64"
            ]
        );
        assert_eq!(
            describe(&Change::PackageManager(Edit {
                before: None,
                after: Some("dpkg".into()),
            })),
            ["changed package manager none → dpkg"]
        );
    }

    #[test]
    fn hardware_items_say_what_they_are() {
        let dimm = MemoryModule {
            locator: "DIMM B".into(),
            size_bytes: 16 << 30,
            ..MemoryModule::default()
        };
        assert_eq!(
            one(Change::MemoryModule(ItemChange::Removed(dimm.clone()))),
            "removed memory module DIMM B 16 GiB"
        );
        let mut bigger = dimm.clone();
        bigger.size_bytes = 32 << 30;
        bigger.serial = Some("S9".into());
        assert_eq!(
            one(Change::MemoryModule(ItemChange::Changed {
                before: dimm,
                after: bigger
            })),
            "changed memory module DIMM B: size 16 GiB → 32 GiB, serial none → S9"
        );
        let stick = Disk {
            name: "sdb".into(),
            model: Some("Ultra".into()),
            size_bytes: 32 << 30,
            removable: true,
            ..Disk::default()
        };
        assert_eq!(
            one(Change::Disk(ItemChange::Added(stick))),
            "added disk sdb 32 GiB Ultra (removable)"
        );
    }

    #[test]
    fn network_users_and_services_read_as_sentences() {
        let eth = |state: &str| Interface {
            name: "eth0".into(),
            state: state.into(),
            ..Interface::default()
        };
        assert_eq!(
            one(Change::Interface(ItemChange::Changed {
                before: eth("down"),
                after: eth("up")
            })),
            "changed interface eth0: state down → up"
        );
        let listener = Listener {
            protocol: Protocol::Tcp,
            address: "::".parse().expect("an address"),
            port: 22,
            pid: Some(812),
            process: Some("sshd".into()),
        };
        assert_eq!(
            one(Change::Listener(ItemChange::Added(listener))),
            "added listener tcp [::]:22 (sshd)"
        );
        let service = |state: RunState| Service {
            name: "cups.service".into(),
            startup: Startup::Enabled,
            state,
            ..Service::default()
        };
        assert_eq!(
            one(Change::Service(ItemChange::Changed {
                before: service(RunState::Active),
                after: service(RunState::Inactive)
            })),
            "changed service cups.service: state running → stopped"
        );
        let account = Account {
            name: "bob".into(),
            uid: 1001,
            full_name: Some("Bob Smith".into()),
            ..Account::default()
        };
        assert_eq!(
            one(Change::Account(ItemChange::Added(account))),
            "added account bob (uid 1001, Bob Smith)"
        );
    }

    #[test]
    fn volatile_values_are_never_named() {
        let fs = |device: &str, free: u64| Filesystem {
            mount_point: "/data".into(),
            device: device.into(),
            fs_type: "ext4".into(),
            free_bytes: Some(free),
            ..Filesystem::default()
        };
        assert_eq!(
            one(Change::Filesystem(ItemChange::Changed {
                before: fs("/dev/sdb1", 1),
                after: fs("/dev/sdc1", 2)
            })),
            "changed filesystem /data: device /dev/sdb1 → /dev/sdc1"
        );
        let battery = |pct: u8| Battery {
            name: "BAT0".into(),
            capacity_percent: Some(pct),
            ..Battery::default()
        };
        assert_eq!(
            one(Change::Battery(ItemChange::Changed {
                before: battery(50),
                after: battery(60)
            })),
            "changed battery BAT0"
        );
    }
}
