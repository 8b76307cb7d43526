//! `conv2d_resample` (FORMATS.md §2.5): a convolution with optional 2× up- or downsampling
//! through the FIR filter, in the official order for each case. Weight `[O, I, k, k]`.

use burn::tensor::{
    module::{conv2d, conv_transpose2d},
    ops::{ConvOptions, ConvTransposeOptions},
    Tensor,
};

use super::direct_conv;
use super::train_ops;
use super::upfirdn2d::{upfirdn2d, Filter};

/// How the weight applies to the batch.
#[derive(Clone, Copy, PartialEq)]
enum Weights {
    /// One `[O, I, k, k]` weight for every sample.
    Shared,
    /// `[N·O, I, k, k]`: rows `s·O..(s+1)·O` for sample `s` (direct CPU kernels only).
    PerSample,
}

fn plain(x: Tensor<4>, w: Tensor<4>, stride: usize, padding: usize, ws: Weights) -> Tensor<4> {
    let [_, _, kh, kw] = w.dims();
    if ws == Weights::PerSample {
        return direct_conv::conv2d_tensor(x, w, padding, true);
    }
    if stride == 1 && kh == kw && kh > 1 && direct_conv::applies(&x, &w) {
        return direct_conv::conv2d_tensor(x, w, padding, false);
    }
    if x.is_autodiff() || w.is_autodiff() {
        // Training: forward and both gradients through the tap-GEMM kernels (which fall back to
        // burn's convolution themselves where they do not apply).
        match (stride, kh, padding) {
            (1, _, _) => return train_ops::conv2d(x, w, padding),
            (2, 3, 0) => return train_ops::conv2d_s2(x, w),
            _ => {}
        }
    }
    conv2d(
        x,
        w,
        None,
        ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1),
    )
}

/// A plain stride-1 correlation with zero padding `padding` on every side (the direct CPU
/// kernels in inference, the tap-GEMM kernels in training, burn's convolution elsewhere).
pub fn conv2d_padded(x: Tensor<4>, w: Tensor<4>, padding: usize) -> Tensor<4> {
    plain(x, w, 1, padding, Weights::Shared)
}

/// `conv2d_resample(x, w, f, up, down, padding)` with `flip_weight = (up == 1)`.
pub fn conv2d_resample(
    x: Tensor<4>,
    w: Tensor<4>,
    f: &Filter,
    up: usize,
    down: usize,
    padding: usize,
) -> Tensor<4> {
    resample(x, w, f, up, down, padding, Weights::Shared)
}

/// [`conv2d_resample`] with a weight per sample, `w [N·O, I, k, k]`: the official fused
/// modulated convolution (a grouped conv with groups = N), for up- or no resampling. The direct
/// CPU kernels take the per-sample weights as they are; elsewhere the samples run one by one.
pub fn conv2d_resample_per_sample(
    x: Tensor<4>,
    w: Tensor<4>,
    f: &Filter,
    up: usize,
    padding: usize,
) -> Tensor<4> {
    resample(x, w, f, up, 1, padding, Weights::PerSample)
}

/// Per-sample weights where the direct kernels do not apply: one shared-weight
/// `conv2d_resample` per sample.
fn one_by_one(x: Tensor<4>, w: Tensor<4>, f: &Filter, up: usize, padding: usize) -> Tensor<4> {
    let [n, _, _, _] = x.dims();
    let [rows, i, kh, kw] = w.dims();
    let o = rows / n;
    if n == 1 {
        return resample(x, w, f, up, 1, padding, Weights::Shared);
    }
    let parts: Vec<Tensor<4>> = (0..n)
        .map(|s| {
            resample(
                x.clone().narrow(0, s, 1),
                w.clone().narrow(0, s * o, o).reshape([o, i, kh, kw]),
                f,
                up,
                1,
                padding,
                Weights::Shared,
            )
        })
        .collect();
    Tensor::cat(parts, 0)
}

