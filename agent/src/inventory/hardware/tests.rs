//! The hardware source on the fixture trees and on the live host.

use super::*;

fn fixture(host: &str) -> Hardware {
    let mut gaps = Gaps::default();
    let root = Root::new(format!(
        "{}/tests/fixtures/{host}",
        env!("CARGO_MANIFEST_DIR")
    ));
    let hw = collect(&root, &mut gaps);
    assert!(
        gaps.0.is_empty() || host == "alpine",
        "{host}: {:?}",
        gaps.0
    );
    hw
}

#[test]
fn live_host_does_not_panic_and_counts_its_processors() {
    let mut gaps = Gaps::default();
    let hw = collect(&Root::live(), &mut gaps);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let processors = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    assert_eq!(hw.cpu.logical_cores as usize, processors);
    assert!(hw.memory.total_bytes > 0);
    if !std::path::Path::new("/sys/class/dmi/id").exists() {
        assert!(gaps.0.iter().any(|g| g.item == "dmi"), "{:?}", gaps.0);
    }
}

#[test]
fn debian_laptop() {
    let hw = fixture("debian");
    assert_eq!(hw.system.vendor.as_deref(), Some("Dell Inc."));
    assert_eq!(hw.system.product.as_deref(), Some("Latitude 7440"));
    assert_eq!(hw.system.version, None, "Not Specified");
    assert_eq!(hw.system.serial.as_deref(), Some("7HXK2Y3"));
    assert_eq!(
        hw.system.uuid.as_deref(),
        Some("4c4c4544-0048-5810-804b-b7c04f593233")
    );
    assert_eq!(hw.bios.version.as_deref(), Some("1.10.1"));
    assert_eq!(hw.chassis.kind.as_deref(), Some("Notebook"));
    assert_eq!(hw.chassis.asset_tag.as_deref(), Some("IT-004217"));

    assert_eq!(
        hw.cpu.model.as_deref(),
        Some("13th Gen Intel(R) Core(TM) i7-1365U")
    );
    assert_eq!(
        (hw.cpu.sockets, hw.cpu.physical_cores, hw.cpu.logical_cores),
        (1, 10, 12)
    );
    assert_eq!(hw.cpu.max_mhz, Some(5200), "from cpufreq, not cpu MHz");
    assert_eq!(hw.memory.total_bytes, 32_475_508 * 1024);
    assert_eq!(hw.memory.swap_total_bytes, 999_420 * 1024);

    assert_eq!(hw.memory_modules.len(), 2);
    for (module, locator) in hw.memory_modules.iter().zip(["DIMM A", "DIMM B"]) {
        assert_eq!(module.locator, locator);
        assert_eq!(module.size_bytes, 16 << 30);
        assert_eq!(module.kind.as_deref(), Some("DDR5"));
        assert_eq!(module.form_factor.as_deref(), Some("SODIMM"));
        assert_eq!(module.speed_mts, Some(5200));
        assert_eq!(module.part_number.as_deref(), Some("M425R2GA3BB0-CWMOD"));
    }

    assert_eq!(hw.pci.len(), 3);
    let usb = &hw.pci[2];
    assert_eq!(usb.address, "0000:00:14.0");
    assert_eq!(usb.class, "0c0330");
    assert_eq!(usb.class_name.as_deref(), Some("USB controller"));
    assert_eq!(usb.driver.as_deref(), Some("xhci_hcd"));
    assert_eq!(usb.subsystem_vendor_id.as_deref(), Some("1028"));
    assert_eq!(usb.revision.as_deref(), Some("01"));
    assert_eq!(hw.pci[0].driver, None);

    assert_eq!(hw.gpus.len(), 1);
    assert_eq!(hw.gpus[0].vendor.as_deref(), Some("Intel Corporation"));
    assert_eq!(
        hw.gpus[0].model.as_deref(),
        Some("Raptor Lake-P [Iris Xe Graphics]")
    );
    assert_eq!(hw.gpus[0].driver.as_deref(), Some("i915"));

    let ports: Vec<_> = hw.usb.iter().map(|d| d.port.as_str()).collect();
    assert_eq!(ports, ["1-10", "usb1", "usb2"], "interfaces skipped");
    let bt = &hw.usb[0];
    assert_eq!(bt.manufacturer.as_deref(), Some("Intel Corp."), "usb.ids");
    assert_eq!(bt.product.as_deref(), Some("AX211 Bluetooth"));
    assert_eq!(bt.class.as_deref(), Some("e0"));
    assert_eq!(bt.speed_mbps, Some(12));
    assert_eq!(hw.usb[2].speed_mbps, Some(10000));
    assert_eq!(hw.usb[1].serial.as_deref(), Some("0000:00:14.0"));

    assert_eq!(hw.batteries.len(), 1, "AC adapter is not a battery");
    let bat = &hw.batteries[0];
    assert_eq!(bat.name, "BAT0");
    assert_eq!(bat.model.as_deref(), Some("DELL 7FMXV3A"));
    assert_eq!(bat.capacity_percent, Some(78));
    assert_eq!(bat.design_capacity_uwh, Some(57_000_000));
    assert_eq!(bat.full_capacity_uwh, Some(51_300_000));
    assert_eq!(bat.cycle_count, Some(143));

    assert_eq!(hw.monitors.len(), 2, "HDMI is disconnected");
    let dell = &hw.monitors[0];
    assert_eq!(dell.connector, "card0-DP-1");
    assert_eq!(dell.manufacturer.as_deref(), Some("DEL"));
    assert_eq!(dell.product_code.as_deref(), Some("a1a6"));
    assert_eq!(dell.model.as_deref(), Some("DELL P2422H"));
    assert_eq!(dell.serial.as_deref(), Some("7XK8L93"));
    assert_eq!(dell.year, Some(2023));
    let panel = &hw.monitors[1];
    assert_eq!(panel.connector, "card0-eDP-1");
    assert_eq!(panel.manufacturer.as_deref(), Some("BOE"));
    assert_eq!(panel.model.as_deref(), Some("NE140FHM-N61"));
    assert_eq!(panel.serial, None);
    assert_eq!((panel.width_cm, panel.height_cm), (Some(31), Some(17)));
}

