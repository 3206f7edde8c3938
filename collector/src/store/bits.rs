//! Bit-level writing and reading for the block codec: raw fields, Elias
//! gamma codes and Rice codes with an escape for outliers.
//!
//! Hand-written because the metric codec needs exactly these three codes
//! over one MSB-first stream, with a reader that returns `None` (never
//! panics) at the end of its input; the bit I/O crates on crates.io either
//! read past the end with a panic or do not offer Rice codes.

/// Appends bits to a byte vector, most significant bit first.
#[derive(Debug, Clone, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Pending bits, in the low `pending` bits.
    acc: u64,
    pending: u32,
}

impl BitWriter {
    /// An empty stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes the low `n` bits of `value` (n ≤ 64).
    pub fn write(&mut self, value: u64, n: u32) {
        if n > 32 {
            self.write_small(value >> 32, n - 32);
            self.write_small(value & 0xffff_ffff, 32);
        } else {
            self.write_small(value, n);
        }
    }

    fn write_small(&mut self, value: u64, n: u32) {
        if n == 0 {
            return;
        }
        let mask = (1u64 << n) - 1;
        self.acc = (self.acc << n) | (value & mask);
        self.pending += n;
        while self.pending >= 8 {
            self.pending -= 8;
            self.bytes.push((self.acc >> self.pending) as u8);
        }
        self.acc &= (1u64 << self.pending) - 1;
    }

    /// Writes one bit.
    pub fn bit(&mut self, bit: bool) {
        self.write_small(u64::from(bit), 1);
    }

    /// Writes `n` one bits.
    pub fn ones(&mut self, mut n: u64) {
        while n > 0 {
            let k = n.min(32) as u32;
            self.write_small(u64::MAX, k);
            n -= u64::from(k);
        }
    }

    /// Elias gamma code of `x ≥ 1`: ⌊log2 x⌋ zeros, then `x` in binary.
    pub fn gamma(&mut self, x: u64) {
        let x = x.max(1);
        let width = 64 - x.leading_zeros();
        self.write(0, width - 1);
        self.write(x, width);
    }

    /// A `u64` as its bit width (7 bits) and that many bits.
    pub fn wide(&mut self, x: u64) {
        let width = 64 - x.leading_zeros();
        self.write(u64::from(width), 7);
        self.write(x, width);
    }

    /// Rice code of `z` with parameter `k`; see [`rice_cost`].
    pub fn rice(&mut self, z: u64, k: u32) {
        let q = z.checked_shr(k).unwrap_or(0);
        if q < RICE_ESCAPE {
            self.ones(q);
            self.bit(false);
            self.write(z, k);
        } else {
            self.ones(RICE_ESCAPE);
            self.wide(z);
        }
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> u64 {
        self.bytes.len() as u64 * 8 + u64::from(self.pending)
    }

    /// The bytes, the last one padded with zero bits.
    pub fn finish(mut self) -> Vec<u8> {
        if self.pending > 0 {
            let pad = 8 - self.pending;
            self.write_small(0, pad);
        }
        self.bytes
    }
}

/// A Rice quotient this long is an escape: the value follows as
/// [`BitWriter::wide`], so one outlier costs at most 24 + 7 + 64 bits.
pub const RICE_ESCAPE: u64 = 24;

/// Bits [`BitWriter::rice`] spends on `z` with parameter `k`.
pub fn rice_cost(z: u64, k: u32) -> u64 {
    let q = z.checked_shr(k).unwrap_or(0);
    if q < RICE_ESCAPE {
        q + 1 + u64::from(k)
    } else {
        RICE_ESCAPE + 7 + u64::from(64 - z.leading_zeros())
    }
}

/// Bits [`BitWriter::gamma`] spends on `x`.
pub fn gamma_cost(x: u64) -> u64 {
    let width = u64::from(64 - x.max(1).leading_zeros());
    2 * width - 1
}

/// Bits [`BitWriter::wide`] spends on `x`.
pub fn wide_cost(x: u64) -> u64 {
    7 + u64::from(64 - x.leading_zeros())
}

/// Reads bits written by [`BitWriter`]; every read is `None` past the end.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: u64,
}

impl<'a> BitReader<'a> {
    /// Reads from the first bit of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Bits not yet read.
    pub fn remaining(&self) -> u64 {
        (self.bytes.len() as u64 * 8).saturating_sub(self.pos)
    }

