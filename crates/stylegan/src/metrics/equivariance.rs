//! Equivariance of StyleGAN3 generators: EQ-T (integer translation), EQ-T_frac (fractional
//! translation) and EQ-R (rotation), from "Alias-Free Generative Adversarial Networks"
//! (Appendix E) and the official `metrics/equivariance.py`.
//!
//! Per batch of latents: the image with the identity input transform, and the image with the
//! input transformed by a random translation t (|t| ≤ 1/8 of the image; rounded to whole
//! pixels for EQ-T) or rotation α (|α| ≤ π). The reference is the first image transformed in
//! image space by the matching operator: a pixel shift (EQ-T), a windowed-sinc (Lanczos, a = 3)
//! shift (EQ-T_frac), or a rotation through an oriented band-limit filter at 4× and bilinear
//! resampling (EQ-R, which also band-limits the second image as the rotation would, the
//! "pseudo-rotation"). The metric is the PSNR in dB over the pixels both images define, with
//! the images' [−1, 1] range: 20·log10(2) − 10·log10(MSE), the MSE summed over all batches.
//!
//! The official code draws z, t and α from torch's generator; ours come from numpy's
//! `RandomState(seed)` (as PPL's), so values agree statistically, not draw for draw.

use burn::tensor::Tensor;
use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use crate::data::Progress;
use crate::error::{Error, Result};
use crate::models::{Generator, NoiseMode};
use crate::rng::RandomState;

/// Which equivariance a metric measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// EQ-T: integer translation.
    IntTranslation,
    /// EQ-T_frac: fractional translation.
    FracTranslation,
    /// EQ-R: rotation.
    Rotation,
}

/// An equivariance metric's settings (`eqt50k_int`, `eqt50k_frac`, `eqr50k`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EqOptions {
    pub transform: Transform,
    pub num_samples: usize,
    /// Latents per batch; each batch draws one transform (official 4).
    pub batch: usize,
    pub seed: u32,
    /// Largest translation, as a fraction of the image (official 0.125).
    pub translate_max: f64,
    /// Largest rotation, as a fraction of π (official 1).
    pub rotate_max: f64,
}

impl EqOptions {
    /// The official settings: 50,000 samples in batches of 4.
    pub fn official(transform: Transform) -> Self {
        Self {
            transform,
            num_samples: 50_000,
            batch: 4,
            seed: 0,
            translate_max: 0.125,
            rotate_max: 1.0,
        }
    }
}

/// A batch of images `[n, c, h, w]`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Images {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub data: Vec<f32>,
}

impl Images {
    pub fn new(n: usize, c: usize, h: usize, w: usize, data: Vec<f32>) -> Result<Self> {
        if data.len() != n * c * h * w || h == 0 || w == 0 {
            return Err(Error::InvalidArgument(format!(
                "images [{n}, {c}, {h}, {w}] need {} values, got {}",
                n * c * h * w,
                data.len()
            )));
        }
        Ok(Self { n, c, h, w, data })
    }

    pub fn from_tensor(t: Tensor<4>) -> Result<Self> {
        let [n, c, h, w] = t.dims();
        Self::new(n, c, h, w, crate::backend::to_vec(&t)?)
    }

    fn planes(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.h * self.w)
    }

    /// The same transform of every plane.
    fn map_planes(&self, f: impl Fn(&[f32], &mut [f32])) -> Self {
        let mut out = vec![0f32; self.data.len()];
        for (src, dst) in self.planes().zip(out.chunks_exact_mut(self.h * self.w)) {
            f(src, dst);
        }
        Self { data: out, ..*self }
    }
}

/// A mask `[h, w]` (1 where a transformed image is defined), the same for every plane.
pub type Mask = Vec<f32>;

/// sin(πx)/(πx), 1 at 0.
pub fn sinc(x: f64) -> f64 {
    let y = (x * std::f64::consts::PI).abs();
    if y < 1e-30 {
        1.0
    } else {
        y.sin() / y
    }
}

