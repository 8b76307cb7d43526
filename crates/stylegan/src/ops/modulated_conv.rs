//! `modulated_conv2d`: style modulation, optional demodulation, and the 3×3 (or k×k) conv with
//! optional 2× upsampling (FORMATS.md §3.4 and §2.5).
//!
//! We use the official *non-fused* formulation — scale the input channels by the styles, run one
//! ordinary batched conv with the shared weight, scale the output by the demodulation
//! coefficients — which is the same maths as the fused grouped conv (within 2e-6, FORMATS.md
//! §3.4) but one large convolution instead of N small ones.

use burn::tensor::{
    module::{conv2d, conv_transpose2d},
    ops::{ConvOptions, ConvTransposeOptions},
    Tensor,
};

use super::upfirdn2d::{upfirdn2d, Filter};

/// Demodulation coefficients `rsqrt(Σ_{i,k,k} (weight·s_i)² + 1e-8)` → `[N, O]`.
pub fn demodulation(weight: &Tensor<4>, styles: &Tensor<2>) -> Tensor<2> {
    let [o, i, kh, kw] = weight.dims();
    let w2 = weight
        .clone()
        .square()
        .reshape([o, i, kh * kw])
        .sum_dim(2)
        .reshape([o, i]);
    styles
        .clone()
        .square()
        .matmul(w2.transpose())
        .add_scalar(1e-8)
        .sqrt()
        .recip()
}

/// Modulated convolution of `x [N, I, H, W]` with `weight [O, I, k, k]` and `styles [N, I]`.
/// `up == 2` is the transposed-conv path of `conv2d_resample` followed by the FIR filter
/// (padding 1, gain 4); the output is then `2H × 2W`. The output is multiplied by `out_gain`,
/// folded into the demodulation coefficients so that it costs no pass over the activations.
#[allow(clippy::too_many_arguments)]
pub fn modulated_conv2d(
    x: Tensor<4>,
    weight: &Tensor<4>,
    styles: &Tensor<2>,
    demodulate: bool,
    up: usize,
    padding: usize,
    filter: &Filter,
    out_gain: f64,
) -> Tensor<4> {
    let [n, i, _, _] = x.dims();
    let [o, _, _, _] = weight.dims();
    if n == 1 {
        // One sample: fold styles and demodulation into the (small) weight — the official fused
        // path — and save two passes over the (large) activations.
        let mut w = weight.clone() * styles.clone().reshape([1, i, 1, 1]);
        if demodulate {
            w = w * demodulation(weight, styles)
                .mul_scalar(out_gain as f32)
                .reshape([o, 1, 1, 1]);
        } else if out_gain != 1.0 {
            w = w.mul_scalar(out_gain as f32);
        }
        return conv_resample(x, w, up, padding, filter);
    }
    let y = conv_resample(
        x * styles.clone().reshape([n, i, 1, 1]),
        weight.clone(),
        up,
        padding,
        filter,
    );
    if demodulate {
        y * demodulation(weight, styles)
            .mul_scalar(out_gain as f32)
            .reshape([n, o, 1, 1])
    } else if out_gain != 1.0 {
        y.mul_scalar(out_gain as f32)
    } else {
        y
    }
}

/// `conv2d_resample` for `up` ∈ {1, 2} (no downsampling), weight `[O, I, k, k]`.
fn conv_resample(
    x: Tensor<4>,
    weight: Tensor<4>,
    up: usize,
    padding: usize,
    filter: &Filter,
) -> Tensor<4> {
    let [_, _, kh, kw] = weight.dims();
    if up == 1 {
        conv2d(
            x,
            weight,
            None,
            ConvOptions::new([1, 1], [padding, padding], [1, 1], 1),
        )
    } else {
        // conv2d_resample with up > 1: transposed conv (weight not flipped), then the filter.
        let (fw, fh) = (filter.w as i64, filter.h as i64);
        let (up_i, p) = (up as i64, padding as i64);
        let px0 = p + (fw + up_i - 1) / 2 - (kw as i64 - 1);
        let px1 = p + (fw - up_i) / 2 - (kw as i64 - up_i);
        let py0 = p + (fh + up_i - 1) / 2 - (kh as i64 - 1);
        let py1 = p + (fh - up_i) / 2 - (kh as i64 - up_i);
        let pxt = (-px0).min(-px1).max(0);
        let pyt = (-py0).min(-py1).max(0);
        let y = conv_transpose2d(
            x,
            weight.swap_dims(0, 1),
            None,
            ConvTransposeOptions::new([up, up], [pyt as usize, pxt as usize], [0, 0], [1, 1], 1),
        );
        upfirdn2d(
            y,
            filter,
            1,
            1,
            [px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt],
            (up * up) as f64,
        )
    }
}
