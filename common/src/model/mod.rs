//! The data Atalaya knows about a host: inventory, health samples, time.

pub mod device;
pub mod inventory;
pub mod metrics;
pub mod probe;
mod time;

pub use device::*;
pub use inventory::*;
pub use metrics::*;
pub use probe::{ProbeKind, ProbeMethod, ProbeResult, ProbeTarget};
pub use time::{Timestamp, TimestampError};
