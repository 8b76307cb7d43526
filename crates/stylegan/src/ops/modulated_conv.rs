//! `modulated_conv2d`: style modulation, optional demodulation, and the 3×3 (or k×k) conv with
//! optional 2× upsampling (FORMATS.md §3.4 and §2.5).
//!
//! One sample, and every batch in CPU inference, take the official fused path (see
//! `modulated_conv2d`). Other batches use the official *non-fused* formulation — scale the
//! input channels by the styles, run one ordinary batched conv with the shared weight, scale
//! the output by the demodulation coefficients — which is the same maths as the fused grouped conv (within 2e-6, FORMATS.md
//! §3.4) but one large convolution instead of N small ones.

use burn::tensor::Tensor;

use super::bias_act::{bias_act, Activation};
use super::conv2d_resample::{conv2d_resample, conv2d_resample_per_sample, transposed_fir_padding};
use super::direct_conv::{self, Epilogue, Fir};
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

/// What a synthesis layer does after its modulated convolution: add the per-pixel `noise`
/// (`[1 or N, 1, H, W]`, already times its strength), then `bias_act(bias, act, gain, clamp)`.
#[derive(Clone, Debug)]
pub struct ConvTail<'a> {
    pub noise: Option<Tensor<4>>,
    pub bias: Option<&'a Tensor<1>>,
    pub act: Activation,
    pub gain: f64,
    pub clamp: Option<f64>,
}

/// [`modulated_conv2d`] followed by the layer's [`ConvTail`]. In CPU inference the whole layer
/// is one fused operation (`direct_conv::modulated_conv2d_tensor`): the per-sample weights are
/// modulated while they are packed for the kernel, and noise, bias, activation, gain and clamp
/// are applied to each output plane by the pass that writes it. Elsewhere (autodiff, GPU,
/// shapes the direct kernels do not take) it is the same maths as separate operations.
#[allow(clippy::too_many_arguments)]
pub fn modulated_conv2d_bias_act(
    x: Tensor<4>,
    weight: &Tensor<4>,
    styles: &Tensor<2>,
    demodulate: bool,
    up: usize,
    padding: usize,
    filter: &Filter,
    out_gain: f64,
    tail: ConvTail,
) -> Tensor<4> {
    let x = match fused(
        x, weight, styles, demodulate, up, padding, filter, out_gain, &tail,
    ) {
        Ok(y) => return y,
        Err(x) => x,
    };
    let mut y = modulated_conv2d(x, weight, styles, demodulate, up, padding, filter, out_gain);
    if let Some(noise) = tail.noise {
        y = y + noise;
    }
    bias_act(y, tail.bias, tail.act, tail.gain, tail.clamp)
}

