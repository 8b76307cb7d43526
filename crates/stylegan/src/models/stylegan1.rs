//! StyleGAN v1 (NVlabs/stylegan `training/networks_stylegan.py`, FORMATS.md §15): the
//! generator `G_style` = `G_mapping` (z → w, broadcast to one w per layer, truncation toward
//! `dlatent_avg` with a cutoff) + `G_synthesis` (learned constant, per-layer noise, AdaIN-style
//! `StyleMod`, [1,2,1] blur, progressive-growing `lod`), and the discriminator `D_basic`.
//!
//! Tensors keep the official TF variable names and layouts (`G_synthesis/8x8/Conv0_up/weight
//! [3,3,in,out]`, `G_mapping/Dense0/weight [in,out]`, `lod`, `dlatent_avg`, ...); the shared
//! TF1 layers are in `tf1.rs`.

use burn::tensor::{Distribution, Tensor, TensorData};
use serde_json::Value;

use super::synthesis::{BlockStyles, Features, NoiseMode};
use super::tf1::{
    add_channel_bias, blend_up, blur2d, check_lod, instance_norm, pixel_norm, resolution_log2,
    upscale2d, Act, Channels, Conv, ConvKind, DBody, DBodySpec, Dense, FusedScale, Kwargs, Wscale,
};
use crate::error::{Error, Result};
use crate::nn::{Init, Params, StateDict};
use crate::ops::upfirdn2d::Filter;

/// The class names we give these networks (the official module and build function).
pub const G_CLASS: &str = "training.networks_stylegan.G_style";
pub const D_CLASS: &str = "training.networks_stylegan.D_basic";

/// The official truncation defaults of `G_style.run`: ψ 0.7 on the first 8 layers.
pub const DEFAULT_PSI: f64 = 0.7;
pub const DEFAULT_CUTOFF: usize = 8;

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// `G_style`'s static kwargs with the official defaults (§15.2–§15.4).
#[derive(Clone, Debug, PartialEq)]
pub struct Sg1Config {
    /// The static kwargs as given (written back unchanged).
    pub kwargs: Value,
    pub resolution: usize,
    pub log2: usize,
    pub num_channels: usize,
    pub label_size: usize,
    pub latent_size: usize,
    pub dlatent_size: usize,
    pub mapping_layers: usize,
    pub mapping_fmaps: usize,
    pub mapping_lrmul: f64,
    pub mapping_act: Act,
    pub normalize_latents: bool,
    pub channels: Channels,
    pub use_styles: bool,
    pub const_input_layer: bool,
    pub use_noise: bool,
    pub act: Act,
    pub use_wscale: bool,
    pub use_pixel_norm: bool,
    pub use_instance_norm: bool,
    pub fused_scale: FusedScale,
    pub blur_filter: Option<Vec<f64>>,
    /// `2·log2 − 2`: one w per layer.
    pub num_layers: usize,
}

