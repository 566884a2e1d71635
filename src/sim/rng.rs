//! A small seeded PRNG (xoshiro256**, seeded through SplitMix64) and the few
//! distributions the simulator draws from.
//!
//! Why not the `rand` crate: the simulator's output is a test fixture. Its
//! bytes must not change when a dependency is upgraded (`rand` documents that
//! value streams of `StdRng` and of its distributions may change between
//! versions), and 60 lines of well-known public-domain algorithms cost less
//! than two more dependencies. The algorithms are Blackman and Vigna's
//! reference ones (<https://prng.di.unimi.it/>).
//!
//! Never does: read the clock, the OS entropy pool, or any global state.

/// SplitMix64: used to expand one `u64` seed into independent streams.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Mixes several values into one seed (stable: used to derive sub-streams
/// such as "the trace number 1234 of seed 7").
pub fn mix(parts: &[u64]) -> u64 {
    let mut acc = SplitMix64::new(0x005E_ED0F_E91C_E47E);
    let mut out = acc.next_u64();
    for &p in parts {
        acc = SplitMix64::new(out ^ p);
        out = acc.next_u64();
    }
    out
}

/// Stable 64-bit hash of a string (FNV-1a, then mixed): derives per-name seeds.
pub fn hash_str(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    mix(&[h])
}

/// xoshiro256**: the simulator's workhorse generator.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the four words from SplitMix64, as the authors recommend.
    pub fn new(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        let s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        Self { s }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        p >= 1.0 || self.f64() < p
    }

    /// Uniform integer in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Lemire's multiply-shift; the tiny bias is irrelevant here.
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform integer in `[lo, hi]` (inclusive; `lo` when `hi < lo`).
    pub fn range_u32(&mut self, lo: u32, hi: u32) -> u32 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    /// Standard normal (Box–Muller; one of the pair is discarded to keep the
    /// stream position independent of how many normals were drawn before).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Lognormal with the given median and shape `sigma` (of the log).
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Exponential with the given rate (events per unit); infinite when `rate <= 0`.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        if rate <= 0.0 {
            return f64::INFINITY;
        }
        -(1.0 - self.f64()).ln() / rate
    }

    /// Picks an index with probability proportional to `weights[i]`;
    /// `None` when all weights are zero or the slice is empty.
    pub fn weighted(&mut self, weights: &[f64]) -> Option<usize> {
        let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
        if total <= 0.0 {
            return None;
        }
        let mut x = self.f64() * total;
        let mut last = None;
        for (i, &w) in weights.iter().enumerate() {
            if w <= 0.0 {
                continue;
            }
            last = Some(i);
            if x < w {
                return Some(i);
            }
            x -= w;
        }
        last
    }

    /// 16 random bytes, never all zero (an OTLP trace id).
    pub fn trace_id(&mut self) -> [u8; 16] {
        loop {
            let a = self.next_u64().to_be_bytes();
            let b = self.next_u64().to_be_bytes();
            let mut out = [0u8; 16];
            out[..8].copy_from_slice(&a);
            out[8..].copy_from_slice(&b);
            if out != [0; 16] {
                return out;
            }
        }
    }

    /// 8 random bytes, never all zero (an OTLP span id).
    pub fn span_id(&mut self) -> [u8; 8] {
        loop {
            let out = self.next_u64().to_be_bytes();
            if out != [0; 8] {
                return out;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference: first outputs of SplitMix64 seeded with 1234567 (Vigna's splitmix64.c).
        let mut sm = SplitMix64::new(1_234_567);
        assert_eq!(sm.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(sm.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn same_seed_same_stream_and_different_seed_differs() {
        let a: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let b: Vec<u64> = (0..8)
            .scan(Rng::new(7), |r, _| Some(r.next_u64()))
            .collect();
        let c: Vec<u64> = (0..8)
            .scan(Rng::new(8), |r, _| Some(r.next_u64()))
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn distributions_have_plausible_moments() {
        let mut r = Rng::new(42);
        let n = 20_000;
        let mean: f64 = (0..n).map(|_| r.f64()).sum::<f64>() / f64::from(n);
        assert!((mean - 0.5).abs() < 0.02, "uniform mean {mean}");
        let mut samples: Vec<f64> = (0..n).map(|_| r.lognormal(10.0, 0.5)).collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        assert!((median - 10.0).abs() < 0.5, "lognormal median {median}");
        let hits = (0..n).filter(|_| r.chance(0.1)).count();
        assert!((1_700..2_300).contains(&hits), "bernoulli hits {hits}");
        let picks = (0..n)
            .filter(|_| r.weighted(&[1.0, 0.0, 3.0]) == Some(2))
            .count();
        assert!((14_000..16_000).contains(&picks), "weighted picks {picks}");
        assert_eq!(r.weighted(&[0.0, 0.0]), None);
    }
}