/// The fused CPU path of [`modulated_conv2d_bias_act`]; gives `x` back where it does not apply.
#[allow(clippy::too_many_arguments, clippy::result_large_err)]
fn fused(
    x: Tensor<4>,
    weight: &Tensor<4>,
    styles: &Tensor<2>,
    demodulate: bool,
    up: usize,
    padding: usize,
    filter: &Filter,
    out_gain: f64,
    tail: &ConvTail,
) -> Result<Tensor<4>, Tensor<4>> {
    let [n, _, h, w] = x.dims();
    let [o, _, kh, kw] = weight.dims();
    if !direct_conv::applies(&x, weight)
        || styles.is_autodiff()
        || kh != kw
        || !Epilogue::supports(tail.act)
    {
        return Err(x);
    }
    // The up-convolution as `conv2d_resample` does it (transposed conv, then the filter with
    // gain up²), when its padding is the official one (no cropping).
    let (fir_taps, fir) = match up {
        1 => (Vec::new(), None),
        2 if kh == 3 => {
            let pads = transposed_fir_padding(filter, 2, [kh, kw], padding);
            if pads.iter().any(|&v| v < 0) {
                return Err(x);
            }
            (filter.correlation_taps(4.0), Some(pads.map(|v| v as usize)))
        }
        _ => return Err(x),
    };
    let (oh, ow) = match fir {
        Some([l, r, t, b]) => (
            2 * h + 1 + t + b + 1 - filter.h,
            2 * w + 1 + l + r + 1 - filter.w,
        ),
        None if h + 2 * padding >= kh && w + 2 * padding >= kw => {
            (h + 2 * padding + 1 - kh, w + 2 * padding + 1 - kw)
        }
        None => return Err(x),
    };
    let noise = match &tail.noise {
        Some(t) => {
            let [nn, c, th, tw] = t.dims();
            if !(nn == 1 || nn == n) || c != 1 || (th, tw) != (oh, ow) {
                return Err(x);
            }
            match crate::backend::to_vec(t) {
                Ok(v) => Some(v),
                Err(_) => return Err(x),
            }
        }
        None => None,
    };
    let bias = match tail.bias.map(|b| (b.dims()[0], crate::backend::to_vec(b))) {
        Some((c, Ok(v))) if c == o => Some(v),
        Some(_) => return Err(x),
        None => None,
    };
    let post = Epilogue {
        noise: noise.as_deref(),
        bias: bias.as_deref(),
        act: tail.act,
        gain: tail.gain as f32,
        clamp: tail.clamp.map(|c| c as f32),
    };
    let fir = fir.map(|pad| Fir {
        taps: &fir_taps,
        shape: [filter.h, filter.w],
        pad,
    });
    let rows = if demodulate {
        demodulation(weight, styles).mul_scalar(out_gain as f32)
    } else {
        Tensor::full([n, o], out_gain as f32, &x.device())
    };
    Ok(direct_conv::modulated_conv2d_tensor(
        x, weight, styles, &rows, padding, fir, &post,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, Tensor};

    /// The fused CPU layer gives what the modulated conv followed by the separate noise and
    /// `bias_act` operations gives, with and without upsampling and demodulation, for one
    /// sample and a batch.
    #[test]
    fn fused_layer_matches_the_separate_operations() {
        let dev = crate::backend::cpu();
        let filter = Filter::from_taps_1d(&[1.0, 3.0, 3.0, 1.0], &dev).unwrap();
        let (ci, co, h, w) = (11, 9, 5, 6);
        let weight = Tensor::<4>::random([co, ci, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
        let bias = Tensor::<1>::random([co], Distribution::Normal(0.0, 1.0), &dev);
        for n in [1, 3] {
            let x = Tensor::<4>::random([n, ci, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let styles = Tensor::<2>::random([n, ci], Distribution::Normal(1.0, 0.3), &dev);
            for (up, demodulate) in [(1, true), (2, true), (1, false), (2, false)] {
                let (oh, ow) = (h * up, w * up);
                let noise =
                    Tensor::<4>::random([n, 1, oh, ow], Distribution::Normal(0.0, 1.0), &dev);
                let tail = ConvTail {
                    noise: Some(noise.clone()),
                    bias: Some(&bias),
                    act: Activation::Lrelu,
                    gain: 1.3,
                    clamp: Some(1.0),
                };
                let fused = modulated_conv2d_bias_act(
                    x.clone(),
                    &weight,
                    &styles,
                    demodulate,
                    up,
                    1,
                    &filter,
                    0.7,
                    tail,
                );
                let y =
                    modulated_conv2d(x.clone(), &weight, &styles, demodulate, up, 1, &filter, 0.7);
                let want = bias_act(y + noise, Some(&bias), Activation::Lrelu, 1.3, Some(1.0));
                assert_eq!(fused.dims(), [n, co, oh, ow]);
                let d: f32 = (fused - want).abs().max().into_scalar();
                assert!(
                    d < 1e-4,
                    "n={n} up={up} demodulate={demodulate}: max diff {d}"
                );
            }
        }
    }
}
