//! The StyleGAN2 synthesis network (FORMATS.md §3.2, §3.4, §3.5): per-block styles in, features
//! between blocks out, image out.
//!
//! The data path is exposed in three steps so that tools can act at any point of it:
//! `ws → styles` ([`SynthesisNetwork::styles`], the StyleSpace S), then
//! `styles → features` block by block ([`SynthesisNetwork::run_blocks`], which can start from
//! features produced elsewhere), and the final block's `img` is the image.

use std::ops::Range;

use burn::tensor::{Distribution, Tensor};

use super::config::{Architecture, GeneratorConfig};
use crate::error::{Error, Result};
use crate::nn::layers::load_filter;
use crate::nn::{Conv2dLayer, Conv2dSpec, FcSpec, FullyConnected, Init, Params, StateDict};
use crate::ops::{modulated_conv2d_bias_act, upsample2d, Activation, ConvTail, Filter};

/// How per-pixel noise is fed to the synthesis layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseMode {
    /// The stored `noise_const` buffers (reproducible; the official default).
    Const,
    /// Fresh Gaussian noise on every call.
    Random,
    /// No noise.
    None,
    /// Gaussian noise drawn from our own seeded generator (MT19937, per layer), so that a run
    /// is reproducible whatever else uses burn's global RNG (the trainer uses this).
    Seeded(u64),
}

impl NoiseMode {
    /// The mode for one layer: `Seeded` gets a distinct stream per (resolution, layer).
    fn for_layer(self, resolution: usize, k: u64) -> Self {
        match self {
            NoiseMode::Seeded(s) => NoiseMode::Seeded(
                s.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((resolution as u64) << 8 | k),
            ),
            m => m,
        }
    }
}

/// `[n, 1, h, w]` Gaussian noise from our own generator (MT19937) seeded with `seed`: what
/// [`NoiseMode::Seeded`] feeds a layer.
pub(crate) fn seeded_noise(
    seed: u64,
    [n, h, w]: [usize; 3],
    device: &burn::tensor::Device,
) -> Tensor<4> {
    let mut rng = crate::rng::RandomState::from_array(&[seed as u32, (seed >> 32) as u32]);
    let v: Vec<f32> = rng.randn(n * h * w).into_iter().map(|v| v as f32).collect();
    Tensor::<4>::from_data(burn::tensor::TensorData::new(v, [n, 1, h, w]), device)
}

impl std::str::FromStr for NoiseMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "const" => Ok(Self::Const),
            "random" => Ok(Self::Random),
            "none" => Ok(Self::None),
            o => Err(Error::InvalidArgument(format!(
                "unknown noise mode '{o}' (expected const, random or none)"
            ))),
        }
    }
}

/// `SynthesisLayer`: modulated conv (optionally 2× up), noise, bias + lrelu + clamp.
#[derive(Clone, Debug)]
pub struct SynthesisLayer {
    pub affine: FullyConnected,
    pub weight: Tensor<4>,
    pub bias: Tensor<1>,
    pub noise_strength: Option<Tensor<1>>,
    pub noise_const: Option<Tensor<2>>,
    pub filter: Filter,
    pub resolution: usize,
    pub up: usize,
    pub activation: Activation,
    pub conv_clamp: Option<f64>,
}