    /// One bit.
    pub fn bit(&mut self) -> Option<bool> {
        let byte = self.bytes.get(usize::try_from(self.pos / 8).ok()?)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    /// `n` bits (n ≤ 64) as the low bits of a `u64`.
    pub fn read(&mut self, n: u32) -> Option<u64> {
        if n > 64 || u64::from(n) > self.remaining() {
            return None;
        }
        let mut v = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = *self.bytes.get(usize::try_from(self.pos / 8).ok()?)?;
            let offset = (self.pos % 8) as u32;
            let avail = 8 - offset;
            let take = avail.min(left);
            let bits = (u64::from(byte) >> (avail - take)) & ((1u64 << take) - 1);
            v = (v << take) | bits;
            left -= take;
            self.pos += u64::from(take);
        }
        Some(v)
    }

    /// Counts one bits up to `max`, consuming the zero that ends a shorter run.
    fn ones(&mut self, max: u64) -> Option<u64> {
        let mut q = 0;
        while q < max {
            if !self.bit()? {
                return Some(q);
            }
            q += 1;
        }
        Some(q)
    }

    /// An Elias gamma code.
    pub fn gamma(&mut self) -> Option<u64> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 63 {
                return None;
            }
        }
        let rest = self.read(zeros)?;
        Some((1u64 << zeros) | rest)
    }

    /// A value written by [`BitWriter::wide`].
    pub fn wide(&mut self) -> Option<u64> {
        let width = self.read(7)? as u32;
        if width > 64 {
            return None;
        }
        self.read(width)
    }

    /// A Rice code with parameter `k`.
    pub fn rice(&mut self, k: u32) -> Option<u64> {
        let q = self.ones(RICE_ESCAPE)?;
        if q == RICE_ESCAPE {
            return self.wide();
        }
        let low = self.read(k)?;
        // A quotient below the escape with k ≤ 64 fits: q < 2^5.
        Some(q.checked_shl(k).unwrap_or(0) | low)
    }
}

/// Maps signed to unsigned so that small magnitudes get small codes.
pub fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// Inverse of [`zigzag`].
pub fn unzigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Field {
        Raw(u64, u32),
        Gamma(u64),
        Wide(u64),
        Rice(u64, u32),
    }

    fn field() -> impl Strategy<Value = Field> {
        prop_oneof![
            (any::<u64>(), 0u32..=64)
                .prop_map(|(v, n)| Field::Raw(if n == 64 { v } else { v & ((1u64 << n) - 1) }, n)),
            (1u64..).prop_map(Field::Gamma),
            any::<u64>().prop_map(Field::Wide),
            (any::<u64>(), 0u32..=64).prop_map(|(v, k)| Field::Rice(v >> (v % 64), k)),
        ]
    }

    proptest! {
        #[test]
        fn fields_round_trip_and_costs_are_exact(fields in proptest::collection::vec(field(), 0..50)) {
            let mut w = BitWriter::new();
            let mut cost = 0;
            for f in &fields {
                match *f {
                    Field::Raw(v, n) => { w.write(v, n); cost += u64::from(n); }
                    Field::Gamma(v) => { w.gamma(v); cost += gamma_cost(v); }
                    Field::Wide(v) => { w.wide(v); cost += wide_cost(v); }
                    Field::Rice(v, k) => { w.rice(v, k); cost += rice_cost(v, k); }
                }
            }
            prop_assert_eq!(w.bit_len(), cost);
            let bytes = w.finish();
            let mut r = BitReader::new(&bytes);
            for f in &fields {
                match *f {
                    Field::Raw(v, n) => prop_assert_eq!(r.read(n), Some(v)),
                    Field::Gamma(v) => prop_assert_eq!(r.gamma(), Some(v)),
                    Field::Wide(v) => prop_assert_eq!(r.wide(), Some(v)),
                    Field::Rice(v, k) => prop_assert_eq!(r.rice(k), Some(v)),
                }
            }
            prop_assert!(r.remaining() < 8);
        }

        #[test]
        fn zigzag_round_trips(n in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(n)), n);
        }
    }

    #[test]
    fn reads_past_the_end_are_none() {
        let mut r = BitReader::new(&[0xff]);
        assert_eq!(r.read(9), None);
        assert_eq!(r.read(8), Some(0xff));
        assert_eq!(r.bit(), None);
        assert_eq!(BitReader::new(&[0, 0, 0, 0, 0, 0, 0, 0, 0]).gamma(), None);
        assert_eq!(BitReader::new(&[0xff; 4]).rice(3), None);
    }
}