fn lanczos_window(x: f64, a: f64) -> f64 {
    let x = x.abs() / a;
    if x < 1.0 {
        sinc(x)
    } else {
        0.0
    }
}

/// The official `rotation_matrix(angle)`: `[[cos, sin, 0], [−sin, cos, 0], [0, 0, 1]]`.
pub fn rotation_matrix(angle: f64) -> [f64; 9] {
    let (s, c) = angle.sin_cos();
    [c, s, 0.0, -s, c, 0.0, 0.0, 0.0, 1.0]
}

/// Shift by `(tx·W, ty·H)` rounded to whole pixels (half to even, as torch); vacated pixels are
/// 0 and masked out (operator T_x of Appendix E.1).
pub fn integer_translation(x: &Images, tx: f64, ty: f64) -> (Images, Mask) {
    let (h, w) = (x.h as i64, x.w as i64);
    let ix = ((tx * w as f64) as f32).round_ties_even() as i64;
    let iy = ((ty * h as f64) as f32).round_ties_even() as i64;
    let inside = |yy: i64, xx: i64| (0..h).contains(&(yy - iy)) && (0..w).contains(&(xx - ix));
    let ok = ix.abs() < w && iy.abs() < h;
    let z = x.map_planes(|src, dst| {
        if !ok {
            return;
        }
        for yy in 0..h {
            for xx in 0..w {
                if inside(yy, xx) {
                    dst[(yy * w + xx) as usize] = src[((yy - iy) * w + xx - ix) as usize];
                }
            }
        }
    });
    let mut m = vec![0f32; (h * w) as usize];
    if ok {
        for yy in 0..h {
            for xx in 0..w {
                if inside(yy, xx) {
                    m[(yy * w + xx) as usize] = 1.0;
                }
            }
        }
    }
    (z, m)
}

/// The normalised Lanczos-windowed sinc taps (2a of them, for offsets −(a−1)…a) of a shift by
/// the fraction `f`.
fn lanczos_taps(f: f64, a: usize) -> Vec<f64> {
    let b = a as f64 - 1.0;
    let t: Vec<f64> = (0..2 * a)
        .map(|k| {
            let d = k as f64 - b - f;
            sinc(d) * sinc(d / a as f64)
        })
        .collect();
    let s: f64 = t.iter().sum();
    t.into_iter().map(|v| v / s).collect()
}

/// Shift by `(tx·W, ty·H)` pixels, fractions by a separable Lanczos (a = 3) windowed sinc;
/// the mask keeps the pixels whose filter saw only the image (operator of Appendix E.2).
pub fn fractional_translation(x: &Images, tx: f64, ty: f64) -> (Images, Mask) {
    const A: usize = 3;
    let (h, w) = (x.h as i64, x.w as i64);
    let b = A as i64 - 1;
    // Offsets and fractions in float32, as the official tensors.
    let txp = (tx * w as f64) as f32;
    let typ = (ty * h as f64) as f32;
    let (ix, iy) = (txp.floor() as i64, typ.floor() as i64);
    let fx = lanczos_taps((txp - ix as f32) as f64, A);
    let fy = lanczos_taps((typ - iy as f32) as f64, A);
    // z[Y][X] = Σ fy[my]·fx[mx]·x[Y − iy + b − my][X − ix + b − mx], x zero outside: the
    // official two filter2d passes and their crop, which leave 0 wherever no tap reaches.
    let z = x.map_planes(|src, dst| {
        let mut rows = vec![0f64; (h * w) as usize];
        for yy in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for (m, f) in fx.iter().enumerate() {
                    let sx = xx - ix + b - m as i64;
                    if (0..w).contains(&sx) {
                        s += f * src[(yy * w + sx) as usize] as f64;
                    }
                }
                rows[(yy * w + xx) as usize] = s;
            }
        }
        for yy in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for (m, f) in fy.iter().enumerate() {
                    let sy = yy - iy + b - m as i64;
                    if (0..h).contains(&sy) {
                        s += f * rows[(sy * w + xx) as usize];
                    }
                }
                dst[(yy * w + xx) as usize] = s as f32;
            }
        }
    });
    let a = A as i64;
    let (mx0, mx1) = ((ix + a).max(0), (ix - b).min(0) + w);
    let (my0, my1) = ((iy + a).max(0), (iy - b).min(0) + h);
    let mut m = vec![0f32; (h * w) as usize];
    for yy in my0..my1 {
        for xx in mx0..mx1 {
            m[(yy * w + xx) as usize] = 1.0;
        }
    }
    (z, m)
}

