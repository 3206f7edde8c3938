//! The SNMP poller against a real net-snmp `snmpd` on loopback, compared
//! with what net-snmp's own tools print for the same OIDs.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use atalaya_agent::snmp::{DevicePoll, Poller, PollerConfig};
use atalaya_common::model::rates::NoRate;
use atalaya_common::model::{
    AuthProtocol, Credentials, DeviceSpec, DeviceState, PrivProtocol, Secret,
};
use atalaya_tests::snmpd::{Snmpd, lo_rx_bytes, parse_line};

const COMMUNITY: &str = "atalaya-test";

fn conf() -> String {
    format!(
        "rocommunity {COMMUNITY} 127.0.0.1\n\
         createUser alice SHA \"alice-auth-pw\" AES \"alice-priv-pw\"\n\
         rouser alice priv\n\
         sysLocation Lab bench 3\n\
         sysContact noc@example.org\n"
    )
}

fn spec(snmpd: &Snmpd, credentials: Credentials) -> DeviceSpec {
    let mut s = DeviceSpec::v2c("bench", "127.0.0.1", COMMUNITY);
    s.port = snmpd.port;
    s.credentials = credentials;
    s.timeout_ms = 1_000;
    s.retries = 1;
    s
}

fn v2c(community: &str) -> Credentials {
    Credentials::V2c {
        community: Secret::new(community),
    }
}

fn v3(auth: &str, privacy: &str) -> Credentials {
    Credentials::V3 {
        user: "alice".into(),
        auth: Some((AuthProtocol::Sha1, Secret::new(auth))),
        privacy: Some((PrivProtocol::Aes128, Secret::new(privacy))),
    }
}

async fn poll_once(spec: DeviceSpec) -> DevicePoll {
    let mut poller = Poller::new(vec![spec], PollerConfig::default())
        .await
        .expect("poller");
    poller.poll_all().await.remove(0)
}

/// `oid → value` of one `snmpbulkwalk` column, by index.
fn column(snmpd: &Snmpd, oid: &str) -> BTreeMap<u32, (String, String)> {
    snmpd
        .bulkwalk(COMMUNITY, oid)
        .lines()
        .filter_map(parse_line)
        .filter_map(|(o, kind, v)| {
            let index = o.rsplit('.').next()?.parse().ok()?;
            Some((index, (kind, v)))
        })
        .collect()
}

fn text_of(snmpd: &Snmpd, oid: &str) -> String {
    let out = snmpd.get(COMMUNITY, &[oid]).expect("snmpget answers");
    parse_line(out.lines().next().expect("a line"))
        .expect("parsable")
        .2
}

#[tokio::test]
async fn snmp_v2c_inventory_matches_the_net_snmp_tools() {
    let snmpd = Snmpd::start(&conf(), COMMUNITY);
    let poll = poll_once(spec(&snmpd, v2c(COMMUNITY))).await;
    assert_eq!(poll.state, DeviceState::Ok, "{:?}", poll.problems);
    assert!(poll.response_ms.is_some());
    let inv = poll.inventory.expect("first poll sends the inventory");
    let sys = &inv.system;
    assert_eq!(sys.descr, text_of(&snmpd, ".1.3.6.1.2.1.1.1.0"));
    assert_eq!(
        format!(".{}", sys.object_id),
        text_of(&snmpd, ".1.3.6.1.2.1.1.2.0")
    );
    assert_eq!(sys.vendor.as_deref(), Some("net-snmp"));
    assert_eq!(sys.name, text_of(&snmpd, ".1.3.6.1.2.1.1.5.0"));
    assert_eq!(sys.location, "Lab bench 3");
    assert_eq!(sys.contact, "noc@example.org");

    let descr = column(&snmpd, ".1.3.6.1.2.1.2.2.1.2");
    let names = column(&snmpd, ".1.3.6.1.2.1.31.1.1.1.1");
    let types = column(&snmpd, ".1.3.6.1.2.1.2.2.1.3");
    let macs = column(&snmpd, ".1.3.6.1.2.1.2.2.1.6");
    let admin = column(&snmpd, ".1.3.6.1.2.1.2.2.1.7");
    let high = column(&snmpd, ".1.3.6.1.2.1.31.1.1.1.15");
    let speed = column(&snmpd, ".1.3.6.1.2.1.2.2.1.5");
    assert!(!descr.is_empty());
    let indexes: Vec<u32> = inv.interfaces.iter().map(|i| i.if_index).collect();
    assert_eq!(indexes, descr.keys().copied().collect::<Vec<_>>());
    for i in &inv.interfaces {
        let x = i.if_index;
        assert_eq!(i.descr, descr[&x].1, "ifDescr.{x}");
        assert_eq!(i.name, names[&x].1, "ifName.{x}");
        assert_eq!(i.if_type.to_string(), types[&x].1, "ifType.{x}");
        assert_eq!(i.admin_up, admin[&x].1 == "1", "ifAdminStatus.{x}");
        let mac = macs[&x]
            .1
            .to_lowercase()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(i.mac.clone().unwrap_or_default(), mac, "ifPhysAddress.{x}");
        let hs: u64 = high[&x].1.parse().unwrap();
        let s: u64 = speed[&x].1.parse().unwrap();
        let want = if hs > 0 {
            Some(hs * 1_000_000)
        } else {
            Some(s).filter(|s| *s > 0)
        };
        assert_eq!(i.speed_bps, want, "speed of {x}");
    }
    // net-snmp has no ENTITY-MIB or Printer-MIB: those tables are empty.
    assert!(inv.entities.is_empty());
    assert!(inv.supplies.is_empty());
    assert!(
        inv.addresses
            .iter()
            .any(|a| a.address == "127.0.0.1" && a.prefix_len == Some(8))
    );
    assert!(!inv.storage.is_empty());
    assert!(
        poll.points
            .iter()
            .any(|(n, v)| n == "interface.oper_up{if=lo}" && *v == 1.0)
    );
}