#[test]
fn rpm_kvm_guest() {
    let hw = fixture("rpm");
    assert_eq!(hw.system.vendor.as_deref(), Some("QEMU"));
    assert_eq!(
        hw.system.product.as_deref(),
        Some("Standard PC (Q35 + ICH9, 2009)")
    );
    assert_eq!(hw.system.serial, None);
    assert_eq!(hw.bios.vendor.as_deref(), Some("SeaBIOS"));
    assert_eq!(hw.chassis.kind.as_deref(), Some("Other"));

    // QEMU's default topology: one single-core socket per vCPU.
    assert_eq!(
        (hw.cpu.sockets, hw.cpu.physical_cores, hw.cpu.logical_cores),
        (4, 4, 4)
    );
    assert_eq!(hw.cpu.max_mhz, Some(2594), "no cpufreq: rounded cpu MHz");
    assert_eq!(hw.cpu.family, Some(6));
    assert_eq!(hw.cpu.model_number, Some(106));

    // SMBIOS 2.8 entry point, a 2.8-sized type 17 with no speed.
    assert_eq!(hw.memory_modules.len(), 1);
    let dimm = &hw.memory_modules[0];
    assert_eq!(dimm.locator, "DIMM 0");
    assert_eq!(dimm.bank, None);
    assert_eq!(dimm.size_bytes, 8 << 30);
    assert_eq!(dimm.kind.as_deref(), Some("RAM"));
    assert_eq!(dimm.form_factor.as_deref(), Some("DIMM"));
    assert_eq!(dimm.speed_mts, None);
    assert_eq!(dimm.manufacturer.as_deref(), Some("QEMU"));

    // Names from /usr/share/hwdata/pci.ids.
    let net = hw.pci.iter().find(|d| d.address == "0000:01:00.0").unwrap();
    assert_eq!(net.vendor_name.as_deref(), Some("Red Hat, Inc."));
    assert_eq!(
        net.device_name.as_deref(),
        Some("Virtio 1.0 network device")
    );
    assert_eq!(net.class_name.as_deref(), Some("Ethernet controller"));
    assert_eq!(net.driver.as_deref(), Some("virtio-pci"));
    assert_eq!(hw.gpus.len(), 1);
    assert_eq!(
        hw.gpus[0].model.as_deref(),
        Some("QEMU Virtual Video Controller")
    );
    assert_eq!(hw.usb.len(), 2);
    assert_eq!(hw.usb[0].product.as_deref(), Some("QEMU USB Tablet"));
    assert!(hw.batteries.is_empty());
    assert!(hw.monitors.is_empty());
}