/// 2-D FFT of a square `n×n` row-major array, in place.
fn fft2(data: &mut [Complex<f64>], n: usize, inverse: bool) {
    let mut planner = FftPlanner::<f64>::new();
    let fft = if inverse {
        planner.plan_fft_inverse(n)
    } else {
        planner.plan_fft_forward(n)
    };
    fft.process(data);
    // Columns: transpose, transform the rows, transpose back.
    let mut t = vec![Complex::new(0.0, 0.0); n * n];
    transpose(data, &mut t, n);
    fft.process(&mut t);
    transpose(&t, data, n);
}

fn transpose(src: &[Complex<f64>], dst: &mut [Complex<f64>], n: usize) {
    for r in 0..n {
        for c in 0..n {
            dst[c * n + r] = src[r * n + c];
        }
    }
}

/// Circular convolution of two `n×n` arrays (the official `ifftn(fftn(a)·fftn(b)).real`).
fn circular_convolution(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut fa: Vec<Complex<f64>> = a.iter().map(|&v| Complex::new(v, 0.0)).collect();
    let mut fb: Vec<Complex<f64>> = b.iter().map(|&v| Complex::new(v, 0.0)).collect();
    fft2(&mut fa, n, false);
    fft2(&mut fb, n, false);
    for (x, y) in fa.iter_mut().zip(&fb) {
        *x *= y;
    }
    fft2(&mut fa, n, true);
    let scale = 1.0 / (n * n) as f64;
    fa.iter().map(|v| v.re * scale).collect()
}

/// The official `construct_affine_bandlimit_filter(mat, a, amax, aflt=64, up, cutoff_in=1,
/// cutoff_out=1)`: the circular convolution of the input's and the transformed output's 2-D
/// sincs, windowed by the convolution of their Lanczos windows, cut to `2·amax·up − 1` taps a
/// side and normalised per polyphase component (each sums to 1/up²). `mat` is the 2×2 linear
/// part, row-major. Returns the square filter and its side.
pub fn bandlimit_filter(mat: [f64; 4], a: usize, amax: usize, up: usize) -> (Vec<f64>, usize) {
    const AFLT: usize = 64;
    let n = AFLT * up * 2 - 1;
    // The taps in FFT order: 0, 1/up, …, then the negative ones.
    let tap = |i: usize| {
        if i <= n / 2 {
            i as f64 / up as f64
        } else {
            (i as f64 - n as f64) / up as f64
        }
    };
    let af = a as f64;
    let (mut fi, mut fo) = (vec![0f64; n * n], vec![0f64; n * n]);
    let (mut wi, mut wo) = (vec![0f64; n * n], vec![0f64; n * n]);
    for r in 0..n {
        let yi = tap(r);
        for c in 0..n {
            let xi = tap(c);
            let xo = mat[0] * xi + mat[1] * yi;
            let yo = mat[2] * xi + mat[3] * yi;
            let k = r * n + c;
            fi[k] = sinc(xi) * sinc(yi);
            fo[k] = sinc(xo) * sinc(yo);
            wi[k] = lanczos_window(xi, af) * lanczos_window(yi, af);
            wo[k] = lanczos_window(xo, af) * lanczos_window(yo, af);
        }
    }
    let f = circular_convolution(&fi, &fo, n);
    let wnd = circular_convolution(&wi, &wo, n);
    // Centre the taps −(amax·up − 1) … amax·up − 1, padded by one zero row and column to
    // 2·amax·up so the polyphase components line up.
    let side = 2 * amax * up;
    let k0 = (amax * up - 1) as i64;
    let mut g = vec![0f64; side * side];
    for u in 0..side - 1 {
        let fr = (u as i64 - k0).rem_euclid(n as i64) as usize;
        for v in 0..side - 1 {
            let fc = (v as i64 - k0).rem_euclid(n as i64) as usize;
            g[u * side + v] = f[fr * n + fc] * wnd[fr * n + fc];
        }
    }
    let mut sums = vec![0f64; up * up];
    for u in 0..side {
        for v in 0..side {
            sums[(u % up) * up + v % up] += g[u * side + v];
        }
    }
    let out_side = side - 1;
    let mut out = vec![0f64; out_side * out_side];
    for u in 0..out_side {
        for v in 0..out_side {
            out[u * out_side + v] =
                g[u * side + v] / sums[(u % up) * up + v % up] / (up * up) as f64;
        }
    }
    (out, out_side)
}

