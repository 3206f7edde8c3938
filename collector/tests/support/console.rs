//! What the console test files share: the collector's API and console
//! served on loopback over a real store, as the collector serves them
//! (with the client's address for the failed-login limits).

use atalaya_collector::api::{AdminActions, ApiState};
use atalaya_collector::config::ConsoleSettings;
use atalaya_collector::console;

/// Server actions of a collector with no agent connected.
#[allow(dead_code)] // not every console test file needs it
#[derive(Debug)]
pub struct NoServer;

impl AdminActions for NoServer {
    fn agent_revoked(&self, _id: &str) {}
    fn collector_address(&self) -> String {
        "collector.example:4433".into()
    }
    fn ca_sha256(&self) -> [u8; 32] {
        [0; 32]
    }
}

/// Serves the API and the console of `state` on a free loopback port from
/// a runtime of its own; the base URL and the runtime (the server stops
/// with it).
pub fn serve(state: ApiState, settings: ConsoleSettings) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(console::serve(
        listener,
        state,
        settings,
        std::future::pending(),
    ));
    (base, rt)
}