impl SynthesisLayer {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &mut Params,
        cfg: &GeneratorConfig,
        in_ch: usize,
        out_ch: usize,
        resolution: usize,
        up: usize,
        filter: &Filter,
    ) -> Result<Self> {
        let s = cfg.sg2("the StyleGAN2 synthesis")?;
        let k = s.kernel_size;
        let affine = p.scope("affine", |p| {
            FullyConnected::new(p, FcSpec::new(cfg.w_dim, in_ch).bias_init(1.0))
        })?;
        let weight = p.tensor("weight", [out_ch, in_ch, k, k], Init::Randn(1.0))?;
        let (noise_strength, noise_const) = if s.use_noise {
            (
                Some(p.scalar("noise_strength", Init::Const(0.0))?),
                Some(p.tensor("noise_const", [resolution, resolution], Init::Randn(1.0))?),
            )
        } else {
            (None, None)
        };
        let bias = p.tensor("bias", [out_ch], Init::Const(0.0))?;
        let filter = load_filter(p, filter)?;
        Ok(Self {
            affine,
            weight,
            bias,
            noise_strength,
            noise_const,
            filter,
            resolution,
            up,
            activation: s.activation,
            conv_clamp: s.conv_clamp,
        })
    }

    /// Apply the layer with its styles already computed (`affine(w)`).
    pub fn forward(
        &self,
        x: Tensor<4>,
        styles: &Tensor<2>,
        noise_mode: NoiseMode,
        gain: f64,
    ) -> Tensor<4> {
        let k = self.weight.dims()[2];
        let act_gain = self.activation.default_gain() * gain;
        // linear / relu / lrelu are positively homogeneous, act(x)·g = act(x·g) for g > 0, so the
        // gain is folded into the demodulation, noise strength and bias (small tensors) instead
        // of costing a pass over the activations. Same maths as bias_act's order, within 1 ulp.
        let fold = act_gain > 0.0
            && matches!(
                self.activation,
                Activation::Linear | Activation::Relu | Activation::Lrelu
            );
        let (conv_gain, post_gain) = if fold {
            (act_gain, 1.0)
        } else {
            (1.0, act_gain)
        };
        // The output's size, for the noise (with `up`, the transposed conv and its filter give
        // twice the input; otherwise the padding k/2 keeps it).
        let [n, _, h, w] = x.dims();
        let (h, w) = if self.up > 1 {
            (h * self.up, w * self.up)
        } else {
            (h + 2 * (k / 2) + 1 - k, w + 2 * (k / 2) + 1 - k)
        };
        let noise = self.noise(noise_mode, n, h, w, conv_gain, &x.device());
        let bias = if fold {
            self.bias.clone().mul_scalar(conv_gain as f32)
        } else {
            self.bias.clone()
        };
        modulated_conv2d_bias_act(
            x,
            &self.weight,
            styles,
            true,
            self.up,
            k / 2,
            &self.filter,
            conv_gain,
            ConvTail {
                noise,
                bias: Some(&bias),
                act: self.activation,
                gain: post_gain,
                clamp: self.conv_clamp.map(|c| c * gain),
            },
        )
    }

    /// The per-pixel noise of `n` samples of `h × w` outputs, times its strength and `gain`
    /// (`[1 or N, 1, H, W]`; `None` without noise). Features may be wider or taller than the
    /// layer's resolution (feature-map operations); noise then covers their actual size, const
    /// noise tiled.
    fn noise(
        &self,
        mode: NoiseMode,
        n: usize,
        h: usize,
        w: usize,
        gain: f64,
        device: &burn::tensor::Device,
    ) -> Option<Tensor<4>> {
        let (strength, buf) = (self.noise_strength.as_ref()?, self.noise_const.as_ref()?);
        let r = self.resolution;
        let strength = strength
            .clone()
            .mul_scalar(gain as f32)
            .reshape([1, 1, 1, 1]);
        let noise = match mode {
            NoiseMode::Const => tile_noise(buf.clone().reshape([1, 1, r, r]), h, w),
            NoiseMode::Random => {
                Tensor::<4>::random([n, 1, h, w], Distribution::Normal(0.0, 1.0), device)
            }
            NoiseMode::Seeded(seed) => seeded_noise(seed, [n, h, w], device).cast(buf.dtype()),
            NoiseMode::None => return None,
        };
        Some(noise * strength)
    }

    fn state_dict(&self, sd: &mut StateDict) {
        sd.add("weight", &self.weight);
        if let Some(s) = &self.noise_strength {
            sd.add_scalar("noise_strength", s);
        }
        sd.add("bias", &self.bias);
        sd.add_data(
            "resample_filter",
            vec![self.filter.h, self.filter.w],
            self.filter.taps.clone(),
        );
        if let Some(n) = &self.noise_const {
            sd.add("noise_const", n);
        }
        sd.scope("affine", |sd| self.affine.state_dict(sd));
    }
}

