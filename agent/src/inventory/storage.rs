//! The `storage` part of the inventory.

use atalaya_common::model::*;

use crate::root::{Gaps, Root};

/// Reads the `storage` part of the inventory.
pub fn collect(_root: &Root, _gaps: &mut Gaps) -> Storage {
    Default::default()
}
