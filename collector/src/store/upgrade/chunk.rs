//! Decoding the per-series Gorilla chunks of store formats 1 and 2, so
//! that their points can be written again as metric blocks. Nothing
//! writes this format any more, so only the decoder is here.
//!
//! A chunk is `[point count: u16 LE][bit stream]`, MSB first. The first
//! point is a raw 64-bit timestamp (ms) and the raw bits of its value.
//! Each further point has
//! - its timestamp as a delta-of-delta: `0` for none, else a prefix of
//!   one to four one bits (`10`, `110`, `1110`, `1111`) for a two's
//!   complement field of 4, 8, 16 or 64 bits;
//! - its value: `0` unchanged; `10` a decimal delta (2-bit scale index
//!   into 1, 10, 100, 1000; 2-bit width class into 6, 12, 24, 40 bits; the
//!   zigzagged difference of both values as integers at that scale); `11`
//!   the XOR with the previous value, with a control bit: `0` reuses the
//!   previous window of meaningful bits, `1` gives 5 bits of leading zeros
//!   and 6 bits of meaningful length (0 meaning 64).
//!
//! Decoding checks every read against the end of the stream, so bad bytes
//! give a [`ChunkError`], never a panic.

use super::super::bits::{BitReader, unzigzag};

/// Delta-of-delta field widths after a prefix of one, two, three ones.
const DOD_BITS: [u32; 3] = [4, 8, 16];
/// Scales a decimal delta may use.
const SCALES: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];
/// Widths of a zigzagged decimal delta, by class.
const DECIMAL_WIDTHS: [u32; 4] = [6, 12, 24, 40];
/// Integers this large are not exact as `f64`.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// Bytes that are not a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Shorter than the count prefix.
    #[error("chunk of {0} bytes has no point count")]
    NoHeader(usize),
    /// The stream ends before the announced points.
    #[error("chunk truncated: {wanted} points announced, stream ended after {decoded}")]
    Truncated {
        /// Points the count announces.
        wanted: usize,
        /// Points decoded before the end.
        decoded: usize,
    },
    /// A decimal delta from a value that is not a decimal at its scale.
    #[error("chunk corrupt at point {0}: decimal delta from a value that is not a decimal")]
    NotDecimal(usize),
    /// A window of meaningful bits wider than 64.
    #[error("chunk corrupt at point {0}: XOR window wider than 64 bits")]
    BadWindow(usize),
}

/// `v` as an integer at `scale`, when that integer gives back exactly `v`.
fn scaled(v: f64, scale: f64) -> Option<i64> {
    let n = (v * scale).round();
    if n.is_nan() || n.abs() >= EXACT_LIMIT {
        return None;
    }
    let n = n as i64;
    ((n as f64 / scale).to_bits() == v.to_bits()).then_some(n)
}