impl Sg1Config {
    pub fn from_kwargs(v: &Value) -> Result<Self> {
        let k = Kwargs::new("G_style", v)?;
        k.check_float32()?;
        k.check_structure()?;
        let resolution = k.usize("resolution", 1024, 1 << 20)?;
        let log2 = resolution_log2("G_style", resolution)?;
        if log2 < 3 {
            return Err(Error::Config(
                "G_style: resolution must be at least 8 (the synthesis grows from 8x8)".into(),
            ));
        }
        let blur_filter = blur_filter(&k)?;
        let dlatent_size = k.usize("dlatent_size", 512, 1 << 14)?;
        let cfg = Self {
            kwargs: Value::Object(k.map.clone()),
            resolution,
            log2,
            num_channels: k.usize("num_channels", 3, 16)?,
            label_size: k.usize("label_size", 0, 1 << 16)?,
            latent_size: k.usize("latent_size", 512, 1 << 14)?,
            dlatent_size,
            mapping_layers: k.usize("mapping_layers", 8, 64)?,
            mapping_fmaps: k.usize("mapping_fmaps", 512, 1 << 14)?,
            mapping_lrmul: k.f64("mapping_lrmul", 0.01)?,
            mapping_act: Act::from_name(&k, "mapping_nonlinearity")?,
            normalize_latents: k.bool("normalize_latents", true)?,
            channels: Channels::from_kwargs(&k)?,
            use_styles: k.bool("use_styles", true)?,
            const_input_layer: k.bool("const_input_layer", true)?,
            use_noise: k.bool("use_noise", true)?,
            act: Act::from_name(&k, "nonlinearity")?,
            use_wscale: k.bool("use_wscale", true)?,
            use_pixel_norm: k.bool("use_pixel_norm", false)?,
            use_instance_norm: k.bool("use_instance_norm", true)?,
            fused_scale: k.fused_scale(FusedScale::Auto)?,
            blur_filter,
            num_layers: 2 * log2 - 2,
        };
        if cfg.mapping_layers == 0 {
            return Err(Error::Config(
                "G_style: mapping_layers must be at least 1".into(),
            ));
        }
        if cfg.mapping_lrmul <= 0.0 {
            return Err(Error::Config(format!(
                "G_style: mapping_lrmul {} must be positive",
                cfg.mapping_lrmul
            )));
        }
        if let Some(b) = k.opt_usize("dlatent_broadcast", 1 << 10)? {
            if b != cfg.num_layers {
                return Err(Error::Config(format!(
                    "G_style: dlatent_broadcast {b} differs from the {} synthesis layers",
                    cfg.num_layers
                )));
            }
        }
        Ok(cfg)
    }

    fn nf(&self, stage: usize) -> usize {
        self.channels.nf(stage)
    }
}

/// `G_mapping`: z (and labels) → w `[N, dlatent_size]`, with `G_style`'s own variables (the
/// truncation centre `dlatent_avg` and G's `lod`).
#[derive(Clone, Debug)]
pub struct Sg1Mapping {
    /// `dlatent_avg [dlatent_size]`: the running mean of w.
    pub dlatent_avg: Tensor<1>,
    /// G's `lod`, which every full-G run assigns to the synthesis (kept for round trips).
    pub lod: f64,
    pub label_concat: Option<Tensor<2>>,
    pub dense: Vec<Dense>,
    normalize: bool,
    act: Act,
}

impl Sg1Mapping {
    pub fn new(p: &mut Params, cfg: &Sg1Config) -> Result<Self> {
        let lod = super::tf1::scalar_var(p, "lod")?;
        let dlatent_avg = p.tensor("dlatent_avg", [cfg.dlatent_size], Init::Const(0.0))?;
        let label_concat = if cfg.label_size > 0 {
            Some(p.tensor(
                "G_mapping/LabelConcat/weight",
                [cfg.label_size, cfg.latent_size],
                Init::Randn(1.0),
            )?)
        } else {
            None
        };
        let mut fan_in = cfg.latent_size
            + if cfg.label_size > 0 {
                cfg.latent_size
            } else {
                0
            };
        let mut dense = Vec::with_capacity(cfg.mapping_layers);
        for i in 0..cfg.mapping_layers {
            let out = if i + 1 == cfg.mapping_layers {
                cfg.dlatent_size
            } else {
                cfg.mapping_fmaps
            };
            let ws = Wscale::new(SQRT2, cfg.use_wscale).lrmul(cfg.mapping_lrmul);
            dense.push(Dense::new(
                p,
                &format!("G_mapping/Dense{i}"),
                [fan_in, out],
                ws,
                true,
            )?);
            fan_in = out;
        }
        Ok(Self {
            dlatent_avg,
            lod,
            label_concat,
            dense,
            normalize: cfg.normalize_latents,
            act: cfg.mapping_act,
        })
    }

    /// w `[N, dlatent_size]` for z `[N, latent_size]` and labels `[N, label_size]`.
    pub fn forward(&self, z: Tensor<2>, labels: Option<Tensor<2>>) -> Result<Tensor<2>> {
        let mut x = match (&self.label_concat, labels) {
            (Some(w), Some(c)) => Tensor::cat(vec![z, c.matmul(w.clone())], 1),
            (None, _) => z,
            (Some(_), None) => {
                return Err(Error::InvalidArgument(
                    "this StyleGAN v1 network is conditional: give a class label".into(),
                ))
            }
        };
        if self.normalize {
            x = pixel_norm(x, 1e-8);
        }
        for d in &self.dense {
            x = self.act.apply(d.forward(x));
        }
        Ok(x)
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        super::tf1::add_scalar_var(sd, "lod", self.lod);
        sd.add("dlatent_avg", &self.dlatent_avg);
        if let Some(w) = &self.label_concat {
            sd.add("G_mapping/LabelConcat/weight", w);
        }
        for d in &self.dense {
            d.state_dict(sd);
        }
    }
}

