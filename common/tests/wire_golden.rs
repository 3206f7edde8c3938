//! Golden bytes of the wire form of an inventory, a delta, and a frame of
//! every message kind of the protocol.
//!
//! The collector stores and decodes what agents of older versions sent, so a
//! change to the encoding must be deliberate: when these bytes change, either
//! the older form is still read (a field added at the end of `Hello`, whose
//! first-release frame stays pinned in `frame-hello-first-release.hex`) or
//! the protocol version is bumped; then regenerate the files with
//! `ATALAYA_BLESS=1 cargo test -p atalaya-common --test wire_golden`.
//! A new message kind fails `every_kind_in_the_protocol_has_a_golden_frame`
//! until it has a sample in `every_message()` and its blessed file.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use atalaya_common::assist::{Action, DiagOrder, DiagOutcome};
use atalaya_common::diff::{self, InventoryDelta};
use atalaya_common::model::device::trap::{TrapEvent, TrapInterface, TrapKind, TrapVersion};
use atalaya_common::model::device::{
    AuthProtocol, Credentials, DeviceInterface, DeviceInventory, DeviceSpec, DeviceState,
    DeviceSystem, IdKind, Neighbour, NeighbourProtocol, OperStatus, PaperTray, PeerId,
    PrivProtocol, Secret, SupplyAmount,
};
use atalaya_common::model::*;
use atalaya_common::policy;
use atalaya_common::proto::{
    self, Ack, AgentPolicy, ConfigUpdate, DeviceAssignment, DeviceNeighbours, DevicePoll,
    DeviceTrap, DiagRequest, DiagResult, DiscoveredDevice, DiscoveryOutcome, DiscoveryRequest,
    DiscoveryResult, EnrollRequest, EnrollResponse, Gap, Heartbeat, Hello, InventorySnapshot,
    Message, MetricBatch, PolicyState, PrinterTrays, ProbeRound, ProbeTargets, PublicNote, Refused,
    RenewRequest, Renewed, ReportState, ReportStatus, SnapshotRequest, SpoolDamaged, UserReport,
};

fn sample_inventory() -> Inventory {
    let mut inv = Inventory::default();
    inv.host.hostname = "web01".into();
    inv.host.machine_id = Some("0e8a4c1f5b6d4e7fa1b2c3d4e5f60718".into());
    inv.host.boot_time = Some(Timestamp::from_secs(1_795_000_000));
    inv.host.virtualization.kind = MachineKind::Virtual;
    inv.host.virtualization.hypervisor = Some("kvm".into());
    inv.os.id = Some("rocky".into());
    inv.os.version_id = Some("9.4".into());
    inv.hardware.cpu.logical_cores = 4;
    inv.hardware.memory.total_bytes = 8 << 30;
    inv.software.manager = Some("rpm".into());
    inv.software.packages = vec![
        Package {
            name: "bash".into(),
            version: "5.1.8-9.el9".into(),
            arch: Some("x86_64".into()),
            vendor: Some("Rocky Enterprise Software Foundation".into()),
            installed_at: Some(Timestamp::from_secs(1_794_000_000)),
            size_bytes: Some(7_738_634),
            source: Some("bash-5.1.8-9.el9.src.rpm".into()),
        },
        Package {
            name: "openssh-server".into(),
            version: "8.7p1-38.el9".into(),
            arch: Some("x86_64".into()),
            ..Package::default()
        },
    ];
    inv.network.interfaces = vec![Interface {
        name: "eth0".into(),
        mac: Some("52:54:00:6b:1e:21".into()),
        mtu: Some(1500),
        state: "up".into(),
        addresses: vec![IpNet {
            address: IpAddr::V4(Ipv4Addr::new(10, 10, 4, 21)),
            prefix: 24,
        }],
        ..Interface::default()
    }];
    inv.services.listeners = vec![Listener {
        protocol: Protocol::Tcp,
        address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        port: 22,
        pid: Some(1021),
        process: Some("sshd".into()),
    }];
    inv.canonicalize();
    inv
}

