//! Any datagram on the trap port: decoding, SNMPv3 opening and the whole
//! per-datagram check return a value or a reason, never a panic. The
//! device table holds one community device and one SNMPv3 (SHA/AES) device
//! at the address the datagrams come from, so every check is reached.
#![no_main]

use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use atalaya_agent::snmp::trap::{DeviceTable, TrapReceiver, decode_trap, trap_device};
use atalaya_common::model::device::{AuthProtocol, Credentials, DeviceSpec, PrivProtocol, Secret};
use atalaya_common::model::Timestamp;
use libfuzzer_sys::fuzz_target;

struct Fixture {
    table: DeviceTable,
    receiver: Mutex<TrapReceiver>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let lab = "127.0.0.1".parse().expect("address");
        let v2c = DeviceSpec::v2c("lab-v2c", "127.0.0.1", "trap-secret");
        let mut v3 = DeviceSpec::v2c("lab-v3", "127.0.0.1", "unused");
        v3.credentials = Credentials::V3 {
            user: "trapper".into(),
            auth: Some((AuthProtocol::Sha1, Secret::new("trapper-auth-pw"))),
            privacy: Some((PrivProtocol::Aes128, Secret::new("trapper-priv-pw"))),
        };
        let table = DeviceTable::new(
            [v2c, v3].iter().map(|spec| (lab, trap_device(spec).expect("usable credentials"))),
        );
        Fixture {
            table,
            // A rate no input reaches: the other checks must run.
            receiver: Mutex::new(TrapReceiver::new(1e9, u32::MAX)),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = decode_trap(data);
    let f = fixture();
    let mut receiver = f.receiver.lock().unwrap_or_else(|e| e.into_inner());
    let names = |_: &str| Default::default();
    let _ = receiver.receive(
        &f.table,
        &names,
        data,
        "127.0.0.1:40000".parse().expect("address"),
        Instant::now(),
        Timestamp(0),
    );
});
