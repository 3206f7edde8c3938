//! The `services` part of the inventory: the service manager's units and
//! the sockets listening for connections.
//!
//! # Layout
//! - [`systemd`]: unit files, enablement links and run markers.
//! - [`openrc`]: init scripts, runlevels and the started directory.
//! - [`listeners`]: `/proc/net` socket tables and their owning processes.

pub mod listeners;
pub mod openrc;
pub mod systemd;

use atalaya_common::model::Services;

use crate::root::{Gaps, Root};

const SOURCE: &str = "services";

/// Reads the `services` part of the inventory.
pub fn collect(root: &Root, gaps: &mut Gaps) -> Services {
    // A running systemd wins; otherwise OpenRC's own directories, and only
    // then leftover unit files (a systemd image inspected offline). Hosts
    // with neither (containers) have no manager, which is not a gap.
    let (manager, units) = if root.exists(systemd::RUNNING_MARKER) {
        (Some("systemd"), systemd::units(root, gaps))
    } else if openrc::detected(root) {
        (Some("openrc"), openrc::units(root, gaps))
    } else if systemd::has_units(root) {
        (Some("systemd"), systemd::units(root, gaps))
    } else {
        (None, Vec::new())
    };
    Services {
        manager: manager.map(str::to_owned),
        units,
        listeners: listeners::listeners(root, gaps),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::net::IpAddr;

    use atalaya_common::model::{Listener, Protocol, RunState, Service, Startup};

    use super::*;

    fn fixture(host: &str) -> (Services, Gaps) {
        let root = Root::new(format!(
            "{}/tests/fixtures/{host}",
            env!("CARGO_MANIFEST_DIR")
        ));
        let mut gaps = Gaps::default();
        let services = collect(&root, &mut gaps);
        (services, gaps)
    }

    fn unit<'a>(services: &'a Services, name: &str) -> &'a Service {
        services
            .units
            .iter()
            .find(|u| u.name == name)
            .unwrap_or_else(|| panic!("no unit {name} in {:?}", services.units))
    }

    fn listener<'a>(
        services: &'a Services,
        proto: Protocol,
        addr: &str,
        port: u16,
    ) -> &'a Listener {
        let addr: IpAddr = addr.parse().unwrap();
        let found: Vec<_> = services
            .listeners
            .iter()
            .filter(|l| l.protocol == proto && l.address == addr && l.port == port)
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{proto:?} {addr}:{port} in {:?}",
            services.listeners
        );
        found[0]
    }

    #[test]
    fn debian_fixture() {
        let (services, gaps) = fixture("debian");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        assert_eq!(services.manager.as_deref(), Some("systemd"));
        let ssh = unit(&services, "ssh.service");
        assert_eq!(ssh.startup, Startup::Enabled);
        assert_eq!(ssh.state, RunState::Active);
        assert_eq!(
            ssh.description.as_deref(),
            Some("OpenBSD Secure Shell server")
        );
        let masked = unit(&services, "bluetooth.service");
        assert_eq!(masked.startup, Startup::Masked);
        assert_eq!(masked.state, RunState::Inactive);
        assert_eq!(masked.description.as_deref(), Some("Bluetooth service"));
        let journald = unit(&services, "systemd-journald.service");
        assert_eq!(journald.startup, Startup::Static);
        assert_eq!(journald.state, RunState::Active);
        let rsync = unit(&services, "rsync.service");
        assert_eq!(rsync.startup, Startup::Disabled);
        assert_eq!(rsync.state, RunState::Inactive);
        assert!(
            services.units.iter().all(|u| !u.name.contains('@')),
            "templates skipped"
        );
        assert!(
            !services
                .units
                .iter()
                .any(|u| u.name == "display-manager.service"),
            "aliases are listed under their real name"
        );

        let cups = listener(&services, Protocol::Tcp, "127.0.0.1", 631);
        assert_eq!(cups.process.as_deref(), Some("cupsd"));
        let resolved = listener(&services, Protocol::Udp, "127.0.0.53", 53);
        assert_eq!(resolved.process.as_deref(), Some("systemd-resolve"));
        listener(&services, Protocol::Tcp, "127.0.0.53", 53);
        let avahi = listener(&services, Protocol::Udp, "0.0.0.0", 5353);
        assert_eq!(avahi.process.as_deref(), Some("avahi-daemon"));
        listener(&services, Protocol::Udp, "::", 5353);
    }

    #[test]
    fn rpm_fixture_listeners_have_owners_and_nginx_is_deduplicated() {
        let (services, gaps) = fixture("rpm");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        assert_eq!(services.manager.as_deref(), Some("systemd"));
        let sshd = unit(&services, "sshd.service");
        assert_eq!(
            (sshd.startup, sshd.state),
            (Startup::Enabled, RunState::Active)
        );
        let ssh4 = listener(&services, Protocol::Tcp, "0.0.0.0", 22);
        assert_eq!(
            (ssh4.pid, ssh4.process.as_deref()),
            (Some(1021), Some("sshd"))
        );
        let ssh6 = listener(&services, Protocol::Tcp, "::", 22);
        assert_eq!(ssh6.pid, Some(1021));
        for port in [80, 443] {
            let nginx = listener(&services, Protocol::Tcp, "0.0.0.0", port);
            assert_eq!(
                (nginx.pid, nginx.process.as_deref()),
                (Some(1201), Some("nginx"))
            );
        }
        let chrony = listener(&services, Protocol::Udp, "127.0.0.1", 323);
        assert_eq!(chrony.process.as_deref(), Some("chronyd"));
        assert_eq!(services.listeners.len(), 6, "{:?}", services.listeners);
    }

    #[test]
    fn alpine_fixture_uses_openrc() {
        let (services, gaps) = fixture("alpine");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        assert_eq!(services.manager.as_deref(), Some("openrc"));
        let sshd = unit(&services, "sshd");
        assert_eq!(
            (sshd.startup, sshd.state),
            (Startup::Enabled, RunState::Active)
        );
        assert_eq!(
            sshd.description.as_deref(),
            Some("OpenBSD Secure Shell server")
        );
        let nfs = unit(&services, "nfs");
        assert_eq!(
            (nfs.startup, nfs.state),
            (Startup::Disabled, RunState::Inactive)
        );
        assert!(!services.units.iter().any(|u| u.name == "functions.sh"));
        assert!(
            !services.units.iter().any(|u| u.name == "README"),
            "not executable"
        );
        let ssh = listener(&services, Protocol::Tcp, "0.0.0.0", 22);
        assert_eq!(ssh.process.as_deref(), Some("sshd"));
    }

    #[test]
    fn arch_fixture() {
        let (services, gaps) = fixture("arch");
        assert!(gaps.0.is_empty(), "{:?}", gaps.0);
        assert_eq!(services.manager.as_deref(), Some("systemd"));
        let nm = unit(&services, "NetworkManager.service");
        assert_eq!((nm.startup, nm.state), (Startup::Enabled, RunState::Active));
        let sddm = unit(&services, "sddm.service");
        assert_eq!(
            (sddm.startup, sddm.state),
            (Startup::Enabled, RunState::Active)
        );
        let sshd = unit(&services, "sshd.service");
        assert_eq!(
            (sshd.startup, sshd.state),
            (Startup::Disabled, RunState::Inactive)
        );
        assert!(services.listeners.iter().all(|l| l.pid.is_some()));
    }

    #[test]
    fn unreadable_fds_are_one_gap() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("proc/net");
        std::fs::create_dir_all(&net).unwrap();
        let line = |inode: u32, port: &str| {
            format!(
                "   0: 00000000:{port} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0 100 0 0 10 0\n"
            )
        };
        std::fs::write(net.join("tcp"), line(111, "0016") + &line(222, "0050")).unwrap();
        std::fs::write(net.join("udp"), "").unwrap();
        // A pid whose fd path is a file, not a directory: read_dir fails.
        std::fs::create_dir_all(dir.path().join("proc/77")).unwrap();
        std::fs::write(dir.path().join("proc/77/fd"), "").unwrap();
        let mut gaps = Gaps::default();
        let services = collect(&Root::new(dir.path()), &mut gaps);
        assert_eq!(services.manager, None);
        assert_eq!(services.listeners.len(), 2);
        assert_eq!(gaps.0.len(), 1, "{:?}", gaps.0);
        assert!(
            gaps.0[0].reason.contains("owners of 2 listeners"),
            "{:?}",
            gaps.0
        );
    }

    #[test]
    fn live_host_does_not_panic() {
        let mut gaps = Gaps::default();
        let services = collect(&Root::live(), &mut gaps);
        assert!(
            services.listeners.iter().all(|l| l.port > 0),
            "{:?}",
            services.listeners
        );
    }
}