fn upgraded(inv: &Inventory) -> Inventory {
    let mut newer = inv.clone();
    newer.software.packages[1].version = "8.7p1-43.el9".into();
    newer
}

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares `bytes` with the hex file `name`, or rewrites it when blessing.
fn check(name: &str, bytes: &[u8]) {
    let path = golden_path(name);
    let hex: String = bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .chunks(32)
        .map(|c| c.concat() + "\n")
        .collect();
    if std::env::var_os("ATALAYA_BLESS").is_some() {
        std::fs::write(&path, &hex).unwrap();
        return;
    }
    let golden =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        hex, golden,
        "the wire form of {name} changed; see this file's header"
    );
}

#[test]
fn inventory_wire_bytes_are_stable() {
    let inv = sample_inventory();
    let bytes = postcard::to_stdvec(&inv).unwrap();
    check("inventory.postcard.hex", &bytes);
    assert_eq!(postcard::from_bytes::<Inventory>(&bytes).unwrap(), inv);
}

#[test]
fn delta_wire_bytes_are_stable() {
    let inv = sample_inventory();
    let delta = diff::diff(&inv, &upgraded(&inv));
    let bytes = postcard::to_stdvec(&delta).unwrap();
    check("delta-one-package-upgraded.postcard.hex", &bytes);
    assert_eq!(
        postcard::from_bytes::<InventoryDelta>(&bytes).unwrap(),
        delta
    );
}

/// A short stand-in for a DER certificate request: the bytes are opaque to
/// the codec, so their content does not matter here.
const CSR_DER: &[u8] = &[0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x00];

/// A stand-in for a PEM certificate: a string to the codec.
const CERT_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// 2025-11-28T12:00:00Z, the time the samples below are taken around.
const NOON: Timestamp = Timestamp(1_764_331_200_000);

fn at(seconds_after_noon: i64) -> Timestamp {
    Timestamp(NOON.0 + seconds_after_noon * 1000)
}

/// One health sample of a busy database server, with every part filled in.
fn health_sample() -> HealthSample {
    HealthSample {
        at: at(60),
        interval_ms: 60_000,
        cpu: Some(CpuUsage {
            total_percent: 23.5,
            user_percent: 17.25,
            system_percent: 4.75,
            iowait_percent: 1.25,
            steal_percent: 0.25,
            per_core_percent: vec![31.0, 18.5, 25.75, 18.75],
        }),
        load: LoadAverage {
            one: 0.92,
            five: 0.71,
            fifteen: 0.55,
        },
        memory: MemoryUsage {
            total_bytes: 8 << 30,
            available_bytes: 5_637_144_576,
            used_bytes: (8 << 30) - 5_637_144_576,
            cached_bytes: 3 << 30,
            swap_total_bytes: 2 << 30,
            swap_used_bytes: 50 << 20,
        },
        filesystems: vec![
            FilesystemUsage {
                mount_point: "/".into(),
                total_bytes: 50 << 30,
                used_bytes: 20 << 30,
                available_bytes: 27_500 << 20,
                used_percent: 42.1,
                inodes_used_percent: Some(11.3),
            },
            FilesystemUsage {
                mount_point: "/boot/efi".into(),
                total_bytes: 600 << 20,
                used_bytes: 7 << 20,
                available_bytes: 593 << 20,
                used_percent: 1.2,
                inodes_used_percent: None,
            },
        ],
        disks: vec![DiskIo {
            name: "vda".into(),
            read_bytes_per_second: 40_960.0,
            write_bytes_per_second: 1_258_291.2,
            reads_per_second: 2.5,
            writes_per_second: 48.0,
            busy_percent: 3.2,
        }],
        network: vec![NetworkIo {
            interface: "eth0".into(),
            rx_bytes_per_second: 153_600.0,
            tx_bytes_per_second: 40_960.0,
            rx_packets_per_second: 210.5,
            tx_packets_per_second: 120.25,
            rx_errors: 0,
            tx_errors: 0,
            rx_drops: 3,
            tx_drops: 0,
        }],
        temperatures: vec![Temperature {
            sensor: "coretemp/temp1".into(),
            label: Some("Package id 0".into()),
            celsius: 47.0,
        }],
        processes: ProcessCount {
            total: 212,
            running: 2,
            zombie: 0,
        },
        uptime_seconds: 14 * 24 * 3600,
        top_cpu: vec![ProcessUsage {
            pid: 1834,
            name: "postgres".into(),
            cpu_percent: 38.5,
            rss_bytes: 384 << 20,
        }],
        top_memory: vec![
            ProcessUsage {
                pid: 977,
                name: "java".into(),
                cpu_percent: 4.0,
                rss_bytes: 1 << 30,
            },
            ProcessUsage {
                pid: 1834,
                name: "postgres".into(),
                cpu_percent: 38.5,
                rss_bytes: 384 << 20,
            },
        ],
        agent: AgentUsage {
            cpu_percent: 0.3,
            rss_bytes: 14 << 20,
        },
    }
}

