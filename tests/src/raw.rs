//! A data session spoken directly, as an agent would: the test decides
//! every message (its `Hello`'s features, its records) and reads every
//! message the collector sends.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a failed unwrap is a failed test

use std::net::SocketAddr;
use std::time::Duration;

use atalaya_agent::identity::AgentIdentity;
use atalaya_common::model::Timestamp;
use atalaya_common::proto::{self, FrameReader, Heartbeat, Hello, Message};
use quinn::{Connection, RecvStream, SendStream};

/// One data session of a synthetic agent.
#[allow(missing_debug_implementations)] // QUIC streams have nothing to show
pub struct RawSession {
    _endpoint: quinn::Endpoint,
    /// The connection, to close it or read why it was closed.
    pub conn: Connection,
    send: SendStream,
    recv: RecvStream,
    frames: FrameReader,
}

impl RawSession {
    /// Connects as `identity` and says `Hello` with `last_acked` and
    /// `features` (an agent of the first release lists none).
    pub async fn open(
        identity: &AgentIdentity,
        addr: SocketAddr,
        last_acked: u64,
        features: &[&str],
    ) -> RawSession {
        let mut endpoint = quinn::Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
        endpoint
            .set_default_client_config(atalaya_agent::tls::data_client_config(identity).unwrap());
        let conn = endpoint.connect(addr, "127.0.0.1").unwrap().await.unwrap();
        let (send, recv) = conn.open_bi().await.unwrap();
        let mut s = RawSession {
            _endpoint: endpoint,
            conn,
            send,
            recv,
            frames: FrameReader::new(),
        };
        s.send(Message::Hello(Hello {
            agent_version: "0.1.0".into(),
            protocol_version: proto::PROTOCOL_VERSION,
            last_acked,
            features: features.iter().map(|f| (*f).to_owned()).collect(),
        }))
        .await;
        s
    }

    /// Sends one message.
    pub async fn send(&mut self, m: Message) {
        self.send
            .write_all(&proto::encode(&m).unwrap())
            .await
            .unwrap();
    }

    /// The next message from the collector, within 20 s.
    pub async fn next(&mut self) -> Message {
        let mut buf = vec![0u8; 64 * 1024];
        let read = async {
            loop {
                if let Some(m) = self.frames.next_message().unwrap() {
                    return m;
                }
                let n = self.recv.read(&mut buf).await.unwrap().unwrap();
                self.frames.push(&buf[..n]);
            }
        };
        tokio::time::timeout(Duration::from_secs(20), read)
            .await
            .expect("the collector said nothing for 20 s")
    }

    /// The next message that is not an ack.
    pub async fn next_not_ack(&mut self) -> Message {
        loop {
            match self.next().await {
                Message::Ack(_) => {}
                other => return other,
            }
        }
    }

    /// Waits for the ack of `seq`; returns what else came meanwhile.
    pub async fn acked(&mut self, seq: u64) -> Vec<Message> {
        let mut others = Vec::new();
        loop {
            match self.next().await {
                Message::Ack(a) if a.seq >= seq => return others,
                Message::Ack(_) => {}
                other => others.push(other),
            }
        }
    }

    /// Sends a heartbeat numbered `seq` and waits for its ack; returns
    /// what else came meanwhile.
    pub async fn heartbeat(&mut self, seq: u64) -> Vec<Message> {
        self.send(Message::Heartbeat(Heartbeat {
            seq,
            at: Timestamp::now(),
        }))
        .await;
        self.acked(seq).await
    }
}