#[tokio::test]
async fn snmp_v3_auth_priv_sha_aes_polls() {
    let snmpd = Snmpd::start(&conf(), COMMUNITY);
    let poll = poll_once(spec(&snmpd, v3("alice-auth-pw", "alice-priv-pw"))).await;
    assert_eq!(poll.state, DeviceState::Ok, "{:?}", poll.problems);
    let inv = poll.inventory.expect("inventory");
    assert_eq!(inv.system.descr, text_of(&snmpd, ".1.3.6.1.2.1.1.1.0"));
    assert!(!inv.interfaces.is_empty());
}

#[tokio::test]
async fn snmp_wrong_credentials_give_their_states() {
    let snmpd = Snmpd::start(&conf(), COMMUNITY);
    let wrong_auth = poll_once(spec(&snmpd, v3("not-the-password", "alice-priv-pw"))).await;
    assert_eq!(
        wrong_auth.state,
        DeviceState::V3WrongDigest,
        "{:?}",
        wrong_auth.problems
    );
    let mut stranger = spec(&snmpd, v3("alice-auth-pw", "alice-priv-pw"));
    if let Credentials::V3 { user, .. } = &mut stranger.credentials {
        *user = "mallory".into();
    }
    let unknown = poll_once(stranger).await;
    assert_eq!(
        unknown.state,
        DeviceState::V3UnknownUser,
        "{:?}",
        unknown.problems
    );
    let community = poll_once(spec(&snmpd, v2c("not-the-community"))).await;
    assert_eq!(
        community.state,
        DeviceState::WrongCommunity,
        "{:?}",
        community.problems
    );
    assert!(community.inventory.is_none());
    assert_eq!(community.points, vec![("snmp.reachable".to_owned(), 0.0)]);
}

#[tokio::test]
async fn snmp_wrong_privacy_password_is_a_timeout_with_net_snmp() {
    // net-snmp drops a request it cannot decrypt without a Report, so the
    // poller can only see a device that does not answer.
    let snmpd = Snmpd::start(&conf(), COMMUNITY);
    let mut s = spec(&snmpd, v3("alice-auth-pw", "not-the-priv-pw"));
    s.timeout_ms = 300;
    s.retries = 0;
    let poll = poll_once(s).await;
    assert_eq!(poll.state, DeviceState::Timeout, "{:?}", poll.problems);
}

#[tokio::test]
async fn snmp_unreachable_port_times_out_within_its_budget() {
    // Bound and never read: requests vanish as into a dead device.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut s = DeviceSpec::v2c("dead", "127.0.0.1", COMMUNITY);
    s.port = silent.local_addr().unwrap().port();
    s.timeout_ms = 1_000;
    s.retries = 1;
    let budget = Duration::from_millis(s.request_budget_ms());
    let started = Instant::now();
    let poll = poll_once(s).await;
    let took = started.elapsed();
    assert_eq!(poll.state, DeviceState::Timeout);
    assert!(took >= budget, "{took:?}");
    // Scheduling slack only: the timeout itself is the whole budget.
    assert!(
        took < budget + Duration::from_millis(250),
        "{took:?} for a {budget:?} budget"
    );
}