/// `ToRGBLayer`: 1×1 modulated conv without demodulation; styles scaled by 1/sqrt(I).
#[derive(Clone, Debug)]
pub struct ToRgb {
    pub affine: FullyConnected,
    pub weight: Tensor<4>,
    pub bias: Tensor<1>,
    pub weight_gain: f64,
    pub conv_clamp: Option<f64>,
    filter: Filter,
}

impl ToRgb {
    fn new(p: &mut Params, cfg: &GeneratorConfig, in_ch: usize, filter: &Filter) -> Result<Self> {
        let affine = p.scope("affine", |p| {
            FullyConnected::new(p, FcSpec::new(cfg.w_dim, in_ch).bias_init(1.0))
        })?;
        let weight = p.tensor("weight", [cfg.img_channels, in_ch, 1, 1], Init::Randn(1.0))?;
        let bias = p.tensor("bias", [cfg.img_channels], Init::Const(0.0))?;
        Ok(Self {
            affine,
            weight,
            bias,
            weight_gain: 1.0 / (in_ch as f64).sqrt(),
            conv_clamp: cfg.sg2("the StyleGAN2 synthesis")?.conv_clamp,
            filter: filter.clone(),
        })
    }

    /// `styles` are the raw affine outputs (StyleSpace); the 1/sqrt(I) gain is applied here.
    pub fn forward(&self, x: Tensor<4>, styles: &Tensor<2>) -> Tensor<4> {
        let s = styles.clone().mul_scalar(self.weight_gain as f32);
        modulated_conv2d_bias_act(
            x,
            &self.weight,
            &s,
            false,
            1,
            0,
            &self.filter,
            1.0,
            ConvTail {
                noise: None,
                bias: Some(&self.bias),
                act: Activation::Linear,
                gain: 1.0,
                clamp: self.conv_clamp,
            },
        )
    }

    fn state_dict(&self, sd: &mut StateDict) {
        sd.add("weight", &self.weight);
        sd.add("bias", &self.bias);
        sd.scope("affine", |sd| self.affine.state_dict(sd));
    }
}

/// Whether a batch of `batch` images runs sample by sample through the whole synthesis network
/// rather than layer by layer (`t`: any of its inputs). CPU inference computes every layer one
/// sample at a time anyway (per-sample weights), so the images are the same in either order; sample
/// by sample, the activations in memory are one sample's, not the batch's (config-f 1024² at
/// batch 8: 6.2 GiB → about batch 1's 1.6 GiB), and they stay in cache. Not on the GPU, under
/// autodiff, or with random noise (whose draws follow the batch).
pub fn sample_major<const D: usize>(batch: usize, t: &Tensor<D>, noise: NoiseMode) -> bool {
    batch > 1
        && !t.is_autodiff()
        && t.device() == burn::tensor::Device::flex()
        && matches!(noise, NoiseMode::Const | NoiseMode::None)
}

/// The images of samples `0..batch`, each made alone by `one`, as one batch.
pub(crate) fn per_sample(
    batch: usize,
    one: impl Fn(usize) -> Result<Tensor<4>>,
) -> Result<Tensor<4>> {
    Ok(Tensor::cat(
        (0..batch).map(one).collect::<Result<Vec<_>>>()?,
        0,
    ))
}

/// The styles (StyleSpace vectors) of one block, `[N, in_channels]` each.
#[derive(Clone, Debug)]
pub struct BlockStyles {
    pub conv0: Option<Tensor<2>>,
    pub conv1: Tensor<2>,
    pub torgb: Option<Tensor<2>>,
}

impl BlockStyles {
    /// The styles of sample `s` alone (a batch of one).
    pub fn sample(&self, s: usize) -> Self {
        Self {
            conv0: self.conv0.clone().map(|t| t.narrow(0, s, 1)),
            conv1: self.conv1.clone().narrow(0, s, 1),
            torgb: self.torgb.clone().map(|t| t.narrow(0, s, 1)),
        }
    }
}

/// The activations between blocks: features `x` and, for skip generators, the running image.
#[derive(Clone, Debug)]
pub struct Features {
    pub x: Tensor<4>,
    pub img: Option<Tensor<4>>,
}

