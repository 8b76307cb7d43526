//! PGGAN (tkarras/progressive_growing_of_gans `networks.py`, FORMATS.md §14): the generator
//! `G_paper` (pixel-normalised latent, 4×4 dense start, convs with equalised learning rate and
//! pixel norm, `ToRGB` per level of detail) and the discriminator `D_paper` (minibatch stddev,
//! dense head), both blending two resolutions by `lod` as during a fade-in. PGGAN has no
//! mapping network, no W and no truncation.
//!
//! Two writers exist: tkarras' own code (`tfutil.Network` pickles), whose fused up-conv weight
//! `Conv0_up/weight` is `[3, 3, out, in]`, and the port in NVlabs/stylegan
//! (`training/networks_progan.py`, dnnlib pickles), which stores it `[3, 3, in, out]`; the
//! class name tells them apart. Tensors keep the official TF variable names and layouts.

use serde_json::Value;

use burn::tensor::Tensor;

use super::tf1::{
    add_channel_bias, blend_up, check_lod, pixel_norm, resolution_log2, upscale2d, Act, Channels,
    Conv, ConvKind, DBody, DBodySpec, Dense, Kwargs, Wscale,
};
use crate::error::{Error, Result};
use crate::nn::{Params, StateDict};

/// tkarras' module and build functions (`tfutil` pickles).
pub const G_CLASS: &str = "networks.G_paper";
pub const D_CLASS: &str = "networks.D_paper";
/// The NVlabs/stylegan port (dnnlib pickles).
pub const G_CLASS_PORT: &str = "training.networks_progan.G_paper";
pub const D_CLASS_PORT: &str = "training.networks_progan.D_paper";

const SQRT2: f64 = std::f64::consts::SQRT_2;

/// `G_paper`'s static kwargs with the official defaults (§14.1).
#[derive(Clone, Debug, PartialEq)]
pub struct PgganConfig {
    /// The static kwargs as given (written back unchanged).
    pub kwargs: Value,
    pub resolution: usize,
    pub log2: usize,
    pub num_channels: usize,
    pub label_size: usize,
    /// `latent_size`, or `nf(0)` when the kwargs leave it out.
    pub latent_size: usize,
    pub channels: Channels,
    pub normalize_latents: bool,
    pub use_wscale: bool,
    pub use_pixelnorm: bool,
    pub pixelnorm_epsilon: f64,
    pub act: Act,
    pub fused_scale: bool,
    /// `Conv0_up/weight` is `[3, 3, out, in]` (tkarras) rather than `[3, 3, in, out]`.
    pub up_weight_out_in: bool,
}

impl PgganConfig {
    /// From the static kwargs; `class_name` says which writer's layout the weights have.
    pub fn from_kwargs(v: &Value, class_name: &str) -> Result<Self> {
        let k = Kwargs::new("G_paper", v)?;
        k.check_float32()?;
        k.check_structure()?;
        let resolution = k.usize("resolution", 32, 1 << 20)?;
        let channels = Channels::from_kwargs(&k)?;
        let fused = k.fused_scale(super::tf1::FusedScale::Always)?;
        if fused == super::tf1::FusedScale::Auto {
            return Err(Error::Config(
                "G_paper: fused_scale 'auto' is a StyleGAN v1 option, not PGGAN's".into(),
            ));
        }
        let latent_size = match k.opt_usize("latent_size", 1 << 14)? {
            Some(n) => n,
            None => channels.nf(0),
        };
        Ok(Self {
            kwargs: Value::Object(k.map.clone()),
            resolution,
            log2: resolution_log2("G_paper", resolution)?,
            num_channels: k.usize("num_channels", 1, 16)?,
            label_size: k.usize("label_size", 0, 1 << 16)?,
            latent_size,
            channels,
            normalize_latents: k.bool("normalize_latents", true)?,
            use_wscale: k.bool("use_wscale", true)?,
            use_pixelnorm: k.bool("use_pixelnorm", true)?,
            pixelnorm_epsilon: k.f64("pixelnorm_epsilon", 1e-8)?,
            act: if k.bool("use_leakyrelu", true)? {
                Act::Lrelu
            } else {
                Act::Relu
            },
            fused_scale: fused == super::tf1::FusedScale::Always,
            up_weight_out_in: class_name != G_CLASS_PORT,
        })
    }
}

