//! The one HTTP client of the collector's API, for `atalaya` (address and
//! token from the command line or the environment) and the administration
//! commands of `atalaya-collector` (both from the running collector's data
//! directory).
//!
//! Every request has a connect and a read timeout, so a collector that
//! hangs makes a command fail with a message rather than wait forever, and
//! every failure is told the same way, saying where the address and the
//! token came from so the user knows what to fix. A message does not
//! repeat its cause: print the chain (`{:#}` of `anyhow`, in the
//! programs' `main`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::api::ErrorBody;
use crate::config::{ADMIN_TOKEN_FILE, API_ADDRESS_FILE};

/// How long a request may take to connect and to be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Setting up the connection.
    pub connect: Duration,
    /// Waiting for the answer's head, and again for its body.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
        }
    }
}

/// A request to the API that did not give an answer to use.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `atalaya` was given no token.
    #[error(
        "no API token: set ATALAYA_TOKEN or pass --token (an administrator makes one with `atalaya-collector api-token create`)"
    )]
    NoToken,
    /// The data directory does not say where the collector's API is, or its
    /// administrator token.
    #[error("reading {} (is the collector running with --data {}?)", path.display(), dir.display())]
    LocalAdmin {
        /// The file.
        path: PathBuf,
        /// The data directory.
        dir: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// No connection: refused, no such host, or not set up in time.
    #[error("cannot reach {server} (is the collector running, and is this its API address?)")]
    Unreachable {
        /// The address and where it came from.
        server: String,
        /// What the connection did.
        source: ureq::Error,
    },
    /// Connected, but the answer did not come in time.
    #[error(
        "no answer from {server} within {} (is the collector overloaded or stuck?)",
        humantime::format_duration(*waited)
    )]
    Timeout {
        /// The address and where it came from.
        server: String,
        /// How long the client waited.
        waited: Duration,
        /// Which wait ran out.
        source: ureq::Error,
    },
    /// The request failed otherwise (a bad URL, a broken answer).
    #[error("request to {url} failed")]
    Request {
        /// What was asked.
        url: String,
        /// Why it failed.
        source: ureq::Error,
    },
    /// The answer's body could not be read.
    #[error("reading the answer from {url}")]
    Read {
        /// What was asked.
        url: String,
        /// Why it failed.
        source: ureq::Error,
    },
    /// 401: the token is not one the collector knows.
    #[error("the server refused the token (401): {advice} ({message})")]
    Unauthorized {
        /// What to do about it, for where the token came from.
        advice: String,
        /// The server's reason.
        message: String,
    },
    /// 403: the token's role may not do this.
    #[error("the token is not allowed to do this (403): {message}")]
    Forbidden {
        /// The server's reason.
        message: String,
    },
    /// 409: refused in the state things are in.
    #[error("refused (409): {message}")]
    Conflict {
        /// The server's reason.
        message: String,
    },
    /// What was fetched could not be written.
    #[error("writing {}", path.display())]
    Write {
        /// Where it was being written.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Any other status that is not a success.
    #[error("{message} ({status})")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's reason.
        message: String,
    },
}

/// A configured client of one collector's API, with one token.
// No `Debug` derive: it holds the token.
pub struct ApiClient {
    agent: ureq::Agent,
    server: String,
    token: String,
    /// The address as the messages name it, with where it came from.
    server_label: String,
    /// What to do when the token is refused.
    token_advice: String,
    /// How long a request waits for its answer.
    read_timeout: Duration,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// The client of `atalaya`: address and token from `--server`/`--token`
    /// or `ATALAYA_SERVER`/`ATALAYA_TOKEN`.
    pub fn from_user(server: &str, token: Option<String>) -> Result<Self, ClientError> {
        let token = token
            .filter(|t| !t.trim().is_empty())
            .ok_or(ClientError::NoToken)?;
        let server = server.trim_end_matches('/').to_owned();
        Ok(Self::new(
            format!("ATALAYA_SERVER={server}"),
            server,
            token,
            "set ATALAYA_TOKEN or --token to a valid API token".to_owned(),
            Timeouts::default(),
        ))
    }

