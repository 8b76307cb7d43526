//! Perceptual path length (StyleGAN v1 paper; `metrics/perceptual_path_length.py` of the
//! official code): the LPIPS distance between the images of two latents ε apart on an
//! interpolation path, divided by ε², averaged over samples after dropping the lowest and
//! highest percent.
//!
//! Per sample: z₀, z₁ ~ N(0, I); t ~ U(0, 1) (`full`) or 0 (`end`); in Z the points are
//! slerp(z₀, z₁, t) and slerp(z₀, z₁, t + ε) (unit vectors, as the official slerp), in W
//! lerp(w₀, w₁, t) and lerp(w₀, w₁, t + ε); both images of a pair see the same noise maps
//! (redrawn per batch, then constant). With `crop` the central face region (rows 3/8…7/8,
//! columns 2/8…6/8) is kept; images above 256 px are box-downsampled to 256. The official
//! distance is NVIDIA's VGG16 LPIPS; ours is LPIPS v0.1 VGG16 ([`crate::perceptual::Lpips`]),
//! the same definition.

use burn::tensor::{Tensor, TensorData};

use crate::data::Progress;
use crate::error::{Error, Result};
use crate::models::{Generator, NoiseMode};
use crate::perceptual::Lpips;
use crate::rng::RandomState;

/// The interpolation space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Space {
    Z,
    W,
}

/// A PPL variant (`ppl_zfull`, `ppl_wend`, `ppl2_wend`, …).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PplOptions {
    pub space: Space,
    /// t ~ U(0, 1) (`full`) or t = 0 (`end`).
    pub full: bool,
    pub crop: bool,
    pub epsilon: f64,
    pub num_samples: usize,
    pub batch: usize,
    pub seed: u32,
}

impl PplOptions {
    /// The official variants by name: `ppl_zfull`, `ppl_wfull`, `ppl_zend`, `ppl_wend` (with
    /// the face crop) and `ppl2_wend` (StyleGAN2's, no crop); 50,000 samples, ε = 1e-4.
    pub fn official(name: &str) -> Option<Self> {
        let (crop, rest) = match name {
            n if n.starts_with("ppl2_") => (false, &n[5..]),
            n if n.starts_with("ppl_") => (true, &n[4..]),
            _ => return None,
        };
        let (space, full) = match rest {
            "zfull" => (Space::Z, true),
            "wfull" => (Space::W, true),
            "zend" => (Space::Z, false),
            "wend" => (Space::W, false),
            _ => return None,
        };
        if !crop && (space, full) != (Space::W, false) {
            return None;
        }
        Some(Self {
            space,
            full,
            crop,
            epsilon: 1e-4,
            num_samples: 50_000,
            batch: 2,
            seed: 0,
        })
    }
}

/// The official slerp of `ppl`: both ends normalised to unit length, the result too.
pub fn slerp_unit(a: &[f64], b: &[f64], t: f64) -> Vec<f64> {
    let unit = |v: &[f64]| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        v.iter().map(|x| x / n).collect::<Vec<f64>>()
    };
    let (a, b) = (unit(a), unit(b));
    let d: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let p = t * d.clamp(-1.0, 1.0).acos();
    let c = unit(&b.iter().zip(&a).map(|(y, x)| y - d * x).collect::<Vec<_>>());
    unit(
        &a.iter()
            .zip(&c)
            .map(|(x, y)| x * p.cos() + y * p.sin())
            .collect::<Vec<_>>(),
    )
}

/// The mean of the distances between the 1st (lower) and 99th (higher) percentiles, as
/// `np.percentile(…, interpolation='lower'/'higher')`.
pub fn filtered_mean(dist: &[f64]) -> Result<f64> {
    if dist.is_empty() || dist.iter().any(|d| !d.is_finite()) {
        return Err(Error::InvalidArgument(
            "PPL: no distances, or a non-finite one".into(),
        ));
    }
    let mut s = dist.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len() - 1;
    let lo = s[(n as f64 * 0.01).floor() as usize];
    let hi = s[(n as f64 * 0.99).ceil() as usize];
    let kept: Vec<f64> = dist
        .iter()
        .copied()
        .filter(|&d| d >= lo && d <= hi)
        .collect();
    Ok(kept.iter().sum::<f64>() / kept.len() as f64)
}

/// Makes the two image batches of a PPL batch from z₀, z₁ and t.
pub type PairMaker<'a> =
    dyn FnMut(&[Vec<f64>], &[Vec<f64>], &[f64]) -> Result<(Tensor<4>, Tensor<4>)> + 'a;

