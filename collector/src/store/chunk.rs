//! Gorilla-style compression of one series' points (Pelkonen et al., VLDB
//! 2015): timestamps as delta-of-delta in milliseconds, values as the XOR
//! of each f64 with the previous one.
//!
//! Hand-written because the Gorilla crates on crates.io either panic on
//! corrupt input or cannot resume appending to a stored chunk; both matter
//! here (chunks come from disk, and the open chunk of every series grows by
//! one point per commit).
//!
//! Two departures from the paper, both lossless: the delta-of-delta
//! buckets are narrower (4/8/16 bits), because agent timestamps carry a few
//! milliseconds of timer jitter rather than being whole seconds; and a
//! value that is a short decimal (at most three fractional digits, like
//! `12.5` percent or a byte count) may instead be written as the integer
//! difference from the previous value at that scale, which costs far fewer
//! bits than the XOR of two such doubles.
//!
//! A chunk is `[count: u16 LE][bit stream]`. Decoding checks every read
//! against the end of the stream and every field against its range, so bad
//! bytes give a [`ChunkError`], never a panic.

/// Most points one chunk holds; the count prefix is a `u16`.
pub const MAX_POINTS: usize = u16::MAX as usize;

/// Bytes that are not a chunk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    /// Shorter than its count prefix says.
    #[error("chunk truncated: {wanted} points announced, stream ended after {decoded}")]
    Truncated {
        /// Points the prefix announces.
        wanted: usize,
        /// Points decoded before the stream ran out.
        decoded: usize,
    },
    /// Shorter than the count prefix itself.
    #[error("chunk of {0} bytes has no count prefix")]
    NoHeader(usize),
    /// A decimal delta from a value that is not a decimal.
    #[error("chunk corrupt at point {0}: decimal delta from a non-decimal value")]
    NotDecimal(usize),
    /// A value window that does not fit in 64 bits.
    #[error("chunk corrupt at point {point}: {leading} leading zeros + {meaningful} meaningful bits exceed 64")]
    BadWindow {
        /// Index of the point.
        point: usize,
        /// Leading zero bits read.
        leading: u32,
        /// Meaningful bits read.
        meaningful: u32,
    },
}

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Bits used in the last byte (0 = last byte full or no byte).
    used: u8,
}

impl BitWriter {
    /// Writes the low `n` bits of `value` (n ≤ 64).
    pub fn write(&mut self, value: u64, n: u32) {
        for i in (0..n.min(64)).rev() {
            let bit = (value >> i) & 1 == 1;
            self.write_bit(bit);
        }
    }

    /// Writes one bit.
    pub fn write_bit(&mut self, bit: bool) {
        if self.used == 0 {
            self.bytes.push(0);
        }
        if bit && let Some(last) = self.bytes.last_mut() {
            *last |= 0x80 >> self.used;
        }
        self.used = (self.used + 1) % 8;
    }

