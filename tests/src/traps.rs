//! net-snmp's `snmptrap` and `snmpinform` for tests and benches, and
//! datagrams of theirs to replay.

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Arguments that keep net-snmp from looking for MIB files.
const NO_MIBS: [&str; 4] = ["-M", "/nonexistent", "-m", ""];

/// `snmptrap` (or `snmpinform` when `inform`) with `args`, the persistent
/// state of the sending engine kept in `persist`; true when it exited 0
/// (for an inform: it got its response).
pub fn send(persist: &std::path::Path, inform: bool, args: &[&str]) -> bool {
    let program = if inform { "snmpinform" } else { "snmptrap" };
    let mut cmd = Command::new(program);
    cmd.args(NO_MIBS);
    if inform {
        cmd.args(["-t", "1", "-r", "2"]);
    }
    cmd.args(args)
        .env("SNMP_PERSISTENT_DIR", persist)
        .env("SNMPCONFPATH", persist)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd.status()
        .unwrap_or_else(|e| panic!("{program} runs (apt-get install snmp): {e}"))
        .success()
}

/// The datagram `snmptrap` sends with `options` (version, credentials)
/// and `trap` (uptime, OID, bindings), to a socket of this function's.
pub fn capture(persist: &std::path::Path, options: &[&str], trap: &[&str]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let target = socket.local_addr().expect("address").to_string();
    let mut full: Vec<&str> = options.to_vec();
    full.push(&target);
    full.extend_from_slice(trap);
    assert!(send(persist, false, &full), "snmptrap {full:?}");
    let mut buf = vec![0u8; 65_535];
    let (len, _) = socket.recv_from(&mut buf).expect("a trap");
    buf.truncate(len);
    buf
}