/// The filter's padding `[x0, x1, y0, y1]` after the stride-`up` transposed convolution of a
/// `[kh, kw]` kernel with `padding` (negative values crop).
pub(crate) fn transposed_fir_padding(
    f: &Filter,
    up: usize,
    [kh, kw]: [usize; 2],
    padding: usize,
) -> [i64; 4] {
    let (fw, fh, p, u) = (f.w as i64, f.h as i64, padding as i64, up as i64);
    let (kh, kw) = (kh as i64, kw as i64);
    [
        p + (fw + u - 1) / 2 - (kw - 1),
        p + (fw - u) / 2 - (kw - u),
        p + (fh + u - 1) / 2 - (kh - 1),
        p + (fh - u) / 2 - (kh - u),
    ]
}

fn resample(
    x: Tensor<4>,
    w: Tensor<4>,
    f: &Filter,
    up: usize,
    down: usize,
    padding: usize,
    ws: Weights,
) -> Tensor<4> {
    let [_, _, kh, kw] = w.dims();
    if ws == Weights::PerSample && (kh != kw || !direct_conv::applies(&x, &w)) {
        return one_by_one(x, w, f, up, padding);
    }
    let (fw, fh, p) = (f.w as i64, f.h as i64, padding as i64);
    let (kh, kw) = (kh as i64, kw as i64);
    if up > 1 {
        let u = up as i64;
        let (px0, px1) = (p + (fw + u - 1) / 2, p + (fw - u) / 2);
        let (py0, py1) = (p + (fh + u - 1) / 2, p + (fh - u) / 2);
        if kh == 1 && kw == 1 {
            // 1×1 conv first, then upsample with the filter.
            return upfirdn2d(
                plain(x, w, 1, 0, ws),
                f,
                up,
                1,
                [px0, px1, py0, py1],
                (up * up) as f64,
            );
        }
        // Transposed conv (weight not flipped), then the filter.
        let [px0, px1, py0, py1] =
            transposed_fir_padding(f, up, [kh as usize, kw as usize], padding);
        let pxt = (-px0).min(-px1).max(0);
        let pyt = (-py0).min(-py1).max(0);
        let direct =
            up == 2 && kh == 3 && kw == 3 && pxt == 0 && pyt == 0 && direct_conv::applies(&x, &w);
        if ws == Weights::PerSample && !direct {
            return one_by_one(x, w, f, up, padding);
        }
        // (Per-sample weights have returned above unless `direct`.)
        let trained = (x.is_autodiff() || w.is_autodiff())
            && up == 2
            && kh == 3
            && kw == 3
            && pxt == 0
            && pyt == 0;
        let y = if direct {
            direct_conv::conv_transpose2d_s2_tensor(x, w, ws == Weights::PerSample)
        } else if trained {
            // Training: forward and both gradients through the tap-GEMM kernels.
            train_ops::conv_transpose2d_s2(x, w)
        } else {
            conv_transpose2d(
                x,
                w.swap_dims(0, 1),
                None,
                ConvTransposeOptions::new(
                    [up, up],
                    [pyt as usize, pxt as usize],
                    [0, 0],
                    [1, 1],
                    1,
                ),
            )
        };
        return upfirdn2d(
            y,
            f,
            1,
            1,
            [px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt],
            (up * up) as f64,
        );
    }
    if down > 1 {
        // `conv2d_resample_per_sample` has no `down`.
        assert!(
            ws == Weights::Shared,
            "per-sample weights with downsampling"
        );
        let d = down as i64;
        let pad = [
            p + (fw - d + 1) / 2,
            p + (fw - d) / 2,
            p + (fh - d + 1) / 2,
            p + (fh - d) / 2,
        ];
        if kh == 1 && kw == 1 {
            // Downsample with the filter first, then the 1×1 conv.
            return plain(upfirdn2d(x, f, 1, down, pad, 1.0), w, 1, 0, ws);
        }
        // Filter (padding only), then a strided conv.
        return plain(upfirdn2d(x, f, 1, 1, pad, 1.0), w, down, 0, ws);
    }
    plain(x, w, 1, padding, ws)
}
