//! A tiny deterministic PRNG for measurement noise and junk bytes.
//!
//! xorshift64* is plenty for simulated noise; a seed makes test runs reproducible without
//! pulling in `rand`.

#[derive(Clone, Debug)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        // splitmix64 scrambles small or similar seeds (0, 1, 2, ...) into unrelated states,
        // and xorshift must never start from 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        XorShift(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n); `n` must be non-zero.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Roughly normal with unit variance, but bounded to about ±3.46: a sum of four
    /// uniforms. The bound is what keeps multiplicative noise from ever flipping a sign.
    pub(crate) fn noise(&mut self) -> f64 {
        let sum: f64 = (0..4).map(|_| self.unit()).sum();
        (sum - 2.0) * 3f64.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_seeds_differ() {
        let mut a = XorShift::new(7);
        let mut b = XorShift::new(7);
        let mut c = XorShift::new(8);
        let sa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let sb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let sc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
    }

    #[test]
    fn noise_is_bounded_and_centred() {
        let mut r = XorShift::new(0);
        let samples: Vec<f64> = (0..20_000).map(|_| r.noise()).collect();
        assert!(samples.iter().all(|x| x.abs() <= 2.0 * 3f64.sqrt() + 1e-12));
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / samples.len() as f64;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.1, "variance {var}");
    }

    #[test]
    fn unit_stays_in_range() {
        let mut r = XorShift::new(42);
        assert!((0..10_000)
            .map(|_| r.unit())
            .all(|u| (0.0..1.0).contains(&u)));
        assert!((0..10_000).map(|_| r.below(3)).all(|n| n < 3));
    }
}