/// One message of every kind, with the kind byte it must travel under.
/// Each is pinned in `tests/golden/frame-<kind-name>.hex`.
/// A small switch: one chassis, two ports, one up.
fn sample_device() -> DeviceInventory {
    let port = |if_index: u32, up: bool| DeviceInterface {
        if_index,
        name: format!("ge-0/0/{if_index}"),
        descr: format!("GigabitEthernet0/0/{if_index}"),
        alias: if up { "uplink".into() } else { String::new() },
        if_type: 6,
        mac: Some(format!("00:1b:54:00:00:{if_index:02x}")),
        speed_bps: Some(1_000_000_000),
        admin_up: true,
        oper_status: if up { OperStatus::Up } else { OperStatus::Down },
        last_change_seconds: 120,
    };
    DeviceInventory {
        system: DeviceSystem {
            descr: "Cisco IOS Software, C2960X".into(),
            object_id: "1.3.6.1.4.1.9.1.1208".into(),
            enterprise: Some(9),
            vendor: Some("Cisco".into()),
            name: "core-sw1".into(),
            location: "Building A, rack 3".into(),
            contact: "noc@corp.example".into(),
            uptime_seconds: 86_400,
        },
        interfaces: vec![port(1, true), port(2, false)],
        ..DeviceInventory::default()
    }
}

