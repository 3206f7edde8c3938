//! Any bytes as an inventory delta: decoding fails cleanly or gives a delta
//! that `apply` accepts or refuses with a typed error, never a panic.
#![no_main]

use atalaya_common::diff::{self, InventoryDelta};
use atalaya_common::model::Inventory;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(delta) = postcard::from_bytes::<InventoryDelta>(data) {
        let base = Inventory::default();
        if let Ok(newer) = diff::apply(&delta, &base) {
            // A delta that applied can be computed back.
            let again = diff::diff(&base, &newer);
            assert!(diff::apply(&again, &base).is_ok());
        }
    }
});
