//! Progressive growing as the official TF1 training loops schedule it (PGGAN's
//! `train.py` / StyleGAN v1's `training/training_loop.py`, FORMATS.md §14.3): the level of
//! detail `lod`, the resolution, minibatch and learning rates at every point of a run, and the
//! reals as the networks see them at that `lod`.
//!
//! **Schedule** (`TrainingSchedule` / `training_schedule`): phases of `lod_training_kimg`
//! (stable) + `lod_transition_kimg` (fade-in) thousand images; in phase `k` the lod is
//! `log2 R − log2(initial resolution) − k`, minus the fraction of the fade-in done, and never
//! below 0. The resolution trained is `2^(log2 R − ⌊lod⌋)`; minibatch and learning rates are
//! looked up per resolution.
//!
//! **Reals** (`process_reals` + the data set's LOD pyramid): the official data sets store each
//! image at every power-of-two size, each level the 2×2 mean of the one above rounded to uint8
//! (`dataset_tool.py`); training reads level `⌊lod⌋`, maps it to [-1, 1], mirrors it (when
//! asked), blends it with its own 2×2 mean by `lod − ⌊lod⌋` (the fade-in of the next
//! resolution), and upscales it (nearest) to the full size.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// Which TF1 recipe a progressive run follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// PGGAN (tkarras/progressive_growing_of_gans `config.py`, one GPU): WGAN-GP with ε-drift,
    /// Gs with β = 0.999, growth from 4×4.
    Pggan,
    /// StyleGAN v1 (NVlabs/stylegan `train.py`, FFHQ config, one GPU): non-saturating logistic
    /// loss with R1 (γ = 10), style-mixing regularisation, Gs with a 10-kimg half-life, growth
    /// from 8×8, higher learning rates from 128 px.
    StyleGan1,
}

/// The schedule's parameters (`TrainingSchedule` kwargs) with the recipe's official values.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub lod_initial_resolution: usize,
    pub lod_training_kimg: f64,
    pub lod_transition_kimg: f64,
    pub minibatch_base: usize,
    pub minibatch_dict: BTreeMap<usize, usize>,
    pub g_lrate_base: f64,
    pub g_lrate_dict: BTreeMap<usize, f64>,
    pub d_lrate_base: f64,
    pub d_lrate_dict: BTreeMap<usize, f64>,
}

/// Where a run is: the schedule at `cur_nimg`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub kimg: f64,
    pub lod: f64,
    /// The resolution trained, `2^(log2 R − ⌊lod⌋)`.
    pub resolution: usize,
    pub minibatch: usize,
    pub g_lrate: f64,
    pub d_lrate: f64,
}

impl Schedule {
    /// The recipe's official one-GPU schedule.
    pub fn official(recipe: Recipe) -> Self {
        // Both configs: minibatch_base 4 and this table for one GPU.
        let minibatch_dict = BTreeMap::from([
            (4, 128),
            (8, 128),
            (16, 128),
            (32, 64),
            (64, 32),
            (128, 16),
            (256, 8),
            (512, 4),
        ]);
        let (initial, lr) = match recipe {
            Recipe::Pggan => (4, BTreeMap::from([(1024, 0.0015)])),
            Recipe::StyleGan1 => (
                8,
                BTreeMap::from([(128, 0.0015), (256, 0.002), (512, 0.003), (1024, 0.003)]),
            ),
        };
        Self {
            lod_initial_resolution: initial,
            lod_training_kimg: 600.0,
            lod_transition_kimg: 600.0,
            minibatch_base: 4,
            minibatch_dict,
            g_lrate_base: 0.001,
            g_lrate_dict: lr.clone(),
            d_lrate_base: 0.001,
            d_lrate_dict: lr,
        }
    }

