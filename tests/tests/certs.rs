//! Certificate lifetime, end to end: a real collector that issues
//! short-lived agent certificates and a real agent that renews its own
//! before they end while its data keeps flowing; and an expired certificate,
//! which the agent does not offer and the collector refuses, both saying why.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use atalaya_agent::identity::{self, AgentIdentity, new_key_and_csr};
use atalaya_agent::renewal::Validity;
use atalaya_agent::tls::data_client_config;
use atalaya_collector::pki::{CertificateAuthority, agent_id_of, is_signed_by, new_agent_id};
use atalaya_common::model::Timestamp;
use atalaya_tests::harness::{Collector, Proc, agent, bin, copy_tree, eventually, fixture};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;

/// Lifetime of the agent certificates in the renewal test: the agent renews
/// when a third of the life (counted from `not_before`, 3 s early) is left,
/// about 7 s after each issue.
const CERT_SECONDS: u64 = 12;

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// The key and certificate in an agent's state directory, read as they
/// are: `AgentIdentity::load` would finish a renewal under way itself.
fn on_disk(state: &Path) -> Option<(String, String)> {
    // The certificate first: a renewal moves the key in before it.
    let cert = std::fs::read_to_string(state.join(identity::CERT_FILE)).ok()?;
    let key = std::fs::read_to_string(state.join(identity::KEY_FILE)).ok()?;
    Some((key, cert))
}

/// Timestamps (ms) of the stored `memory.used_bytes` points of `asset`.
fn stored_times(collector: &Collector, asset: &str) -> Vec<i64> {
    let (status, body) = collector.get(
        &format!("/api/v1/assets/{asset}/metrics?name=memory.used_bytes&from=1h"),
        Some(&collector.admin),
    );
    assert_eq!(status, 200, "{body}");
    body["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Timestamp::parse_rfc3339(p[0].as_str().unwrap()).unwrap().0)
        .collect()
}

#[test]
fn agent_renews_its_certificate_before_expiry_and_keeps_streaming() {
    let collector =
        Collector::start_with_sections("", &format!("certificate_seconds = {CERT_SECONDS}"));
    let token = collector.token(1);
    let work = tempfile::tempdir().unwrap();
    let root = work.path().join("root");
    copy_tree(&fixture("arch"), &root);
    let _desk = agent(work.path(), "desk", Some(&root), &token);
    let state = work.path().join("desk/state");
    let agent_log = || std::fs::read_to_string(work.path().join("desk/agent.log")).unwrap();

    let first = eventually("the agent to enroll", Duration::from_secs(30), || {
        let agent_id = std::fs::read_to_string(state.join(identity::ID_FILE)).ok()?;
        let (key_pem, certificate_pem) = on_disk(&state)?;
        Some(AgentIdentity {
            agent_id: agent_id.trim().to_owned(),
            certificate_pem,
            key_pem,
            ca_pem: String::new(),
        })
    });
    let asset = eventually("the agent's first samples", Duration::from_secs(30), || {
        let id = collector
            .assets()
            .first()
            .and_then(|a| a["id"].as_str().map(str::to_owned))?;
        (!stored_times(&collector, &id).is_empty()).then_some(id)
    });

    // Well before the first certificate ends, a second one is on disk.
    let first_validity = Validity::of_pem(&first.certificate_pem).unwrap();
    let renewed = eventually(
        "the certificate to be renewed",
        Duration::from_secs(CERT_SECONDS + 10),
        || {
            let (key_pem, certificate_pem) = on_disk(&state)?;
            (certificate_pem != first.certificate_pem).then(|| AgentIdentity {
                certificate_pem,
                key_pem,
                ..first.clone()
            })
        },
    );
    let renewed_at = Timestamp::now();
    let validity = Validity::of_pem(&renewed.certificate_pem).unwrap();
    assert!(
        validity.not_after > first_validity.not_after,
        "{validity:?} after {first_validity:?}"
    );
    assert!(
        renewed_at.as_secs() < first_validity.not_after,
        "renewed only after the old certificate ended\n{}",
        agent_log()
    );
    // Signed by the collector's CA, for the same agent, with a new key.
    let ca_pem = std::fs::read_to_string(collector.data_dir().join("ca.pem")).unwrap();
    assert!(is_signed_by(&der(&ca_pem), &der(&renewed.certificate_pem)));
    assert_eq!(
        agent_id_of(&der(&renewed.certificate_pem)).as_deref(),
        Some(first.agent_id.as_str())
    );
    assert_ne!(renewed.key_pem, first.key_pem);
    assert!(identity::key_matches(
        &renewed.key_pem,
        &renewed.certificate_pem
    ));
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(state.join(identity::KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The collector recorded it, logged it and counted it.
    let (status, agents) = collector.get("/api/v1/agents", Some(&collector.admin));
    assert_eq!(status, 200, "{agents}");
    let listed = agents.as_array().unwrap();
    assert_eq!(listed.len(), 1, "{agents}");
    assert!(collector.log().contains("agent certificate renewed"));
    assert!(collector.metric("atalaya_certificate_renewals_total") >= 1.0);
    // The agent logs it just after the files are in place.
    eventually(
        "the agent to log the renewal",
        Duration::from_secs(10),
        || {
            agent_log()
                .contains("certificate renewed; reconnecting with it")
                .then_some(())
        },
    );

    // Data keeps flowing on the new certificate, and the old one's end
    // passes without a refusal.
    let stored = eventually(
        "samples after the renewal and past the old certificate's end",
        Duration::from_secs(30),
        || {
            let times = stored_times(&collector, &asset);
            let last = *times.iter().max()?;
            let past_old_end = Timestamp::from_secs(first_validity.not_after + 2).0;
            (last > renewed_at.0 + 2000 && last > past_old_end).then_some(times)
        },
    );
    // The agents table holds the certificate the agent uses (read until
    // both sides agree: another renewal may fall between the two reads).
    eventually(
        "the stored certificate to be the agent's",
        Duration::from_secs(10),
        || {
            let (_, agents) = collector.get("/api/v1/agents", Some(&collector.admin));
            let stored = agents[0]["cert_sha256"].as_str()?.to_owned();
            let (_, current) = on_disk(&state)?;
            let hash = atalaya_collector::pki::cert_sha256(&der(&current));
            (stored == atalaya_common::token::hex(&hash)).then_some(())
        },
    );
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"certificate_expired\"}"),
        0.0
    );
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"renewal\"}"),
        0.0
    );

    // Nothing lost, nothing doubled: one sample a second, stored once each,
    // with no hole across the renewals (a lost sample leaves a 2 s hole).
    let unique: BTreeSet<i64> = stored.iter().copied().collect();
    assert_eq!(unique.len(), stored.len(), "a sample was stored twice");
    let times: Vec<i64> = unique.into_iter().collect();
    let holes: Vec<(i64, i64)> = times
        .windows(2)
        .filter(|w| w[1] - w[0] > 2500)
        .map(|w| (w[0], w[1]))
        .collect();
    assert!(
        holes.is_empty(),
        "samples missing between {holes:?}\n{}",
        agent_log()
    );
}

