//! Any bytes from the network: the frame decoder returns a message or a
//! typed error, never a panic, whether the bytes come whole or in pieces.
#![no_main]

use atalaya_common::proto::{self, FrameReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = proto::decode(data);
    // The same bytes split where the first byte says, as a stream delivers them.
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let mut reader = FrameReader::new();
    for piece in [&data[..cut], &data[cut..]] {
        reader.push(piece);
        while let Ok(Some(message)) = reader.next_message() {
            // Whatever decodes must encode again.
            let _ = proto::encode(&message);
        }
    }
});