fn every_message() -> Vec<(u8, Message)> {
    let inv = sample_inventory();
    vec![
        (
            1,
            Message::Hello(Hello {
                agent_version: "0.1.0".into(),
                protocol_version: 1,
                last_acked: 1041,
                features: vec![proto::FEATURE_REPORT_STATUS.into()],
            }),
        ),
        (
            2,
            Message::InventorySnapshot(InventorySnapshot {
                seq: 1,
                taken_at: NOON,
                inventory: inv.clone(),
            }),
        ),
        (
            3,
            Message::InventoryDelta(proto::InventoryDelta {
                seq: 2,
                taken_at: at(3600),
                delta: diff::diff(&inv, &upgraded(&inv)),
            }),
        ),
        (
            4,
            Message::MetricBatch(MetricBatch {
                seq: 1042,
                samples: vec![health_sample()],
            }),
        ),
        (
            5,
            Message::Heartbeat(Heartbeat {
                seq: 1043,
                at: at(90),
            }),
        ),
        (
            6,
            Message::Gap(Gap {
                seq: 1044,
                batches: 12,
                samples: 720,
                from: at(-7200),
                to: at(-60),
            }),
        ),
        (
            7,
            Message::SpoolDamaged(SpoolDamaged {
                seq: 1045,
                found_at: at(5),
                file: "/var/lib/atalaya-agent/spool/quarantine/000017.seg".into(),
                reason: "record at byte 40960 fails its checksum".into(),
                bytes: 65_536,
                lost_bytes: 24_576,
            }),
        ),
        (
            8,
            Message::RenewRequest(RenewRequest {
                csr_der: CSR_DER.to_vec(),
            }),
        ),
        (
            9,
            Message::UserReport(UserReport {
                seq: 4242,
                id: "19a2b3c4d5e-3f1".into(),
                written_at: NOON,
                text: "the printer on the 2nd floor does not print".into(),
                user: Some("maria".into()),
                uid: Some(1000),
            }),
        ),
        (
            10,
            Message::DevicePoll(DevicePoll {
                seq: 4243,
                device: "core-sw1".into(),
                polled_at: NOON,
                state: DeviceState::Ok,
                response_ms: Some(3),
                inventory: Some(sample_device()),
                values: vec![
                    ("interface.in_bits_per_second{if=ge-0/0/1}".into(), 1.25e6),
                    ("snmp.reachable".into(), 1.0),
                ],
            }),
        ),
        (
            12,
            Message::DeviceNeighbours(DeviceNeighbours {
                seq: 4244,
                device: "core-sw1".into(),
                polled_at: NOON,
                chassis_id: Some(PeerId {
                    kind: IdKind::MacAddress,
                    value: "00:1b:54:aa:01:00".into(),
                }),
                neighbours: vec![Neighbour {
                    local_if_index: Some(10101),
                    local_if_name: Some("Gi1/0/1".into()),
                    local_port: "Gi1/0/1".into(),
                    protocol: NeighbourProtocol::Lldp,
                    chassis_id: PeerId {
                        kind: IdKind::MacAddress,
                        value: "00:1b:54:bb:02:00".into(),
                    },
                    port_id: PeerId {
                        kind: IdKind::InterfaceName,
                        value: "Gi0/48".into(),
                    },
                    port_descr: "uplink to core".into(),
                    sys_name: "access-sw2".into(),
                    platform: "Cisco IOS Software, C2960X".into(),
                    management_address: Some("192.0.2.12".into()),
                    capabilities: vec!["bridge".into()],
                }],
            }),
        ),
        (
            11,
            Message::DeviceTrap(DeviceTrap {
                seq: 4244,
                trap: Some(TrapEvent {
                    device: "core-sw1".into(),
                    received_at: NOON,
                    source: "10.0.0.2:50123".into(),
                    version: TrapVersion::V2c,
                    inform: false,
                    trap_oid: "1.3.6.1.6.3.1.1.5.3".into(),
                    kind: TrapKind::LinkDown,
                    interface: Some(TrapInterface {
                        if_index: 3,
                        name: Some("ge-0/0/1".into()),
                        admin_up: Some(true),
                        oper_up: Some(false),
                    }),
                    uptime_ticks: Some(123_456),
                    varbinds: vec![
                        ("1.3.6.1.2.1.2.2.1.1.3".into(), "3".into()),
                        ("1.3.6.1.2.1.2.2.1.8.3".into(), "2".into()),
                    ],
                }),
                dropped: vec![("bad_community".into(), 2), ("rate_limited".into(), 40)],
            }),
        ),
        (
            13,
            Message::ProbeRound(ProbeRound {
                seq: 4244,
                at: NOON,
                results: vec![
                    ProbeResult {
                        target: "10.10.4.1".into(),
                        kind: ProbeKind::Icmp,
                        method: ProbeMethod::Raw,
                        sent: 5,
                        received: 4,
                        refused: 0,
                        rtt_min_ms: Some(0.25),
                        rtt_median_ms: Some(0.5),
                        rtt_max_ms: Some(1.75),
                        jitter_ms: Some(0.375),
                        loss_percent: 20.0,
                        extra: String::new(),
                    },
                    ProbeResult {
                        target: "db.corp.example:5432".into(),
                        kind: ProbeKind::Tcp,
                        method: ProbeMethod::Connect,
                        sent: 5,
                        received: 0,
                        refused: 5,
                        rtt_min_ms: None,
                        rtt_median_ms: None,
                        rtt_max_ms: None,
                        jitter_ms: None,
                        loss_percent: 100.0,
                        extra: "connection refused".into(),
                    },
                    ProbeResult {
                        target: "intranet.corp.example@10.10.4.53".into(),
                        kind: ProbeKind::Dns,
                        method: ProbeMethod::TcpFallback(53),
                        sent: 1,
                        received: 1,
                        refused: 0,
                        rtt_min_ms: Some(2.0),
                        rtt_median_ms: Some(2.0),
                        rtt_max_ms: Some(2.0),
                        jitter_ms: None,
                        loss_percent: 0.0,
                        extra: "rcode NOERROR".into(),
                    },
                ],
            }),
        ),
        (
            14,
            Message::DiscoveryResult(DiscoveryResult {
                seq: 4244,
                id: 7,
                at: NOON,
                outcome: DiscoveryOutcome::Found(DiscoveredDevice {
                    address: "192.0.2.10".into(),
                    credential: 1,
                    sys_name: "core-sw1".into(),
                    sys_descr: "Cisco IOS Software, C2960X".into(),
                    object_id: "1.3.6.1.4.1.9.1.1208".into(),
                    vendor: Some("Cisco".into()),
                }),
            }),
        ),
        (
            15,
            Message::PrinterTrays(PrinterTrays {
                seq: 4244,
                device: "floor2-mfp".into(),
                polled_at: NOON,
                trays: vec![
                    PaperTray {
                        device_index: 1,
                        index: 1,
                        name: "Bypass Tray".into(),
                        descr: "Multi-purpose tray".into(),
                        tray_type: 5,
                        media: String::new(),
                        level: SupplyAmount::SomeRemaining,
                        max_capacity: SupplyAmount::Units(100),
                        percent: None,
                        status: 0,
                    },
                    PaperTray {
                        device_index: 1,
                        index: 2,
                        name: "Tray 2".into(),
                        descr: "Cassette 1".into(),
                        tray_type: 4,
                        media: "iso-a4-white".into(),
                        level: SupplyAmount::Units(0),
                        max_capacity: SupplyAmount::Units(500),
                        percent: Some(0),
                        status: 9,
                    },
                ],
            }),
        ),
        (16, Message::Ack(Ack { seq: 1045 })),
        (
            17,
            Message::ConfigUpdate(ConfigUpdate {
                metrics_interval_seconds: 60,
                inventory_interval_seconds: 3600,
                heartbeat_interval_seconds: 30,
            }),
        ),
        (
            24,
            Message::AgentPolicy(AgentPolicy {
                policies: vec![("branch-offices".into(), 3), ("fleet".into(), 1)],
                settings: vec![
                    ("log.level".into(), policy::Value::Text("debug".into())),
                    (
                        "metrics.interval_seconds".into(),
                        policy::Value::Integer(30),
                    ),
                    ("probes.enabled".into(), policy::Value::Bool(false)),
                ],
            }),
        ),
        (
            40,
            Message::PolicyState(PolicyState {
                policies: vec![("branch-offices".into(), 3), ("fleet".into(), 1)],
                pinned: vec![("log.level".into(), policy::Value::Text("warn".into()))],
                refused: vec![(
                    "spool.max_bytes".into(),
                    "expected a whole number of bytes from 16384 to 1099511627776, found 1".into(),
                )],
                effective: vec![
                    ("log.level".into(), policy::Value::Text("warn".into())),
                    (
                        "metrics.interval_seconds".into(),
                        policy::Value::Integer(30),
                    ),
                ],
            }),
        ),
        (
            18,
            Message::SnapshotRequest(SnapshotRequest {
                reason: "the delta does not apply to the stored inventory".into(),
            }),
        ),
        (
            19,
            Message::Renewed(Renewed {
                certificate_pem: CERT_PEM.into(),
            }),
        ),
        (
            20,
            Message::DeviceAssignment(DeviceAssignment {
                devices: vec![
                    DeviceSpec::v2c("core-sw1", "192.0.2.10", "public"),
                    DeviceSpec {
                        credentials: Credentials::V3 {
                            user: "atalaya".into(),
                            auth: Some((AuthProtocol::Sha256, Secret::new("auth-secret"))),
                            privacy: Some((PrivProtocol::Aes256, Secret::new("priv-secret"))),
                        },
                        ..DeviceSpec::v2c("branch-rtr", "branch-rtr.corp.example", "")
                    },
                ],
            }),
        ),
        (
            21,
            Message::ProbeTargets(ProbeTargets {
                targets: vec![
                    ProbeTarget::new(ProbeKind::Icmp, "10.10.4.1"),
                    ProbeTarget::new(ProbeKind::Tcp, "db.corp.example:5432"),
                    ProbeTarget {
                        kind: ProbeKind::Dns,
                        target: "10.10.4.53".into(),
                        name: "intranet.corp.example".into(),
                    },
                    ProbeTarget::new(ProbeKind::Http, "https://intranet.corp.example/health"),
                ],
            }),
        ),
        (
            22,
            Message::DiscoveryRequest(DiscoveryRequest {
                id: 7,
                ranges: vec!["192.0.2.0/24".into(), "2001:db8::/120".into()],
                port: 161,
                credentials: vec![
                    Credentials::V2c {
                        community: Secret::new("public"),
                    },
                    Credentials::V3 {
                        user: "atalaya".into(),
                        auth: Some((AuthProtocol::Sha256, Secret::new("auth-secret"))),
                        privacy: None,
                    },
                ],
                concurrency: 64,
                timeout_ms: 1000,
            }),
        ),
        (
            23,
            Message::ReportStatus(ReportStatus {
                reports: vec![
                    ReportState {
                        id: "19ab2c3d4e5-1f2a".into(),
                        uid: Some(1000),
                        written_at: at(-600),
                        summary: "the printer does not print".into(),
                        incident: Some(118),
                        status: Some("acknowledged".into()),
                        assignee: Some("ana".into()),
                        updated_at: at(300),
                        note: Some(PublicNote {
                            at: at(300),
                            author: "ana".into(),
                            text: "A new toner is on its way; it should print by noon.".into(),
                        }),
                    },
                    ReportState {
                        id: "19ab2c3d4e6-1f2b".into(),
                        uid: None,
                        written_at: at(-60),
                        summary: "the VPN drops every hour".into(),
                        incident: None,
                        status: None,
                        assignee: None,
                        updated_at: at(-60),
                        note: None,
                    },
                ],
            }),
        ),
        (
            25,
            Message::DiagRequest(DiagRequest {
                order: DiagOrder {
                    id: "d-19ab2c3d4e5-7f".into(),
                    agent_id: "ag-0123456789abcdef".into(),
                    requested_by: "ana".into(),
                    incident: Some(118),
                    action: Action::LogTail {
                        path: "/var/log/syslog".into(),
                        lines: 50,
                    },
                    issued_at: at(0),
                    expires_at: at(600),
                },
                signature: vec![0x30, 0x44, 0x02, 0x20, 0x11, 0x22, 0x33],
            }),
        ),
        (
            41,
            Message::DiagResult(DiagResult {
                seq: 412,
                id: "d-19ab2c3d4e5-7f".into(),
                started_at: at(2),
                duration_ms: 35,
                outcome: DiagOutcome::Refused {
                    reason: "log-tail is not allowed for /etc/shadow".into(),
                },
                output: String::new(),
                truncated: false,
            }),
        ),
        (
            32,
            Message::EnrollRequest(EnrollRequest {
                token_secret: "Zm9yIHRoZSB0ZXN0IG9ubHk".into(),
                csr_der: CSR_DER.to_vec(),
                hostname: "web01".into(),
                agent_version: "0.1.0".into(),
            }),
        ),
        (
            33,
            Message::EnrollResponse(EnrollResponse {
                agent_id: "ag-0123456789abcdef".into(),
                certificate_pem: CERT_PEM.into(),
                ca_pem: CERT_PEM.replace("MIIB", "MIIC"),
            }),
        ),
        (
            34,
            Message::Refused(Refused {
                reason: "enrollment token expired at 2025-11-28T12:00:00Z".into(),
            }),
        ),
    ]
}

