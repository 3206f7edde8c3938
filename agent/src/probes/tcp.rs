//! TCP probes: connections to a port, timed to the end of the handshake.
//! A refusal (the host answered with a reset) is told apart from a timeout
//! (nothing answered).

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

use super::icmp::Plan;

/// How one connection attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Connected after this many ms.
    Connected(f64),
    /// Refused after this many ms.
    Refused(f64),
    /// No answer within the timeout.
    TimedOut,
    /// Another error (no route, …).
    Failed(String),
}

/// One connection to `to`, given up after `timeout`.
pub async fn connect(to: SocketAddr, timeout: Duration) -> Outcome {
    let start = Instant::now();
    match tokio::time::timeout(timeout, TcpStream::connect(to)).await {
        Err(_) => Outcome::TimedOut,
        Ok(Ok(_stream)) => Outcome::Connected(ms(start)),
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => Outcome::Refused(ms(start)),
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
    }
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// One round of connections, one at a time, started `plan.spacing` apart
/// (or when the previous one ended, if later).
pub async fn round(to: SocketAddr, plan: Plan) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(usize::from(plan.count));
    let start = Instant::now();
    for i in 0..plan.count {
        tokio::time::sleep_until(start + plan.spacing * u32::from(i)).await;
        out.push(connect(to, plan.timeout).await);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_open_port_connects_and_a_closed_one_refuses() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap();
        let plan = Plan {
            count: 2,
            spacing: Duration::ZERO,
            timeout: Duration::from_secs(5),
        };
        let got = round(open, plan).await;
        assert!(
            got.iter()
                .all(|o| matches!(o, Outcome::Connected(ms) if *ms >= 0.0)),
            "{got:?}"
        );
        drop(listener);
        let refused = connect(open, Duration::from_secs(5)).await;
        assert!(matches!(refused, Outcome::Refused(_)), "{refused:?}");
    }
}