/// `G_paper`: latents `[N, latent_size]` (and labels) → image `[N, C, R, R]`.
#[derive(Clone, Debug)]
pub struct PgganGenerator {
    pub cfg: PgganConfig,
    dense: Dense,
    conv4: Conv,
    /// Per res ≥ 3 (index res − 3): `Conv0_up` (or `Conv0`), `Conv1`.
    blocks: Vec<(Conv, Conv)>,
    /// `ToRGB_lod{L−res}` for res = 2..=L (index res − 2).
    to_rgb: Vec<Conv>,
    /// The network's `lod` variable.
    pub lod: f64,
}

impl PgganGenerator {
    pub fn new(p: &mut Params, cfg: &PgganConfig) -> Result<Self> {
        let cfg = cfg.clone();
        let ch = cfg.channels;
        let ws = Wscale::new(SQRT2, cfg.use_wscale);
        let lod = super::tf1::scalar_var(p, "lod")?;
        let dense = Dense::new(
            p,
            "4x4/Dense",
            [cfg.latent_size + cfg.label_size, 16 * ch.nf(1)],
            Wscale::new(SQRT2 / 4.0, cfg.use_wscale),
            false,
        )?;
        // The bias is `[nf(1)]`, added per channel after the reshape.
        let dense_bias = p.tensor("4x4/Dense/bias", [ch.nf(1)], crate::nn::Init::Const(0.0))?;
        let dense = dense.with_bias(dense_bias);
        let conv4 = Conv::new(p, "4x4/Conv", 3, [ch.nf(1), ch.nf(1)], ws, ConvKind::Plain)?;
        let mut blocks = Vec::new();
        let mut to_rgb = vec![to_rgb_layer(p, &cfg, 2)?];
        for res in 3..=cfg.log2 {
            let px = 1usize << res;
            let (cin, cout) = (ch.nf(res - 2), ch.nf(res - 1));
            let c0 = if cfg.fused_scale {
                Conv::new(
                    p,
                    &format!("{px}x{px}/Conv0_up"),
                    3,
                    [cin, cout],
                    ws,
                    ConvKind::FusedUp {
                        out_in: cfg.up_weight_out_in,
                    },
                )?
            } else {
                Conv::new(
                    p,
                    &format!("{px}x{px}/Conv0"),
                    3,
                    [cin, cout],
                    ws,
                    ConvKind::Plain,
                )?
            };
            let c1 = Conv::new(
                p,
                &format!("{px}x{px}/Conv1"),
                3,
                [cout, cout],
                ws,
                ConvKind::Plain,
            )?;
            blocks.push((c0, c1));
            to_rgb.push(to_rgb_layer(p, &cfg, res)?);
        }
        Ok(Self {
            cfg,
            dense,
            conv4,
            blocks,
            to_rgb,
            lod,
        })
    }

    /// Multiply-adds of one image at full resolution (a fused up-conv counted as the 3×3 conv
    /// of the upscaled input, as computed).
    pub fn macs(&self) -> u64 {
        let numel = |d: [usize; 4]| d.iter().product::<usize>() as u64;
        let [a, b] = self.dense.weight.dims();
        let mut macs = (a * b) as u64 + numel(self.conv4.weight.dims()) * 16;
        for (k, (c0, c1)) in self.blocks.iter().enumerate() {
            let r = 8u64 << k;
            macs += (numel(c0.weight.dims()) + numel(c1.weight.dims())) * r * r;
        }
        let r = self.cfg.resolution as u64;
        macs + numel(self.to_rgb.last().expect("ToRGB").weight.dims()) * r * r
    }