/// `RenewRequest` → `renew-request`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn frame_file(name: &str) -> String {
    format!("frame-{}.hex", kebab(name))
}

/// The bytes of the hex file `name`.
fn read_golden(name: &str) -> Vec<u8> {
    let path = golden_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

#[test]
fn every_message_kind_has_stable_frame_bytes() {
    for (kind, message) in every_message() {
        let name = frame_file(message.name());
        let frame = proto::encode(&message).unwrap();
        assert_eq!(
            &frame[..4],
            &[0, 1, kind, 0],
            "{name}: version 1, kind {kind}, no flags"
        );
        // The value encodes to the pinned bytes…
        check(&name, &frame);
        // …and the pinned bytes decode to the value.
        let golden = read_golden(&name);
        assert_eq!(
            proto::decode(&golden).unwrap(),
            Some((message, golden.len())),
            "{name} decodes to another value"
        );
    }
}

#[test]
fn every_kind_in_the_protocol_has_a_golden_frame() {
    let covered: Vec<(u8, &str)> = every_message()
        .iter()
        .map(|(_, m)| (m.kind(), m.name()))
        .collect();
    for &(kind, name) in proto::KINDS {
        assert!(
            covered.contains(&(kind, name)),
            "{name} (kind {kind}) has no sample in every_message(): add one and bless"
        );
        let file = frame_file(name);
        assert!(
            golden_path(&file).exists(),
            "{name} (kind {kind}) has no golden file {file}: bless it"
        );
        let golden = read_golden(&file);
        let (message, _) = proto::decode(&golden).unwrap().unwrap();
        assert_eq!((message.kind(), message.name()), (kind, name), "{file}");
    }
    assert_eq!(covered.len(), proto::KINDS.len(), "{covered:?}");
}

/// A `Hello` from an agent of the first release, which had no `features`,
/// still opens a session: it reads as a `Hello` with none.
#[test]
fn a_first_release_hello_reads_as_one_with_no_features() {
    let golden = read_golden("frame-hello-first-release.hex");
    let (message, used) = proto::decode(&golden).unwrap().unwrap();
    assert_eq!(used, golden.len());
    assert_eq!(
        message,
        Message::Hello(Hello {
            agent_version: "0.1.0".into(),
            protocol_version: 1,
            last_acked: 1041,
            features: Vec::new(),
        })
    );
    // A newer Hello starts with the same bytes: an older collector, which
    // reads the fields it knows and ignores the rest, reads it too.
    let newer = proto::encode(&every_message()[0].1).unwrap();
    assert_eq!(
        &newer[proto::HEADER_LEN..][..golden.len() - proto::HEADER_LEN],
        &golden[proto::HEADER_LEN..]
    );
    // A payload that is neither form is still refused with the newer form's error.
    let mut broken = golden.clone();
    broken.truncate(proto::HEADER_LEN + 3);
    broken[4..8].copy_from_slice(&3u32.to_be_bytes());
    let err = proto::decode(&broken).unwrap_err();
    assert!(err.to_string().starts_with("malformed Hello"), "{err}");
}

#[test]
fn json_form_has_the_eight_documented_keys() {
    let value = serde_json::to_value(sample_inventory()).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = [
        "host", "os", "hardware", "software", "network", "storage", "users", "services",
    ];
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
    assert_eq!(value["host"]["boot_time"], "2026-11-18T11:06:40Z");
    assert_eq!(
        value["network"]["interfaces"][0]["addresses"][0]["address"],
        "10.10.4.21"
    );
    let back: Inventory = serde_json::from_value(value).unwrap();
    assert_eq!(back, sample_inventory());
}

#[test]
fn truncated_wire_bytes_are_an_error_not_a_panic() {
    let bytes = postcard::to_stdvec(&sample_inventory()).unwrap();
    for len in 0..bytes.len() {
        assert!(
            postcard::from_bytes::<Inventory>(&bytes[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}