    /// Check the values a user may change.
    pub fn check(&self, resolution: usize) -> Result<()> {
        let r0 = self.lod_initial_resolution;
        if r0 < 4 || !r0.is_power_of_two() || r0 > resolution {
            return Err(Error::InvalidArgument(format!(
                "the initial resolution of progressive growing ({r0}) must be a power of two in \
                 4..={resolution}"
            )));
        }
        for (what, v) in [
            ("lod_training_kimg", self.lod_training_kimg),
            ("lod_transition_kimg", self.lod_transition_kimg),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "{what} must be a finite number >= 0, got {v}"
                )));
            }
        }
        if self.minibatch_base == 0 || self.minibatch_dict.values().any(|&m| m == 0) {
            return Err(Error::InvalidArgument(
                "minibatch sizes must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The schedule at `cur_nimg` images for a `2^log2` px network (`training_schedule`).
    pub fn at(&self, cur_nimg: u64, log2: usize) -> Point {
        let kimg = cur_nimg as f64 / 1000.0;
        let phase_dur = self.lod_training_kimg + self.lod_transition_kimg;
        let phase_idx = if phase_dur > 0.0 {
            (kimg / phase_dur).floor()
        } else {
            0.0
        };
        let phase_kimg = kimg - phase_idx * phase_dur;
        let mut lod = log2 as f64;
        lod -= (self.lod_initial_resolution as f64).log2().floor();
        lod -= phase_idx;
        if self.lod_transition_kimg > 0.0 {
            lod -= (phase_kimg - self.lod_training_kimg).max(0.0) / self.lod_transition_kimg;
        }
        let lod = lod.max(0.0);
        let resolution = 1usize << (log2 - lod.floor() as usize);
        Point {
            kimg,
            lod,
            resolution,
            minibatch: *self
                .minibatch_dict
                .get(&resolution)
                .unwrap_or(&self.minibatch_base),
            g_lrate: *self
                .g_lrate_dict
                .get(&resolution)
                .unwrap_or(&self.g_lrate_base),
            d_lrate: *self
                .d_lrate_dict
                .get(&resolution)
                .unwrap_or(&self.d_lrate_base),
        }
    }

    /// Whether the optimisers are reset between two lods (`reset_opt_for_new_lod`): when
    /// `⌊lod⌋` or `⌈lod⌉` changes, i.e. when a fade-in starts or ends.
    pub fn resets_between(prev_lod: f64, lod: f64) -> bool {
        prev_lod.floor() != lod.floor() || prev_lod.ceil() != lod.ceil()
    }
}

/// Level `k` of the LOD pyramid of a `C × R × R` uint8 image: `k` times the 2×2 mean,
/// rounded half to even and clipped to uint8 after each halving (`dataset_tool.py`).
pub fn pyramid_level(image: &[u8], channels: usize, resolution: usize, k: usize) -> Vec<u8> {
    let mut img = image.to_vec();
    let mut r = resolution;
    for _ in 0..k {
        let h = r / 2;
        let mut out = vec![0u8; channels * h * h];
        for c in 0..channels {
            let src = &img[c * r * r..(c + 1) * r * r];
            for y in 0..h {
                for x in 0..h {
                    let s = src[2 * y * r + 2 * x] as f32
                        + src[2 * y * r + 2 * x + 1] as f32
                        + src[(2 * y + 1) * r + 2 * x] as f32
                        + src[(2 * y + 1) * r + 2 * x + 1] as f32;
                    out[c * h * h + y * h + x] =
                        (s * 0.25).round_ties_even().clamp(0.0, 255.0) as u8;
                }
            }
        }
        img = out;
        r = h;
    }
    img
}

/// The reals as the networks see them at `lod` (`process_reals` on pyramid level `⌊lod⌋`):
/// `[N, C, R, R]` in [-1, 1], sample `i` mirrored left-right when `mirror[i]`.
pub fn process_reals(
    images: &[&[u8]],
    channels: usize,
    resolution: usize,
    lod: f64,
    mirror: &[bool],
    device: &Device,
) -> Result<Tensor<4>> {
    let log2 = resolution.trailing_zeros() as usize;
    if !(lod.is_finite() && lod >= 0.0 && lod <= (log2 - 2) as f64) {
        return Err(Error::InvalidArgument(format!(
            "lod {lod} is out of range for {resolution} px reals"
        )));
    }
    let k = lod.floor() as usize;
    let r = resolution >> k;
    let n = images.len();
    let mut v = Vec::with_capacity(n * channels * r * r);
    for (i, img) in images.iter().enumerate() {
        if img.len() != channels * resolution * resolution {
            return Err(Error::InvalidArgument(format!(
                "real {i} has {} bytes, expected {channels}x{resolution}x{resolution}",
                img.len()
            )));
        }
        let level = pyramid_level(img, channels, resolution, k);
        let flip = mirror.get(i).copied().unwrap_or(false);
        for c in 0..channels {
            for y in 0..r {
                for x in 0..r {
                    let sx = if flip { r - 1 - x } else { x };
                    // adjust_dynamic_range([0, 255] → [-1, 1]): x·(2/255) − 1 in float32.
                    let p = level[c * r * r + y * r + sx] as f32;
                    v.push(p * (2.0f32 / 255.0) - 1.0);
                }
            }
        }
    }
    let x = Tensor::<4>::from_data(TensorData::new(v, [n, channels, r, r]), device);
    // FadeLOD: lerp toward the 2×2 mean (tiled back) by the fraction of the fade-in.
    let t = lod - lod.floor();
    let x = if t > 0.0 {
        let y = crate::models::tf1::downscale2d(x.clone(), 2);
        crate::models::tf1::tf_lerp(x, crate::models::tf1::upscale2d(y, 2), t)
    } else {
        x
    };
    // UpscaleLOD.
    Ok(crate::models::tf1::upscale2d(x, 1 << k))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official FFHQ StyleGAN v1 schedule at 1024² (log2 10, growth from 8×8).
    #[test]
    fn stylegan1_schedule_matches_the_official_formula() {
        let s = Schedule::official(Recipe::StyleGan1);
        let p = s.at(0, 10);
        assert_eq!(
            (p.lod, p.resolution, p.minibatch, p.g_lrate),
            (7.0, 8, 128, 0.001)
        );
        // Stable for 600 kimg, then fading in 16×16 over 600.
        assert_eq!(s.at(600_000, 10).lod, 7.0);
        let p = s.at(900_000, 10);
        assert_eq!((p.lod, p.resolution), (6.5, 16));
        assert_eq!(s.at(1_200_000, 10).lod, 6.0);
        // 128 px (lod 3, phase 4): minibatch 16, learning rate 0.0015.
        let p = s.at(4_800_000, 10);
        assert_eq!(
            (p.lod, p.resolution, p.minibatch, p.d_lrate),
            (3.0, 128, 16, 0.0015)
        );
        // Full resolution from phase 7 on; minibatch_base 4, lr 0.003.
        let p = s.at(8_400_000, 10);
        assert_eq!(
            (p.lod, p.resolution, p.minibatch, p.g_lrate),
            (0.0, 1024, 4, 0.003)
        );
        assert_eq!(s.at(25_000_000, 10).lod, 0.0);
    }

    #[test]
    fn pggan_schedule_grows_from_4x4() {
        let s = Schedule::official(Recipe::Pggan);
        assert_eq!(s.at(0, 5).lod, 3.0);
        assert_eq!(s.at(0, 5).resolution, 4);
        let p = s.at(1_050_000, 5);
        assert!((p.lod - 2.25).abs() < 1e-12, "{p:?}");
        assert_eq!((p.resolution, p.minibatch), (8, 128));
        assert_eq!(s.at(3_600_000, 5).lod, 0.0);
        assert_eq!(s.at(3_600_000, 5).minibatch, 64);
        // lod 1.0 → 1.0 keeps the optimisers; a fade-in starting or ending resets them.
        assert!(!Schedule::resets_between(1.0, 1.0));
        assert!(Schedule::resets_between(1.0, 0.99));
        assert!(Schedule::resets_between(0.01, 0.0));
        assert!(!Schedule::resets_between(0.6, 0.4));
    }

    #[test]
    fn pyramid_levels_round_half_to_even() {
        // One channel, 4×4: the top-left 2×2 sums to 2 (mean 0.5 → 0), the next to 6 (1.5 → 2).
        let img: Vec<u8> = vec![0, 1, 1, 2, 0, 1, 1, 2, 9, 9, 200, 255, 9, 9, 255, 255];
        assert_eq!(pyramid_level(&img, 1, 4, 1), vec![0, 2, 9, 241]);
        assert_eq!(pyramid_level(&img, 1, 4, 2), vec![63]);
        assert_eq!(pyramid_level(&img, 1, 4, 0), img);
    }

    #[test]
    fn reals_fade_between_levels() {
        let dev = crate::backend::cpu();
        let img: Vec<u8> = (0..3 * 8 * 8).map(|i| (i * 37 % 256) as u8).collect();
        let v = |lod: f64, mirror: bool| {
            crate::backend::to_vec(&process_reals(&[&img], 3, 8, lod, &[mirror], &dev).unwrap())
                .unwrap()
        };
        // lod 0: the image in [-1, 1].
        let full = v(0.0, false);
        assert_eq!(full.len(), 3 * 64);
        assert!((full[1] - (img[1] as f32 * 2.0 / 255.0 - 1.0)).abs() < 1e-7);
        // lod 1: level 1 upscaled; lod 0.5: halfway between lod 0 and lod 1.
        let one = v(1.0, false);
        let half = v(0.5, false);
        let level1 = pyramid_level(&img, 3, 8, 1);
        assert!((one[0] - (level1[0] as f32 * 2.0 / 255.0 - 1.0)).abs() < 1e-7);
        assert_eq!(one[0], one[9], "nearest upscale");
        // The 2×2 mean in float32 (not the rounded level) is what the fade blends toward.
        let mean00 = (full[0] + full[1] + full[8] + full[9]) / 4.0;
        assert!((half[0] - (full[0] + (mean00 - full[0]) * 0.5)).abs() < 1e-6);
        // Mirroring flips each row.
        let m = v(0.0, true);
        assert_eq!(m[0], full[7]);
        // 8 px: lod 0 ..= 1 (4×4 at most).
        assert!(process_reals(&[&img], 3, 8, 1.5, &[false], &dev).is_err());
        assert!(process_reals(&[&img[..10]], 3, 8, 0.0, &[false], &dev).is_err());
    }
}