    /// The bytes written, the last one padded with zero bits.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads bits written by [`BitWriter`]; `None` past the end.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// Reads from the first bit of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// One bit.
    pub fn bit(&mut self) -> Option<bool> {
        let byte = self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    /// `n` bits (n ≤ 64) as the low bits of a `u64`.
    pub fn read(&mut self, n: u32) -> Option<u64> {
        let mut v = 0u64;
        for _ in 0..n.min(64) {
            v = (v << 1) | u64::from(self.bit()?);
        }
        Some(v)
    }
}

/// Delta-of-delta buckets: (control prefix, prefix length, value bits).
const BUCKETS: [(u64, u32, u32); 3] = [(0b10, 2, 4), (0b110, 3, 8), (0b1110, 4, 16)];

/// Decimal scales a value may be written at (2-bit index).
const SCALES: [f64; 4] = [1.0, 10.0, 100.0, 1000.0];

/// Decimal deltas wider than this go the XOR way instead.
const MAX_DECIMAL_BITS: u32 = 40;

/// `v` as an integer at scale `SCALES[k]`, if that is exact: decoding
/// `n as f64 / scale` must give back the very same bits.
fn scaled(v: f64, k: usize) -> Option<i64> {
    let s = *SCALES.get(k)?;
    let n = (v * s).round();
    if !(n.abs() < 9_007_199_254_740_992.0) {
        return None;
    }
    let n = n as i64;
    ((n as f64 / s).to_bits() == v.to_bits()).then_some(n)
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

/// The growing encoding of one chunk; append points, read the bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Encoder {
    bits: BitWriter,
    count: usize,
    first_ts: i64,
    last_ts: i64,
    last_delta: i64,
    last_value: u64,
    leading: u32,
    trailing: u32,
}

impl Encoder {
    /// An empty chunk.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds the encoder of a stored chunk so more points can be appended.
    pub fn resume(chunk: &[u8]) -> Result<Self, ChunkError> {
        let mut enc = Encoder::new();
        for (t, v) in decode(chunk)? {
            enc.push(t, v);
        }
        Ok(enc)
    }

    /// Points held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no point was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Timestamp of the first point (ms).
    pub fn first_ts(&self) -> i64 {
        self.first_ts
    }

    /// Timestamp of the last point (ms).
    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }

    /// Appends a point. Returns false (and appends nothing) when the chunk
    /// is full; callers also start a new chunk when time goes backwards, so
    /// that every chunk is ordered and its key is its earliest time.
    pub fn push(&mut self, ts: i64, value: f64) -> bool {
        if self.count >= MAX_POINTS {
            return false;
        }
        let bits = value.to_bits();
        if self.count == 0 {
            self.bits.write(ts as u64, 64);
            self.bits.write(bits, 64);
            self.first_ts = ts;
            self.last_ts = ts;
            self.last_delta = 0;
            self.last_value = bits;
            self.leading = u32::MAX;
            self.count = 1;
            return true;
        }
        let delta = ts.wrapping_sub(self.last_ts);
        let dod = delta.wrapping_sub(self.last_delta);
        self.write_dod(dod);
        self.write_value(bits);
        self.last_delta = delta;
        self.last_ts = ts;
        self.last_value = bits;
        self.count += 1;
        true
    }

    fn write_dod(&mut self, dod: i64) {
        if dod == 0 {
            self.bits.write_bit(false);
            return;
        }
        for (prefix, plen, n) in BUCKETS {
            let half = 1i64 << (n - 1);
            if (-half..half).contains(&dod) {
                self.bits.write(prefix, plen);
                // Two's complement in n bits.
                self.bits.write((dod as u64) & ((1u64 << n) - 1), n);
                return;
            }
        }
        self.bits.write(0b1111, 4);
        self.bits.write(dod as u64, 64);
    }

    fn write_value(&mut self, bits: u64) {
        let xor = bits ^ self.last_value;
        if xor == 0 {
            self.bits.write_bit(false);
            return;
        }
        let prev = f64::from_bits(self.last_value);
        let value = f64::from_bits(bits);
        for k in 0..SCALES.len() {
            if let (Some(p), Some(n)) = (scaled(prev, k), scaled(value, k)) {
                let z = zigzag(n.wrapping_sub(p));
                let width = 64 - z.leading_zeros();
                if width <= MAX_DECIMAL_BITS {
                    self.bits.write(0b10, 2);
                    self.bits.write(k as u64, 2);
                    self.bits.write(u64::from(width.max(1) - 1), 6);
                    self.bits.write(z, width.max(1));
                    return;
                }
                break;
            }
        }
        self.bits.write(0b11, 2);
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        if self.leading != u32::MAX && leading >= self.leading && trailing >= self.trailing {
            self.bits.write_bit(false);
            let meaningful = 64 - self.leading - self.trailing;
            self.bits.write(xor >> self.trailing, meaningful);
        } else {
            self.bits.write_bit(true);
            let meaningful = 64 - leading - trailing;
            self.bits.write(u64::from(leading), 5);
            // 64 meaningful bits are written as 0: six bits hold 0..=63.
            self.bits.write(u64::from(meaningful % 64), 6);
            self.bits.write(xor >> trailing, meaningful);
            self.leading = leading;
            self.trailing = trailing;
        }
    }

