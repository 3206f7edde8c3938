//! The `users` part of the inventory.

use atalaya_common::model::*;

use crate::root::{Gaps, Root};

/// Reads the `users` part of the inventory.
pub fn collect(_root: &Root, _gaps: &mut Gaps) -> Users {
    Default::default()
}
