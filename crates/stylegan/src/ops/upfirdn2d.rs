//! `upfirdn2d`: zero-insert upsampling, padding, FIR filtering, downsampling (FORMATS.md §2.4).

use burn::tensor::{module::conv2d, ops::ConvOptions, Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// A 2-D FIR filter as stored in the official `resample_filter` buffers (already normalised).
#[derive(Clone, Debug)]
pub struct Filter {
    /// Row-major `[h, w]` taps.
    pub taps: Vec<f32>,
    pub h: usize,
    pub w: usize,
    /// The taps flipped (true convolution), as a `[1, 1, h, w]` conv kernel.
    flipped: Tensor<4>,
    /// `(vertical, horizontal)` 1-D factors with `taps[i][j] = v[i]·h[j]`, when the filter is
    /// separable (every StyleGAN2 `resample_filter` and StyleGAN3 `up_filter` is).
    factors: Option<(Vec<f32>, Vec<f32>)>,
}

impl Filter {
    /// The taps flipped and times `gain`, row-major: the true convolution of `upfirdn2d` as a
    /// correlation (what the direct FIR kernel computes).
    pub(crate) fn correlation_taps(&self, gain: f32) -> Vec<f32> {
        let n = self.h * self.w;
        (0..n).map(|i| self.taps[n - 1 - i] * gain).collect()
    }

    /// `setup_filter(f)`: a 1-D list of fewer than 8 taps becomes `outer(f, f) / sum`; a longer
    /// one is separable and equals the same outer product applied in two passes.
    pub fn from_taps_1d(f: &[f64], device: &Device) -> Result<Self> {
        if f.is_empty() {
            return Err(Error::Config("resample_filter must not be empty".into()));
        }
        let sum: f64 = f.iter().sum();
        if sum == 0.0 || !sum.is_finite() {
            return Err(Error::Config(format!(
                "resample_filter {f:?} sums to {sum}"
            )));
        }
        let k = f.len();
        let mut taps = Vec::with_capacity(k * k);
        if k >= 8 {
            for a in f {
                for b in f {
                    taps.push(((a / sum) * (b / sum)) as f32);
                }
            }
        } else {
            let sum2 = sum * sum;
            for a in f {
                for b in f {
                    taps.push((a * b / sum2) as f32);
                }
            }
        }
        Ok(Self::from_2d(taps, k, k, device))
    }

    /// A filter from row-major 2-D taps (e.g. a loaded `resample_filter` buffer).
    pub fn from_2d(taps: Vec<f32>, h: usize, w: usize, device: &Device) -> Self {
        let mut flipped = vec![0f32; h * w];
        for i in 0..h {
            for j in 0..w {
                flipped[(h - 1 - i) * w + (w - 1 - j)] = taps[i * w + j];
            }
        }
        let flipped = Tensor::from_data(TensorData::new(flipped, [1, 1, h, w]), device);
        let factors = rank_one_factors(&taps, h, w);
        Self {
            taps,
            h,
            w,
            flipped,
            factors,
        }
    }

    /// The taps as a `[h, w]` tensor (for saving as the `resample_filter` buffer).
    pub fn to_data(&self) -> TensorData {
        TensorData::new(self.taps.clone(), [self.h, self.w])
    }
}

/// `(v, h)` with `taps[i·w + j] = v[i]·h[j]` (to f32 rounding), or `None` when the filter is not
/// rank one. `v` is the row sums and `h` the column sums over the total.
fn rank_one_factors(taps: &[f32], h: usize, w: usize) -> Option<(Vec<f32>, Vec<f32>)> {
    let total: f64 = taps.iter().map(|&t| t as f64).sum();
    if total.abs() < 1e-12 || !total.is_finite() {
        return None;
    }
    let rows: Vec<f64> = (0..h)
        .map(|i| (0..w).map(|j| taps[i * w + j] as f64).sum())
        .collect();
    let cols: Vec<f64> = (0..w)
        .map(|j| (0..h).map(|i| taps[i * w + j] as f64).sum::<f64>() / total)
        .collect();
    let scale = taps.iter().fold(0f64, |m, &t| m.max((t as f64).abs()));
    for i in 0..h {
        for j in 0..w {
            if (rows[i] * cols[j] - taps[i * w + j] as f64).abs() > 1e-6 * scale {
                return None;
            }
        }
    }
    let f32s = |v: Vec<f64>| v.into_iter().map(|x| x as f32).collect();
    Some((f32s(rows), f32s(cols)))
}

/// One axis of `upfirdn` as a dense `[m, n]` matrix: zero-insert `up − 1` samples, pad `p0`
/// before and `p1` after (negative crops), true convolution with `taps`, keep every `down`-th
/// sample, times `gain`. Row-major, with `m = (n·up + p0 + p1 − k) / down + 1`.
///
/// Why a matrix: under autodiff, burn-flex's depthwise convolution and its transposed-conv
/// backward spend most of a StyleGAN3 training step zero-filling and looping over the padded,
/// zero-inserted planes. For the plane sizes of training (≤ [`MATMUL_MAX`] samples) the same
/// resampling as two small matrix products runs on gemm forward and backward.
pub(crate) fn resample_matrix(
    n: usize,
    taps: &[f32],
    up: usize,
    down: usize,
    p0: i64,
    p1: i64,
    gain: f32,
) -> Option<(Vec<f32>, usize)> {
    let k = taps.len() as i64;
    let span = n as i64 * up as i64 + p0 + p1 - k;
    if span < 0 {
        return None;
    }
    let m = (span / down as i64 + 1) as usize;
    let mut a = vec![0f32; m * n];
    for j in 0..m {
        for i in 0..n {
            let t = i as i64 * up as i64 + p0 - (j * down) as i64;
            if (0..k).contains(&t) {
                a[j * n + i] = gain * taps[(k - 1 - t) as usize];
            }
        }
    }
    Some((a, m))
}

/// Largest plane side for which [`upfirdn2d`] under autodiff uses the matrix form.
pub(crate) const MATMUL_MAX: usize = 320;

/// Whether resampling `x` by `up` takes the matrix form: under autodiff, planes up to
/// [`MATMUL_MAX`] samples a side after upsampling (the dense matrices grow with the side).
pub(crate) fn matmul_form(x: &Tensor<4>, up: usize) -> bool {
    let [_, _, h, w] = x.dims();
    x.is_autodiff() && h.max(w) * up <= MATMUL_MAX
}

/// `upfirdn2d` of a separable filter as `A_y · x · A_xᵀ` (see [`resample_matrix`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn upfirdn2d_separable_matmul(
    x: Tensor<4>,
    vertical: &[f32],
    horizontal: &[f32],
    up: usize,
    down: usize,
    pad: [i64; 4],
    gain: f64,
) -> Option<Tensor<4>> {
    let [n, c, h, w] = x.dims();
    let [px0, px1, py0, py1] = pad;
    let (ax, wo) = resample_matrix(w, horizontal, up, down, px0, px1, gain as f32)?;
    let (ay, ho) = resample_matrix(h, vertical, up, down, py0, py1, 1.0)?;
    let device = x.device();
    // x · A_xᵀ over rows of width w.
    let mut axt = vec![0f32; w * wo];
    for j in 0..wo {
        for i in 0..w {
            axt[i * wo + j] = ax[j * w + i];
        }
    }
    let axt = Tensor::<2>::from_data(TensorData::new(axt, [w, wo]), &device);
    let x = x.reshape([n * c * h, w]).matmul(axt);
    // A_y · (…) per plane, broadcasting A_y over the N·C planes.
    let ay = Tensor::<3>::from_data(TensorData::new(ay, [1, ho, h]), &device);
    let x = ay.matmul(x.reshape([n * c, h, wo]));
    Some(x.reshape([n, c, ho, wo]))
}