    /// The client of `atalaya-collector`'s administration commands: the
    /// running collector's API address and administrator token, from the
    /// files it keeps in its data directory.
    pub fn local_admin(data_dir: &Path) -> Result<Self, ClientError> {
        let read = |name: &str| {
            let path = data_dir.join(name);
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|source| ClientError::LocalAdmin {
                    path,
                    dir: data_dir.to_owned(),
                    source,
                })
        };
        let server = format!("http://{}", read(API_ADDRESS_FILE)?);
        let token = read(ADMIN_TOKEN_FILE)?;
        let address_file = data_dir.join(API_ADDRESS_FILE);
        let token_file = data_dir.join(ADMIN_TOKEN_FILE);
        Ok(Self::new(
            format!(
                "the collector's API at {server} (from {})",
                address_file.display()
            ),
            server,
            token,
            format!(
                "{} is not the running collector's administrator token (is --data its data directory?)",
                token_file.display()
            ),
            Timeouts::default(),
        ))
    }

    fn new(
        server_label: String,
        server: String,
        token: String,
        token_advice: String,
        timeouts: Timeouts,
    ) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeouts.connect))
            .timeout_recv_response(Some(timeouts.read))
            .timeout_recv_body(Some(timeouts.read))
            .build()
            .into();
        ApiClient {
            agent,
            server,
            token,
            server_label,
            token_advice,
            read_timeout: timeouts.read,
        }
    }

    /// The same client with other timeouts.
    pub fn with_timeouts(self, timeouts: Timeouts) -> Self {
        Self::new(
            self.server_label,
            self.server,
            self.token,
            self.token_advice,
            timeouts,
        )
    }

    /// GETs `path` with query pairs (absent values left out); the answer's body.
    pub fn get(&self, path: &str, query: &[(&str, Option<String>)]) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.server);
        let mut req = self.agent.get(&url).header("Authorization", &self.bearer());
        for (k, v) in query {
            if let Some(v) = v {
                req = req.query(*k, v);
            }
        }
        self.answer(req.call(), &url)
    }

    /// POSTs `body` as JSON, or nothing; the answer's body.
    pub fn post(&self, path: &str, body: Option<&Value>) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.server);
        let req = self
            .agent
            .post(&url)
            .header("Authorization", &self.bearer());
        let result = match body {
            Some(body) => req
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes()),
            None => req.send_empty(),
        };
        self.answer(result, &url)
    }

    /// POSTs `body` as `content_type` (a file, e.g. CSV); the answer's body.
    pub fn post_bytes(
        &self,
        path: &str,
        query: &[(&str, Option<String>)],
        content_type: &str,
        body: &[u8],
    ) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.server);
        let mut req = self
            .agent
            .post(&url)
            .header("Authorization", &self.bearer())
            .header("Content-Type", content_type);
        for (k, v) in query {
            if let Some(v) = v {
                req = req.query(*k, v);
            }
        }
        self.answer(req.send(body), &url)
    }

    /// PATCHes `path` with `body` as JSON; the answer's body.
    pub fn patch(&self, path: &str, body: Option<&Value>) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.server);
        let req = self
            .agent
            .patch(&url)
            .header("Authorization", &self.bearer());
        let result = match body {
            Some(body) => req
                .header("Content-Type", "application/json")
                .send(body.to_string().as_bytes()),
            None => req.send_empty(),
        };
        self.answer(result, &url)
    }

    /// PUTs `body` as JSON at `path`; the answer's body.
    pub fn put(&self, path: &str, body: &Value) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.server);
        let result = self
            .agent
            .put(&url)
            .header("Authorization", &self.bearer())
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes());
        self.answer(result, &url)
    }

    /// DELETEs `path`; the answer's body.
    pub fn delete(&self, path: &str) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.server);
        let result = self
            .agent
            .delete(&url)
            .header("Authorization", &self.bearer())
            .call();
        self.answer(result, &url)
    }

    /// GETs `path` and copies the answer's body to `to` (which writes to
    /// the file `file`, named in errors) piece by piece, however large it
    /// is; the bytes copied.
    pub fn download(
        &self,
        path: &str,
        to: &mut dyn std::io::Write,
        file: &Path,
    ) -> Result<u64, ClientError> {
        use std::io::Read;
        let url = format!("{}{path}", self.server);
        let result = self
            .agent
            .get(&url)
            .header("Authorization", &self.bearer())
            .call();
        let mut resp = self.sent(result, &url)?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let body = self.body(&mut resp, &url)?;
            return Err(self.refused(status, body));
        }
        let mut reader = resp.body_mut().with_config().limit(u64::MAX).reader();
        let mut buf = vec![0; 256 << 10];
        let mut copied = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|e| ClientError::Read {
                url: url.clone(),
                source: ureq::Error::Io(e),
            })?;
            if n == 0 {
                return Ok(copied);
            }
            to.write_all(&buf[..n])
                .map_err(|source| ClientError::Write {
                    path: file.to_owned(),
                    source,
                })?;
            copied += n as u64;
        }
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// A timeout: setting up the connection is not reaching the server at
    /// all; any later wait is a server that does not answer.
    fn timed_out(&self, source: ureq::Error) -> ClientError {
        match source {
            ureq::Error::Timeout(ureq::Timeout::Connect | ureq::Timeout::Resolve) => {
                ClientError::Unreachable {
                    server: self.server_label.clone(),
                    source,
                }
            }
            source => ClientError::Timeout {
                server: self.server_label.clone(),
                waited: self.read_timeout,
                source,
            },
        }
    }

    fn answer(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        url: &str,
    ) -> Result<String, ClientError> {
        let mut resp = self.sent(result, url)?;
        let status = resp.status().as_u16();
        let body = self.body(&mut resp, url)?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        Err(self.refused(status, body))
    }

    /// The answer, or why there is none.
    fn sent(
        &self,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        url: &str,
    ) -> Result<ureq::http::Response<ureq::Body>, ClientError> {
        match result {
            Ok(r) => Ok(r),
            Err(source @ ureq::Error::Timeout(_)) => Err(self.timed_out(source)),
            Err(
                source @ (ureq::Error::Io(_)
                | ureq::Error::ConnectionFailed
                | ureq::Error::HostNotFound),
            ) => Err(ClientError::Unreachable {
                server: self.server_label.clone(),
                source,
            }),
            Err(source) => Err(ClientError::Request {
                url: url.to_owned(),
                source,
            }),
        }
    }

    /// The answer's body as text.
    fn body(
        &self,
        resp: &mut ureq::http::Response<ureq::Body>,
        url: &str,
    ) -> Result<String, ClientError> {
        resp.body_mut()
            .read_to_string()
            .map_err(|source| match source {
                ureq::Error::Timeout(_) => self.timed_out(source),
                source => ClientError::Read {
                    url: url.to_owned(),
                    source,
                },
            })
    }

    /// The error of an answer with a status that is not a success.
    fn refused(&self, status: u16, body: String) -> ClientError {
        let message = serde_json::from_str::<ErrorBody>(&body)
            .map(|e| e.error)
            .unwrap_or(body);
        match status {
            401 => ClientError::Unauthorized {
                advice: self.token_advice.clone(),
                message,
            },
            403 => ClientError::Forbidden { message },
            409 => ClientError::Conflict { message },
            _ => ClientError::Status { status, message },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a panic is how a test fails
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    /// A server on loopback that answers one request with `answer`, or
    /// with nothing when it is `None`; returns its address.
    fn one_shot(answer: Option<String>) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = [0u8; 4096];
            let _ = conn.read(&mut head);
            match answer {
                Some(text) => conn.write_all(text.as_bytes()).unwrap(),
                // Hold the connection open, silent, until the client gives up.
                None => while conn.read(&mut head).is_ok_and(|n| n > 0) {},
            }
        });
        (format!("http://{addr}"), server)
    }

    #[test]
    fn a_silent_collector_times_out() {
        let (server, handle) = one_shot(None);
        let client = ApiClient::from_user(&server, Some("t".into()))
            .unwrap()
            .with_timeouts(Timeouts {
                connect: Duration::from_secs(5),
                read: Duration::from_millis(200),
            });
        let err = client.get("/api/v1/assets", &[]).unwrap_err();
        assert!(matches!(err, ClientError::Timeout { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("no answer from ATALAYA_SERVER=http://127.0.0.1:"),
            "{text}"
        );
        assert!(text.contains(" within 200ms "), "{text}");
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(cause.is_some_and(|c| c.contains("timeout")), "{err:?}");
        drop(client);
        handle.join().unwrap();
    }

    #[test]
    fn a_refused_token_says_where_it_came_from() {
        let body = r#"{"error":"unknown token"}"#;
        let answer = format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (server, handle) = one_shot(Some(answer));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(API_ADDRESS_FILE),
            server.trim_start_matches("http://"),
        )
        .unwrap();
        std::fs::write(dir.path().join(ADMIN_TOKEN_FILE), "secret\n").unwrap();
        let client = ApiClient::local_admin(dir.path()).unwrap();
        let err = client.post("/api/v1/rules/reload", None).unwrap_err();
        handle.join().unwrap();
        let text = err.to_string();
        assert!(
            text.starts_with("the server refused the token (401): "),
            "{text}"
        );
        assert!(
            text.contains("admin-token is not the running collector's"),
            "{text}"
        );
        assert!(text.ends_with("(unknown token)"), "{text}");
    }

    #[test]
    fn a_data_directory_without_a_collector_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = ApiClient::local_admin(dir.path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("api-address"), "{text}");
        assert!(
            text.contains("is the collector running with --data"),
            "{text}"
        );
        assert!(matches!(
            ApiClient::from_user("http://x", Some("  ".into())),
            Err(ClientError::NoToken)
        ));
    }
}