/// `blur_filter`: a list of taps (default `[1, 2, 1]`) or None (no blur).
fn blur_filter(k: &Kwargs) -> Result<Option<Vec<f64>>> {
    match k.map.get("blur_filter") {
        None => Ok(Some(vec![1.0, 2.0, 1.0])),
        Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => {
            let f: Option<Vec<f64>> = a.iter().map(|x| x.as_f64()).collect();
            match f {
                Some(f) if !f.is_empty() && f.len() <= 16 => Ok(Some(f)),
                _ => Err(Error::Config(format!(
                    "{}: blur_filter must be a list of 1 to 16 numbers",
                    k.what
                ))),
            }
        }
        Some(_) => Err(Error::Config(format!(
            "{}: blur_filter must be a list of numbers or None",
            k.what
        ))),
    }
}

/// The blur as a filter for `upfirdn2d` (a true convolution): the taps reversed, so that it
/// computes the official correlation (the same for the symmetric default).
fn blur_kernel(f: &[f64], device: &burn::tensor::Device) -> Result<Filter> {
    let rev: Vec<f64> = f.iter().rev().copied().collect();
    Filter::from_taps_1d(&rev, device)
}

/// One synthesis layer's epilogue: noise, bias, activation, norms, style modulation.
#[derive(Clone, Debug)]
struct Epilogue {
    noise_weight: Option<Tensor<1>>,
    bias: Tensor<1>,
    style: Option<Dense>,
    scope: String,
}

impl Epilogue {
    fn new(p: &mut Params, scope: &str, c: usize, cfg: &Sg1Config) -> Result<Self> {
        let noise_weight = if cfg.use_noise {
            Some(p.tensor(&format!("{scope}/Noise/weight"), [c], Init::Const(0.0))?)
        } else {
            None
        };
        let bias = p.tensor(&format!("{scope}/bias"), [c], Init::Const(0.0))?;
        let style = if cfg.use_styles {
            Some(Dense::new(
                p,
                &format!("{scope}/StyleMod"),
                [cfg.dlatent_size, 2 * c],
                Wscale::new(1.0, cfg.use_wscale),
                true,
            )?)
        } else {
            None
        };
        Ok(Self {
            noise_weight,
            bias,
            style,
            scope: scope.into(),
        })
    }

    fn state_dict(&self, sd: &mut StateDict) {
        if let Some(n) = &self.noise_weight {
            sd.add(&format!("{}/Noise/weight", self.scope), n);
        }
        sd.add(&format!("{}/bias", self.scope), &self.bias);
        if let Some(s) = &self.style {
            s.state_dict(sd);
        }
    }
}

/// How the first 4×4 features are made.
// One per network: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
enum Start {
    /// `4x4/Const/const [1, nf(1), 4, 4]`.
    Const(Tensor<4>),
    /// `4x4/Dense` from w₀ (gain √2/4), reshaped to `[N, nf(1), 4, 4]`.
    Dense(Box<Dense>),
}

/// `G_synthesis`: ws `[N, num_layers, dlatent_size]` → image `[N, C, R, R]`.
#[derive(Clone, Debug)]
pub struct Sg1Synthesis {
    pub cfg: Sg1Config,
    start: Start,
    /// Per layer: the conv (None for layer 0) and the epilogue.
    convs: Vec<Option<Conv>>,
    epilogues: Vec<Epilogue>,
    /// `ToRGB_lod{L−res}` for res = 2..=L (index res − 2).
    to_rgb: Vec<Conv>,
    /// `noise{i} [1, 1, r, r]`.
    pub noise: Vec<Tensor<4>>,
    /// `G_synthesis/lod` as stored.
    pub lod: f64,
    /// The lod [`Self::forward_default`] renders: G's `lod` when the generator is built (a full
    /// G run assigns it to the synthesis), or what `set_lod` chose.
    pub run_lod: f64,
    blur: Option<Filter>,
}