/// A constant noise map `[1, 1, r, r]` for features of `h × w` (wider or taller after a
/// feature operation): tiled, then cut to size; unchanged when the size is its own.
pub(crate) fn tile_noise(map: Tensor<4>, h: usize, w: usize) -> Tensor<4> {
    let [_, _, mh, mw] = map.dims();
    if (h, w) == (mh, mw) {
        return map;
    }
    map.repeat_dim(2, h.div_ceil(mh))
        .repeat_dim(3, w.div_ceil(mw))
        .narrow(2, 0, h)
        .narrow(3, 0, w)
}

/// `SynthesisBlock` at one resolution.
#[derive(Clone, Debug)]
pub struct SynthesisBlock {
    pub resolution: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub architecture: Architecture,
    pub is_last: bool,
    /// The learned 4×4 input of the first block.
    pub constant: Option<Tensor<3>>,
    pub conv0: Option<SynthesisLayer>,
    pub conv1: SynthesisLayer,
    pub torgb: Option<ToRgb>,
    pub skip: Option<Conv2dLayer>,
    pub filter: Filter,
}

impl SynthesisBlock {
    fn new(
        p: &mut Params,
        cfg: &GeneratorConfig,
        in_ch: usize,
        out_ch: usize,
        res: usize,
        is_last: bool,
        default_filter: &Filter,
    ) -> Result<Self> {
        let constant = if in_ch == 0 {
            Some(p.tensor("const", [out_ch, res, res], Init::Randn(1.0))?)
        } else {
            None
        };
        let filter = load_filter(p, default_filter)?;
        let conv0 = if in_ch != 0 {
            Some(p.scope("conv0", |p| {
                SynthesisLayer::new(p, cfg, in_ch, out_ch, res, 2, &filter)
            })?)
        } else {
            None
        };
        let conv1 = p.scope("conv1", |p| {
            SynthesisLayer::new(p, cfg, out_ch, out_ch, res, 1, &filter)
        })?;
        let architecture = cfg.sg2("the StyleGAN2 synthesis")?.architecture;
        let torgb = if is_last || architecture == Architecture::Skip {
            Some(p.scope("torgb", |p| ToRgb::new(p, cfg, out_ch, &filter))?)
        } else {
            None
        };
        let skip = if in_ch != 0 && architecture == Architecture::Resnet {
            Some(p.scope("skip", |p| {
                Conv2dLayer::new(
                    p,
                    Conv2dSpec::new(in_ch, out_ch, 1, &filter).up(2).no_bias(),
                )
            })?)
        } else {
            None
        };
        Ok(Self {
            resolution: res,
            in_channels: in_ch,
            out_channels: out_ch,
            architecture,
            is_last,
            constant,
            conv0,
            conv1,
            torgb,
            skip,
            filter,
        })
    }

    pub fn num_conv(&self) -> usize {
        if self.conv0.is_some() {
            2
        } else {
            1
        }
    }

    pub fn num_torgb(&self) -> usize {
        usize::from(self.torgb.is_some())
    }

    /// Styles for this block from its slice of ws `[N, num_conv + num_torgb, w_dim]`.
    pub fn styles(&self, ws: &Tensor<3>) -> BlockStyles {
        let [n, _, d] = ws.dims();
        let w = |i: usize| ws.clone().narrow(1, i, 1).reshape([n, d]);
        let mut i = 0;
        let conv0 = self.conv0.as_ref().map(|l| {
            i += 1;
            l.affine.forward(w(i - 1))
        });
        let conv1 = self.conv1.affine.forward(w(i));
        i += 1;
        let torgb = self.torgb.as_ref().map(|t| t.affine.forward(w(i)));
        BlockStyles {
            conv0,
            conv1,
            torgb,
        }
    }

