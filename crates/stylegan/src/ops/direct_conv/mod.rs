//! A direct convolution kernel for the CPU backend, used for inference (no autodiff).
//!
//! Written by hand because no crate does this well: burn-flex's convolutions (im2col + the
//! `gemm` crate) reach ~65 GFLOP/s on the generator's 3×3 layers, and the `gemm` crate itself
//! ~150 GFLOP/s with its AVX-512 kernels, while the 2 Zen 5 cores of the development machine
//! sustain ~420 GFLOP/s (oneDNN's direct convolution measures that under PyTorch). The kernel
//! here is the oneDNN idea in its plainest form:
//!
//! * A convolution is a sum over **taps**: `out[o, p] = Σ_t Σ_i W[o, t, i] · xpad[i, p + off_t]`,
//!   where `xpad` is the zero-padded input with rows of width `wp` laid end to end, `p = y·wp + x`
//!   runs over output positions in that same row pitch, and `off_t = dy·wp + dx`. For a fixed
//!   `(t, i)` the 48 columns of a micro-tile are 48 *contiguous* floats of `xpad`, so the
//!   right-hand matrix is read straight from the input: no im2col buffer, no packing. Columns
//!   `x ≥ out_w` of each row are computed and thrown away (2 of `w + 2` for a 3×3 conv).
//! * The weights are packed once per call into 8-row panels; a micro-kernel keeps an 8×48 tile
//!   of the output in 24 AVX-512 registers (one broadcast weight × three 16-wide input vectors
//!   per FMA group), over blocks of 128 `(t, i)` pairs so that the 48-column input strip stays
//!   in L1 while every 8-row panel of the weights streams past it.
//! * Work is split over output columns between the rayon threads.
//!
//! The transposed stride-2 convolution of the upsampling layers is the same kernel run four
//! times, once per output phase (its polyphase decomposition: 4, 2, 2 and 1 taps of a 3×3
//! kernel), with the phases interleaved afterwards.
//!
//! Machines without AVX-512 use the same blocking with an AVX2+FMA micro-kernel, others a
//! portable one (auto-vectorised by the compiler); `kernel::isa` chooses at run time.
//!
//! The 3×3 convolutions with enough channels run as Winograd F(2×2, 3×3) through the same
//! micro-kernels ([`winograd`]), and a synthesis layer's element-wise tail (noise, bias,
//! activation, gain, clamp) runs on each output plane as it is written ([`epilogue`]).
//!
//! Files: [`kernel`] (padding, weight panels, micro-kernels), [`conv`], [`winograd`],
//! [`transpose`], [`fir`] and [`epilogue`]; this file holds the tensor entry points.

mod conv;
mod epilogue;
mod fir;
mod kernel;
mod transpose;
mod winograd;

pub use conv::conv2d;
pub use epilogue::Epilogue;
pub use fir::fir2d;
pub use kernel::{isa, release_scratch, Isa, Weights};
pub use transpose::conv_transpose2d_s2;

use burn::tensor::{DType, Device, Tensor, TensorData};

/// Whether the direct kernels apply: both tensors on the CPU (burn-flex) device and outside
/// autodiff (training keeps burn's differentiable convolutions).
pub fn applies(x: &Tensor<4>, w: &Tensor<4>) -> bool {
    applies_to(x) && !w.is_autodiff()
}

/// [`applies`] for an operation on one tensor (the FIR filter).
pub fn applies_to(x: &Tensor<4>) -> bool {
    !x.is_autodiff() && x.device() == Device::flex()
}

fn host<const D: usize>(t: Tensor<D>) -> TensorData {
    let d = t.into_data();
    if d.dtype() == DType::F32 {
        d
    } else {
        d.convert::<f32>()
    }
}

fn slice(d: &TensorData) -> &[f32] {
    d.as_slice::<f32>()
        .expect("direct conv: f32 data after conversion")
}

/// A CPU tensor's f32 values, borrowed from the burn-flex tensor when they are contiguous f32:
/// a layer's weight is shared with its module, so [`host`] (`into_data`) would copy it on every
/// call (~100 MB per config-f image, 1.4 % of a 256² generation in a profile).
enum HostView {
    Flex(burn_flex::FlexTensor),
    Data(TensorData),
}

