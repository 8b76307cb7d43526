//! StyleGAN3's `SynthesisNetwork`: `input(ws[0])`, then layers `L0 … L{num_layers}` (the last
//! is ToRGB), each with its own w, then `× output_scale`.

use burn::tensor::Tensor;

use super::config::Sg3Config;
use super::design::Design;
use super::input::SynthesisInput;
use super::layer::SynthesisLayer;
use crate::error::{Error, Result};
use crate::nn::{Params, StateDict};

#[derive(Clone, Debug)]
pub struct SynthesisNetwork {
    pub input: SynthesisInput,
    pub layers: Vec<SynthesisLayer>,
    pub num_ws: usize,
    pub w_dim: usize,
    pub output_scale: f64,
}

impl SynthesisNetwork {
    pub fn new(
        p: &mut Params,
        cfg: &Sg3Config,
        w_dim: usize,
        img_resolution: usize,
        img_channels: usize,
    ) -> Result<Self> {
        let design = Design::new(cfg, img_resolution, img_channels);
        let input = p.scope("input", |p| SynthesisInput::new(p, w_dim, &design.input))?;
        let layers = design
            .layers
            .iter()
            .map(|d| {
                p.scope(&d.name, |p| {
                    SynthesisLayer::new(
                        p,
                        w_dim,
                        d,
                        cfg.conv_clamp,
                        &format!("synthesis.{}", d.name),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            input,
            num_ws: layers.len() + 1,
            layers,
            w_dim,
            output_scale: cfg.output_scale,
        })
    }

    pub(crate) fn check_ws(&self, ws: &Tensor<3>) -> Result<()> {
        let [_, n_ws, d] = ws.dims();
        if n_ws != self.num_ws || d != self.w_dim {
            return Err(Error::InvalidArgument(format!(
                "ws has shape [N, {n_ws}, {d}], the network expects [N, {}, {}]",
                self.num_ws, self.w_dim
            )));
        }
        Ok(())
    }

    /// The image `[N, C, R, R]` from ws `[N, num_ws, w_dim]`.
    pub fn forward(&self, ws: &Tensor<3>) -> Result<Tensor<4>> {
        self.forward_extended(ws, [0, 0])
    }

    /// `× output_scale` (skipped when it is 1, as the official code does).
    pub(crate) fn scale_output(&self, x: Tensor<4>) -> Tensor<4> {
        if self.output_scale != 1.0 {
            x.mul_scalar(self.output_scale as f32)
        } else {
            x
        }
    }

    /// A wider (or taller) view of the same image: the Fourier input is sampled on a grid
    /// `extra = [x, y]` input samples larger on each side, and every layer runs on the larger
    /// planes (their sizes follow from the padding). The image grows by
    /// `extra · img_resolution / input_sampling_rate` pixels on each side; `[0, 0]` is
    /// [`Self::forward`]. StyleGAN3's version of "StyleGAN of All Trades" expansion: no
    /// feature padding is needed, the input plane simply goes on.
    pub fn forward_extended(&self, ws: &Tensor<3>, extra: [usize; 2]) -> Result<Tensor<4>> {
        self.check_ws(ws)?;
        let [n, _, d] = ws.dims();
        let w = |i: usize| ws.clone().narrow(1, i, 1).reshape([n, d]);
        let size = self.input.design.size;
        let mut x = self
            .input
            .forward_sized(w(0), [size + 2 * extra[1], size + 2 * extra[0]]);
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, w(i + 1));
        }
        Ok(self.scale_output(x))
    }

    /// Input samples to add on each side for an image `factor` times as wide (≥ 1), and the
    /// pixels per input sample.
    pub fn extra_for_factor(&self, factor: f64, img_resolution: usize) -> Result<usize> {
        if !(factor >= 1.0 && factor.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "the expansion factor must be >= 1, got {factor}"
            )));
        }
        let px_per_sample = img_resolution as f64 / self.input.design.sampling_rate;
        Ok(((factor - 1.0) * img_resolution as f64 / 2.0 / px_per_sample).round() as usize)
    }

    /// The forward pass of training's `update_emas=True`: before each layer its input
    /// magnitude EMA becomes `mean(x²).lerp(ema, beta)`, and the layer runs with the new value.
    /// Returns the image and the new EMAs by official name (`synthesis.L3_52_512.magnitude_ema`).
    pub fn forward_update_emas(
        &self,
        ws: &Tensor<3>,
        beta: f64,
    ) -> Result<(Tensor<4>, Vec<(String, f32)>)> {
        self.check_ws(ws)?;
        let [n, _, d] = ws.dims();
        let w = |i: usize| ws.clone().narrow(1, i, 1).reshape([n, d]);
        let mut x = self.input.forward(w(0));
        let mut emas = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let cur = crate::backend::to_vec(&x.clone().square().mean())?[0] as f64;
            let old = layer.magnitude() as f64;
            // torch.lerp(cur, old, beta) = cur + beta·(old − cur).
            let new = (cur + beta * (old - cur)) as f32;
            emas.push((
                format!("synthesis.{}.magnitude_ema", layer.design.name),
                new,
            ));
            x = layer.forward_with_magnitude(x, layer.styles(w(i + 1)), new);
        }
        Ok((self.scale_output(x), emas))
    }

    /// The official layer names (`input`, `L0_36_512`, …) in order.
    pub fn layer_names(&self) -> Vec<String> {
        std::iter::once("input".to_string())
            .chain(self.layers.iter().map(|l| l.design.name.clone()))
            .collect()
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        sd.scope("input", |sd| self.input.state_dict(sd));
        for l in &self.layers {
            sd.scope(&l.design.name, |sd| l.state_dict(sd));
        }
    }
}
