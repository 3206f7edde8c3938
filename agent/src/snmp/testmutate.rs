//! Random damage to real datagrams, the same on every run so a failure
//! replays exactly, for the decoders' never-panic tests.

/// xorshift64*: a fixed sequence from its seed.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (zero when `n` is zero).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

/// `bytes` changed at random, one to five times: bits flipped, bytes set
/// to edge values, ranges cut out or repeated, the end cut off or added
/// to, lengths made huge.
pub(crate) fn mutate(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for _ in 0..=rng.below(4) {
        if out.is_empty() {
            out.push(0x30);
        }
        let at = rng.below(out.len());
        match rng.below(7) {
            0 => out[at] ^= 1 << rng.below(8),
            1 => out[at] = [0x00, 0x7f, 0x80, 0x81, 0x84, 0xff][rng.below(6)],
            2 => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(32)).min(out.len());
                let copy = out[at..end].to_vec();
                out.splice(at..at, copy);
            }
            4 => out.truncate(at),
            5 => out.extend((0..rng.below(8)).map(|_| rng.below(256) as u8)),
            _ => out
                .splice(at..at, [0x84, 0x7f, 0xff, 0xff, 0xff])
                .for_each(drop),
        }
    }
    out
}
