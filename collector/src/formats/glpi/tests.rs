#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::IpAddr;
use std::sync::LazyLock;

use atalaya_common::model::{
    Account, Battery, Disk, Filesystem, Gateway, Gpu, Group, Interface, InterfaceKind, Inventory,
    IpNet, Login, MachineKind, MemoryModule, Monitor, Package, PciDevice, Session, Timestamp,
    UsbDevice,
};
use proptest::prelude::*;
use serde_json::Value;

use super::values::{cpu_arch, datetime, firmware_date, mac, mask_v4, mask_v6};
use super::{Asset, computer};

#[path = "../../../tests/glpi/schema.rs"]
mod glpi_schema;

/// GLPI's schema, as published (see `tests/glpi/README.md`).
static SCHEMA: LazyLock<jsonschema::Validator> = LazyLock::new(glpi_schema::validator);

fn assert_valid(doc: &Value) {
    let errors = glpi_schema::errors(&SCHEMA, doc);
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

#[test]
fn the_schema_is_glpis_file_as_published() {
    assert_eq!(glpi_schema::SCHEMA_JSON.chars().count(), 73_719);
    let schema: Value = serde_json::from_str(glpi_schema::SCHEMA_JSON).unwrap();
    assert_eq!(schema["$id"], "https://glpi-project.org/inventory.json");
    assert_eq!(
        schema["required"],
        serde_json::json!(["content", "deviceid"])
    );
}

#[test]
fn the_validator_refuses_what_glpi_refuses() {
    let good = computer(&asset(&[]), &laptop());
    assert_valid(&good);
    for (pointer, bad) in [
        ("/content/cpus/0/arch", Value::from("riscv64")),
        ("/content/bios/bdate", Value::from("03/14/2024")),
        (
            "/content/operatingsystem/boot_time",
            Value::from("2026-11-28T07:13:20Z"),
        ),
        ("/content/networks/0/status", Value::from("dormant")),
        ("/content/networks/1/ipaddress", Value::from("fe80::1")),
        ("/content/hardware/memory", Value::from("31714")),
        ("/content/drives/0/total", Value::from(1.5)),
        ("/itemtype", Value::from("Laptop")),
    ] {
        let mut doc = good.clone();
        *doc.pointer_mut(pointer).unwrap() = bad;
        assert!(
            !glpi_schema::errors(&SCHEMA, &doc).is_empty(),
            "{pointer} passed"
        );
    }
    let mut doc = good;
    doc.as_object_mut().unwrap().remove("deviceid");
    assert!(
        !glpi_schema::errors(&SCHEMA, &doc).is_empty(),
        "no deviceid passed"
    );
}

const TAKEN: Timestamp = Timestamp(1_795_863_490_000); // 2026-11-28T10:58:10Z

fn asset(tags: &[String]) -> Asset<'_> {
    Asset {
        id: "asset-7",
        hostname: "lat-maria",
        tags,
        taken_at: TAKEN,
        agent_version: Some("0.1.0"),
    }
}

fn ip(s: &str, prefix: u8) -> IpNet {
    IpNet {
        address: s.parse::<IpAddr>().unwrap(),
        prefix,
    }
}