    fn pn(&self, x: Tensor<4>) -> Tensor<4> {
        if self.cfg.use_pixelnorm {
            pixel_norm(x, self.cfg.pixelnorm_epsilon)
        } else {
            x
        }
    }

    fn conv_layer(&self, c: &Conv, x: Tensor<4>) -> Tensor<4> {
        self.pn(self.cfg.act.apply(c.add_bias(c.forward(x))))
    }

    fn block(&self, x: Tensor<4>, res: usize) -> Tensor<4> {
        let (c0, c1) = &self.blocks[res - 3];
        let x = match c0.kind {
            ConvKind::FusedUp { .. } => self.conv_layer(c0, x),
            _ => self.conv_layer(c0, upscale2d(x, 2)),
        };
        self.conv_layer(c1, x)
    }

    fn rgb(&self, x: Tensor<4>, res: usize) -> Tensor<4> {
        let l = &self.to_rgb[res - 2];
        l.add_bias(l.forward(x))
    }

    /// The 4×4 features of latents (+ labels) `[N, latent_size + label_size]`.
    fn start(&self, x: Tensor<2>) -> Tensor<4> {
        let cfg = &self.cfg;
        let x = if cfg.normalize_latents {
            pixel_norm(x, cfg.pixelnorm_epsilon)
        } else {
            x
        };
        let [n, _] = x.dims();
        let c = cfg.channels.nf(1);
        let x = self.dense.forward_no_bias(x).reshape([n, c, 4, 4]);
        let b = self.dense.bias.clone().expect("4x4/Dense has a bias");
        let x = self.pn(cfg.act.apply(add_channel_bias(x, b)));
        self.conv_layer(&self.conv4, x)
    }

    fn grow(&self, x: Tensor<4>, res: usize, level: usize, lod: f64) -> Tensor<4> {
        let y = if res == 2 {
            x.clone()
        } else {
            self.block(x.clone(), res)
        };
        let l = level as f64;
        if level > 0 && lod < l {
            return self.grow(y, res + 1, level - 1, lod);
        }
        if res > 2 && lod > l {
            return blend_up(self.rgb(y, res), self.rgb(x, res - 1), lod - l, 1 << level);
        }
        upscale2d(self.rgb(y, res), 1 << level)
    }

    /// The image for the network's input `x = concat(latents, labels)` `[N, latent_size +
    /// label_size]` at level of detail `lod`.
    pub fn forward_input(&self, x: Tensor<2>, lod: f64) -> Result<Tensor<4>> {
        let cfg = &self.cfg;
        let [_, d] = x.dims();
        if d != cfg.latent_size + cfg.label_size {
            return Err(Error::InvalidArgument(format!(
                "G_paper: input has {d} values, expected latent_size + label_size = {}",
                cfg.latent_size + cfg.label_size
            )));
        }
        let lod = check_lod("G_paper", lod, cfg.log2)?;
        Ok(self.grow(self.start(x), 2, cfg.log2 - 2, lod))
    }

    /// `Gs.run(latents, labels)` at level of detail `lod` (the network's own `lod` variable is
    /// what the official code uses).
    pub fn forward(&self, z: Tensor<2>, labels: Option<Tensor<2>>, lod: f64) -> Result<Tensor<4>> {
        let cfg = &self.cfg;
        let [n, zd] = z.dims();
        if zd != cfg.latent_size {
            return Err(Error::InvalidArgument(format!(
                "G_paper: latents have {zd} values, expected latent_size {}",
                cfg.latent_size
            )));
        }
        let x = match (cfg.label_size, labels) {
            (0, _) => z,
            (ls, Some(c)) if c.dims() == [n, ls] => Tensor::cat(vec![z, c], 1),
            (ls, _) => {
                return Err(Error::InvalidArgument(format!(
                    "this PGGAN generator is conditional: give labels [N, {ls}]"
                )))
            }
        };
        self.forward_input(x, lod)
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        super::tf1::add_scalar_var(sd, "lod", self.lod);
        self.dense.state_dict(sd);
        self.conv4.state_dict(sd);
        for (c0, c1) in &self.blocks {
            c0.state_dict(sd);
            c1.state_dict(sd);
        }
        for l in &self.to_rgb {
            l.state_dict(sd);
        }
    }
}