/// `upfirdn2d(x, f, up, down, padding=[x0, x1, y0, y1], gain, flip_filter=False)`.
pub fn upfirdn2d(
    x: Tensor<4>,
    f: &Filter,
    up: usize,
    down: usize,
    pad: [i64; 4],
    gain: f64,
) -> Tensor<4> {
    if matmul_form(&x, up) {
        if let Some((v, hz)) = &f.factors {
            if let Some(y) = upfirdn2d_separable_matmul(x.clone(), v, hz, up, down, pad, gain) {
                return y;
            }
        }
    }
    upfirdn2d_conv(x, f, up, down, pad, gain)
}

/// [`upfirdn2d`] as the official reference does it: zero insertion, crop, depthwise conv.
fn upfirdn2d_conv(
    x: Tensor<4>,
    f: &Filter,
    up: usize,
    down: usize,
    pad: [i64; 4],
    gain: f64,
) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    // 1. Zero-insert `up − 1` zeros after every sample.
    let mut x = if up > 1 {
        x.reshape([n, c, h, 1, w, 1])
            .pad(
                [(0, up - 1), (0, 0), (0, up - 1)],
                burn::tensor::ops::PadMode::Constant(0.0),
            )
            .reshape([n, c, h * up, w * up])
    } else {
        x
    };
    // 2. Negative padding crops; positive padding is done by the convolution itself.
    let [px0, px1, py0, py1] = pad;
    if px0 < 0 || px1 < 0 || py0 < 0 || py1 < 0 {
        let [_, _, hh, ww] = x.dims();
        let cut = |v: i64| (-v).max(0) as usize;
        x = x.narrow(2, cut(py0), hh - cut(py0) - cut(py1)).narrow(
            3,
            cut(px0),
            ww - cut(px0) - cut(px1),
        );
    }
    // 3.+4. True convolution with the (gain-scaled) filter over the zero-padded input, keeping
    // every `down`-th sample. A depthwise (groups = C) convolution: on burn-flex ~1.6x faster
    // than running the 1-channel filter over N·C planes.
    let grow = |v: i64| v.max(0) as usize;
    if up == 1 && down == 1 && super::direct_conv::applies_to(&x) {
        // CPU inference: the direct FIR kernel (correlation with the flipped, gain-scaled taps).
        let pad = [grow(px0), grow(px1), grow(py0), grow(py1)];
        return super::direct_conv::fir2d_tensor(
            x,
            &f.correlation_taps(gain as f32),
            [f.h, f.w],
            pad,
        );
    }
    let kernel = if gain != 1.0 {
        f.flipped.clone().mul_scalar(gain as f32)
    } else {
        f.flipped.clone()
    };
    let options = ConvOptions {
        stride: [down, down],
        padding: [(grow(py0), grow(py1)), (grow(px0), grow(px1))],
        dilation: [1, 1],
        groups: c,
    };
    conv2d(x, kernel.repeat_dim(0, c), None, options)
}

