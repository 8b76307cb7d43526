//! ADA augmentation (Karras et al. 2020, `training/augment.py`), the subset the official
//! `bgc` pipeline is made of: x-flip, 90° rotations, integer translation, isotropic scaling,
//! arbitrary rotation (geometric, composed into one per-image affine map and applied by one
//! bilinear resampling with reflect padding), and brightness, contrast, saturation (colour,
//! one per-image 3×3 matrix + offset). Every transform is applied to each image with
//! probability `p`; with `p = 0` images pass unchanged.
//!
//! Everything is a differentiable tensor op, so D's gradient reaches G through it and R1 is
//! taken with respect to the non-augmented reals, as in the official code. Geometric
//! resampling uses bilinear interpolation instead of the official wavelet up/down-sampling
//! (simpler; the differences are in the band above Nyquist, which D is blurred against anyway).

use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use burn::tensor::{Tensor, TensorData};

use crate::latent::RandomState;

/// Official magnitudes (`AugmentPipe` defaults).
const XINT_MAX: f64 = 0.125;
const SCALE_STD: f64 = 0.2;
const ROTATE_MAX: f64 = 1.0;
const BRIGHTNESS_STD: f64 = 0.2;
const CONTRAST_STD: f64 = 0.5;
const SATURATION_STD: f64 = 1.0;

/// One minibatch's sampled augmentation: per image an inverse affine map (output → input,
/// normalised coordinates) and a colour transform.
#[derive(Clone, Debug)]
pub struct Params {
    /// `[N][2][3]` rows of the output→input map, or `None` when every image is untouched.
    pub geometric: Option<Vec<[[f64; 3]; 2]>>,
    /// `[N]` (3×3 matrix, offset) or `None` when every image is untouched.
    pub color: Option<Vec<([[f64; 3]; 3], [f64; 3])>>,
}

type M3 = [[f64; 3]; 3];