/// The official `apply_affine_transformation(x, mat, up=4)` for a rotation by `angle`: the
/// image upsampled 4× through the oriented band-limit filter, then sampled bilinearly
/// (`grid_sample`, zeros outside, `align_corners=False`) on the rotated grid; the mask is 1
/// where the nearest upsampled pixel lies a filter's width inside the image.
pub fn fractional_rotation(x: &Images, angle: f64) -> (Images, Mask) {
    const UP: usize = 4;
    let mat = rotation_matrix(angle);
    let (f, fs) = bandlimit_filter([mat[0], mat[1], mat[3], mat[4]], 3, 6, UP);
    let p = fs / 2;
    let (h, w) = (x.h, x.w);
    let (hy, wy) = (h * UP + 2 * p, w * UP + 2 * p);
    // θ: the inverse transform (a rotation's is its transpose), in normalised coordinates of
    // the upsampled image.
    let inv = crate::models::stylegan3::invert3(&mat).unwrap_or(mat);
    let mut theta = [inv[0], inv[1], inv[2] * 2.0, inv[3], inv[4], inv[5] * 2.0];
    theta[2] += 1.0 / UP as f64 / w as f64;
    theta[5] += 1.0 / UP as f64 / h as f64;
    let sx = w as f64 / (w as f64 + p as f64 / UP as f64 * 2.0);
    let sy = h as f64 / (h as f64 + p as f64 / UP as f64 * 2.0);
    for v in &mut theta[0..3] {
        *v *= sx;
    }
    for v in &mut theta[3..6] {
        *v *= sy;
    }
    // The sampling positions in the upsampled image's pixels, per output pixel.
    let grid: Vec<(f64, f64)> = (0..h)
        .flat_map(|r| (0..w).map(move |c| (r, c)))
        .map(|(r, c)| {
            let xn = (2 * c + 1) as f64 / w as f64 - 1.0;
            let yn = (2 * r + 1) as f64 / h as f64 - 1.0;
            let gx = theta[0] * xn + theta[1] * yn + theta[2];
            let gy = theta[3] * xn + theta[4] * yn + theta[5];
            (
                ((gx + 1.0) * wy as f64 - 1.0) / 2.0,
                ((gy + 1.0) * hy as f64 - 1.0) / 2.0,
            )
        })
        .collect();
    // One pixel of the upsampled image: up²·Σ f[oy − up·iy − off][ox − up·ix − off]·x[iy][ix],
    // the polyphase form of `upsample2d` (zero insertion, left padding p + (fs + up − 1)/2, a
    // true convolution), off = that padding − (fs − 1) = 2 for the 47-tap filter.
    let off = (p + (fs + UP - 1) / 2 - (fs - 1)) as i64;
    let gain = (UP * UP) as f64;
    let upsampled = |src: &[f32], oy: i64, ox: i64| -> f64 {
        let mut s = 0.0;
        // iy with 0 ≤ oy − up·iy − off < fs.
        let iy_lo = (oy - off - fs as i64 + 1).div_euclid(UP as i64).max(0);
        let iy_hi = (oy - off).div_euclid(UP as i64).min(h as i64 - 1);
        let ix_lo = (ox - off - fs as i64 + 1).div_euclid(UP as i64).max(0);
        let ix_hi = (ox - off).div_euclid(UP as i64).min(w as i64 - 1);
        for iy in iy_lo..=iy_hi {
            let fr = oy - UP as i64 * iy - off;
            if !(0..fs as i64).contains(&fr) {
                continue;
            }
            for ix in ix_lo..=ix_hi {
                let fc = ox - UP as i64 * ix - off;
                if (0..fs as i64).contains(&fc) {
                    s += f[fr as usize * fs + fc as usize]
                        * src[iy as usize * w + ix as usize] as f64;
                }
            }
        }
        s * gain
    };
    let z = x.map_planes(|src, dst| {
        for (k, &(px, py)) in grid.iter().enumerate() {
            let (x0, y0) = (px.floor(), py.floor());
            let (ax, ay) = (px - x0, py - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let mut s = 0.0;
            for (dy, wy_) in [(0, 1.0 - ay), (1, ay)] {
                for (dx, wx_) in [(0, 1.0 - ax), (1, ax)] {
                    let (yy, xx) = (y0 + dy, x0 + dx);
                    if (0..hy as i64).contains(&yy) && (0..wy as i64).contains(&xx) {
                        s += wy_ * wx_ * upsampled(src, yy, xx);
                    }
                }
            }
            dst[k] = s as f32;
        }
    });
    let c = (2 * p + 1) as i64;
    let m = grid
        .iter()
        .map(|&(px, py)| {
            let (xx, yy) = (px.round_ties_even() as i64, py.round_ties_even() as i64);
            let inside = (c..hy as i64 - c).contains(&yy) && (c..wy as i64 - c).contains(&xx);
            if inside {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    (z, m)
}

/// The official `apply_fractional_pseudo_rotation(x, angle)`: the band limit a rotation by
/// `angle` would impose, without rotating (an 11×11 filter, same size); the mask drops the
/// 5-pixel border.
pub fn pseudo_rotation(x: &Images, angle: f64) -> (Images, Mask) {
    let mat = rotation_matrix(-angle);
    let (f, fs) = bandlimit_filter([mat[0], mat[1], mat[3], mat[4]], 3, 6, 1);
    let half = (fs / 2) as i64;
    let (h, w) = (x.h as i64, x.w as i64);
    // filter2d: a true convolution, zero padding, same size.
    let z = x.map_planes(|src, dst| {
        for yy in 0..h {
            for xx in 0..w {
                let mut s = 0.0;
                for u in 0..fs as i64 {
                    let sy = yy + half - u;
                    if !(0..h).contains(&sy) {
                        continue;
                    }
                    for v in 0..fs as i64 {
                        let sx = xx + half - v;
                        if (0..w).contains(&sx) {
                            s += f[(u * fs as i64 + v) as usize]
                                * src[(sy * w + sx) as usize] as f64;
                        }
                    }
                }
                dst[(yy * w + xx) as usize] = s as f32;
            }
        }
    });
    let mut m = vec![0f32; (h * w) as usize];
    for yy in half..h - half {
        for xx in half..w - half {
            m[(yy * w + xx) as usize] = 1.0;
        }
    }
    (z, m)
}

/// Σ (a − b)²·mask and Σ mask over every plane.
fn masked_sums(a: &Images, b: &Images, mask: &[f32]) -> (f64, f64) {
    let mut se = 0.0;
    for (pa, pb) in a.planes().zip(b.planes()) {
        for ((x, y), m) in pa.iter().zip(pb).zip(mask) {
            let d = (x - y) as f64;
            se += d * d * *m as f64;
        }
    }
    let planes = (a.n * a.c) as f64;
    (se, planes * mask.iter().map(|&m| m as f64).sum::<f64>())
}

/// PSNR (dB, [−1, 1] images) of the summed squared errors over the summed mask.
pub fn psnr_db(sum_sq: f64, sum_mask: f64) -> Result<f64> {
    if sum_mask <= 0.0 {
        return Err(Error::InvalidArgument(
            "equivariance: no pixel was defined in both images (the masks are empty)".into(),
        ));
    }
    Ok(20.0 * 2f64.log10() - 10.0 * (sum_sq / sum_mask).log10())
}

/// The equivariance PSNR of a StyleGAN3 generator (dB; higher is more equivariant).
pub fn equivariance(g: &Generator, opts: &EqOptions, progress: &dyn Progress) -> Result<f64> {
    let mut g = g.clone();
    g.synthesis
        .sg3("equivariance metrics (the StyleGAN3 input transform)")
        .map_err(|_| {
            Error::InvalidArgument(format!(
                "equivariance metrics need a StyleGAN3 generator (its input can be translated \
                 and rotated); this one is {:?}",
                g.family()
            ))
        })?;
    if g.config.c_dim > 0 {
        return Err(Error::InvalidArgument(
            "equivariance of conditional networks is not supported yet".into(),
        ));
    }
    if opts.num_samples == 0 || opts.batch == 0 {
        return Err(Error::InvalidArgument(
            "equivariance: give at least one sample and a batch of at least one".into(),
        ));
    }
    let res = g.config.img_resolution as f64;
    let identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
    let mut rng = RandomState::new(opts.seed);
    let (mut se, mut sm) = (0.0, 0.0);
    let mut done = 0;
    progress.start("equivariance samples", opts.num_samples);
    while done < opts.num_samples {
        let b = opts.batch.min(opts.num_samples - done);
        let z: Vec<Vec<f64>> = (0..b).map(|_| rng.randn(g.config.z_dim)).collect();
        let ws = g.mapping_ws(g.z_tensor(&z)?, None, 1.0, None)?;
        let synth = |g: &mut Generator, m: &[f64; 9]| -> Result<Images> {
            g.set_input_transform(m)?;
            Images::from_tensor(g.synthesis.forward(&ws, NoiseMode::Const)?)
        };
        let orig = synth(&mut g, &identity)?;
        let (ref_img, img, mask) = match opts.transform {
            Transform::IntTranslation | Transform::FracTranslation => {
                let mut t = [0.0; 2];
                for v in &mut t {
                    *v = (rng.random_sample() * 2.0 - 1.0) * opts.translate_max;
                }
                if opts.transform == Transform::IntTranslation {
                    t = t.map(|v| (v * res).round_ties_even() / res);
                }
                let mut m = identity;
                m[2] = -t[0];
                m[5] = -t[1];
                let img = synth(&mut g, &m)?;
                let (r, mask) = if opts.transform == Transform::IntTranslation {
                    integer_translation(&orig, t[0], t[1])
                } else {
                    fractional_translation(&orig, t[0], t[1])
                };
                (r, img, mask)
            }
            Transform::Rotation => {
                let angle =
                    (rng.random_sample() * 2.0 - 1.0) * opts.rotate_max * std::f64::consts::PI;
                let img = synth(&mut g, &rotation_matrix(-angle))?;
                let (r, rm) = fractional_rotation(&orig, angle);
                let (pseudo, pm) = pseudo_rotation(&img, angle);
                let mask = rm.iter().zip(&pm).map(|(a, b)| a * b).collect();
                (r, pseudo, mask)
            }
        };
        let (a, c) = masked_sums(&ref_img, &img, &mask);
        se += a;
        sm += c;
        done += b;
        progress.advance(b);
    }
    psnr_db(se, sm)
}