impl Sg1Synthesis {
    pub fn new(p: &mut Params, cfg: &Sg1Config) -> Result<Self> {
        let s = "G_synthesis";
        let lod = super::tf1::scalar_var(p, &format!("{s}/lod"))?;
        let mut noise = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let r = 1usize << (i / 2 + 2);
            noise.push(p.tensor(&format!("{s}/noise{i}"), [1, 1, r, r], Init::Randn(1.0))?);
        }
        let ws = Wscale::new(SQRT2, cfg.use_wscale);
        let nf1 = cfg.nf(1);
        let start = if cfg.const_input_layer {
            Start::Const(p.tensor(
                &format!("{s}/4x4/Const/const"),
                [1, nf1, 4, 4],
                Init::Const(1.0),
            )?)
        } else {
            let d = Dense::new(
                p,
                &format!("{s}/4x4/Dense"),
                [cfg.dlatent_size, nf1 * 16],
                Wscale::new(SQRT2 / 4.0, cfg.use_wscale),
                false,
            )?;
            Start::Dense(Box::new(d))
        };
        let first = if cfg.const_input_layer {
            "Const"
        } else {
            "Dense"
        };
        let mut convs = vec![None];
        let mut epilogues = vec![Epilogue::new(p, &format!("{s}/4x4/{first}"), nf1, cfg)?];
        convs.push(Some(Conv::new(
            p,
            &format!("{s}/4x4/Conv"),
            3,
            [nf1, nf1],
            ws,
            ConvKind::Plain,
        )?));
        epilogues.push(Epilogue::new(p, &format!("{s}/4x4/Conv"), nf1, cfg)?);
        let mut to_rgb = vec![to_rgb_layer(p, cfg, 2, nf1)?];
        for res in 3..=cfg.log2 {
            let (cin, cout) = (cfg.nf(res - 2), cfg.nf(res - 1));
            let px = 1usize << res;
            let scope = format!("{s}/{px}x{px}");
            let kind = if cfg.fused_scale.at(px) {
                ConvKind::FusedUp { out_in: false }
            } else {
                ConvKind::Plain
            };
            convs.push(Some(Conv::new(
                p,
                &format!("{scope}/Conv0_up"),
                3,
                [cin, cout],
                ws,
                kind,
            )?));
            epilogues.push(Epilogue::new(p, &format!("{scope}/Conv0_up"), cout, cfg)?);
            convs.push(Some(Conv::new(
                p,
                &format!("{scope}/Conv1"),
                3,
                [cout, cout],
                ws,
                ConvKind::Plain,
            )?));
            epilogues.push(Epilogue::new(p, &format!("{scope}/Conv1"), cout, cfg)?);
            to_rgb.push(to_rgb_layer(p, cfg, res, cout)?);
        }
        let blur = match &cfg.blur_filter {
            Some(f) => Some(blur_kernel(f, p.device())?),
            None => None,
        };
        Ok(Self {
            cfg: cfg.clone(),
            start,
            convs,
            epilogues,
            to_rgb,
            noise,
            lod,
            run_lod: lod,
            blur,
        })
    }

    /// Layer `i`'s `StyleMod` output `[N, 2C]` (scale − 1, then shift) for ws
    /// `[N, num_layers, dlatent_size]`; None when the network has no styles.
    fn style(&self, i: usize, ws: &Tensor<3>) -> Option<Tensor<2>> {
        let dense = self.epilogues[i].style.as_ref()?;
        let [n, _, d] = ws.dims();
        Some(dense.forward(ws.clone().narrow(1, i, 1).reshape([n, d])))
    }

    /// Noise, bias, activation, normalisations and the style (`StyleMod`, `[N, 2C]`) of
    /// layer `i`.
    fn epilogue(
        &self,
        x: Tensor<4>,
        i: usize,
        style: Option<Tensor<2>>,
        noise: NoiseMode,
    ) -> Tensor<4> {
        let e = &self.epilogues[i];
        let [n, c, h, w] = x.dims();
        let mut x = x;
        if let Some(nw) = &e.noise_weight {
            let device = x.device();
            let map = match noise {
                NoiseMode::Const => Some(super::synthesis::tile_noise(self.noise[i].clone(), h, w)),
                NoiseMode::None => None,
                NoiseMode::Random => Some(Tensor::<4>::random(
                    [n, 1, h, w],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                )),
                NoiseMode::Seeded(seed) => {
                    let seed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64;
                    Some(super::synthesis::seeded_noise(seed, [n, h, w], &device))
                }
            };
            if let Some(map) = map {
                x = x + map * nw.clone().reshape([1, c, 1, 1]);
            }
        }
        x = self.cfg.act.apply(add_channel_bias(x, e.bias.clone()));
        if self.cfg.use_pixel_norm {
            x = pixel_norm(x, 1e-8);
        }
        if self.cfg.use_instance_norm {
            x = instance_norm(x);
        }
        if let Some(s) = style {
            let s = s.reshape([n, 2, c, 1, 1]);
            let scale = s
                .clone()
                .narrow(1, 0, 1)
                .reshape([n, c, 1, 1])
                .add_scalar(1.0);
            let shift = s.narrow(1, 1, 1).reshape([n, c, 1, 1]);
            x = x * scale + shift;
        }
        x
    }

    /// Layer `i`: its conv (with the upscale and blur of a `Conv0_up`) and epilogue.
    fn layer(
        &self,
        x: Tensor<4>,
        i: usize,
        style: Option<Tensor<2>>,
        noise: NoiseMode,
    ) -> Tensor<4> {
        let conv = self.convs[i].as_ref().expect("layers > 0 have a conv");
        let x = if i >= 2 && i.is_multiple_of(2) {
            // Conv0_up: unfused = upscale then conv; then the blur.
            let y = match conv.kind {
                ConvKind::FusedUp { .. } => conv.forward(x),
                _ => conv.forward(upscale2d(x, 2)),
            };
            match &self.blur {
                Some(f) => blur2d(y, f),
                None => y,
            }
        } else {
            conv.forward(x)
        };
        self.epilogue(x, i, style, noise)
    }

    fn rgb(&self, x: Tensor<4>, res: usize) -> Tensor<4> {
        let l = &self.to_rgb[res - 2];
        l.add_bias(l.forward(x))
    }

    /// The image for ws `[N, num_layers, dlatent_size]` at level of detail `lod` (0 = full
    /// resolution; the network's own `lod` variable is what the official code uses).
    pub fn forward(&self, ws: &Tensor<3>, noise: NoiseMode, lod: f64) -> Result<Tensor<4>> {
        let cfg = &self.cfg;
        let [n, layers, d] = ws.dims();
        if layers != cfg.num_layers || d != cfg.dlatent_size {
            return Err(Error::InvalidArgument(format!(
                "G_synthesis: ws [{n}, {layers}, {d}], expected [N, {}, {}]",
                cfg.num_layers, cfg.dlatent_size
            )));
        }
        let lod = check_lod("G_synthesis", lod, cfg.log2)?;
        let x = match &self.start {
            Start::Const(c) => c.clone().repeat_dim(0, n),
            Start::Dense(dense) => {
                let w0 = ws.clone().narrow(1, 0, 1).reshape([n, d]);
                dense.forward(w0).reshape([n, cfg.nf(1), 4, 4])
            }
        };
        let x = self.epilogue(x, 0, self.style(0, ws), noise);
        let x = self.layer(x, 1, self.style(1, ws), noise);
        Ok(self.grow(x, 3, cfg.log2 - 3, lod, ws, noise))
    }

    /// Multiply-adds of one image at full resolution: the convolutions (as computed: a fused
    /// up-conv as the 3×3 conv of the upscaled input), the style affines and the last ToRGB.
    pub fn macs(&self) -> u64 {
        let numel = |d: [usize; 4]| d.iter().product::<usize>() as u64;
        let mut macs = 0u64;
        for (i, (c, e)) in self.convs.iter().zip(&self.epilogues).enumerate() {
            let r = 4u64 << (i / 2);
            if let Some(c) = c {
                macs += numel(c.weight.dims()) * r * r;
            }
            if let Some(st) = &e.style {
                let [a, b] = st.weight.dims();
                macs += (a * b) as u64;
            }
        }
        let r = self.cfg.resolution as u64;
        macs + numel(self.to_rgb.last().expect("ToRGB").weight.dims()) * r * r
    }

    /// Per layer, the scale half of the `StyleMod` weight, transposed to `[C, dlatent_size]`
    /// (SeFa's "affine"); an error when the network has no styles.
    pub fn style_scale_weights(&self) -> Result<Vec<Tensor<2>>> {
        self.epilogues
            .iter()
            .map(|e| {
                let st = e.style.as_ref().ok_or_else(|| {
                    Error::InvalidArgument("this StyleGAN v1 network has no styles".into())
                })?;
                let [d, two_c] = st.weight.dims();
                Ok(st
                    .weight
                    .clone()
                    .narrow(1, 0, two_c / 2)
                    .transpose()
                    .reshape([two_c / 2, d]))
            })
            .collect()
    }

    /// The number of synthesis blocks (one per resolution, 4×4 … R×R, two layers each).
    pub fn num_blocks(&self) -> usize {
        self.cfg.log2 - 1
    }

    /// The styles of every block for ws `[N, num_layers, dlatent_size]`: StyleGAN v1's
    /// StyleSpace is the `StyleMod` outputs (`[N, 2C]`: scale − 1, then shift), block `b`'s
    /// `conv0` = layer 2b (`Const` or `Conv0_up`) and `conv1` = layer 2b + 1; no ToRGB style.
    pub fn styles(&self, ws: &Tensor<3>) -> Result<Vec<BlockStyles>> {
        let cfg = &self.cfg;
        let [n, layers, d] = ws.dims();
        if layers != cfg.num_layers || d != cfg.dlatent_size {
            return Err(Error::InvalidArgument(format!(
                "G_synthesis: ws [{n}, {layers}, {d}], expected [N, {}, {}]",
                cfg.num_layers, cfg.dlatent_size
            )));
        }
        if !cfg.use_styles || !cfg.const_input_layer {
            return Err(Error::InvalidArgument(
                "StyleSpace and block-by-block synthesis need a StyleGAN v1 network with styles \
                 and the learned constant input (use_styles, const_input_layer)"
                    .into(),
            ));
        }
        let style = |i| self.style(i, ws).expect("use_styles checked");
        Ok((0..self.num_blocks())
            .map(|b| BlockStyles {
                conv0: Some(style(2 * b)),
                conv1: style(2 * b + 1),
                torgb: None,
            })
            .collect())
    }

    /// Run blocks `range` from `input` (None when the range starts at block 0) at full
    /// resolution (lod 0): the features `x` after each block, and the image after the last.
    /// Running every block equals [`Self::forward`] at lod 0 (same noise).
    pub fn run_blocks(
        &self,
        styles: &[BlockStyles],
        range: std::ops::Range<usize>,
        input: Option<Features>,
        noise: NoiseMode,
    ) -> Result<Features> {
        let nb = self.num_blocks();
        if range.is_empty() || range.end > nb || styles.len() != nb {
            return Err(Error::InvalidArgument(format!(
                "block range {range:?} with {} block styles; the network has blocks 0..{nb}",
                styles.len()
            )));
        }
        if self.run_lod != 0.0 {
            return Err(Error::InvalidArgument(format!(
                "block-by-block synthesis runs at full resolution (lod 0); this StyleGAN v1 \
                 network is set to lod {}",
                self.run_lod
            )));
        }
        let mut x = match (range.start, input) {
            (0, _) => match &self.start {
                Start::Const(c) => c.clone().repeat_dim(0, styles[0].conv1.dims()[0]),
                Start::Dense(_) => {
                    return Err(Error::InvalidArgument(
                        "block-by-block synthesis needs the learned constant input".into(),
                    ))
                }
            },
            (_, Some(f)) => f.x,
            (b, None) => {
                return Err(Error::InvalidArgument(format!(
                    "block {b} needs the features of block {}",
                    b - 1
                )))
            }
        };
        for b in range.clone() {
            let s = &styles[b];
            let s0 = s.conv0.clone().ok_or_else(|| {
                Error::InvalidArgument(format!("block {b}: the first layer's style is missing"))
            })?;
            let (i, j) = (2 * b, 2 * b + 1);
            x = if b == 0 {
                self.epilogue(x, i, Some(s0), noise)
            } else {
                self.layer(x, i, Some(s0), noise)
            };
            x = self.layer(x, j, Some(s.conv1.clone()), noise);
        }
        let img = (range.end == nb).then(|| self.rgb(x.clone(), self.cfg.log2));
        Ok(Features { x, img })
    }

    /// [`Self::forward`] at `run_lod`.
    pub fn forward_default(&self, ws: &Tensor<3>, noise: NoiseMode) -> Result<Tensor<4>> {
        self.forward(ws, noise, self.run_lod)
    }

    /// The noise variables `noise{i}` as `[r, r]` maps, by TF name.
    pub fn noise_maps(&self) -> Vec<(String, Tensor<2>)> {
        self.noise
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let [_, _, h, w] = t.dims();
                (format!("G_synthesis/noise{i}"), t.clone().reshape([h, w]))
            })
            .collect()
    }

    /// Replace noise variables by TF name (`G_synthesis/noise{i}`).
    pub fn set_noise_maps(&mut self, maps: &[(String, Tensor<2>)]) -> Result<()> {
        for (name, t) in maps {
            let i = name
                .strip_prefix("G_synthesis/noise")
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|&i| i < self.noise.len())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("no noise variable named '{name}'"))
                })?;
            let [_, _, h, w] = self.noise[i].dims();
            if t.dims() != [h, w] {
                return Err(Error::InvalidArgument(format!(
                    "noise '{name}': {:?}, expected [{h}, {w}]",
                    t.dims()
                )));
            }
            self.noise[i] = t.clone().reshape([1, 1, h, w]);
        }
        Ok(())
    }

    fn grow(
        &self,
        x: Tensor<4>,
        res: usize,
        level: usize,
        lod: f64,
        ws: &Tensor<3>,
        noise: NoiseMode,
    ) -> Tensor<4> {
        let (i, j) = (2 * res - 4, 2 * res - 3);
        let y = self.layer(x.clone(), i, self.style(i, ws), noise);
        let y = self.layer(y, j, self.style(j, ws), noise);
        let l = level as f64;
        if level > 0 && lod < l {
            return self.grow(y, res + 1, level - 1, lod, ws, noise);
        }
        if lod > l {
            return blend_up(self.rgb(y, res), self.rgb(x, res - 1), lod - l, 1 << level);
        }
        upscale2d(self.rgb(y, res), 1 << level)
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        let s = "G_synthesis";
        super::tf1::add_scalar_var(sd, &format!("{s}/lod"), self.lod);
        for (i, t) in self.noise.iter().enumerate() {
            sd.add(&format!("{s}/noise{i}"), t);
        }
        match &self.start {
            Start::Const(c) => sd.add(&format!("{s}/4x4/Const/const"), c),
            Start::Dense(d) => d.state_dict(sd),
        }
        for (c, e) in self.convs.iter().zip(&self.epilogues) {
            if let Some(c) = c {
                sd.add(&format!("{}/weight", c.name), &c.weight);
            }
            e.state_dict(sd);
        }
        for l in &self.to_rgb {
            l.state_dict(sd);
        }
    }
}