/// An identity for a new agent id whose certificate from `ca` ended a week ago.
fn expired_identity(ca: &CertificateAuthority) -> AgentIdentity {
    let (key_pem, csr) = new_key_and_csr("old-laptop").unwrap();
    let agent_id = new_agent_id();
    let ten_days_ago = SystemTime::now() - Duration::from_secs(10 * 86_400);
    let certificate_pem = ca
        .sign_agent_csr_at(
            &csr,
            &agent_id,
            Duration::from_secs(3 * 86_400),
            ten_days_ago,
        )
        .unwrap();
    AgentIdentity {
        agent_id,
        certificate_pem,
        key_pem,
        ca_pem: ca.cert_pem().to_owned(),
    }
}

fn run_agent(dir: &Path, state: &Path) -> Proc {
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nstate_dir = {:?}\n[metrics]\ninterval_seconds = 1\n",
            state.display().to_string()
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("agent.log")).unwrap();
    Proc(
        Command::new(bin("atalaya-agent"))
            .args(["run", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

#[test]
fn an_expired_certificate_is_refused_with_a_clear_message() {
    let collector = Collector::start();
    let ca = CertificateAuthority::load_or_create(&collector.data_dir()).unwrap();
    let expired = expired_identity(&ca);
    let expired_at = Validity::of_pem(&expired.certificate_pem)
        .unwrap()
        .expires()
        .to_string();
    let quic = std::fs::read_to_string(collector.data_dir().join("quic-address")).unwrap();
    let expired_refusals = "atalaya_refused_total{reason=\"certificate_expired\"}";

    // The agent sees the date itself and does not offer the certificate.
    let work = tempfile::tempdir().unwrap();
    let state = work.path().join("state");
    expired.save(&state).unwrap();
    std::fs::write(state.join("collector-address"), quic.trim()).unwrap();
    let _agent = run_agent(work.path(), &state);
    let wanted = format!(
        "this agent's certificate expired at {expired_at}; enroll it again with a new token: "
    );
    let log = eventually("the agent's message", Duration::from_secs(20), || {
        let log = std::fs::read_to_string(work.path().join("agent.log")).ok()?;
        log.contains(&wanted).then_some(log)
    });
    assert!(log.contains("atalaya-agent enroll --token"), "{log}");
    // The check comes before any connection, and the agent then waits for a
    // new enrollment instead of trying again. Enrolled again, as the message
    // says, it connects with the new identity. Its uplink is one loop that
    // leaves that wait only for a new valid identity, so whatever it did
    // with the expired certificate came before, and shows: another pass
    // logs the message again, a connection logs `resend_from`, and the
    // collector counts a refused certificate while checking it, before the
    // agent can hear of the refusal and go on.
    let out = Command::new(bin("atalaya-agent"))
        .args(["enroll", "--token", &collector.token(1), "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_identity = "a new identity was enrolled; connecting with it";
    let log = eventually(
        "the agent to connect with its new identity",
        Duration::from_secs(60),
        || {
            let log = std::fs::read_to_string(work.path().join("agent.log")).ok()?;
            let (expired, renewed) = log.split_once(new_identity)?;
            renewed.contains("resend_from").then(|| expired.to_owned())
        },
    );
    assert_eq!(collector.metric(expired_refusals), 0.0);
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"handshake\"}"),
        0.0
    );
    assert_eq!(log.matches(&wanted).count(), 1, "{log}");
    assert!(!log.contains("resend_from"), "it connected:\n{log}");

    // A client that offers it anyway is refused at the handshake, and both
    // ends are told when it expired.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client_error = rt.block_on(async {
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let config = data_client_config(&expired).unwrap();
        let addr = quic.trim().parse().unwrap();
        match endpoint
            .connect_with(config, addr, "localhost")
            .unwrap()
            .await
        {
            Err(err) => err.to_string(),
            Ok(conn) => conn.closed().await.to_string(),
        }
    });
    assert!(
        client_error.contains(&format!("expired at {expired_at}")),
        "{client_error}"
    );
    eventually("the refusal to be counted", Duration::from_secs(10), || {
        (collector.metric(expired_refusals) == 1.0).then_some(())
    });
    let log = collector.log();
    let line = log
        .lines()
        .find(|l| l.contains("agent certificate refused"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        line.contains(&format!(
            "the certificate of agent {} expired at {expired_at}",
            expired.agent_id
        )),
        "{line}"
    );
}

#[test]
fn a_certificate_that_expires_during_a_session_is_not_renewed() {
    use atalaya_common::proto::{self, FrameReader, Hello, Message, RenewRequest};
    use atalaya_common::token::EnrollmentToken;

    let collector = Collector::start_with_sections("", "certificate_seconds = 10");
    let token = EnrollmentToken::decode(&collector.token(1)).unwrap();
    let state = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let reason = rt.block_on(async {
        let identity = atalaya_agent::enroll::enroll(&token, state.path(), "host")
            .await
            .unwrap();
        let ends = Validity::of_pem(&identity.certificate_pem)
            .unwrap()
            .not_after;
        let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        let conn = endpoint
            .connect_with(
                data_client_config(&identity).unwrap(),
                token.address.parse().unwrap(),
                "localhost",
            )
            .unwrap()
            .await
            .unwrap();
        let (mut send, mut recv) = conn.open_bi().await.unwrap();
        let hello = Hello {
            agent_version: "test".into(),
            protocol_version: proto::PROTOCOL_VERSION,
            last_acked: 0,
            features: Vec::new(),
        };
        send.write_all(&proto::encode(&hello.into()).unwrap())
            .await
            .unwrap();
        // The certificate runs out while the connection stays open.
        let left = u64::try_from(ends - Timestamp::now().as_secs()).unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(left + 1)).await;
        let (_, csr_der) = new_key_and_csr("host").unwrap();
        let request = proto::encode(&RenewRequest { csr_der }.into()).unwrap();
        send.write_all(&request).await.unwrap();
        let mut frames = FrameReader::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = recv.read(&mut buf).await.unwrap().unwrap();
            frames.push(&buf[..n]);
            while let Some(message) = frames.next_message().unwrap() {
                match message {
                    Message::Refused(r) => return r.reason,
                    Message::Renewed(_) => panic!("an expired certificate was renewed"),
                    _ => {}
                }
            }
        }
    });
    assert!(
        reason.starts_with("this agent's certificate expired at "),
        "{reason}"
    );
    assert_eq!(
        collector.metric("atalaya_refused_total{reason=\"renewal\"}"),
        1.0
    );
    assert_eq!(collector.metric("atalaya_certificate_renewals_total"), 0.0);
}
