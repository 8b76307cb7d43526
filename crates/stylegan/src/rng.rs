//! Seeds → z, bit-identical to numpy's legacy `np.random.RandomState(seed).randn(...)`.
//!
//! Written by hand because the official tools define z through numpy's *legacy* generator
//! (MT19937 + polar Box–Muller with one cached value); the `rand_mt` / `rand_distr` crates use
//! other normal samplers, so no crate reproduces these bits.

use crate::error::{Error, Result};

const N: usize = 624;
const M: usize = 397;

/// numpy's `RandomState` (MT19937 with the legacy Gaussian sampler).
#[derive(Clone, Debug)]
pub struct RandomState {
    mt: [u32; N],
    pos: usize,
    gauss: Option<f64>,
}

impl RandomState {
    /// `np.random.RandomState(seed)` for an integer seed in `0..=2^32-1` (numpy's `init_genrand`).
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1812433253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self {
            mt,
            pos: N,
            gauss: None,
        }
    }

    /// Seeds from a Python integer; numpy refuses negative seeds and seeds ≥ 2^32.
    pub fn from_seed(seed: i64) -> Result<Self> {
        u32::try_from(seed).map(Self::new).map_err(|_| {
            Error::InvalidArgument(format!("seed {seed} is out of range 0..=4294967295"))
        })
    }

    /// `RandomState(array)`: numpy's `init_by_array`.
    pub fn from_array(key: &[u32]) -> Self {
        let mut s = Self::new(19650218);
        let mt = &mut s.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let len = key.len().max(1);
        for _ in 0..N.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1664525))
                .wrapping_add(*key.get(j).unwrap_or(&0))
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1566083941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        s
    }

    fn regenerate(&mut self) {
        for k in 0..N {
            let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % N] & 0x7fff_ffff);
            let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
            self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.pos = 0;
    }

    /// The next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= N {
            self.regenerate();
        }
        let mut y = self.mt[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random_sample()`: a 53-bit double in [0, 1).
    pub fn random_sample(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67108864.0 + b) / 9007199254740992.0
    }

    /// numpy's `legacy_gauss`: polar Box–Muller, returning the x2 term and caching the x1 term.
    pub fn gauss(&mut self) -> f64 {
        if let Some(g) = self.gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `randn(n)`: n standard normal doubles in draw order.
    pub fn randn(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.gauss()).collect()
    }

    /// numpy's legacy `random_interval(max)`: uniform in `0..=max` by masked rejection
    /// (32-bit draws for `max` < 2^32, as numpy does).
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for s in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> s;
        }
        if max <= 0xffff_ffff {
            loop {
                let v = (self.next_u32() as u64) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let hi = self.next_u32() as u64;
            let lo = self.next_u32() as u64;
            let v = ((hi << 32) | lo) & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `permutation(n)`: numpy's legacy in-place Fisher–Yates over `arange(n)`, from the end.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u64) as usize;
            v.swap(i, j);
        }
        v
    }

    /// `choice(n, m, replace=False)`: the first `m` of a permutation, as numpy's legacy code.
    pub fn choice_without_replacement(&mut self, n: usize, m: usize) -> Vec<usize> {
        let mut p = self.permutation(n);
        p.truncate(m.min(n));
        p
    }
}

/// z for one seed exactly as `gen_images.py` draws it: `RandomState(seed).randn(1, z_dim)`.
pub fn z_from_seed(seed: u32, z_dim: usize) -> Vec<f64> {
    RandomState::new(seed).randn(z_dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_first_outputs_match_numpy() {
        let mut rs = RandomState::new(0);
        let got: Vec<u32> = (0..4).map(|_| rs.next_u32()).collect();
        assert_eq!(got, [2357136044, 2546248239, 3071714933, 3626093760]);
        assert_eq!(RandomState::new(0).random_sample(), 0.5488135039273248);
    }

    #[test]
    fn randn_matches_numpy_bit_for_bit() {
        let z = z_from_seed(0, 512);
        let hex: Vec<u64> = z[..4].iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            hex,
            [
                0x3ffc398ef3e5cfa5,
                0x3fd99c2cfacc8953,
                0x3fef51d25222c9ab,
                0x4001ed5969e3314e
            ]
        );
        assert_eq!(z[511], 1.3749640663929898);
        assert!((z.iter().sum::<f64>() + 13.203225372007179).abs() < 1e-11);
        let z = z_from_seed(42, 512);
        let hex: Vec<u64> = z[..4].iter().map(|v| v.to_bits()).collect();
        assert_eq!(
            hex,
            [
                0x3fdfca2a28a9307c,
                0xbfc1b2a505de052a,
                0x3fe4b9dd50245e68,
                0x3ff85e548e01aa2b
            ]
        );
        assert_eq!(z[511], -0.05023810944913695);
        assert!((z.iter().sum::<f64>() - 2.262630726256273).abs() < 1e-11);
        assert_eq!(z_from_seed(1, 2), [1.6243453636632417, -0.6117564136500754]);
        assert_eq!(z_from_seed(2, 1), [-0.4167578474054706]);
        assert_eq!(z_from_seed(3, 1), [1.7886284734303186]);
    }

    #[test]
    fn seeds_outside_u32_are_refused() {
        assert!(RandomState::from_seed(-1).is_err());
        assert!(RandomState::from_seed(1 << 32).is_err());
        assert!(RandomState::from_seed((1 << 32) - 1).is_ok());
    }
}