fn to_rgb_layer(p: &mut Params, cfg: &PgganConfig, res: usize) -> Result<Conv> {
    Conv::new(
        p,
        &format!("ToRGB_lod{}", cfg.log2 - res),
        1,
        [cfg.channels.nf(res - 1), cfg.num_channels],
        Wscale::new(1.0, cfg.use_wscale),
        ConvKind::Plain,
    )
}

/// `D_paper`'s static kwargs (§14.2).
#[derive(Clone, Debug)]
pub struct PgganDConfig {
    pub resolution: usize,
    pub log2: usize,
    pub num_channels: usize,
    pub label_size: usize,
    pub channels: Channels,
    pub use_wscale: bool,
    pub mbstd_group_size: usize,
    pub fused_scale: bool,
}

/// `D_paper`: images `[N, C, R, R]` → scores `[N, 1]` (and the label outputs).
#[derive(Clone, Debug)]
pub struct PgganDiscriminator {
    pub cfg: PgganDConfig,
    body: DBody,
    pub lod: f64,
}

impl PgganDiscriminator {
    pub fn new(p: &mut Params, kwargs: &Value) -> Result<Self> {
        let k = Kwargs::new("D_paper", kwargs)?;
        k.check_float32()?;
        k.check_structure()?;
        let resolution = k.usize("resolution", 32, 1 << 20)?;
        let fused = k.fused_scale(super::tf1::FusedScale::Always)?;
        if fused == super::tf1::FusedScale::Auto {
            return Err(Error::Config(
                "D_paper: fused_scale 'auto' is a StyleGAN v1 option, not PGGAN's".into(),
            ));
        }
        let cfg = PgganDConfig {
            resolution,
            log2: resolution_log2("D_paper", resolution)?,
            num_channels: k.usize("num_channels", 1, 16)?,
            label_size: k.usize("label_size", 0, 1 << 16)?,
            channels: Channels::from_kwargs(&k)?,
            use_wscale: k.bool("use_wscale", true)?,
            mbstd_group_size: k.usize("mbstd_group_size", 4, 1 << 16)?,
            fused_scale: fused == super::tf1::FusedScale::Always,
        };
        let lod = super::tf1::scalar_var(p, "lod")?;
        let body = DBody::new(
            p,
            DBodySpec {
                what: "D_paper",
                resolution,
                num_channels: cfg.num_channels,
                channels: cfg.channels,
                use_wscale: cfg.use_wscale,
                act: Act::Lrelu,
                blur: None,
                unfused_pool: !cfg.fused_scale,
                mbstd_group: cfg.mbstd_group_size,
                mbstd_features: 1,
                outputs: 1 + cfg.label_size,
            },
        )?;
        Ok(Self { cfg, body, lod })
    }

    /// `[N, 1 + label_size]`: the score, then the label outputs, at level of detail `lod`.
    pub fn forward_all(&self, images: &Tensor<4>, lod: f64) -> Result<Tensor<2>> {
        self.body.forward(images, lod)
    }

    /// Scores `[N, 1]` (`scores_out`).
    pub fn forward(&self, images: &Tensor<4>, lod: f64) -> Result<Tensor<2>> {
        Ok(self.forward_all(images, lod)?.narrow(1, 0, 1))
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        super::tf1::add_scalar_var(sd, "lod", self.lod);
        self.body.state_dict(sd);
    }
}