impl HostView {
    fn of<const D: usize>(t: &Tensor<D>) -> Self {
        if let Ok(p) = t.clone().try_into_primitive::<burn::backend::Flex>() {
            // (`as_slice` is `None` for another dtype or a non-contiguous layout.)
            if p.as_slice::<f32>().is_some() {
                return Self::Flex(p);
            }
        }
        Self::Data(host(t.clone()))
    }

    fn slice(&self) -> &[f32] {
        match self {
            Self::Flex(p) => p.as_slice::<f32>().expect("checked in `of`"),
            Self::Data(d) => slice(d),
        }
    }
}

/// [`conv2d`] on tensors: stride 1, square kernel; `w` is `[N·O, I, k, k]` with `per_sample`.
pub fn conv2d_tensor(x: Tensor<4>, w: Tensor<4>, pad: usize, per_sample: bool) -> Tensor<4> {
    let device = x.device();
    let shape = x.dims();
    let [rows, _, k, _] = w.dims();
    let outs = if per_sample { rows / shape[0] } else { rows };
    let (xd, wd) = (host(x), HostView::of(&w));
    let (y, yshape) = conv2d(slice(&xd), shape, wd.slice(), outs, k, pad, per_sample);
    Tensor::from_data(TensorData::new(y, yshape), &device)
}

/// [`conv_transpose2d_s2`] on tensors: `w [O, I, 3, 3]` as given to `conv2d_resample`
/// (`[N·O, I, 3, 3]` with `per_sample`).
pub fn conv_transpose2d_s2_tensor(x: Tensor<4>, w: Tensor<4>, per_sample: bool) -> Tensor<4> {
    let device = x.device();
    let shape = x.dims();
    let [rows, _, _, _] = w.dims();
    let outs = if per_sample { rows / shape[0] } else { rows };
    let (xd, wd) = (host(x), HostView::of(&w));
    let (y, yshape) = conv_transpose2d_s2(slice(&xd), shape, wd.slice(), outs, per_sample);
    Tensor::from_data(TensorData::new(y, yshape), &device)
}

/// The FIR step after a transposed convolution: correlation taps (`[kh, kw]`, row-major,
/// already flipped and times the gain) and padding `[left, right, top, bottom]`.
#[derive(Clone, Copy, Debug)]
pub struct Fir<'a> {
    pub taps: &'a [f32],
    pub shape: [usize; 2],
    pub pad: [usize; 4],
}

/// The fused modulated convolution of a synthesis layer on tensors, with its epilogue:
/// `x [N, I, H, W]`, `weight [O, I, k, k]` shared, `styles [N, I]`, `rows [N, O]`. Sample `s`
/// is convolved with `weight · styles[s]` times `rows[s]` per output channel (its
/// demodulation coefficients and gain). With `up`, the convolution is the stride-2 transposed
/// one (3×3 only) followed by `up`'s FIR filter; otherwise stride 1 with zero padding `pad`.
/// `post` runs on every output plane.
#[allow(clippy::too_many_arguments)]
pub fn modulated_conv2d_tensor(
    x: Tensor<4>,
    weight: &Tensor<4>,
    styles: &Tensor<2>,
    rows: &Tensor<2>,
    pad: usize,
    up: Option<Fir>,
    post: &Epilogue,
) -> Tensor<4> {
    let device = x.device();
    let shape @ [n, _, _, _] = x.dims();
    let [outs, _, k, _] = weight.dims();
    let (xd, wd) = (host(x), HostView::of(weight));
    let (sd, rd) = (host(styles.clone()), host(rows.clone()));
    let weights = Weights::Modulated {
        w: wd.slice(),
        styles: slice(&sd),
        rows: slice(&rd),
    };
    let isa = isa();
    let (y, yshape) = match up {
        None => conv::conv2d_with(slice(&xd), shape, weights, outs, k, pad, Some(post), isa),
        Some(fir) => {
            assert_eq!(k, 3, "direct conv: the up-convolution is 3×3");
            let (t, [_, _, th, tw]) =
                transpose::conv_transpose2d_s2_with(slice(&xd), shape, weights, outs, isa);
            let (y, [oh, ow]) = fir::fir2d_with(
                &t,
                n * outs,
                [th, tw],
                fir.taps,
                fir.shape,
                fir.pad,
                Some((post, outs)),
                isa,
            );
            (y, [n, outs, oh, ow])
        }
    };
    Tensor::from_data(TensorData::new(y, yshape), &device)
}

