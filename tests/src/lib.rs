//! End-to-end tests of Atalaya: the agent and the collector crates (and,
//! later, their binaries) talking to each other over loopback QUIC.
//!
//! The tests live in `tests/`; this library is empty. It exists because the
//! agent and collector crates must never depend on each other, not even for
//! tests, so whatever exercises both lives here.