    /// Run the block. `input` is `None` for the first block (it starts from its constant).
    pub fn forward(
        &self,
        input: Option<Features>,
        styles: &BlockStyles,
        batch: usize,
        noise: NoiseMode,
    ) -> Result<Features> {
        let (x, img) = match (input, &self.constant) {
            (None, Some(c)) => {
                let [ch, h, w] = c.dims();
                (c.clone().reshape([1, ch, h, w]).repeat_dim(0, batch), None)
            }
            (Some(f), None) => (f.x, f.img),
            (None, None) => {
                return Err(Error::InvalidArgument(format!(
                    "block b{} needs input features",
                    self.resolution
                )))
            }
            (Some(_), Some(_)) => {
                return Err(Error::InvalidArgument(
                    "the first block starts from its constant; it takes no input features".into(),
                ))
            }
        };
        let missing =
            || Error::InvalidArgument(format!("block b{}: missing styles", self.resolution));
        let (n0, n1) = (
            noise.for_layer(self.resolution, 0),
            noise.for_layer(self.resolution, 1),
        );
        let x = match (&self.conv0, &self.skip) {
            (None, _) => self.conv1.forward(x, &styles.conv1, n1, 1.0),
            (Some(conv0), Some(skip)) => {
                let y = skip.forward(x.clone(), 0.5f64.sqrt());
                let x = conv0.forward(x, styles.conv0.as_ref().ok_or_else(missing)?, n0, 1.0);
                y + self.conv1.forward(x, &styles.conv1, n1, 0.5f64.sqrt())
            }
            (Some(conv0), None) => {
                let x = conv0.forward(x, styles.conv0.as_ref().ok_or_else(missing)?, n0, 1.0);
                self.conv1.forward(x, &styles.conv1, n1, 1.0)
            }
        };
        let mut img = img.map(|i| upsample2d(i, &self.filter));
        if let Some(torgb) = &self.torgb {
            let y = torgb.forward(x.clone(), styles.torgb.as_ref().ok_or_else(missing)?);
            img = Some(match img {
                Some(i) => i + y,
                None => y,
            });
        }
        Ok(Features { x, img })
    }

    fn state_dict(&self, sd: &mut StateDict) {
        if let Some(c) = &self.constant {
            sd.add("const", c);
        }
        sd.add_data(
            "resample_filter",
            vec![self.filter.h, self.filter.w],
            self.filter.taps.clone(),
        );
        if let Some(l) = &self.conv0 {
            sd.scope("conv0", |sd| l.state_dict(sd));
        }
        sd.scope("conv1", |sd| self.conv1.state_dict(sd));
        if let Some(t) = &self.torgb {
            sd.scope("torgb", |sd| t.state_dict(sd));
        }
        if let Some(s) = &self.skip {
            sd.scope("skip", |sd| s.state_dict(sd));
        }
    }
}

/// `SynthesisNetwork`: blocks b4 … b{R}.
#[derive(Clone, Debug)]
pub struct SynthesisNetwork {
    pub blocks: Vec<SynthesisBlock>,
    pub num_ws: usize,
    pub w_dim: usize,
}

impl SynthesisNetwork {
    pub fn new(p: &mut Params, cfg: &GeneratorConfig) -> Result<Self> {
        let s = cfg.sg2("the StyleGAN2 synthesis")?;
        let filter = Filter::from_taps_1d(&s.resample_filter, p.device())?;
        let resolutions = cfg.block_resolutions();
        let mut blocks = Vec::new();
        for &res in &resolutions {
            let in_ch = if res > 4 { s.channels(res / 2) } else { 0 };
            let is_last = res == cfg.img_resolution;
            blocks.push(p.scope(&format!("b{res}"), |p| {
                SynthesisBlock::new(p, cfg, in_ch, s.channels(res), res, is_last, &filter)
            })?);
        }
        Ok(Self {
            blocks,
            num_ws: cfg.num_ws(),
            w_dim: cfg.w_dim,
        })
    }

    /// Where each block's ws start: block i reads `ws[:, start_i .. start_i + num_conv + num_torgb]`,
    /// so a block's torgb shares its w with the next block's conv0.
    pub fn ws_offsets(&self) -> Vec<usize> {
        let mut idx = 0;
        self.blocks
            .iter()
            .map(|b| {
                let start = idx;
                idx += b.num_conv();
                start
            })
            .collect()
    }

    /// StyleSpace: every layer's styles from ws `[N, num_ws, w_dim]`.
    pub fn styles(&self, ws: &Tensor<3>) -> Result<Vec<BlockStyles>> {
        let [_, n_ws, d] = ws.dims();
        if n_ws != self.num_ws || d != self.w_dim {
            return Err(Error::InvalidArgument(format!(
                "ws has shape [N, {n_ws}, {d}], the network expects [N, {}, {}]",
                self.num_ws, self.w_dim
            )));
        }
        Ok(self
            .blocks
            .iter()
            .zip(self.ws_offsets())
            .map(|(b, start)| b.styles(&ws.clone().narrow(1, start, b.num_conv() + b.num_torgb())))
            .collect())
    }