/// Per-sample squared distances / ε² for a pair maker and a distance: `pair(z₀, z₁, t, ε)`
/// gives the two image batches; `dist(a, b)` their per-image distances.
pub fn ppl_distances(
    opts: &PplOptions,
    z_dim: usize,
    pair: &mut PairMaker,
    dist: &dyn Fn(Tensor<4>, Tensor<4>) -> Result<Vec<f64>>,
    progress: &dyn Progress,
) -> Result<Vec<f64>> {
    let mut rng = RandomState::new(opts.seed);
    let mut out = Vec::with_capacity(opts.num_samples);
    progress.start("path-length samples", opts.num_samples);
    while out.len() < opts.num_samples {
        let b = opts.batch.min(opts.num_samples - out.len());
        let t: Vec<f64> = (0..b)
            .map(|_| {
                let u = rng.random_sample();
                if opts.full {
                    u
                } else {
                    0.0
                }
            })
            .collect();
        let z0: Vec<Vec<f64>> = (0..b).map(|_| rng.randn(z_dim)).collect();
        let z1: Vec<Vec<f64>> = (0..b).map(|_| rng.randn(z_dim)).collect();
        let (a, c) = pair(&z0, &z1, &t)?;
        let d = dist(a, c)?;
        out.extend(d.into_iter().map(|v| v / (opts.epsilon * opts.epsilon)));
        progress.advance(b);
    }
    Ok(out)
}

/// PPL of a generator (StyleGAN2/3, StyleGAN v1; PGGAN for Z only).
pub fn ppl(
    g: &Generator,
    lpips: &Lpips,
    opts: &PplOptions,
    progress: &dyn Progress,
) -> Result<f64> {
    if opts.space == Space::W {
        g.require_w("PPL in W")?;
    }
    if g.config.c_dim > 0 {
        return Err(Error::InvalidArgument(
            "PPL of conditional networks is not supported yet".into(),
        ));
    }
    let dev = g.device().clone();
    let eps = opts.epsilon;
    let z_dim = g.config.z_dim;
    let mut g = g.clone();
    // Noise maps drawn from their own seeded generator: repeatable results.
    let mut noise_rng = RandomState::from_array(&[opts.seed, 0x9e7f]);
    let mut pair =
        |z0: &[Vec<f64>], z1: &[Vec<f64>], t: &[f64]| -> Result<(Tensor<4>, Tensor<4>)> {
            let b = z0.len();
            let ws = match opts.space {
                Space::Z => {
                    let mut rows = Vec::with_capacity(2 * b);
                    for k in [0.0, eps] {
                        for i in 0..b {
                            rows.push(slerp_unit(&z0[i], &z1[i], t[i] + k));
                        }
                    }
                    g.mapping_ws(g.z_tensor(&rows)?, None, 1.0, None)?
                }
                Space::W => {
                    let w = g.mapping_ws(g.z_tensor(&[z0, z1].concat())?, None, 1.0, None)?;
                    let (w0, w1) = (w.clone().narrow(0, 0, b), w.narrow(0, b, b));
                    let tt = |k: f64| {
                        let v: Vec<f32> = t.iter().map(|&x| (x + k) as f32).collect();
                        Tensor::<3>::from_data(TensorData::new(v, [b, 1, 1]), &dev)
                    };
                    let lerp = |k| w0.clone() + (w1.clone() - w0.clone()) * tt(k);
                    Tensor::cat(vec![lerp(0.0), lerp(eps)], 0)
                }
            };
            // Fresh constant noise for this batch, shared by both images of a pair.
            let maps: Vec<(String, Tensor<2>)> = g
                .synthesis
                .noise_maps()
                .into_iter()
                .map(|(name, m)| {
                    let [h, w] = m.dims();
                    let v: Vec<f32> = noise_rng
                        .randn(h * w)
                        .into_iter()
                        .map(|x| x as f32)
                        .collect();
                    (
                        name,
                        Tensor::<2>::from_data(TensorData::new(v, [h, w]), &dev),
                    )
                })
                .collect();
            g.synthesis.set_noise_maps(&maps)?;
            let img = g.synthesis.forward(&ws, NoiseMode::Const)?;
            let img = prepare(img, opts.crop);
            Ok((img.clone().narrow(0, 0, b), img.narrow(0, b, b)))
        };
    let dist = |a: Tensor<4>, b: Tensor<4>| -> Result<Vec<f64>> {
        let d = lpips.distance(a, b)?;
        Ok(crate::backend::to_vec(&d)?
            .into_iter()
            .map(|v| v as f64)
            .collect())
    };
    let d = ppl_distances(opts, z_dim, &mut pair, &dist, progress)?;
    filtered_mean(&d)
}