    /// The stored form: count prefix and bit stream.
    pub fn to_bytes(&self) -> Vec<u8> {
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        let mut out = Vec::with_capacity(2 + self.bits.bytes().len());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(self.bits.bytes());
        out
    }
}

/// Decodes a chunk into its points, oldest first.
pub fn decode(chunk: &[u8]) -> Result<Vec<(i64, f64)>, ChunkError> {
    let (head, stream) = match chunk {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) as usize, rest),
        _ => return Err(ChunkError::NoHeader(chunk.len())),
    };
    let mut r = BitReader::new(stream);
    let mut out = Vec::with_capacity(head.min(stream.len() * 8));
    let truncated = |decoded| ChunkError::Truncated {
        wanted: head,
        decoded,
    };
    if head == 0 {
        return Ok(out);
    }
    let mut ts = r.read(64).ok_or(truncated(0))? as i64;
    let mut value = r.read(64).ok_or(truncated(0))?;
    out.push((ts, f64::from_bits(value)));
    let mut delta = 0i64;
    let (mut leading, mut trailing) = (0u32, 0u32);
    for point in 1..head {
        let t = || truncated(point);
        // Timestamp.
        let mut ones = 0;
        while ones < 4 && r.bit().ok_or_else(t)? {
            ones += 1;
        }
        let dod = match ones {
            0 => 0,
            4 => r.read(64).ok_or_else(t)? as i64,
            k => {
                let n = BUCKETS.get(k - 1).map(|b| b.2).unwrap_or(64);
                let raw = r.read(n).ok_or_else(t)?;
                // Sign-extend from n bits.
                ((raw << (64 - n)) as i64) >> (64 - n)
            }
        };
        // Wrapping, as the encoder: any i64 times round-trip exactly.
        delta = delta.wrapping_add(dod);
        ts = ts.wrapping_add(delta);
        // Value: 0 same, 10 decimal delta, 11 XOR.
        let changed = r.bit().ok_or_else(t)?;
        if changed && !r.bit().ok_or_else(t)? {
            let k = r.read(2).ok_or_else(t)? as usize;
            let width = r.read(6).ok_or_else(t)? as u32 + 1;
            let z = r.read(width).ok_or_else(t)?;
            let prev = scaled(f64::from_bits(value), k).ok_or(ChunkError::NotDecimal(point))?;
            let n = prev.wrapping_add(unzigzag(z));
            let s = SCALES.get(k).copied().unwrap_or(1.0);
            value = (n as f64 / s).to_bits();
        } else if changed {
            if r.bit().ok_or_else(t)? {
                leading = r.read(5).ok_or_else(t)? as u32;
                let m = r.read(6).ok_or_else(t)? as u32;
                let meaningful = if m == 0 { 64 } else { m };
                if leading + meaningful > 64 {
                    return Err(ChunkError::BadWindow {
                        point,
                        leading,
                        meaningful,
                    });
                }
                trailing = 64 - leading - meaningful;
            }
            let meaningful = 64 - leading - trailing;
            let xor = r.read(meaningful).ok_or_else(t)?;
            value ^= xor.checked_shl(trailing).unwrap_or(0);
        }
        out.push((ts, f64::from_bits(value)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(points: &[(i64, f64)]) -> Vec<u8> {
        let mut e = Encoder::new();
        for &(t, v) in points {
            assert!(e.push(t, v));
        }
        e.to_bytes()
    }

    fn same(a: &[(i64, f64)], b: &[(i64, f64)]) -> bool {
        a.len() == b.len()
            && a
                .iter()
                .zip(b)
                .all(|(x, y)| x.0 == y.0 && x.1.to_bits() == y.1.to_bits())
    }

    #[test]
    fn regular_constant_series_costs_about_two_bits_a_point() {
        let points: Vec<_> = (0..240).map(|i| (1_000_000 + i * 10_000, 42.0)).collect();
        let bytes = encode(&points);
        assert!(same(&decode(&bytes).unwrap(), &points));
        // Count, first point (16), first delta (20 bits), then 2 bits a point.
        assert!(bytes.len() <= 2 + 16 + 3 + 240 / 4 + 1, "{}", bytes.len());
    }

    #[test]
    fn corrupt_bytes_are_errors() {
        let points: Vec<_> = (0..50)
            .map(|i| (i * 10_007, (i as f64).sin() * 100.0))
            .collect();
        let bytes = encode(&points);
        assert_eq!(decode(&[1]), Err(ChunkError::NoHeader(1)));
        let cut = &bytes[..bytes.len() / 2];
        assert!(matches!(decode(cut), Err(ChunkError::Truncated { .. })));
        let mut more = bytes.clone();
        more[0] = 0xff;
        more[1] = 0xff;
        assert!(decode(&more).is_err());
    }

    #[test]
    fn resume_continues_the_same_stream() {
        let points: Vec<_> = (0..30).map(|i| (i * 10_000 + i % 3, i as f64 * 1.5)).collect();
        let mut e = Encoder::new();
        for &(t, v) in &points[..10] {
            e.push(t, v);
        }
        let mut r = Encoder::resume(&e.to_bytes()).unwrap();
        for &(t, v) in &points[10..] {
            r.push(t, v);
        }
        assert_eq!(r.to_bytes(), encode(&points));
    }

    #[test]
    fn short_decimals_cost_less_than_their_xor() {
        let mut v = 10.0f64;
        let points: Vec<_> = (0..200)
            .map(|i| {
                v = ((v * 100.0 + [3.0, -2.0, 7.0, -5.0][i % 4]).round()) / 100.0;
                (i as i64 * 10_000, v)
            })
            .collect();
        let bytes = encode(&points);
        assert!(same(&decode(&bytes).unwrap(), &points));
        // Under two bytes a point (a plain XOR needs ~6).
        assert!(bytes.len() < 2 * points.len(), "{}", bytes.len());
        // Negative zero and huge values stay exact.
        let odd = [(0, -0.0), (1, 0.0), (2, 1e300), (3, -1e-300), (4, f64::NAN), (5, 3.0)];
        assert!(same(&decode(&encode(&odd)).unwrap(), &odd));
    }

    proptest! {
        #[test]
        fn round_trip_decimals(points in proptest::collection::vec((any::<i64>(), -1_000_000i64..1_000_000, 0usize..4), 0..300)) {
            let points: Vec<(i64, f64)> = points
                .into_iter()
                .map(|(t, n, k)| (t, n as f64 / SCALES[k]))
                .collect();
            prop_assert!(same(&decode(&encode(&points)).unwrap(), &points));
        }

        #[test]
        fn round_trip(points in proptest::collection::vec((any::<i64>(), any::<f64>()), 0..300)) {
            let bytes = encode(&points);
            prop_assert!(same(&decode(&bytes).unwrap(), &points));
        }

        #[test]
        fn round_trip_realistic(start in 0i64..2_000_000_000_000, jitter in proptest::collection::vec((-5i64..5, -3.0f64..3.0), 1..240)) {
            let mut v = 50.0;
            let points: Vec<_> = jitter.iter().enumerate().map(|(i, (j, d))| {
                v += d;
                (start + i as i64 * 10_000 + j, (v * 100.0f64).round() / 100.0)
            }).collect();
            let bytes = encode(&points);
            prop_assert!(same(&decode(&bytes).unwrap(), &points));
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