    /// Run blocks `range` from `input` (None when the range starts at block 0).
    pub fn run_blocks(
        &self,
        styles: &[BlockStyles],
        range: Range<usize>,
        input: Option<Features>,
        noise: NoiseMode,
    ) -> Result<Features> {
        if range.is_empty() || range.end > self.blocks.len() {
            return Err(Error::InvalidArgument(format!(
                "block range {range:?} is outside 0..{}",
                self.blocks.len()
            )));
        }
        let batch = styles[range.start].conv1.dims()[0];
        let mut f = input;
        for i in range {
            f = Some(self.blocks[i].forward(f, &styles[i], batch, noise)?);
        }
        Ok(f.expect("non-empty range"))
    }

    /// The image `[N, C, R, R]` from StyleSpace styles.
    /// A batch runs sample by sample where [`sample_major`] says so.
    pub fn forward_styles(&self, styles: &[BlockStyles], noise: NoiseMode) -> Result<Tensor<4>> {
        let batch = styles.first().map_or(0, |b| b.conv1.dims()[0]);
        if sample_major(batch, &styles[0].conv1, noise) {
            return per_sample(batch, |s| {
                let one: Vec<BlockStyles> = styles.iter().map(|b| b.sample(s)).collect();
                self.forward_styles(&one, noise)
            });
        }
        let f = self.run_blocks(styles, 0..self.blocks.len(), None, noise)?;
        Ok(f.img.expect("the last block always has torgb"))
    }

    /// The image from ws `[N, num_ws, w_dim]`.
    pub fn forward(&self, ws: &Tensor<3>, noise: NoiseMode) -> Result<Tensor<4>> {
        self.forward_styles(&self.styles(ws)?, noise)
    }

    /// The per-pixel noise buffers (`noise_const`) by official name
    /// (`synthesis.b{R}.conv{K}.noise_const`), in synthesis order.
    pub fn noise_maps(&self) -> Vec<(String, Tensor<2>)> {
        let mut out = Vec::new();
        for b in &self.blocks {
            let layers = [("conv0", b.conv0.as_ref()), ("conv1", Some(&b.conv1))];
            for (name, layer) in layers {
                if let Some(n) = layer.and_then(|l| l.noise_const.as_ref()) {
                    out.push((
                        format!("synthesis.b{}.{name}.noise_const", b.resolution),
                        n.clone(),
                    ));
                }
            }
        }
        out
    }

    /// Replace noise buffers by name (as [`Self::noise_maps`] names them); shapes must match.
    /// `NoiseMode::Const` then uses them: this is how projected noise maps are put back.
    pub fn set_noise_maps(&mut self, maps: &[(String, Tensor<2>)]) -> Result<()> {
        for (name, t) in maps {
            let layer = name
                .strip_prefix("synthesis.b")
                .and_then(|r| r.strip_suffix(".noise_const"))
                .and_then(|r| r.split_once('.'))
                .and_then(|(res, conv)| {
                    let res: usize = res.parse().ok()?;
                    let b = self.blocks.iter_mut().find(|b| b.resolution == res)?;
                    match conv {
                        "conv0" => b.conv0.as_mut(),
                        "conv1" => Some(&mut b.conv1),
                        _ => None,
                    }
                })
                .filter(|l| l.noise_const.is_some())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("the network has no noise buffer '{name}'"))
                })?;
            let have = layer.noise_const.as_ref().expect("filtered").dims();
            if t.dims() != have {
                return Err(Error::InvalidArgument(format!(
                    "noise map '{name}' has shape {:?}, the network expects {have:?}",
                    t.dims()
                )));
            }
            layer.noise_const = Some(t.clone());
        }
        Ok(())
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        for b in &self.blocks {
            sd.scope(&format!("b{}", b.resolution), |sd| b.state_dict(sd));
        }
    }
}