fn to_rgb_layer(p: &mut Params, cfg: &Sg1Config, res: usize, cin: usize) -> Result<Conv> {
    Conv::new(
        p,
        &format!("G_synthesis/ToRGB_lod{}", cfg.log2 - res),
        1,
        [cin, cfg.num_channels],
        Wscale::new(1.0, cfg.use_wscale),
        ConvKind::Plain,
    )
}

/// `G_style`'s truncation: layers `< cutoff` become `avg + (w − avg)·ψ`, the others
/// `avg + (w − avg)·1`; none at all when ψ = 1 or cutoff = 0.
pub fn truncate(ws: Tensor<3>, avg: &Tensor<1>, psi: f64, cutoff: usize) -> Tensor<3> {
    if psi == 1.0 || cutoff == 0 {
        return ws;
    }
    let [_, layers, d] = ws.dims();
    let coef: Vec<f32> = (0..layers)
        .map(|i| if i < cutoff { psi as f32 } else { 1.0 })
        .collect();
    let coef = Tensor::<3>::from_data(TensorData::new(coef, [1, layers, 1]), &ws.device());
    let avg = avg.clone().reshape([1, 1, d]);
    avg.clone() + (ws - avg) * coef
}

/// `D_basic`'s static kwargs (§15.5).
#[derive(Clone, Debug)]
pub struct Sg1DConfig {
    pub resolution: usize,
    pub log2: usize,
    pub num_channels: usize,
    pub label_size: usize,
    pub channels: Channels,
    pub act: Act,
    pub use_wscale: bool,
    pub mbstd_group_size: usize,
    pub mbstd_num_features: usize,
    /// Read and checked, but without effect: the fused and the unfused down-convolution
    /// compute the same numbers (FORMATS.md §15.1).
    pub fused_scale: FusedScale,
    pub blur_filter: Option<Vec<f64>>,
}

