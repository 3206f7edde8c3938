//! Identity of the machine: names, machine-id, boot time, time zone, and
//! whether it is a virtual machine or a container.

use atalaya_common::model::{Host, MachineKind, Timestamp, Virtualization};

use crate::root::{Gaps, Root};

const SOURCE: &str = "host";

/// Reads the host's identity.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Host {
    let hostname = root
        .value("/proc/sys/kernel/hostname")
        .or_else(|| root.value("/etc/hostname"))
        .unwrap_or_else(|| {
            gaps.note(
                SOURCE,
                "hostname",
                "neither /proc/sys/kernel/hostname nor /etc/hostname is readable",
            );
            String::new()
        });
    let fqdn = fqdn(root, &hostname);
    let machine_id = match root.read("/etc/machine-id") {
        Ok(text) if !text.trim().is_empty() => Some(text.trim().to_owned()),
        Ok(_) => {
            gaps.note(
                SOURCE,
                "machine-id",
                "/etc/machine-id: empty (not yet initialised)",
            );
            None
        }
        Err(err) => root.value("/var/lib/dbus/machine-id").or_else(|| {
            gaps.io(SOURCE, "machine-id", "/etc/machine-id", &err);
            None
        }),
    };
    let boot_time = root
        .read("/proc/stat")
        .ok()
        .and_then(|stat| boot_time(&stat));
    if boot_time.is_none() {
        gaps.note(SOURCE, "boot time", "/proc/stat: no btime line");
    }
    Host {
        hostname,
        fqdn,
        machine_id,
        boot_time,
        timezone: timezone(root),
        virtualization: virtualization(root),
        unavailable: Vec::new(),
    }
}

/// The fully qualified name: the host name itself when it has a dot, else
/// the first dotted alias of it in `/etc/hosts`, else `name.domain` when
/// `resolv.conf` names a domain. No DNS query: inventory must not hang on
/// a broken resolver.
fn fqdn(root: &Root, hostname: &str) -> Option<String> {
    if hostname.is_empty() {
        return None;
    }
    if hostname.contains('.') {
        return Some(hostname.to_owned());
    }
    let prefix = format!("{hostname}.");
    if let Ok(hosts) = root.read("/etc/hosts") {
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or("");
            let names: Vec<&str> = line.split_whitespace().skip(1).collect();
            if let Some(full) = names.iter().find(|n| n.starts_with(&prefix)) {
                return Some((*full).to_owned());
            }
        }
    }
    let resolv = root.read("/etc/resolv.conf").ok()?;
    resolv.lines().find_map(|line| {
        let domain = line.strip_prefix("domain")?.trim();
        (!domain.is_empty()).then(|| format!("{hostname}.{domain}"))
    })
}

fn boot_time(stat: &str) -> Option<Timestamp> {
    let secs = stat.lines().find_map(|l| l.strip_prefix("btime "))?;
    secs.trim().parse().ok().map(Timestamp::from_secs)
}

/// `/etc/timezone` (Debian), else the zone `/etc/localtime` links to; a
/// host without `/etc/localtime` runs on UTC.
fn timezone(root: &Root) -> Option<String> {
    if let Some(tz) = root.value("/etc/timezone") {
        return Some(tz);
    }
    match root.read_link("/etc/localtime") {
        Ok(target) => {
            let target = target.to_string_lossy();
            let zone = target.split_once("zoneinfo/").map(|(_, z)| z)?;
            Some(zone.trim_start_matches("posix/").to_owned())
        }
        Err(_) if !root.exists("/etc/localtime") => Some("UTC".to_owned()),
        Err(_) => None,
    }
}

/// Hypervisor products as DMI names them (vendor or product substring → name).
const DMI_HYPERVISORS: &[(&str, &str)] = &[
    ("QEMU", "kvm"),
    ("KVM", "kvm"),
    ("VMware", "vmware"),
    ("VirtualBox", "virtualbox"),
    ("innotek", "virtualbox"),
    ("Microsoft Corporation Virtual Machine", "hyperv"),
    ("Xen", "xen"),
    ("Amazon EC2", "kvm"),
    ("Google Compute Engine", "kvm"),
    ("Parallels", "parallels"),
    ("Bochs", "bochs"),
    ("OpenStack", "kvm"),
    ("BHYVE", "bhyve"),
];

fn virtualization(root: &Root) -> Virtualization {
    let vendor = root.value("/sys/class/dmi/id/sys_vendor");
    let product = root.value("/sys/class/dmi/id/product_name");
    let dmi = format!(
        "{} {}",
        vendor.as_deref().unwrap_or(""),
        product.as_deref().unwrap_or("")
    );
    let from_dmi = DMI_HYPERVISORS
        .iter()
        .find(|(needle, _)| dmi.contains(needle))
        .map(|(_, name)| (*name).to_owned());
    let cpuinfo = root.read("/proc/cpuinfo").unwrap_or_default();
    let flags = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect::<Vec<_>>());
    let cpu_says_guest = flags.as_ref().is_some_and(|f| f.contains(&"hypervisor"));
    let hypervisor = from_dmi
        .or_else(|| root.value("/sys/hypervisor/type"))
        .or_else(|| {
            let clocks =
                root.value("/sys/devices/system/clocksource/clocksource0/available_clocksource")?;
            clocks.contains("kvm-clock").then(|| "kvm".to_owned())
        })
        .or_else(|| cpu_says_guest.then(|| "unknown".to_owned()));
    let kind = if hypervisor.is_some() {
        MachineKind::Virtual
    } else if flags.is_some() || vendor.is_some() {
        MachineKind::Physical
    } else {
        MachineKind::Unknown
    };
    Virtualization {
        kind,
        vm_product: (kind == MachineKind::Virtual).then_some(product).flatten(),
        hypervisor,
        container: container(root),
    }
}

/// Container runtime, from the markers each runtime leaves behind.
fn container(root: &Root) -> Option<String> {
    if let Some(name) = root.value("/run/systemd/container") {
        return Some(name);
    }
    if root.exists("/.dockerenv") {
        return Some("docker".to_owned());
    }
    if root.exists("/run/.containerenv") {
        return Some("podman".to_owned());
    }
    if let Ok(environ) = root.read_bytes("/proc/1/environ") {
        for var in environ.split(|b| *b == 0) {
            if let Some(name) = var.strip_prefix(b"container=") {
                return Some(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    let cgroup = root.read("/proc/1/cgroup").unwrap_or_default();
    for (marker, name) in [
        ("kubepods", "kubernetes"),
        ("/docker/", "docker"),
        ("/libpod-", "podman"),
        ("/lxc/", "lxc"),
    ] {
        if cgroup.contains(marker) {
            return Some(name.to_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_time_from_proc_stat() {
        let stat = "cpu  1 2 3\nbtime 1795000000\nprocesses 9\n";
        assert_eq!(boot_time(stat), Some(Timestamp::from_secs(1_795_000_000)));
        assert_eq!(boot_time("cpu 1\n"), None);
    }

    #[test]
    fn live_host_matches_what_the_kernel_says() {
        let mut gaps = Gaps::default();
        let host = collect(&Root::live(), &mut gaps);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(host.hostname, kernel.trim());
        assert!(host.boot_time.is_some());
        assert!(host.timezone.is_some());
    }
}