/// The official crop and downsampling, and grayscale to RGB.
fn prepare(img: Tensor<4>, crop: bool) -> Tensor<4> {
    let [n, c, h, w] = img.dims();
    let img = if crop {
        let k = h / 8;
        let kw = w / 8;
        img.narrow(2, 3 * k, 4 * k).narrow(3, 2 * kw, 4 * kw)
    } else {
        img
    };
    let [_, _, h2, w2] = img.dims();
    let factor = h / 256;
    let img = if factor > 1 {
        img.reshape([n, c, h2 / factor, factor, w2 / factor, factor])
            .mean_dim(5)
            .mean_dim(3)
            .reshape([n, c, h2 / factor, w2 / factor])
    } else {
        img
    };
    if c == 1 {
        img.repeat_dim(1, 3)
    } else {
        img
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::NoProgress;

    #[test]
    fn official_names() {
        let p = PplOptions::official("ppl2_wend").unwrap();
        assert_eq!((p.space, p.full, p.crop), (Space::W, false, false));
        let p = PplOptions::official("ppl_zfull").unwrap();
        assert_eq!((p.space, p.full, p.crop), (Space::Z, true, true));
        assert!(PplOptions::official("ppl2_zfull").is_none());
        assert!(PplOptions::official("ppl_x").is_none());
    }

    #[test]
    fn percentile_filter_drops_the_extremes() {
        let d: Vec<f64> = (0..=100).map(|i| i as f64).collect();
        // n = 100: lower 1st percentile = 1, higher 99th = 99 → mean of 1..=99 = 50.
        assert_eq!(filtered_mean(&d).unwrap(), 50.0);
        let mut d2 = vec![1.0; 200];
        d2[0] = 1e9;
        assert_eq!(filtered_mean(&d2).unwrap(), 1.0);
    }

    #[test]
    fn unit_slerp() {
        let a = [2.0, 0.0];
        let b = [0.0, 5.0];
        let m = slerp_unit(&a, &b, 0.5);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert!((m[0] - h).abs() < 1e-12 && (m[1] - h).abs() < 1e-12);
        assert!((slerp_unit(&a, &b, 0.0)[0] - 1.0).abs() < 1e-12);
    }

    /// A generator linear in w with an L2 distance: PPL in W is ‖A(w₁ − w₀)‖² exactly (the
    /// ε cancels), averaged after the percentile filter.
    #[test]
    fn linear_generator_has_the_closed_form_path_length() {
        let dev = crate::backend::cpu();
        let opts = PplOptions {
            space: Space::W,
            full: true,
            crop: false,
            epsilon: 1e-2,
            num_samples: 40,
            batch: 4,
            seed: 3,
        };
        // Image = 3 × w (a 1×1×2 "image"), distance = squared L2.
        let img = |w: Vec<f64>| {
            let v: Vec<f32> = w.iter().map(|x| 3.0 * *x as f32).collect();
            Tensor::<4>::from_data(TensorData::new(v, [w.len() / 2, 1, 1, 2]), &dev)
        };
        let mut want = Vec::new();
        let mut pair = |z0: &[Vec<f64>], z1: &[Vec<f64>], t: &[f64]| {
            let mut a = Vec::new();
            let mut b = Vec::new();
            for i in 0..z0.len() {
                for k in 0..2 {
                    let d = z1[i][k] - z0[i][k];
                    a.push(z0[i][k] + d * t[i]);
                    b.push(z0[i][k] + d * (t[i] + 1e-2));
                }
                want.push(9.0 * (0..2).map(|k| (z1[i][k] - z0[i][k]).powi(2)).sum::<f64>());
            }
            Ok((img(a), img(b)))
        };
        let dist = |a: Tensor<4>, b: Tensor<4>| -> Result<Vec<f64>> {
            let d = (a - b).square().sum_dim(3).reshape([-1]);
            Ok(crate::backend::to_vec(&d)?
                .into_iter()
                .map(|v| v as f64)
                .collect())
        };
        let got = ppl_distances(&opts, 2, &mut pair, &dist, &NoProgress).unwrap();
        assert_eq!(got.len(), 40);
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-3 * w.max(1.0), "{g} vs {w}");
        }
        let m = filtered_mean(&got).unwrap();
        let wm = filtered_mean(&want).unwrap();
        assert!((m - wm).abs() < 1e-3 * wm, "{m} vs {wm}");
    }
}