impl Sg1DConfig {
    pub fn from_kwargs(v: &Value) -> Result<Self> {
        let k = Kwargs::new("D_basic", v)?;
        k.check_float32()?;
        k.check_structure()?;
        let resolution = k.usize("resolution", 32, 1 << 20)?;
        Ok(Self {
            resolution,
            log2: resolution_log2("D_basic", resolution)?,
            num_channels: k.usize("num_channels", 1, 16)?,
            label_size: k.usize("label_size", 0, 1 << 16)?,
            channels: Channels::from_kwargs(&k)?,
            act: Act::from_name(&k, "nonlinearity")?,
            use_wscale: k.bool("use_wscale", true)?,
            mbstd_group_size: k.usize("mbstd_group_size", 4, 1 << 16)?,
            mbstd_num_features: k.usize("mbstd_num_features", 1, 1 << 10)?,
            fused_scale: k.fused_scale(FusedScale::Auto)?,
            blur_filter: blur_filter(&k)?,
        })
    }
}

/// `D_basic`: images `[N, C, R, R]` (and labels) → scores `[N, 1]`.
#[derive(Clone, Debug)]
pub struct Sg1Discriminator {
    pub cfg: Sg1DConfig,
    body: DBody,
    pub lod: f64,
}

impl Sg1Discriminator {
    pub fn new(p: &mut Params, kwargs: &Value) -> Result<Self> {
        let cfg = Sg1DConfig::from_kwargs(kwargs)?;
        let lod = super::tf1::scalar_var(p, "lod")?;
        let blur = match &cfg.blur_filter {
            Some(f) => Some(blur_kernel(f, p.device())?),
            None => None,
        };
        // Fused or not, conv2d_downscale2d is the conv followed by the 2×2 mean.
        let body = DBody::new(
            p,
            DBodySpec {
                what: "D_basic",
                resolution: cfg.resolution,
                num_channels: cfg.num_channels,
                channels: cfg.channels,
                use_wscale: cfg.use_wscale,
                act: cfg.act,
                blur,
                unfused_pool: false,
                mbstd_group: cfg.mbstd_group_size,
                mbstd_features: cfg.mbstd_num_features,
                outputs: cfg.label_size.max(1),
            },
        )?;
        Ok(Self { cfg, body, lod })
    }

    /// Scores `[N, 1]` for images `[N, C, R, R]` at level of detail `lod`; with labels
    /// `[N, label_size]`, the label-selected output (`LabelSwitch`).
    pub fn forward(
        &self,
        images: &Tensor<4>,
        labels: Option<Tensor<2>>,
        lod: f64,
    ) -> Result<Tensor<2>> {
        let out = self.body.forward(images, lod)?;
        match (self.cfg.label_size, labels) {
            (0, _) => Ok(out),
            (k, Some(l)) => {
                let [n, _, _, _] = images.dims();
                if l.dims() != [n, k] {
                    return Err(Error::InvalidArgument(format!(
                        "D_basic: labels {:?}, expected [{n}, {k}] (one row per image)",
                        l.dims()
                    )));
                }
                Ok((out * l).sum_dim(1))
            }
            (_, None) => Err(Error::InvalidArgument(
                "this StyleGAN v1 discriminator is conditional: give labels".into(),
            )),
        }
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        super::tf1::add_scalar_var(sd, "lod", self.lod);
        self.body.state_dict(sd);
    }
}