/// A laptop with something in every section GLPI has a place for.
fn laptop() -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = "lat-maria".into();
    inv.host.fqdn = Some("lat-maria.corp.example".into());
    inv.host.boot_time = Some(Timestamp::from_secs(1_795_850_000)); // 2026-11-28T07:13:20Z
    inv.host.virtualization.kind = MachineKind::Physical;
    inv.os.name = Some("Debian GNU/Linux".into());
    inv.os.pretty_name = Some("Debian GNU/Linux 12 (bookworm)".into());
    inv.os.version_id = Some("12".into());
    inv.os.kernel_name = Some("Linux".into());
    inv.os.kernel_release = Some("6.1.0-26-amd64".into());
    inv.os.kernel_version = Some("#1 SMP PREEMPT_DYNAMIC Debian 6.1.112-1".into());
    inv.os.arch = Some("x86_64".into());
    let hw = &mut inv.hardware;
    hw.system.vendor = Some("Dell Inc.".into());
    hw.system.product = Some("Latitude 7440".into());
    hw.system.serial = Some("7HXK2Y3".into());
    hw.system.uuid = Some("4c4c4544-0048-5810-804b-b7c04f593233".into());
    hw.system.sku = Some("0C0F".into());
    hw.board.vendor = Some("Dell Inc.".into());
    hw.board.product = Some("0W6GXF".into());
    hw.board.serial = Some("/7HXK2Y3/CNCMK0042T01SH/".into());
    hw.bios.vendor = Some("Dell Inc.".into());
    hw.bios.version = Some("1.10.1".into());
    hw.bios.date = Some("03/14/2024".into());
    hw.chassis.kind = Some("Notebook".into());
    hw.chassis.serial = Some("7HXK2Y3".into());
    hw.chassis.asset_tag = Some("IT-004217".into());
    hw.cpu.vendor = Some("GenuineIntel".into());
    hw.cpu.model = Some("13th Gen Intel(R) Core(TM) i7-1365U".into());
    hw.cpu.family = Some(6);
    hw.cpu.model_number = Some(186);
    hw.cpu.stepping = Some(3);
    hw.cpu.sockets = 1;
    hw.cpu.physical_cores = 10;
    hw.cpu.logical_cores = 12;
    hw.cpu.max_mhz = Some(5200);
    hw.memory.total_bytes = 33_254_920_192;
    hw.memory.swap_total_bytes = 1_023_406_080;
    hw.memory_modules.push(MemoryModule {
        locator: "DIMM A".into(),
        bank: Some("BANK 0".into()),
        size_bytes: 17_179_869_184,
        kind: Some("DDR5".into()),
        form_factor: Some("SODIMM".into()),
        speed_mts: Some(5200),
        manufacturer: Some("Samsung".into()),
        serial: Some("45A1B2C3".into()),
        part_number: Some("M425R2GA3BB0-CWMOD".into()),
    });
    hw.pci = vec![
        PciDevice {
            address: "0000:00:02.0".into(),
            class: "030000".into(),
            class_name: Some("VGA compatible controller".into()),
            vendor_id: "8086".into(),
            device_id: "a7a1".into(),
            vendor_name: Some("Intel Corporation".into()),
            device_name: Some("Raptor Lake-P [Iris Xe Graphics]".into()),
            subsystem_vendor_id: Some("1028".into()),
            subsystem_device_id: Some("0c0f".into()),
            revision: Some("04".into()),
            driver: Some("i915".into()),
        },
        PciDevice {
            address: "0000:00:1f.3".into(),
            class: "040300".into(),
            class_name: Some("Audio device".into()),
            vendor_id: "8086".into(),
            device_id: "51ca".into(),
            vendor_name: Some("Intel Corporation".into()),
            device_name: None,
            revision: Some("01".into()),
            ..PciDevice::default()
        },
    ];
    hw.usb = vec![
        UsbDevice {
            port: "1-10".into(),
            vendor_id: "8087".into(),
            product_id: "0033".into(),
            manufacturer: Some("Intel Corp.".into()),
            product: Some("AX211 Bluetooth".into()),
            class: Some("e0".into()),
            ..UsbDevice::default()
        },
        UsbDevice {
            port: "usb1".into(),
            vendor_id: "1d6b".into(),
            product_id: "0002".into(),
            class: Some("09".into()),
            ..UsbDevice::default()
        },
    ];
    hw.batteries.push(Battery {
        name: "BAT0".into(),
        manufacturer: Some("SMP".into()),
        model: Some("DELL 7FMXV3A".into()),
        serial: Some("4711".into()),
        technology: Some("Li-poly".into()),
        design_capacity_uwh: Some(57_000_000),
        full_capacity_uwh: Some(51_300_000),
        ..Battery::default()
    });
    hw.gpus.push(Gpu {
        pci_address: "0000:00:02.0".into(),
        vendor: Some("Intel Corporation".into()),
        model: Some("Raptor Lake-P [Iris Xe Graphics]".into()),
        driver: Some("i915".into()),
    });
    hw.monitors.push(Monitor {
        connector: "card0-DP-1".into(),
        manufacturer: Some("DEL".into()),
        model: Some("DELL P2422H".into()),
        serial: Some("7XK8L93".into()),
        ..Monitor::default()
    });
    inv.software.manager = Some("dpkg".into());
    inv.software.packages.push(Package {
        name: "bash".into(),
        version: "5.2.15-2+b7".into(),
        arch: Some("amd64".into()),
        vendor: Some("Matthias Klose <doko@debian.org>".into()),
        installed_at: Some(Timestamp::from_secs(1_768_435_200)), // 2026-01-15
        size_bytes: Some(7_335_936),
        source: Some("bash".into()),
    });
    inv.network.interfaces = vec![
        Interface {
            name: "lo".into(),
            state: "unknown".into(),
            kind: InterfaceKind::Loopback,
            mac: Some("00:00:00:00:00:00".into()),
            addresses: vec![ip("127.0.0.1", 8), ip("::1", 128)],
            ..Interface::default()
        },
        Interface {
            name: "wlp0s20f3".into(),
            mac: Some("A4:C3:F0:12:34:56".into()),
            mtu: Some(1500),
            speed_mbps: Some(866),
            state: "up".into(),
            kind: InterfaceKind::Physical,
            driver: Some("iwlwifi".into()),
            addresses: vec![ip("10.20.30.45", 24), ip("fe80::a6c3:f0ff:fe12:3456", 64)],
        },
        Interface {
            name: "docker0".into(),
            mac: Some("02:42:7a:11:22:33".into()),
            state: "down".into(),
            kind: InterfaceKind::Virtual,
            ..Interface::default()
        },
    ];
    inv.network.gateways.push(Gateway {
        interface: "wlp0s20f3".into(),
        address: "10.20.30.1".parse().unwrap(),
    });
    inv.network.dns.servers = vec!["10.20.0.53".parse().unwrap(), "10.20.0.54".parse().unwrap()];
    inv.storage.disks.push(Disk {
        name: "nvme0n1".into(),
        model: Some("SAMSUNG MZVL2512HCJQ-00BD1".into()),
        serial: Some("S64KNF0T123456".into()),
        size_bytes: 512_110_190_592,
        ..Disk::default()
    });
    inv.storage.filesystems.push(Filesystem {
        mount_point: "/".into(),
        device: "/dev/nvme0n1p2".into(),
        fs_type: "ext4".into(),
        read_only: false,
        total_bytes: Some(502_468_108_288),
        free_bytes: Some(201_326_592_000),
    });
    inv.users.accounts.push(Account {
        name: "maria".into(),
        uid: 1000,
        gid: 1000,
        full_name: Some("María García".into()),
        home: "/home/maria".into(),
        shell: "/bin/bash".into(),
        system: false,
    });
    inv.users.groups.push(Group {
        name: "plugdev".into(),
        gid: 46,
        members: vec!["maria".into()],
    });
    for tty in ["tty2", "pts/0"] {
        inv.users.sessions.push(Session {
            user: "maria".into(),
            tty: tty.into(),
            ..Session::default()
        });
    }
    inv.users.last_login = Some(Login {
        user: "maria".into(),
        tty: "tty2".into(),
        remote_host: None,
        at: Timestamp::from_secs(1_795_851_000),
    });
    inv.canonicalize();
    inv
}

