//! `modulated_conv2d`: style modulation, optional demodulation, and the 3×3 (or k×k) conv with
//! optional 2× upsampling (FORMATS.md §3.4 and §2.5).
//!
//! One sample, and every batch in CPU inference, take the official fused path (see
//! `modulated_conv2d`). Other batches use the official *non-fused* formulation — scale the
//! input channels by the styles, run one ordinary batched conv with the shared weight, scale
//! the output by the demodulation coefficients — which is the same maths as the fused grouped conv (within 2e-6, FORMATS.md
//! §3.4) but one large convolution instead of N small ones.

use burn::tensor::Tensor;

use super::conv2d_resample::{conv2d_resample, conv2d_resample_per_sample};
use super::direct_conv;
use super::upfirdn2d::Filter;

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
    if n == 1 || direct_conv::applies(&x, weight) {
        // The official fused path: styles and demodulation folded into a per-sample weight,
        // which saves two passes over the (large) activations. For one sample everywhere; for a
        // batch in CPU inference, as the official code evaluates (a grouped conv), since the
        // direct kernels cost the same either way. The images of a batch then differ from those
        // of their seeds alone only by the rounding of the batched mapping and affine matmuls
        // (~3e-6).
        let [_, _, kh, kw] = weight.dims();
        let mut w = weight.clone().unsqueeze_dim::<5>(0) * styles.clone().reshape([n, 1, i, 1, 1]);
        if demodulate {
            w = w * demodulation(weight, styles)
                .mul_scalar(out_gain as f32)
                .reshape([n, o, 1, 1, 1]);
        } else if out_gain != 1.0 {
            w = w.mul_scalar(out_gain as f32);
        }
        return conv2d_resample_per_sample(x, w.reshape([n * o, i, kh, kw]), filter, up, padding);
    }
    let x = x * styles.clone().reshape([n, i, 1, 1]);
    let y = conv2d_resample(x, weight.clone(), filter, up, 1, padding);
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