/// `upsample2d(x, f, up=2)`: padding `[(fw+1)//2, (fw−2)//2]` on each axis, gain 4.
pub fn upsample2d(x: Tensor<4>, f: &Filter) -> Tensor<4> {
    let (fw, fh) = (f.w as i64, f.h as i64);
    let (p0, p1) = ((fw + 1).div_euclid(2), (fw - 2).div_euclid(2));
    let (q0, q1) = ((fh + 1).div_euclid(2), (fh - 2).div_euclid(2));
    upfirdn2d(x, f, 2, 1, [p0, p1, q0, q1], 4.0)
}

/// `downsample2d(x, f, down=2)`: padding `[(fw−1)//2, (fw−2)//2]` on each axis.
pub fn downsample2d(x: Tensor<4>, f: &Filter) -> Tensor<4> {
    let (fw, fh) = (f.w as i64, f.h as i64);
    let (p0, p1) = ((fw - 1).div_euclid(2), (fw - 2).div_euclid(2));
    let (q0, q1) = ((fh - 1).div_euclid(2), (fh - 2).div_euclid(2));
    upfirdn2d(x, f, 1, 2, [p0, p1, q0, q1], 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        let scale = b.iter().fold(0f32, |m, y| m.max(y.abs())).max(1e-3);
        assert!(d <= 2e-5 * scale, "{what}: max |Δ| {d} (scale {scale})");
    }

    /// The matrix form equals the reference zero-insert/crop/conv, values and gradients, on the
    /// StyleGAN2 (4-tap, up/down 2) and StyleGAN3 (12-tap, up 2/4, crops) shapes.
    #[test]
    fn matmul_form_equals_reference_forward_and_backward() {
        let dev = crate::backend::cpu();
        let sg2 = Filter::from_taps_1d(&[1.0, 3.0, 3.0, 1.0], &dev).unwrap();
        let taps: Vec<f32> = (0..12).map(|i| 1.0 + (i as f32 * 0.7).sin()).collect();
        let sg3 = crate::ops::filtered_lrelu::LowPass::separable(taps.clone(), &dev);
        let sg3_2d = {
            let mut t = Vec::new();
            for a in &taps {
                for b in &taps {
                    t.push(a * b);
                }
            }
            Filter::from_2d(t, 12, 12, &dev)
        };
        assert!(sg2.factors.is_some() && sg3_2d.factors.is_some());
        let cases: [(&Filter, usize, usize, [i64; 4], f64); 5] = [
            (&sg2, 2, 1, [2, 1, 2, 1], 4.0),
            (&sg2, 1, 2, [1, 1, 1, 1], 1.0),
            (&sg2, 1, 1, [1, 2, 2, 1], 1.0),
            (&sg3_2d, 2, 2, [9, 8, 9, 8], 4.0),
            (&sg3_2d, 4, 2, [-6, -9, -6, -9], 16.0),
        ];
        for (i, (f, up, down, pad, gain)) in cases.into_iter().enumerate() {
            let x = Tensor::<4>::random([2, 3, 17, 19], Distribution::Normal(0.0, 1.0), &dev);
            let reference = upfirdn2d_conv(x.clone(), f, up, down, pad, gain);
            let r = Tensor::<4>::random(reference.dims(), Distribution::Normal(0.0, 1.0), &dev);
            let grad = |y: Tensor<4>, leaf: &Tensor<4>| {
                let g = (y * r.clone()).sum().backward();
                crate::backend::to_vec(&leaf.grad(&g).unwrap()).unwrap()
            };
            let leaf = x.clone().autodiff().require_grad();
            let fast = upfirdn2d(leaf.clone(), f, up, down, pad, gain);
            assert_eq!(fast.dims(), reference.dims(), "case {i}: shape");
            let want = crate::backend::to_vec(&reference).unwrap();
            close(
                &crate::backend::to_vec(&fast).unwrap(),
                &want,
                &format!("case {i}"),
            );
            let g_fast = grad(fast, &leaf);
            let leaf2 = x.autodiff().require_grad();
            let g_ref = grad(
                upfirdn2d_conv(leaf2.clone(), f, up, down, pad, gain),
                &leaf2,
            );
            close(&g_fast, &g_ref, &format!("case {i}: gradient"));
        }
        // The separable StyleGAN3 filter takes one matrix pair for both passes.
        let x = Tensor::<4>::random([1, 2, 16, 16], Distribution::Normal(0.0, 1.0), &dev);
        let reference = sg3.upfirdn2d(x.clone(), 2, 2, [9, 8, 9, 8], 4.0);
        let fast = sg3.upfirdn2d(x.autodiff(), 2, 2, [9, 8, 9, 8], 4.0);
        close(
            &crate::backend::to_vec(&fast).unwrap(),
            &crate::backend::to_vec(&reference).unwrap(),
            "LowPass",
        );
    }

    /// Non-separable (radial) filters have no factors and keep the convolution.
    #[test]
    fn radial_filters_are_not_factored() {
        let dev = crate::backend::cpu();
        let taps = vec![0.0, 1.0, 0.0, 1.0, 4.0, 1.0, 0.0, 1.0, 0.0];
        assert!(Filter::from_2d(taps, 3, 3, &dev).factors.is_none());
    }
}
