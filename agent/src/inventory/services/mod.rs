//! The `services` part of the inventory.

use atalaya_common::model::*;

use crate::root::{Gaps, Root};

/// Reads the `services` part of the inventory.
pub fn collect(_root: &Root, _gaps: &mut Gaps) -> Services {
    Default::default()
}
