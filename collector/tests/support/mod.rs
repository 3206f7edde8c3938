//! What the API test files share: a real API server on loopback over a
//! real store, and an HTTP client that hands back every status.

use atalaya_collector::api::{self, ApiState};

/// Serves the API of `state` on a free loopback port from a runtime of its
/// own; returns the base URL and the runtime (the server stops with it).
pub fn serve(state: ApiState) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(api::serve(listener, state, std::future::pending()));
    (format!("http://{addr}"), rt)
}

/// An HTTP client for which a 4xx or 5xx is an answer, not an error.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Runs the `atalaya` binary against the API at `base` with `token`:
/// whether it succeeded, its stdout and its stderr.
#[allow(dead_code)] // not every API test file runs the CLI
pub fn cli(base: &str, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atalaya"))
        .args(args)
        .env("ATALAYA_SERVER", base)
        .env("ATALAYA_TOKEN", token)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}
