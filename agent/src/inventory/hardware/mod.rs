//! Hardware: firmware (DMI/SMBIOS), processors, memory, devices.

use atalaya_common::model::*;

use crate::root::{Gaps, Root};

/// Reads the hardware part of the inventory.
pub fn collect(_root: &Root, _gaps: &mut Gaps) -> Hardware {
    Hardware::default()
}