/// [`fir2d`] on every plane of `x [N, C, H, W]`: `k` row-major `[kh, kw]`, padding
/// `[left, right, top, bottom]`.
pub fn fir2d_tensor(x: Tensor<4>, k: &[f32], kshape: [usize; 2], pad: [usize; 4]) -> Tensor<4> {
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let xd = host(x);
    let (y, [oh, ow]) = fir2d(slice(&xd), n * c, [h, w], k, kshape, pad);
    Tensor::from_data(TensorData::new(y, [n, c, oh, ow]), &device)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::conv::{conv2d_direct, conv2d_with};
    use super::transpose::conv_transpose2d_s2_with;
    use super::winograd;
    use super::*;

    /// Deterministic values in [-1, 1).
    pub(crate) fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i + seed) * 2654435761) % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// The definition, in f64.
    pub(crate) fn reference_conv(
        x: &[f32],
        shape: [usize; 4],
        wt: &[f32],
        outs: usize,
        k: usize,
        pad: usize,
    ) -> Vec<f32> {
        reference_conv_strided(x, shape, wt, outs, k, pad, 1)
    }

    /// The definition with a stride, in f64.
    pub(crate) fn reference_conv_strided(
        x: &[f32],
        [n, ci, h, w]: [usize; 4],
        wt: &[f32],
        outs: usize,
        k: usize,
        pad: usize,
        stride: usize,
    ) -> Vec<f32> {
        let (oh, ow) = (
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        let mut y = vec![0f32; n * outs * oh * ow];
        for s in 0..n {
            for o in 0..outs {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let mut acc = 0f64;
                        for i in 0..ci {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (iy, ix) = (
                                        (yy * stride + ky) as isize - pad as isize,
                                        (xx * stride + kx) as isize - pad as isize,
                                    );
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        acc += wt[((o * ci + i) * k + ky) * k + kx] as f64
                                            * x[((s * ci + i) * h + iy as usize) * w + ix as usize]
                                                as f64;
                                    }
                                }
                            }
                        }
                        y[((s * outs + o) * oh + yy) * ow + xx] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn reference_transpose(
        x: &[f32],
        [n, ci, h, w]: [usize; 4],
        wt: &[f32],
        outs: usize,
    ) -> Vec<f32> {
        let (oh, ow) = (2 * h + 1, 2 * w + 1);
        let mut y = vec![0f64; n * outs * oh * ow];
        for s in 0..n {
            for o in 0..outs {
                for i in 0..ci {
                    for a in 0..h {
                        for b in 0..w {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    y[((s * outs + o) * oh + 2 * a + ky) * ow + 2 * b + kx] +=
                                        wt[((o * ci + i) * 3 + ky) * 3 + kx] as f64
                                            * x[((s * ci + i) * h + a) * w + b] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
    }

    /// Per-sample weights give each sample the result of its own weight alone.
    #[test]
    fn per_sample_weights_match_samples_alone() {
        let (n, ci, co, h, w) = (3, 5, 6, 7, 9);
        let x = values(n * ci * h * w, 4);
        for (k, pad) in [(3, 1), (1, 0)] {
            let wt = values(n * co * ci * k * k, 9);
            let (all, _) = conv2d_with(
                &x,
                [n, ci, h, w],
                Weights::PerSample(&wt),
                co,
                k,
                pad,
                None,
                isa(),
            );
            let per = all.len() / n;
            for s in 0..n {
                let ws = &wt[s * co * ci * k * k..][..co * ci * k * k];
                let (one, _) = conv2d_with(
                    &x[s * ci * h * w..][..ci * h * w],
                    [1, ci, h, w],
                    Weights::Shared(ws),
                    co,
                    k,
                    pad,
                    None,
                    isa(),
                );
                assert_eq!(&all[s * per..][..per], &one[..], "conv k={k} sample {s}");
            }
        }
        let wt = values(n * co * ci * 9, 8);
        let (all, _) =
            conv_transpose2d_s2_with(&x, [n, ci, h, w], Weights::PerSample(&wt), co, isa());
        let per = all.len() / n;
        for s in 0..n {
            let ws = &wt[s * co * ci * 9..][..co * ci * 9];
            let (one, _) = conv_transpose2d_s2_with(
                &x[s * ci * h * w..][..ci * h * w],
                [1, ci, h, w],
                Weights::Shared(ws),
                co,
                isa(),
            );
            assert_eq!(&all[s * per..][..per], &one[..], "transposed sample {s}");
        }
    }

    /// The FIR filter against the definition, with uneven padding and a non-square kernel.
    #[test]
    fn fir_matches_the_definition() {
        for &(planes, h, w, kh, kw, pad) in &[
            (3, 9, 70, 4, 4, [2, 1, 2, 1]),
            (2, 5, 6, 3, 2, [0, 1, 1, 0]),
            (1, 1, 1, 1, 1, [0, 0, 0, 0]),
        ] {
            let x = values(planes * h * w, 11);
            let k = values(kh * kw, 2);
            let (got, [oh, ow]) = fir2d(&x, planes, [h, w], &k, [kh, kw], pad);
            for isa in Isa::available() {
                let (other, _) =
                    super::fir::fir2d_with(&x, planes, [h, w], &k, [kh, kw], pad, None, isa);
                assert!(max_diff(&other, &got) < 1e-5, "FIR on {isa:?}");
            }
            let [l, r, t, b] = pad;
            assert_eq!([oh, ow], [h + t + b - kh + 1, w + l + r - kw + 1]);
            let mut want = vec![0f32; planes * oh * ow];
            for p in 0..planes {
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut acc = 0f64;
                        for i in 0..kh {
                            for j in 0..kw {
                                let (iy, ix) = (
                                    (y + i) as isize - t as isize,
                                    (xx + j) as isize - l as isize,
                                );
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += k[i * kw + j] as f64
                                        * x[(p * h + iy as usize) * w + ix as usize] as f64;
                                }
                            }
                        }
                        want[(p * oh + y) * ow + xx] = acc as f32;
                    }
                }
            }
            let d = max_diff(&got, &want);
            assert!(
                d < 1e-5,
                "fir {:?}: max diff {d}",
                (planes, h, w, kh, kw, pad)
            );
        }
    }

    /// Both micro-kernels (AVX-512 where the machine has it) against the definition, over
    /// channel counts that are not multiples of the 8-row panels, more (tap, channel) pairs
    /// than one 128-block, odd and non-square planes, and planes wider than one 48-column tile.
    #[test]
    fn direct_kernels_match_the_definition() {
        let kernels = Isa::available();
        let cases = [
            // (n, ci, co, h, w, k, pad)
            (1, 1, 1, 1, 1, 3, 1),
            (2, 3, 5, 4, 4, 3, 1),
            (1, 20, 9, 7, 5, 3, 1),
            (1, 17, 13, 33, 70, 3, 1),
            (2, 6, 10, 9, 11, 3, 0),
            (1, 4, 3, 6, 6, 5, 2),
            // Winograd's tiles: odd output sizes, padding 2 (StyleGAN3), 0.
            (2, 9, 11, 17, 23, 3, 1),
            (1, 5, 4, 20, 18, 3, 2),
            (1, 3, 2, 21, 20, 3, 0),
            // More input channels than one k-block (128) on Winograd's one-tap products.
            (1, 130, 9, 16, 15, 3, 1),
        ];
        for isa in kernels {
            for &(n, ci, co, h, w, k, pad) in &cases {
                let x = values(n * ci * h * w, 1);
                let wt = values(co * ci * k * k, 7);
                let want = reference_conv(&x, [n, ci, h, w], &wt, co, k, pad);
                let shape = [n, ci, h, w];
                let ws = Weights::Shared(&wt);
                let mut paths = vec![
                    ("chosen", conv2d_with(&x, shape, ws, co, k, pad, None, isa)),
                    (
                        "direct",
                        conv2d_direct(&x, shape, ws, co, k, pad, None, isa),
                    ),
                ];
                if k == 3 {
                    let wg = winograd::conv3x3(&x, shape, ws, co, pad, None, isa);
                    paths.push(("winograd", wg));
                }
                for (path, (got, yshape)) in paths {
                    assert_eq!(yshape, [n, co, h + 2 * pad - k + 1, w + 2 * pad - k + 1]);
                    let d = max_diff(&got, &want);
                    assert!(
                        d < 1e-4,
                        "conv {:?} {isa:?} {path}: max diff {d}",
                        (n, ci, co, h, w, k, pad)
                    );
                }
            }
            for &(n, ci, co, h, w) in &[
                (1, 1, 1, 1, 1),
                (2, 5, 11, 4, 4),
                (1, 19, 9, 9, 30),
                (1, 3, 2, 25, 7),
            ] {
                let x = values(n * ci * h * w, 3);
                let wt = values(co * ci * 9, 5);
                let (got, shape) =
                    conv_transpose2d_s2_with(&x, [n, ci, h, w], Weights::Shared(&wt), co, isa);
                assert_eq!(shape, [n, co, 2 * h + 1, 2 * w + 1]);
                let want = reference_transpose(&x, [n, ci, h, w], &wt, co);
                // The gemm crate's path (chosen on AVX2 for ≥ 256 channels) on these shapes too.
                let (by_gemm, gshape) =
                    transpose::transpose_gemm(&x, [n, ci, h, w], Weights::Shared(&wt), co);
                assert_eq!(gshape, shape);
                let d = max_diff(&got, &want).max(max_diff(&by_gemm, &want));
                assert!(
                    d < 1e-4,
                    "transpose {:?} {isa:?}: max diff {d}",
                    (n, ci, co, h, w)
                );
            }
        }
    }

    /// Weights modulated while packing (`Weights::Modulated`) and the fused epilogue give, on
    /// every instruction set, what the per-sample weights made beforehand and the element-wise
    /// operations one after the other give: channel counts off the 8-row panels, more (tap,
    /// channel) pairs than one block, planes small enough that the panels are split between
    /// threads, per-sample and shared noise, clamping.
    #[test]
    fn modulated_weights_and_epilogue_match_the_unfused_path() {
        let (n, ci, co) = (2, 20, 13);
        for (h, w) in [(4, 4), (7, 9), (20, 17)] {
            let x = values(n * ci * h * w, 5);
            let wt = values(co * ci * 9, 3);
            let styles = values(n * ci, 8);
            let rows: Vec<f32> = values(n * co, 6).iter().map(|v| v + 1.5).collect();
            // The per-sample weights, made the long way.
            let mut own = vec![0f32; n * co * ci * 9];
            for s in 0..n {
                for o in 0..co {
                    for i in 0..ci {
                        for t in 0..9 {
                            own[((s * co + o) * ci + i) * 9 + t] =
                                wt[(o * ci + i) * 9 + t] * styles[s * ci + i] * rows[s * co + o];
                        }
                    }
                }
            }
            let modulated = Weights::Modulated {
                w: &wt,
                styles: &styles,
                rows: &rows,
            };
            let bias = values(co, 2);
            for isa in Isa::available() {
                for per_sample_noise in [false, true] {
                    let noise = values(if per_sample_noise { n * h * w } else { h * w }, 9);
                    let post = Epilogue {
                        noise: Some(&noise),
                        bias: Some(&bias),
                        act: crate::ops::Activation::Lrelu,
                        gain: 1.5,
                        clamp: Some(2.0),
                    };
                    let shape = [n, ci, h, w];
                    let (got, _) = conv2d_with(&x, shape, modulated, co, 3, 1, Some(&post), isa);
                    let (wg, _) = winograd::conv3x3(&x, shape, modulated, co, 1, Some(&post), isa);
                    let (mut want, _) =
                        conv2d_direct(&x, shape, Weights::PerSample(&own), co, 3, 1, None, isa);
                    for (j, v) in want.iter_mut().enumerate() {
                        let (s, o, p) = (j / (co * h * w), j / (h * w) % co, j % (h * w));
                        let z = if per_sample_noise {
                            noise[s * h * w + p]
                        } else {
                            noise[p]
                        };
                        let u = *v + z + bias[o];
                        let u = if u < 0.0 { 0.2 * u } else { u };
                        *v = (u * 1.5).clamp(-2.0, 2.0);
                    }
                    let d = max_diff(&got, &want).max(max_diff(&wg, &want));
                    assert!(d < 1e-4, "conv {isa:?} {h}x{w}: max diff {d}");
                    assert!(got.iter().any(|v| v.abs() == 2.0), "the clamp is exercised");
                }
                let (got, _) = conv_transpose2d_s2_with(&x, [n, ci, h, w], modulated, co, isa);
                let (want, _) =
                    conv_transpose2d_s2_with(&x, [n, ci, h, w], Weights::PerSample(&own), co, isa);
                let (by_gemm, _) = transpose::transpose_gemm(&x, [n, ci, h, w], modulated, co);
                let d = max_diff(&got, &want).max(max_diff(&by_gemm, &want));
                assert!(d < 1e-5, "transpose {isa:?} {h}x{w}: max diff {d}");
            }
        }
    }
}
