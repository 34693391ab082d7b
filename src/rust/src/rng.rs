//! Deterministic random numbers. Every stream is derived from a seed R draws with
//! `sample.int()`, so `set.seed()` reproduces a run; no OS entropy is used. The generator is
//! `rand_xoshiro`'s xoshiro256++ (seeded through SplitMix64), normals come from `rand_distr`.

use rand::{Rng as _, RngCore, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::{SplitMix64, Xoshiro256PlusPlus};

#[derive(Clone, Debug)]
pub struct Rng(Xoshiro256PlusPlus);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// A stream keyed by several integers (seed, epoch, step, layer), independent of threads.
    pub fn keyed(keys: &[u64]) -> Self {
        let mut st = 0x5EED_u64;
        for &k in keys {
            let a = SplitMix64::seed_from_u64(k ^ st.rotate_left(17)).next_u64();
            st = a ^ SplitMix64::seed_from_u64(st).next_u64();
        }
        Rng::new(st)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1) with 24 bits, as f32.
    #[inline]
    pub fn uniform_f32(&mut self) -> f32 {
        self.0.random::<f32>()
    }

    /// Uniform in [0, 1) with 53 bits.
    #[inline]
    pub fn uniform_f64(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        StandardNormal.sample(&mut self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn same_seed_same_stream_and_uniform_in_range() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..1000 {
            let x = a.uniform_f32();
            assert_eq!(x, b.uniform_f32());
            assert!((0.0..1.0).contains(&x));
        }
        assert_ne!(
            Rng::keyed(&[1, 2]).next_u64(),
            Rng::keyed(&[2, 1]).next_u64()
        );
    }

    #[test]
    fn the_stream_is_xoshiro256_plus_plus_seeded_by_splitmix64() {
        // Reference values of xoshiro256++ (Blackman and Vigna's reference code), state
        // seeded with SplitMix64 from 0.
        let mut sm = 0u64;
        let mut splitmix = || {
            sm = sm.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut s = [splitmix(), splitmix(), splitmix(), splitmix()];
        let mut reference = || {
            let r = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
            let t = s[1] << 17;
            s[2] ^= s[0];
            s[3] ^= s[1];
            s[1] ^= s[2];
            s[0] ^= s[3];
            s[2] ^= t;
            s[3] = s[3].rotate_left(45);
            r
        };
        let mut r = Rng::new(0);
        for _ in 0..100 {
            assert_eq!(r.next_u64(), reference());
        }
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut r = Rng::new(7);
        let n = 20000;
        let v: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