fn mul(a: &M3, b: &M3) -> M3 {
    let mut c = [[0.0; 3]; 3];
    for i in 0..3 {
        for j in 0..3 {
            c[i][j] = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    c
}

fn eye() -> M3 {
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
}

fn rot(t: f64) -> M3 {
    let (s, c) = t.sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

impl Params {
    /// Sample for `n` images of size `res` with probability `p` per transform.
    pub fn sample(n: usize, res: usize, p: f64, rng: &mut RandomState) -> Self {
        let mut any_geo = false;
        let mut any_col = false;
        let mut geo = Vec::with_capacity(n);
        let mut col = Vec::with_capacity(n);
        for _ in 0..n {
            let on = |rng: &mut RandomState| rng.random_sample() < p;
            // Geometric, composed as the official pipeline does (G_inv = G_inv @ T).
            let mut g = eye();
            if on(rng) && rng.random_sample() < 0.5 {
                g = mul(&g, &[[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
            }
            if on(rng) {
                let k = (rng.random_sample() * 4.0).floor().min(3.0);
                g = mul(&g, &rot(-std::f64::consts::FRAC_PI_2 * k));
            }
            if on(rng) {
                // Whole pixels: t in normalised units is 2·px / res.
                let t = |rng: &mut RandomState| {
                    ((rng.random_sample() * 2.0 - 1.0) * XINT_MAX * res as f64).round() * 2.0
                        / res as f64
                };
                let (tx, ty) = (t(rng), t(rng));
                g = mul(&g, &[[1.0, 0.0, -tx], [0.0, 1.0, -ty], [0.0, 0.0, 1.0]]);
            }
            if on(rng) {
                let s = 2f64.powf(rng.gauss() * SCALE_STD);
                g = mul(
                    &g,
                    &[[1.0 / s, 0.0, 0.0], [0.0, 1.0 / s, 0.0], [0.0, 0.0, 1.0]],
                );
            }
            // Official: p_rot = 1 − √(1 − p), applied before and after (anisotropic scaling
            // would sit between them; this pipeline has none), so P(any rotation) ≈ p.
            let p_rot = 1.0 - (1.0 - p.min(1.0)).max(0.0).sqrt();
            for _ in 0..2 {
                if rng.random_sample() < p_rot {
                    let t = (rng.random_sample() * 2.0 - 1.0) * std::f64::consts::PI * ROTATE_MAX;
                    g = mul(&g, &rot(-t));
                }
            }
            any_geo |= g != eye();
            geo.push([g[0], g[1]]);

            // Colour: C = C @ T on homogeneous RGB.
            let mut c = [[0.0; 4]; 4];
            for (i, row) in c.iter_mut().enumerate() {
                row[i] = 1.0;
            }
            let mut cm = |t: [[f64; 4]; 4]| {
                let mut r = [[0.0; 4]; 4];
                for i in 0..4 {
                    for j in 0..4 {
                        r[i][j] = (0..4).map(|k| t[i][k] * c[k][j]).sum();
                    }
                }
                c = r;
            };
            if on(rng) {
                let b = rng.gauss() * BRIGHTNESS_STD;
                cm([
                    [1.0, 0.0, 0.0, b],
                    [0.0, 1.0, 0.0, b],
                    [0.0, 0.0, 1.0, b],
                    [0.0, 0.0, 0.0, 1.0],
                ]);
            }
            if on(rng) {
                let s = 2f64.powf(rng.gauss() * CONTRAST_STD);
                cm([
                    [s, 0.0, 0.0, 0.0],
                    [0.0, s, 0.0, 0.0],
                    [0.0, 0.0, s, 0.0],
                    [0.0, 0.0, 0.0, 1.0],
                ]);
            }
            if on(rng) {
                // Saturation about the luma axis v = (1,1,1)/√3: vvᵀ + (I − vvᵀ)·s.
                let s = 2f64.powf(rng.gauss() * SATURATION_STD);
                let a = (1.0 - s) / 3.0;
                cm([
                    [s + a, a, a, 0.0],
                    [a, s + a, a, 0.0],
                    [a, a, s + a, 0.0],
                    [0.0, 0.0, 0.0, 1.0],
                ]);
            }
            let m = [
                [c[0][0], c[0][1], c[0][2]],
                [c[1][0], c[1][1], c[1][2]],
                [c[2][0], c[2][1], c[2][2]],
            ];
            let off = [c[0][3], c[1][3], c[2][3]];
            any_col |= m != eye() || off != [0.0; 3];
            col.push((m, off));
        }
        Self {
            geometric: any_geo.then_some(geo),
            color: any_col.then_some(col),
        }
    }
}

/// Applies sampled [`Params`] to images `[N, C, H, W]`.
pub struct AugmentPipe;

impl AugmentPipe {
    pub fn apply(x: Tensor<4>, p: &Params) -> Tensor<4> {
        let [n, ch, h, w] = x.dims();
        let device = x.device();
        let mut x = x;
        if let Some(geo) = &p.geometric {
            // Sampling grid: output pixel centres in [-1, 1] mapped through G_inv.
            let mut grid = Vec::with_capacity(n * h * w * 2);
            for g in geo.iter().take(n) {
                for yi in 0..h {
                    let y = (2.0 * yi as f64 + 1.0) / h as f64 - 1.0;
                    for xi in 0..w {
                        let xx = (2.0 * xi as f64 + 1.0) / w as f64 - 1.0;
                        grid.push((g[0][0] * xx + g[0][1] * y + g[0][2]) as f32);
                        grid.push((g[1][0] * xx + g[1][1] * y + g[1][2]) as f32);
                    }
                }
            }
            let grid = Tensor::<4>::from_data(TensorData::new(grid, [n, h, w, 2]), &device);
            let opts = GridSampleOptions::new(InterpolateMode::Bilinear)
                .with_padding_mode(GridSamplePaddingMode::Reflection)
                .with_align_corners(false);
            x = x.grid_sample_2d(grid, opts);
        }
        if let Some(col) = &p.color {
            if ch == 3 {
                let m: Vec<f32> = col
                    .iter()
                    .flat_map(|(m, _)| m.iter().flatten().map(|&v| v as f32))
                    .collect();
                let o: Vec<f32> = col
                    .iter()
                    .flat_map(|(_, o)| o.iter().map(|&v| v as f32))
                    .collect();
                let m = Tensor::<3>::from_data(TensorData::new(m, [n, 3, 3]), &device);
                let o = Tensor::<3>::from_data(TensorData::new(o, [n, 3, 1]), &device);
                x = (m.matmul(x.reshape([n, 3, h * w])) + o).reshape([n, 3, h, w]);
            } else {
                // Grey images: the first diagonal entry (contrast) and offset (brightness).
                let s: Vec<f32> = col.iter().map(|(m, _)| m[0][0] as f32).collect();
                let b: Vec<f32> = col.iter().map(|(_, o)| o[0] as f32).collect();
                let s = Tensor::<4>::from_data(TensorData::new(s, [n, 1, 1, 1]), &device);
                let b = Tensor::<4>::from_data(TensorData::new(b, [n, 1, 1, 1]), &device);
                x = x * s + b;
            }
        }
        x
    }
}