#[test]
fn a_full_host_validates_and_every_section_lands_where_glpi_reads_it() {
    let tags = vec!["madrid".to_owned(), "laptops".to_owned()];
    let doc = computer(&asset(&tags), &laptop());
    assert_valid(&doc);
    assert_eq!(doc["deviceid"], "lat-maria-asset-7");
    assert_eq!(doc["action"], "inventory");
    assert_eq!(doc["itemtype"], "Computer");
    let c = &doc["content"];
    assert_eq!(c["versionclient"], "Atalaya-Agent_v0.1.0");
    assert_eq!(c["accesslog"]["logdate"], "2026-11-28 10:58:10");
    assert_eq!(c["accountinfo"]["keyvalue"], "madrid,laptops");

    let hw = &c["hardware"];
    assert_eq!(hw["name"], "lat-maria");
    assert_eq!(hw["memory"], 31_714); // 33 254 920 192 B in MiB
    assert_eq!(hw["swap"], 975);
    assert_eq!(hw["chassis_type"], "Notebook");
    assert_eq!(hw["vmsystem"], "Physical");
    assert_eq!(hw["dns"], "10.20.0.53/10.20.0.54");
    assert_eq!(hw["defaultgateway"], "10.20.30.1");
    assert_eq!(hw["ipaddr"], "10.20.30.45");
    assert_eq!(hw["workgroup"], "corp.example");
    assert_eq!(hw["lastloggeduser"], "maria");

    let bios = &c["bios"];
    assert_eq!(bios["bdate"], "2024-03-14");
    assert_eq!(bios["ssn"], "7HXK2Y3");
    assert_eq!(bios["smodel"], "Latitude 7440");
    assert_eq!(bios["msn"], "/7HXK2Y3/CNCMK0042T01SH/");
    assert_eq!(bios["assettag"], "IT-004217");

    let os = &c["operatingsystem"];
    assert_eq!(os["boot_time"], "2026-11-28 07:13:20");
    assert_eq!(os["kernel_name"], "linux");
    assert_eq!(os["kernel_version"], "6.1.0-26-amd64");
    assert_eq!(os["full_name"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(os["dns_domain"], "corp.example");

    let cpu = &c["cpus"][0];
    assert_eq!(c["cpus"].as_array().unwrap().len(), 1);
    assert_eq!(cpu["arch"], "x86_64");
    assert_eq!(cpu["manufacturer"], "Intel");
    assert_eq!(
        (cpu["core"].as_u64(), cpu["thread"].as_u64()),
        (Some(10), Some(12))
    );
    assert_eq!(cpu["speed"], 5200);
    assert_eq!(cpu["familynumber"], "6");

    assert_eq!(c["memories"][0]["capacity"], 16_384);
    assert_eq!(c["memories"][0]["speed"], "5200 MT/s");
    assert_eq!(c["storages"][0]["disksize"], 488_386);
    let root = &c["drives"][0];
    assert_eq!(
        (&root["type"], &root["volumn"], &root["filesystem"]),
        (
            &Value::from("/"),
            &Value::from("/dev/nvme0n1p2"),
            &Value::from("ext4")
        )
    );
    assert_eq!(root["total"], 479_190);
    assert_eq!(root["free"], 192_000);

    let sw = &c["softwares"][0];
    assert_eq!(sw["from"], "deb");
    assert_eq!(sw["install_date"], "2026-01-15");
    assert_eq!(sw["filesize"], 7_335_936);
    assert_eq!(sw["publisher"], "Matthias Klose <doko@debian.org>");

    // One entry per address, one for the interface without any.
    let nets = c["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 5, "{nets:#?}");
    let wifi4 = nets
        .iter()
        .find(|n| n["ipaddress"] == "10.20.30.45")
        .unwrap();
    assert_eq!(wifi4["ipmask"], "255.255.255.0");
    assert_eq!(wifi4["ipsubnet"], "10.20.30.0");
    assert_eq!(wifi4["mac"], "a4:c3:f0:12:34:56");
    assert_eq!(wifi4["type"], "wifi");
    assert_eq!(wifi4["status"], "up");
    assert_eq!(wifi4["speed"], "866");
    let wifi6 = nets
        .iter()
        .find(|n| n["ipaddress6"] == "fe80::a6c3:f0ff:fe12:3456")
        .unwrap();
    assert_eq!(wifi6["ipmask6"], "ffff:ffff:ffff:ffff::");
    assert_eq!(wifi6["ipsubnet6"], "fe80::");
    let lo = nets.iter().find(|n| n["ipaddress"] == "127.0.0.1").unwrap();
    assert_eq!(
        (&lo["type"], &lo["status"]),
        (&Value::from("loopback"), &Value::from("up"))
    );
    assert!(lo.get("mac").is_none(), "the all-zero MAC is no MAC: {lo}");
    let docker = nets.iter().find(|n| n["description"] == "docker0").unwrap();
    assert_eq!(
        (&docker["status"], &docker["type"]),
        (&Value::from("down"), &Value::from("bridge"))
    );

    assert_eq!(c["users"], serde_json::json!([{"login": "maria"}]));
    assert_eq!(c["local_users"][0]["id"], "1000");
    assert_eq!(c["local_users"][0]["name"], "María García");
    assert_eq!(
        c["local_groups"][0]["members"],
        serde_json::json!(["maria"])
    );
    assert_eq!(c["batteries"][0]["capacity"], 57_000);
    assert_eq!(c["batteries"][0]["real_capacity"], 51_300);
    assert_eq!(c["monitors"][0]["name"], "DELL P2422H");
    assert_eq!(c["videos"][0]["pcislot"], "00:02.0");
    assert_eq!(c["sounds"][0]["name"], "8086:51ca");
    // The root hub is the kernel's; the Bluetooth adapter was plugged in.
    assert_eq!(c["usbdevices"].as_array().unwrap().len(), 1);
    assert_eq!(c["usbdevices"][0]["class"], "224");
    let vga = &c["controllers"][0];
    assert_eq!(vga["pciclass"], "0300");
    assert_eq!(vga["pcisubsystemid"], "1028:0c0f");
    assert_eq!(vga["type"], "VGA compatible controller");
}

#[test]
fn an_empty_inventory_still_has_what_glpi_requires() {
    let doc = computer(
        &Asset {
            agent_version: None,
            ..asset(&[])
        },
        &Inventory::default(),
    );
    assert_valid(&doc);
    assert_eq!(doc["deviceid"], "lat-maria-asset-7");
    assert_eq!(doc["content"]["versionclient"], "Atalaya-Agent");
    let content = doc["content"].as_object().unwrap();
    // Nothing known, nothing sent: no empty lists, no zero memory.
    for absent in ["cpus", "softwares", "networks", "bios", "accountinfo"] {
        assert!(!content.contains_key(absent), "{absent}: {doc:#}");
    }
    assert!(content["hardware"].get("memory").is_none(), "{doc:#}");
}

#[test]
fn values_glpi_would_refuse_are_left_out_not_sent() {
    let mut inv = laptop();
    inv.os.arch = Some("riscv64".into());
    inv.hardware.bios.date = Some("not a date".into());
    inv.hardware.system.serial = Some("   ".into());
    inv.network.interfaces[0].mac =
        Some("80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de".into());
    inv.host.boot_time = Some(Timestamp(-5));
    inv.software.packages[0].installed_at = Some(Timestamp(i64::MAX));
    let doc = computer(&asset(&[]), &inv);
    assert_valid(&doc);
    let c = &doc["content"];
    assert!(c["cpus"][0].get("arch").is_none(), "{}", c["cpus"]);
    // The OS keeps its own name for the architecture: GLPI takes any there.
    assert_eq!(c["operatingsystem"]["arch"], "riscv64");
    assert!(c["bios"].get("bdate").is_none(), "{}", c["bios"]);
    assert!(c["bios"].get("ssn").is_none(), "{}", c["bios"]);
    assert!(c["operatingsystem"].get("boot_time").is_none());
    assert!(c["softwares"][0].get("install_date").is_none());
    let ib = c["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["description"] == "docker0")
        .unwrap();
    assert!(ib.get("mac").is_none(), "{ib}");
}

#[test]
fn firmware_dates_become_iso_dates_or_nothing() {
    for (given, want) in [
        ("03/14/2024", Some("2024-03-14")),
        ("3/4/2024", Some("2024-03-04")),
        ("2024-03-14", Some("2024-03-14")),
        (" 02/29/2024 ", Some("2024-02-29")),
        ("02/29/2023", None),
        ("13/01/2024", None),
        ("04/31/2024", None),
        ("03/14/24", None),
        ("2024/03/14", None),
        ("not a date", None),
        ("", None),
        ("１２/01/2024", None),
    ] {
        assert_eq!(firmware_date(given).as_deref(), want, "{given:?}");
    }
}

#[test]
fn cpu_architectures_take_glpis_names_or_none() {
    for (given, want) in [
        ("x86_64", Some("x86_64")),
        ("amd64", Some("x86_64")),
        ("i686", Some("i386")),
        ("arm64", Some("aarch64")),
        ("armv7l", Some("armv7l")),
        ("ppc64le", Some("powerpc64")),
        ("riscv64", None),
        ("s390x", None),
        ("", None),
    ] {
        assert_eq!(cpu_arch(given).as_deref(), want, "{given:?}");
    }
}

#[test]
fn masks_macs_and_datetimes() {
    assert_eq!(mask_v4(0).unwrap().to_string(), "0.0.0.0");
    assert_eq!(mask_v4(20).unwrap().to_string(), "255.255.240.0");
    assert_eq!(mask_v4(32).unwrap().to_string(), "255.255.255.255");
    assert_eq!(mask_v4(33), None);
    assert_eq!(mask_v6(0).unwrap().to_string(), "::");
    assert_eq!(mask_v6(48).unwrap().to_string(), "ffff:ffff:ffff::");
    assert_eq!(mask_v6(129), None);
    assert_eq!(
        mac("8C:EC:4B:AA:BB:CC").as_deref(),
        Some("8c:ec:4b:aa:bb:cc")
    );
    assert_eq!(mac("8c:ec:4b:aa:bb"), None);
    assert_eq!(mac("8c:ec:4b:aa:bb:zz"), None);
    assert_eq!(mac("00:00:00:00:00:00"), None);
    assert_eq!(
        datetime(Timestamp(1_795_863_490_123)).as_deref(),
        Some("2026-11-28 10:58:10")
    );
    assert_eq!(datetime(Timestamp(-1)), None);
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just(" ".to_owned()),
        "[ -~]{0,12}",
        "\\PC{0,8}",
        "[0-9/-]{0,11}",
        "[0-9a-fA-F:]{0,20}",
    ]
}

proptest! {
    /// Whatever an agent reported, the document is one GLPI accepts.
    #[test]
    fn any_reported_values_give_a_valid_document(
        arch in text(),
        date in text(),
        vendor in text(),
        mac_text in text(),
        state in text(),
        iface in text(),
        name in text(),
        version in text(),
        manager in text(),
        class in text(),
        secs in any::<i64>(),
        prefix in any::<u8>(),
        sockets in 0u32..4,
        cores in 0u32..64,
        sizes in any::<u64>(),
    ) {
        let mut inv = laptop();
        inv.os.arch = Some(arch);
        inv.hardware.bios.date = Some(date);
        inv.hardware.bios.vendor = Some(vendor.clone());
        inv.hardware.cpu.vendor = Some(vendor);
        inv.hardware.cpu.sockets = sockets;
        inv.hardware.cpu.physical_cores = cores;
        inv.hardware.memory.total_bytes = sizes;
        inv.host.boot_time = Some(Timestamp(secs));
        inv.network.interfaces.push(Interface {
            name: iface,
            mac: Some(mac_text),
            state,
            addresses: vec![ip("192.0.2.7", prefix), ip("2001:db8::7", prefix)],
            ..Interface::default()
        });
        inv.software.manager = Some(manager);
        inv.software.packages.push(Package {
            name,
            version,
            installed_at: Some(Timestamp(secs)),
            size_bytes: Some(sizes),
            ..Package::default()
        });
        inv.hardware.usb[0].class = Some(class.clone());
        inv.hardware.pci[0].class = class;
        let doc = computer(&asset(&[]), &inv);
        let errors = glpi_schema::errors(&SCHEMA, &doc);
        prop_assert!(errors.is_empty(), "{:?}", errors);
    }
}
