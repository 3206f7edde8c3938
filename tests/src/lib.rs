//! End-to-end tests of Atalaya: the real agent and collector programs
//! talking over loopback QUIC, plus the ingest load generator
//! (`ingest-bench`). The library itself is empty; see `tests/` and
//! `src/bin/`.