fn rate(poll: &DevicePoll, series: &str) -> f64 {
    poll.points
        .iter()
        .find(|(n, _)| n == series)
        .map(|(_, v)| *v)
        .unwrap_or_else(|| panic!("{series} in {:?} ({:?})", poll.points, poll.no_rate))
}

#[tokio::test]
async fn snmp_loopback_rates_match_the_bytes_sent() {
    let snmpd = Snmpd::start(&conf(), COMMUNITY);
    let mut poller = Poller::new(vec![spec(&snmpd, v2c(COMMUNITY))], PollerConfig::default())
        .await
        .unwrap();
    // snmpd reads /proc/net/dev when first asked for the interface
    // counters and caches them for a few seconds; its readiness check
    // asked only for sysUpTime, so the first poll reads them fresh.
    let proc_first = lo_rx_bytes();
    let first = poller.poll_all().await.remove(0);
    assert_eq!(first.state, DeviceState::Ok, "{:?}", first.problems);
    let sent_wire = push_through_lo();
    let proc_end = lo_rx_bytes();
    wait_for_fresh_counters(&snmpd, proc_end);
    let second = poller.poll_all().await.remove(0);
    let proc_last = lo_rx_bytes();
    let secs = second.interval_seconds.expect("rates over an interval");
    let in_bytes = rate(&second, "interface.in_bits_per_second{if=lo}") * secs / 8.0;
    let out_bytes = rate(&second, "interface.out_bits_per_second{if=lo}") * secs / 8.0;
    // Everything else lo carried while the two polls' counters were read
    // (the polls themselves, other programs) is at most this.
    let others = (proc_last - proc_first).saturating_sub(sent_wire) as f64;
    let sent = sent_wire as f64;
    eprintln!(
        "lo: {sent} bytes sent; SNMP rates over {secs:.3} s give {in_bytes:.0} in, \
         {out_bytes:.0} out; other lo traffic at most {others}"
    );
    for moved in [in_bytes, out_bytes] {
        assert!(moved >= sent * 0.98, "{moved} bytes seen for {sent} sent");
        assert!(
            moved <= sent * 1.02 + others,
            "{moved} bytes seen for {sent} sent and at most {others} of other traffic"
        );
    }
}

/// Sends UDP datagrams over loopback to a socket that never reads them;
/// returns the bytes `lo` carries for them (payload and the 42 bytes of
/// UDP, IPv4 and Ethernet headers the loopback device counts).
fn push_through_lo() -> u64 {
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the sink");
    let to = sink.local_addr().expect("sink address");
    let from = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind the sender");
    let payload = vec![0x5a_u8; 16_000];
    let count = 1_000_u64;
    for _ in 0..count {
        from.send_to(&payload, to).expect("send over lo");
    }
    count * (payload.len() as u64 + 42)
}

/// Waits until snmpd's cached counters were read after `proc_end` bytes
/// had passed, so the next poll sees every byte sent.
fn wait_for_fresh_counters(snmpd: &Snmpd, proc_end: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let v = snmpd
            .get(COMMUNITY, &[".1.3.6.1.2.1.31.1.1.1.6.1"])
            .and_then(|o| parse_line(o.lines().next()?))
            .and_then(|(_, _, v)| v.parse::<u64>().ok());
        if v.is_some_and(|v| v >= proc_end) {
            return;
        }
    }
    panic!("snmpd's lo counters never caught up with {proc_end}");
}

#[tokio::test]
async fn snmp_restart_between_polls_gives_no_rate_not_a_spike() {
    let mut snmpd = Snmpd::start(&conf(), COMMUNITY);
    let mut poller = Poller::new(vec![spec(&snmpd, v2c(COMMUNITY))], PollerConfig::default())
        .await
        .unwrap();
    // Let the first daemon's clock pass what the restarted one will show.
    let deadline = Instant::now() + Duration::from_secs(30);
    while snmpd.uptime_ticks().unwrap_or(0) < 300 && Instant::now() < deadline {}
    let first = poller.poll_all().await.remove(0);
    assert_eq!(first.state, DeviceState::Ok, "{:?}", first.problems);
    snmpd.restart();
    let second = poller.poll_all().await.remove(0);
    assert_eq!(second.state, DeviceState::Ok, "{:?}", second.problems);
    assert!(!second.no_rate.is_empty());
    assert!(
        second
            .no_rate
            .iter()
            .all(|(_, why)| matches!(why, NoRate::UptimeWentBack { .. })),
        "{:?}",
        second.no_rate
    );
    assert!(
        !second.points.iter().any(|(n, _)| n.contains("_per_second")),
        "{:?}",
        second.points
    );
}
