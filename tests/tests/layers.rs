//! Each crate's modules import downward only, and never in a circle. The
//! tables here are the layering written in each crate's `lib.rs`; a new
//! module must be placed in one.

use std::path::Path;

use atalaya_tests::layers::{Layer, violations};

/// The collector, bottom first.
const COLLECTOR: &[Layer] = &[
    Layer {
        name: "foundations",
        modules: &["helpers", "pki", "telemetry"],
        forbidden: &[],
    },
    Layer {
        name: "records",
        modules: &["records"],
        forbidden: &[],
    },
    Layer {
        name: "storage",
        modules: &["store"],
        forbidden: &[],
    },
    Layer {
        name: "logic",
        modules: &[
            "forecast",
            "incidents",
            "capacity",
            "kb",
            "notify",
            "lookup",
            "people",
            "suppliers",
            "topology",
            "tiers",
            "formats",
        ],
        // Pure logic is fed data and time; it knows no database.
        forbidden: &["store", "pki", "telemetry"],
    },
    Layer {
        name: "orchestration",
        modules: &["config", "desk", "screen", "webhooks"],
        forbidden: &[],
    },
    Layer {
        name: "edges",
        modules: &[
            "server", "api", "console", "cli", "tls", "https", "run", "demo",
        ],
        forbidden: &[],
    },
];

/// The agent, bottom first.
const AGENT: &[Layer] = &[
    Layer {
        name: "foundations",
        modules: &[
            "root",
            "error",
            "spool",
            "identity",
            "summary",
            "state_file",
        ],
        forbidden: &[],
    },
    Layer {
        name: "host and protocol logic",
        modules: &[
            "inventory",
            "metrics",
            "renewal",
            "outbox",
            "reports",
            "probes",
            "snmp",
            "tls",
            "assist",
        ],
        forbidden: &[],
    },
    Layer {
        name: "configuration",
        modules: &["config", "policy"],
        forbidden: &[],
    },
    Layer {
        name: "transport",
        modules: &["enroll", "uplink", "watch"],
        forbidden: &[],
    },
    Layer {
        name: "daemon",
        modules: &["daemon"],
        forbidden: &[],
    },
];

fn check(krate: &str, layers: &[Layer]) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let problems = violations(&src, layers).expect("reading the sources");
    assert!(
        problems.is_empty(),
        "{krate}: {} layering problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn collector_modules_import_only_their_layer_or_below() {
    check("collector", COLLECTOR);
}

#[test]
fn agent_modules_import_only_their_layer_or_below() {
    check("agent", AGENT);
}