#[test]
fn arch_desktop() {
    let hw = fixture("arch");
    // An ASUS DIY board: the system strings are all placeholders.
    assert_eq!(hw.system.vendor, None);
    assert_eq!(hw.system.product, None);
    assert_eq!(hw.system.serial, None);
    assert_eq!(hw.system.family, None);
    assert_eq!(
        hw.system.uuid.as_deref(),
        Some("a5c3e1f2-7b4d-4e6a-9c81-2f3d4b5a6c7e")
    );
    assert_eq!(hw.board.vendor.as_deref(), Some("ASUSTeK COMPUTER INC."));
    assert_eq!(hw.board.asset_tag, None);
    assert_eq!(hw.chassis.kind.as_deref(), Some("Desktop"));
    assert_eq!(hw.chassis.vendor, None);

    assert_eq!(hw.cpu.vendor.as_deref(), Some("AuthenticAMD"));
    assert_eq!(
        (hw.cpu.sockets, hw.cpu.physical_cores, hw.cpu.logical_cores),
        (1, 8, 16)
    );
    assert_eq!(hw.cpu.max_mhz, Some(5573));

    // Four slots, two populated.
    let slots: Vec<_> = hw
        .memory_modules
        .iter()
        .map(|m| m.locator.as_str())
        .collect();
    assert_eq!(slots, ["DIMM_A2", "DIMM_B2"]);
    let total: u64 = hw.memory_modules.iter().map(|m| m.size_bytes).sum();
    assert_eq!(total, 32 << 30);
    assert_eq!(hw.memory_modules[0].form_factor.as_deref(), Some("DIMM"));
    assert_eq!(hw.memory_modules[0].speed_mts, Some(6000));

    let gpu = &hw.gpus[0];
    assert_eq!(gpu.pci_address, "0000:03:00.0");
    assert_eq!(
        gpu.vendor.as_deref(),
        Some("Advanced Micro Devices, Inc. [AMD/ATI]")
    );
    assert_eq!(gpu.driver.as_deref(), Some("amdgpu"));
    let nvme = hw
        .pci
        .iter()
        .find(|d| d.driver.as_deref() == Some("nvme"))
        .unwrap();
    assert_eq!(
        nvme.class_name.as_deref(),
        Some("Non-Volatile memory controller")
    );

    let kbd = hw.usb.iter().find(|d| d.port == "1-2").unwrap();
    assert_eq!(
        kbd.manufacturer.as_deref(),
        Some("Logitech"),
        "device string wins"
    );
    assert_eq!(kbd.product.as_deref(), Some("USB Keyboard"));
    assert_eq!(kbd.speed_mbps, Some(2));
    let mouse = hw.usb.iter().find(|d| d.port == "1-3").unwrap();
    assert_eq!(mouse.manufacturer.as_deref(), Some("Logitech, Inc."));
    assert_eq!(mouse.product.as_deref(), Some("Mouse"));

    assert_eq!(hw.monitors.len(), 1);
    assert_eq!(hw.monitors[0].manufacturer.as_deref(), Some("GSM"));
    assert_eq!(hw.monitors[0].model.as_deref(), Some("LG ULTRAGEAR"));
    assert_eq!(hw.monitors[0].serial.as_deref(), Some("107NTZN2B814"));
    assert!(hw.batteries.is_empty());
}

#[test]
fn alpine_without_dmi_notes_its_gaps() {
    let mut gaps = Gaps::default();
    let root = Root::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/alpine"
    ));
    let hw = collect(&root, &mut gaps);
    let items: Vec<_> = gaps.0.iter().map(|g| g.item.as_str()).collect();
    assert_eq!(
        items,
        ["dmi", "pci names", "memory modules"],
        "{:?}",
        gaps.0
    );
    assert!(gaps.0.iter().all(|g| g.source == "hardware"));
    assert!(gaps.0[2].reason.contains("/sys/firmware/dmi/tables/DMI"));
    assert_eq!(hw.system, SystemInfo::default());
    assert!(hw.memory_modules.is_empty());

    assert_eq!(hw.cpu.model.as_deref(), Some("Intel(R) N100"));
    assert_eq!(
        (hw.cpu.sockets, hw.cpu.physical_cores, hw.cpu.logical_cores),
        (1, 4, 4)
    );
    assert_eq!(hw.memory.total_bytes, 16_159_480 * 1024);
    assert_eq!(hw.memory.swap_total_bytes, 0);
    // No pci.ids installed: the GPU is shown by its IDs.
    assert_eq!(hw.gpus.len(), 1);
    assert_eq!(hw.gpus[0].vendor.as_deref(), Some("8086"));
    assert_eq!(hw.gpus[0].model.as_deref(), Some("46d1"));
    assert_eq!(hw.pci.len(), 4);
    assert!(hw.pci.iter().all(|d| d.vendor_name.is_none()));
    assert_eq!(hw.usb.len(), 1);
}
