//! StyleGAN3's `SynthesisLayer` (FORMATS.md §5.3): affine → modulated conv with input gain
//! (`rsqrt(magnitude_ema)`) → `filtered_lrelu` (bias, upsample, leaky ReLU, clamp, downsample).
//! The same class, with `is_torgb`, is the final ToRGB layer (1×1, no demodulation, linear).

use burn::tensor::Tensor;

use super::design::LayerDesign;
use crate::error::{Error, Result};
use crate::nn::{FcSpec, FullyConnected, Init, Params, StateDict};
use crate::ops::filtered_lrelu::{filtered_lrelu, FilteredLrelu, LowPass};
use crate::ops::{modulated_conv2d, Filter};

#[derive(Clone, Debug)]
pub struct SynthesisLayer {
    pub design: LayerDesign,
    pub affine: FullyConnected,
    pub weight: Tensor<4>,
    pub bias: Tensor<1>,
    /// The input-magnitude EMA (a scalar, kept as `[1]`).
    pub magnitude_ema: Tensor<1>,
    pub up_filter: Option<LowPass>,
    pub down_filter: Option<LowPass>,
    pub conv_clamp: Option<f64>,
    /// The identity filter `modulated_conv2d` takes for its (unused) resampling.
    no_resample: Filter,
}

/// A stored filter buffer must be the one the constructor arguments design.
fn check_filter(
    p: &mut Params,
    name: &str,
    want: Option<Vec<f32>>,
    radial: bool,
    file_hint: &str,
) -> Result<Option<LowPass>> {
    let dev = p.device().clone();
    let Some(want) = want else {
        if p.contains(name) && !p.is_random() {
            return Err(Error::Config(format!(
                "{file_hint}.{name}: the checkpoint holds a filter where the layer design has none (1 tap)"
            )));
        }
        return Ok(None);
    };
    let k = if radial {
        (want.len() as f64).sqrt().round() as usize
    } else {
        want.len()
    };
    let shape: Vec<usize> = if radial { vec![k, k] } else { vec![k] };
    let got: Vec<f32> = p
        .data(name, &shape, Init::Values(want.clone()))?
        .try_to_vec()
        .map_err(|e| Error::Config(format!("{name}: {e:?}")))?;
    let peak = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    if worst > 1e-5 * peak.max(1e-30) {
        return Err(Error::Config(format!(
            "{file_hint}.{name}: the stored filter differs from the one its init_kwargs design (max |Δ| {worst:e}); the checkpoint's config does not describe these weights"
        )));
    }
    Ok(Some(if radial {
        LowPass::full(got, k, &dev)
    } else {
        LowPass::separable(got, &dev)
    }))
}

impl SynthesisLayer {
    /// `prefix` names the layer in errors (e.g. `synthesis.L3_36_64`).
    pub fn new(
        p: &mut Params,
        w_dim: usize,
        design: &LayerDesign,
        conv_clamp: Option<f64>,
        prefix: &str,
    ) -> Result<Self> {
        let d = design;
        let affine = p.scope("affine", |p| {
            FullyConnected::new(p, FcSpec::new(w_dim, d.in_channels).bias_init(1.0))
        })?;
        let k = d.conv_kernel;
        let weight = p.tensor(
            "weight",
            [d.out_channels, d.in_channels, k, k],
            Init::Randn(1.0),
        )?;
        let bias = p.tensor("bias", [d.out_channels], Init::Const(0.0))?;
        let magnitude_ema = p.scalar("magnitude_ema", Init::Const(1.0))?;
        let up_filter = check_filter(p, "up_filter", d.up_filter(), false, prefix)?;
        let down_filter = check_filter(p, "down_filter", d.down_filter(), d.down_radial, prefix)?;
        Ok(Self {
            design: design.clone(),
            affine,
            weight,
            bias,
            magnitude_ema,
            up_filter,
            down_filter,
            conv_clamp,
            no_resample: Filter::from_2d(vec![1.0], 1, 1, p.device()),
        })
    }

    /// The styles `affine(w)` (times `1/sqrt(I·k²)` for ToRGB) for `w [N, w_dim]`.
    pub fn styles(&self, w: Tensor<2>) -> Tensor<2> {
        let s = self.affine.forward(w);
        if self.design.is_torgb {
            let k = self.design.conv_kernel;
            s.mul_scalar((1.0 / ((self.design.in_channels * k * k) as f64).sqrt()) as f32)
        } else {
            s
        }
    }

    /// The stored input-magnitude EMA.
    pub fn magnitude(&self) -> f32 {
        crate::backend::to_vec(&self.magnitude_ema)
            .map(|v| v[0])
            .unwrap_or(1.0)
    }

    /// The layer on `x [N, I, in_size, in_size]` with its styles (see [`Self::styles`]).
    pub fn forward_styles(&self, x: Tensor<4>, styles: Tensor<2>) -> Tensor<4> {
        let ema = self.magnitude();
        self.forward_with_magnitude(x, styles, ema)
    }

    /// [`Self::forward_styles`] with the input gain `rsqrt(ema)` of a given magnitude EMA (the
    /// value training has just updated).
    pub fn forward_with_magnitude(&self, x: Tensor<4>, styles: Tensor<2>, ema: f32) -> Tensor<4> {
        let d = &self.design;
        let demodulate = !d.is_torgb;
        // Pre-normalise (official `modulated_conv2d` of StyleGAN3): the weight per output
        // channel, the styles over the whole batch.
        let (weight, styles) = if demodulate {
            let [o, _, _, _] = self.weight.dims();
            let wn = self
                .weight
                .clone()
                .square()
                .reshape([o as i32, -1])
                .mean_dim(1)
                .sqrt()
                .recip()
                .reshape([o, 1, 1, 1]);
            let sn = styles
                .clone()
                .square()
                .mean()
                .sqrt()
                .recip()
                .reshape([1, 1]);
            (self.weight.clone() * wn, styles * sn)
        } else {
            (self.weight.clone(), styles)
        };
        // input_gain = rsqrt(magnitude_ema): a scalar on every weight, i.e. on the output.
        let input_gain = 1.0 / (ema as f64).sqrt();
        let x = modulated_conv2d(
            x,
            &weight,
            &styles,
            demodulate,
            1,
            d.conv_kernel - 1,
            &self.no_resample,
            input_gain,
        );
        let (gain, slope) = if d.is_torgb {
            (1.0, 1.0)
        } else {
            (std::f64::consts::SQRT_2, 0.2)
        };
        filtered_lrelu(
            x,
            self.up_filter.as_ref(),
            self.down_filter.as_ref(),
            Some(&self.bias),
            &FilteredLrelu {
                up: d.up_factor,
                down: d.down_factor,
                padding: d.padding,
                gain,
                slope,
                clamp: self.conv_clamp,
            },
        )
    }

    /// The layer on `x` with `w [N, w_dim]`.
    pub fn forward(&self, x: Tensor<4>, w: Tensor<2>) -> Tensor<4> {
        let s = self.styles(w);
        self.forward_styles(x, s)
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        sd.add("weight", &self.weight);
        sd.add("bias", &self.bias);
        sd.add_scalar("magnitude_ema", &self.magnitude_ema);
        for (name, f) in [
            ("up_filter", &self.up_filter),
            ("down_filter", &self.down_filter),
        ] {
            if let Some(f) = f {
                let (taps, shape) = f.taps();
                sd.add_data(name, shape, taps.to_vec());
            }
        }
        sd.scope("affine", |sd| self.affine.state_dict(sd));
    }
}
