//! The `host` part of the inventory.

use atalaya_common::model::*;

use crate::root::{Gaps, Root};

/// Reads the `host` part of the inventory.
pub fn collect(_root: &Root, _gaps: &mut Gaps) -> Host {
    Default::default()
}