/// The points of a chunk, in stored order (oldest first unless the
/// series' clock stepped back inside it).
pub fn decode(chunk: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    let (count, stream) = match chunk {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => return Err(ChunkError::NoHeader(chunk.len())),
    };
    // At least one bit per point after the first: a bound on a bad count.
    let mut out = Vec::with_capacity(count.min(stream.len() * 8 + 1));
    if count == 0 {
        return Ok(out);
    }
    let mut r = BitReader::new(stream);
    let cut = |decoded| ChunkError::Truncated {
        wanted: count,
        decoded,
    };
    let mut ts = r.read(64).ok_or(cut(0))? as i64;
    let mut bits = r.read(64).ok_or(cut(0))?;
    out.push((ts, f64::from_bits(bits)));
    let mut delta = 0i64;
    let (mut leading, mut trailing) = (0u32, 0u32);
    for point in 1..count {
        let cut = || cut(point);
        let mut ones = 0;
        while ones < 4 && r.bit().ok_or_else(cut)? {
            ones += 1;
        }
        let dod = match ones {
            0 => 0,
            4 => r.read(64).ok_or_else(cut)? as i64,
            k => {
                let n = DOD_BITS[k - 1];
                let raw = r.read(n).ok_or_else(cut)?;
                // Sign-extended from n bits.
                ((raw << (64 - n)) as i64) >> (64 - n)
            }
        };
        // Wrapping, as the encoder did.
        delta = delta.wrapping_add(dod);
        ts = ts.wrapping_add(delta);
        if r.bit().ok_or_else(cut)? {
            if r.bit().ok_or_else(cut)? {
                if r.bit().ok_or_else(cut)? {
                    leading = r.read(5).ok_or_else(cut)? as u32;
                    let m = r.read(6).ok_or_else(cut)? as u32;
                    let meaningful = if m == 0 { 64 } else { m };
                    if leading + meaningful > 64 {
                        return Err(ChunkError::BadWindow(point));
                    }
                    trailing = 64 - leading - meaningful;
                }
                let xor = r.read(64 - leading - trailing).ok_or_else(cut)?;
                bits ^= xor.checked_shl(trailing).unwrap_or(0);
            } else {
                let scale = SCALES[r.read(2).ok_or_else(cut)? as usize];
                let width = DECIMAL_WIDTHS[r.read(2).ok_or_else(cut)? as usize];
                let z = r.read(width).ok_or_else(cut)?;
                let prev =
                    scaled(f64::from_bits(bits), scale).ok_or(ChunkError::NotDecimal(point))?;
                bits = (prev.wrapping_add(unzigzag(z)) as f64 / scale).to_bits();
            }
        }
        out.push((ts, f64::from_bits(bits)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::super::bits::{BitWriter, zigzag};
    use super::*;

    /// A chunk as formats 1 and 2 wrote it, built by hand.
    fn chunk(count: u16, build: impl FnOnce(&mut BitWriter)) -> Vec<u8> {
        let mut w = BitWriter::new();
        build(&mut w);
        let mut out = count.to_le_bytes().to_vec();
        out.extend(w.finish());
        out
    }

    #[test]
    fn every_code_decodes() {
        let bytes = chunk(6, |w| {
            w.write(1_000_000, 64);
            w.write(12.5f64.to_bits(), 64);
            // +10 s: dod 10000 in the 16-bit bucket; value unchanged.
            w.write(0b1110, 4);
            w.write(10_000, 16);
            w.bit(false);
            // +10 s again: dod 0; decimal delta 12.5 → 12.75 at scale 100.
            w.bit(false);
            w.write(0b10, 2);
            w.write(2, 2);
            w.write(0, 2);
            w.write(zigzag(25), 6);
            // +10.003 s: dod 3 in 4 bits; XOR with a new window.
            w.write(0b10, 2);
            w.write(3, 4);
            let xor = 12.75f64.to_bits() ^ 1e300f64.to_bits();
            let (lead, trail) = (xor.leading_zeros().min(31), xor.trailing_zeros());
            let meaningful = 64 - lead - trail;
            w.write(0b111, 3);
            w.write(u64::from(lead), 5);
            w.write(u64::from(meaningful % 64), 6);
            w.write(xor >> trail, meaningful);
            // -100 s (the clock stepped back): dod in 64 bits; XOR reusing
            // the window (the same bits flip back).
            w.write(0b1111, 4);
            w.write((-110_003i64) as u64, 64);
            w.write(0b110, 3);
            w.write(xor >> trail, meaningful);
            // +1 ms: dod 100001, in 64 bits too; unchanged.
            w.write(0b1111, 4);
            w.write(100_001, 64);
            w.bit(false);
        });
        assert_eq!(
            decode(&bytes).unwrap(),
            vec![
                (1_000_000, 12.5),
                (1_010_000, 12.5),
                (1_020_000, 12.75),
                (1_030_003, 1e300),
                (930_003, 12.75),
                (930_004, 12.75),
            ]
        );
    }

    #[test]
    fn bad_bytes_are_errors() {
        assert_eq!(decode(&[7]), Err(ChunkError::NoHeader(1)));
        assert_eq!(decode(&[0, 0]), Ok(Vec::new()));
        let two = chunk(2, |w| {
            w.write(5, 64);
            w.write(1.5f64.to_bits(), 64);
            w.bit(false);
            w.bit(false);
        });
        assert_eq!(decode(&two).unwrap(), vec![(5, 1.5), (5, 1.5)]);
        assert!(matches!(
            decode(&two[..10]),
            Err(ChunkError::Truncated { decoded: 0, .. })
        ));
        let mut more = two.clone();
        more[0] = 0xff;
        assert!(matches!(
            decode(&more),
            Err(ChunkError::Truncated { wanted: 255, .. })
        ));
        // A decimal delta from a value with more decimals than its scale.
        let not_decimal = chunk(2, |w| {
            w.write(0, 64);
            w.write(0.1234f64.to_bits(), 64);
            w.bit(false);
            w.write(0b10, 2);
            w.write(1, 2);
            w.write(0, 2);
            w.write(0, 6);
        });
        assert_eq!(decode(&not_decimal), Err(ChunkError::NotDecimal(1)));
        let wide = chunk(2, |w| {
            w.write(0, 64);
            w.write(0, 64);
            w.bit(false);
            w.write(0b111, 3);
            w.write(31, 5);
            w.write(40, 6);
        });
        assert_eq!(decode(&wide), Err(ChunkError::BadWindow(1)));
    }
}
