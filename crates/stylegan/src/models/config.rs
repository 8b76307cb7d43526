//! Network configurations, parsed from the official constructors' `init_kwargs`.
//!
//! Every keyword the official constructor accepts is either honoured or refused with an error
//! naming it; unknown keywords are refused too. Keywords that only select a precision or memory
//! layout on CUDA (`num_fp16_res`, `fp16_channels_last`, `fused_modconv_default`) are accepted:
//! on the CPU reference path they do not change the result (FORMATS.md §1).

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::models::pggan::PgganConfig;
use crate::models::stylegan1::Sg1Config;
use crate::models::stylegan3::Sg3Config;
use crate::ops::Activation;

/// Which official code base a class name comes from; their defaults differ (FORMATS.md §6.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// NVlabs/stylegan3 `training/networks_stylegan2.py` (also what legacy.py converts TF pickles to).
    StyleGan3Repo,
    /// NVlabs/stylegan2-ada-pytorch `training/networks.py`.
    Ada,
    /// NVlabs/stylegan3 `training/networks_stylegan3.py` (generators only).
    StyleGan3,
}

impl Flavor {
    /// Recognise a class name such as `training.networks_stylegan2.Generator`.
    pub fn from_class_name(class_name: &str, expected: &str) -> Result<Self> {
        let (module, class) = class_name.rsplit_once('.').unwrap_or(("", class_name));
        if class != expected {
            return Err(Error::Config(format!(
                "class_name '{class_name}' is not a {expected}"
            )));
        }
        match module {
            "training.networks_stylegan2" => Ok(Flavor::StyleGan3Repo),
            "training.networks" => Ok(Flavor::Ada),
            "training.networks_stylegan3" if expected == "Generator" => Ok(Flavor::StyleGan3),
            "training.networks_stylegan3" => Err(Error::Config(format!(
                "class_name '{class_name}': the StyleGAN3 code has no {expected} of its own (it trains with training.networks_stylegan2.{expected})"
            ))),
            _ => Err(Error::Config(format!(
                "unknown class_name '{class_name}' (expected training.networks_stylegan2.{expected} or training.networks.{expected})"
            ))),
        }
    }
}

/// Generator / discriminator architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Orig,
    Skip,
    Resnet,
}

impl Architecture {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "orig" => Ok(Self::Orig),
            "skip" => Ok(Self::Skip),
            "resnet" => Ok(Self::Resnet),
            other => Err(Error::Config(format!(
                "unknown architecture '{other}' (expected orig, skip or resnet)"
            ))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Orig => "orig",
            Self::Skip => "skip",
            Self::Resnet => "resnet",
        }
    }
}

/// `MappingNetwork` keyword arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct MappingConfig {
    pub num_layers: usize,
    pub embed_features: Option<usize>,
    pub layer_features: Option<usize>,
    pub activation: Activation,
    pub lr_multiplier: f64,
    pub w_avg_beta: Option<f64>,
}

impl MappingConfig {
    fn defaults(flavor: Flavor) -> Self {
        Self {
            num_layers: if flavor == Flavor::StyleGan3 { 2 } else { 8 },
            embed_features: None,
            layer_features: None,
            activation: Activation::Lrelu,
            lr_multiplier: 0.01,
            w_avg_beta: Some(if flavor == Flavor::Ada { 0.995 } else { 0.998 }),
        }
    }

    fn parse(v: &Value, flavor: Flavor, what: &str) -> Result<Self> {
        let mut cfg = Self::defaults(flavor);
        for (k, val) in obj(v, what)? {
            let key = format!("{what}.{k}");
            match k.as_str() {
                "num_layers" => cfg.num_layers = as_usize(val, &key)?,
                "embed_features" => cfg.embed_features = opt_usize(val, &key)?,
                "layer_features" => cfg.layer_features = opt_usize(val, &key)?,
                "activation" => cfg.activation = Activation::parse(as_str(val, &key)?)?,
                "lr_multiplier" => cfg.lr_multiplier = as_f64(val, &key)?,
                "w_avg_beta" => cfg.w_avg_beta = opt_f64(val, &key)?,
                _ => return Err(unknown(&key)),
            }
        }
        Ok(cfg)
    }

    fn to_json(&self) -> Value {
        json!({
            "num_layers": self.num_layers,
            "embed_features": self.embed_features,
            "layer_features": self.layer_features,
            "activation": self.activation.name(),
            "lr_multiplier": self.lr_multiplier,
            "w_avg_beta": self.w_avg_beta,
        })
    }
}

/// Which model family a generator belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    StyleGan2,
    StyleGan3,
    /// StyleGAN v1 (NVlabs/stylegan, TensorFlow).
    StyleGan1,
    /// PGGAN (progressive growing of GANs, TensorFlow).
    Pggan,
}

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Self::StyleGan2 => "StyleGAN2",
            Self::StyleGan3 => "StyleGAN3",
            Self::StyleGan1 => "StyleGAN v1",
            Self::Pggan => "PGGAN",
        }
    }
}

/// The largest `img_resolution` a configuration may ask for. The official networks go up to
/// 1024²; at 4096² a single 32-channel feature map takes 2 GB (32 · 4096² · 4 bytes), and
/// beyond it a network cannot be built, let alone trained, in
/// the memory of any machine this runs on: such configs are refused up front instead of
/// ending in an out-of-memory kill.
pub const MAX_RESOLUTION: usize = 4096;

fn check_max_resolution(what: &str, r: usize) -> Result<()> {
    if r > MAX_RESOLUTION {
        return Err(Error::Config(format!(
            "{what}img_resolution {r} is above the supported maximum {MAX_RESOLUTION}"
        )));
    }
    Ok(())
}

/// A `Generator` configuration: what every family shares (dimensions, mapping) and the
/// family's own synthesis keywords.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratorConfig {
    pub z_dim: usize,
    pub c_dim: usize,
    pub w_dim: usize,
    pub img_resolution: usize,
    pub img_channels: usize,
    pub mapping: MappingConfig,
    pub synthesis: SynthesisConfig,
}

/// The family-specific synthesis keywords.
#[derive(Clone, Debug, PartialEq)]
pub enum SynthesisConfig {
    StyleGan2(Sg2Config),
    StyleGan3(Sg3Config),
    /// `G_style`'s static kwargs (its mapping's too).
    StyleGan1(Box<Sg1Config>),
    /// `G_paper`'s static kwargs.
    Pggan(Box<PgganConfig>),
}

/// The StyleGAN2 synthesis keywords (`SynthesisNetwork` / `SynthesisBlock` / layers).
#[derive(Clone, Debug, PartialEq)]
pub struct Sg2Config {
    pub channel_base: usize,
    pub channel_max: usize,
    pub num_fp16_res: usize,
    pub conv_clamp: Option<f64>,
    pub architecture: Architecture,
    pub resample_filter: Vec<f64>,
    pub kernel_size: usize,
    pub use_noise: bool,
    pub activation: Activation,
}

impl Sg2Config {
    fn defaults(flavor: Flavor) -> Self {
        Self {
            channel_base: 32768,
            channel_max: 512,
            num_fp16_res: if flavor == Flavor::Ada { 0 } else { 4 },
            conv_clamp: if flavor == Flavor::Ada {
                None
            } else {
                Some(256.0)
            },
            architecture: Architecture::Skip,
            resample_filter: vec![1.0, 3.0, 3.0, 1.0],
            kernel_size: 3,
            use_noise: true,
            activation: Activation::Lrelu,
        }
    }

    /// Take one synthesis keyword; `Ok(false)` when `k` is not one of them.
    fn set(&mut self, k: &str, v: &Value) -> Result<bool> {
        match k {
            "channel_base" => self.channel_base = as_usize(v, k)?,
            "channel_max" => self.channel_max = as_usize(v, k)?,
            "num_fp16_res" => self.num_fp16_res = as_usize(v, k)?,
            "conv_clamp" => self.conv_clamp = opt_f64(v, k)?,
            "architecture" => self.architecture = Architecture::parse(as_str(v, k)?)?,
            "resample_filter" => self.resample_filter = as_f64_list(v, k)?,
            "kernel_size" => self.kernel_size = as_usize(v, k)?,
            "use_noise" => self.use_noise = v.as_bool().ok_or_else(|| bad(k, "a boolean", v))?,
            "activation" => self.activation = Activation::parse(as_str(v, k)?)?,
            // CUDA precision / layout choices: no effect on the float32 result.
            "fp16_channels_last" => {
                v.as_bool().ok_or_else(|| bad(k, "a boolean", v))?;
            }
            "fused_modconv_default" => {
                if !(v.is_boolean() || v.as_str() == Some("inference_only")) {
                    return Err(bad(k, "true, false or 'inference_only'", v));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn validate(&self, r: usize) -> Result<()> {
        if r < 4 || !r.is_power_of_two() {
            return Err(Error::Config(format!(
                "img_resolution {r} must be a power of two >= 4"
            )));
        }
        if self.kernel_size == 0 || self.kernel_size.is_multiple_of(2) {
            return Err(Error::Config(format!(
                "kernel_size {} must be odd",
                self.kernel_size
            )));
        }
        if self.resample_filter.len() >= 8 {
            return Err(Error::Config(format!(
                "resample_filter with {} taps is separable in the official code; only filters of < 8 taps are supported",
                self.resample_filter.len()
            )));
        }
        if self.channel_max == 0 || self.channel_base / r == 0 {
            return Err(Error::Config(format!(
                "channel_base {} / channel_max {} give zero channels at resolution {r}",
                self.channel_base, self.channel_max
            )));
        }
        Ok(())
    }

    /// `min(channel_base // res, channel_max)`.
    pub fn channels(&self, res: usize) -> usize {
        (self.channel_base / res).min(self.channel_max)
    }
}

impl GeneratorConfig {
    /// Parse a Generator's `init_kwargs` for the given official class name.
    pub fn from_init_kwargs(class_name: &str, kwargs: &Value) -> Result<Self> {
        if let Some(cfg) = Self::from_tf1(class_name, kwargs)? {
            return Ok(cfg);
        }
        let flavor = Flavor::from_class_name(class_name, "Generator")?;
        let mut cfg = Self {
            z_dim: 0,
            c_dim: 0,
            w_dim: 0,
            img_resolution: 0,
            img_channels: 0,
            mapping: MappingConfig::defaults(flavor),
            synthesis: if flavor == Flavor::StyleGan3 {
                SynthesisConfig::StyleGan3(Sg3Config::default())
            } else {
                SynthesisConfig::StyleGan2(Sg2Config::defaults(flavor))
            },
        };
        let mut required = vec!["z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"];
        // ADA nests the synthesis arguments; the stylegan3 code passes them flat.
        let mut flat: Vec<(String, Value)> = Vec::new();
        for (k, v) in obj(kwargs, "init_kwargs")? {
            if k == "synthesis_kwargs" && flavor == Flavor::Ada {
                for (k2, v2) in obj(v, "synthesis_kwargs")? {
                    if kwargs.get(k2).is_some() {
                        return Err(Error::Config(format!(
                            "'{k2}' is given both flat and in synthesis_kwargs"
                        )));
                    }
                    flat.push((k2.clone(), v2.clone()));
                }
            } else {
                flat.push((k.clone(), v.clone()));
            }
        }
        for (k, v) in &flat {
            let k = k.as_str();
            required.retain(|r| *r != k);
            match k {
                "z_dim" => cfg.z_dim = as_usize(v, k)?,
                "c_dim" => cfg.c_dim = as_usize(v, k)?,
                "w_dim" => cfg.w_dim = as_usize(v, k)?,
                "img_resolution" => cfg.img_resolution = as_usize(v, k)?,
                "img_channels" => cfg.img_channels = as_usize(v, k)?,
                "mapping_kwargs" => {
                    if flavor == Flavor::StyleGan3 {
                        crate::models::stylegan3::config::check_mapping_kwargs(v)?;
                    }
                    cfg.mapping = MappingConfig::parse(v, flavor, "mapping_kwargs")?
                }
                _ => {
                    let known = match &mut cfg.synthesis {
                        SynthesisConfig::StyleGan2(s) => s.set(k, v)?,
                        SynthesisConfig::StyleGan3(s) => s.set(k, v)?,
                        SynthesisConfig::StyleGan1(_) | SynthesisConfig::Pggan(_) => false,
                    };
                    if !known {
                        return Err(unknown(k));
                    }
                }
            }
        }
        if !required.is_empty() {
            return Err(Error::Config(format!(
                "init_kwargs lacks required key(s): {}",
                required.join(", ")
            )));
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// StyleGAN v1 and PGGAN generators: their static kwargs under the TF build function's
    /// class name (`training.networks_stylegan.G_style`, `networks.G_paper`,
    /// `training.networks_progan.G_paper`); `None` for other class names.
    fn from_tf1(class_name: &str, kwargs: &Value) -> Result<Option<Self>> {
        use crate::models::{pggan, stylegan1};
        if class_name == stylegan1::G_CLASS {
            let s = Sg1Config::from_kwargs(kwargs)?;
            return Ok(Some(Self {
                z_dim: s.latent_size,
                c_dim: s.label_size,
                w_dim: s.dlatent_size,
                img_resolution: s.resolution,
                img_channels: s.num_channels,
                mapping: MappingConfig {
                    num_layers: s.mapping_layers,
                    embed_features: (s.label_size > 0).then_some(s.latent_size),
                    layer_features: Some(s.mapping_fmaps),
                    activation: match s.mapping_act {
                        crate::models::tf1::Act::Lrelu => Activation::Lrelu,
                        crate::models::tf1::Act::Relu => Activation::Relu,
                    },
                    lr_multiplier: s.mapping_lrmul,
                    w_avg_beta: Some(0.995),
                },
                synthesis: SynthesisConfig::StyleGan1(Box::new(s)),
            }));
        }
        if class_name == pggan::G_CLASS || class_name == pggan::G_CLASS_PORT {
            let s = PgganConfig::from_kwargs(kwargs, class_name)?;
            return Ok(Some(Self {
                z_dim: s.latent_size,
                c_dim: s.label_size,
                // PGGAN has no W: its "w" is the network's input, z and the label.
                w_dim: s.latent_size + s.label_size,
                img_resolution: s.resolution,
                img_channels: s.num_channels,
                mapping: MappingConfig {
                    num_layers: 0,
                    embed_features: None,
                    layer_features: None,
                    activation: Activation::Linear,
                    lr_multiplier: 1.0,
                    w_avg_beta: None,
                },
                synthesis: SynthesisConfig::Pggan(Box::new(s)),
            }));
        }
        Ok(None)
    }

    fn validate(&self) -> Result<()> {
        if self.w_dim == 0 || self.img_channels == 0 {
            return Err(Error::Config(
                "w_dim and img_channels must be positive".into(),
            ));
        }
        if self.z_dim == 0 && self.c_dim == 0 {
            return Err(Error::Config(
                "a Generator needs z_dim > 0 or c_dim > 0".into(),
            ));
        }
        check_max_resolution("", self.img_resolution)?;
        match &self.synthesis {
            SynthesisConfig::StyleGan2(s) => s.validate(self.img_resolution),
            SynthesisConfig::StyleGan3(s) => {
                if self.z_dim == 0 {
                    return Err(Error::Config("StyleGAN3: z_dim must be positive".into()));
                }
                s.validate(self.img_resolution)
            }
            // Checked when their static kwargs were read.
            SynthesisConfig::StyleGan1(_) | SynthesisConfig::Pggan(_) => Ok(()),
        }
    }

    /// The family these keywords describe.
    pub fn family(&self) -> Family {
        match self.synthesis {
            SynthesisConfig::StyleGan2(_) => Family::StyleGan2,
            SynthesisConfig::StyleGan3(_) => Family::StyleGan3,
            SynthesisConfig::StyleGan1(_) => Family::StyleGan1,
            SynthesisConfig::Pggan(_) => Family::Pggan,
        }
    }

    /// The StyleGAN2 synthesis keywords, or an error naming the family and what needed them.
    pub fn sg2(&self, what: &str) -> Result<&Sg2Config> {
        match &self.synthesis {
            SynthesisConfig::StyleGan2(s) => Ok(s),
            _ => Err(Error::InvalidArgument(format!(
                "{what} needs a StyleGAN2 network; this one is {}",
                self.family().name()
            ))),
        }
    }

    /// `[4, 8, …, img_resolution]` (the StyleGAN2 blocks).
    pub fn block_resolutions(&self) -> Vec<usize> {
        (2..=self.img_resolution.trailing_zeros())
            .map(|i| 1usize << i)
            .collect()
    }

    /// Number of w vectors the synthesis network consumes.
    pub fn num_ws(&self) -> usize {
        match &self.synthesis {
            SynthesisConfig::StyleGan2(_) => {
                let blocks = self.block_resolutions().len();
                // b4: one conv; others: two convs; plus the last block's torgb.
                1 + 2 * (blocks - 1) + 1
            }
            // The input, num_layers layers and ToRGB.
            SynthesisConfig::StyleGan3(s) => s.num_layers + 2,
            // One style per layer.
            SynthesisConfig::StyleGan1(s) => s.num_layers,
            // The input vector.
            SynthesisConfig::Pggan(_) => 1,
        }
    }

    /// `init_kwargs` in the stylegan3-repo (flat) form.
    pub fn to_init_kwargs(&self) -> Value {
        let mut m = json!({
            "z_dim": self.z_dim,
            "c_dim": self.c_dim,
            "w_dim": self.w_dim,
            "img_resolution": self.img_resolution,
            "img_channels": self.img_channels,
        });
        let m = m.as_object_mut().expect("object");
        match &self.synthesis {
            SynthesisConfig::StyleGan2(s) => {
                let v = json!({
                    "mapping_kwargs": self.mapping.to_json(),
                    "channel_base": s.channel_base,
                    "channel_max": s.channel_max,
                    "num_fp16_res": s.num_fp16_res,
                    "conv_clamp": s.conv_clamp,
                    "architecture": s.architecture.name(),
                    "resample_filter": s.resample_filter,
                    "kernel_size": s.kernel_size,
                    "use_noise": s.use_noise,
                    "activation": s.activation.name(),
                });
                m.extend(v.as_object().expect("object").clone());
            }
            SynthesisConfig::StyleGan3(s) => {
                m.insert(
                    "mapping_kwargs".into(),
                    json!({
                        "num_layers": self.mapping.num_layers,
                        "lr_multiplier": self.mapping.lr_multiplier,
                        "w_avg_beta": self.mapping.w_avg_beta,
                    }),
                );
                s.write_json(m);
            }
            // TF1 networks keep their static kwargs.
            SynthesisConfig::StyleGan1(s) => return s.kwargs.clone(),
            SynthesisConfig::Pggan(s) => return s.kwargs.clone(),
        }
        Value::Object(m.clone())
    }
}

/// The StyleGAN2 `Discriminator` configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct DiscriminatorConfig {
    pub c_dim: usize,
    pub img_resolution: usize,
    pub img_channels: usize,
    pub architecture: Architecture,
    pub channel_base: usize,
    pub channel_max: usize,
    pub num_fp16_res: usize,
    pub conv_clamp: Option<f64>,
    pub cmap_dim: Option<usize>,
    pub activation: Activation,
    pub resample_filter: Vec<f64>,
    /// Training-only (frozen layers); kept for round trips.
    pub freeze_layers: usize,
    pub mapping: MappingConfig,
    pub mbstd_group_size: Option<usize>,
    pub mbstd_num_channels: usize,
    pub epilogue_activation: Activation,
}

impl DiscriminatorConfig {
    /// Parse a Discriminator's `init_kwargs` for the given official class name.
    pub fn from_init_kwargs(class_name: &str, kwargs: &Value) -> Result<Self> {
        let flavor = Flavor::from_class_name(class_name, "Discriminator")?;
        let mut cfg = Self {
            c_dim: 0,
            img_resolution: 0,
            img_channels: 0,
            architecture: Architecture::Resnet,
            channel_base: 32768,
            channel_max: 512,
            num_fp16_res: if flavor == Flavor::Ada { 0 } else { 4 },
            conv_clamp: if flavor == Flavor::Ada {
                None
            } else {
                Some(256.0)
            },
            cmap_dim: None,
            activation: Activation::Lrelu,
            resample_filter: vec![1.0, 3.0, 3.0, 1.0],
            freeze_layers: 0,
            mapping: MappingConfig::defaults(flavor),
            mbstd_group_size: Some(4),
            mbstd_num_channels: 1,
            epilogue_activation: Activation::Lrelu,
        };
        let mut required = vec!["c_dim", "img_resolution", "img_channels"];
        for (k, v) in obj(kwargs, "init_kwargs")? {
            let k = k.as_str();
            required.retain(|r| *r != k);
            match k {
                "c_dim" => cfg.c_dim = as_usize(v, k)?,
                "img_resolution" => cfg.img_resolution = as_usize(v, k)?,
                "img_channels" => cfg.img_channels = as_usize(v, k)?,
                "architecture" => cfg.architecture = Architecture::parse(as_str(v, k)?)?,
                "channel_base" => cfg.channel_base = as_usize(v, k)?,
                "channel_max" => cfg.channel_max = as_usize(v, k)?,
                "num_fp16_res" => cfg.num_fp16_res = as_usize(v, k)?,
                "conv_clamp" => cfg.conv_clamp = opt_f64(v, k)?,
                "cmap_dim" => cfg.cmap_dim = opt_usize(v, k)?,
                "mapping_kwargs" => {
                    cfg.mapping = MappingConfig::parse(v, flavor, "mapping_kwargs")?
                }
                "block_kwargs" => {
                    for (bk, bv) in obj(v, "block_kwargs")? {
                        let key = format!("block_kwargs.{bk}");
                        match bk.as_str() {
                            "activation" => cfg.activation = Activation::parse(as_str(bv, &key)?)?,
                            "resample_filter" => cfg.resample_filter = as_f64_list(bv, &key)?,
                            "freeze_layers" => cfg.freeze_layers = as_usize(bv, &key)?,
                            "fp16_channels_last" => {
                                bv.as_bool().ok_or_else(|| bad(&key, "a boolean", bv))?;
                            }
                            _ => return Err(unknown(&key)),
                        }
                    }
                }
                "epilogue_kwargs" => {
                    for (ek, ev) in obj(v, "epilogue_kwargs")? {
                        let key = format!("epilogue_kwargs.{ek}");
                        match ek.as_str() {
                            "mbstd_group_size" => cfg.mbstd_group_size = opt_usize(ev, &key)?,
                            "mbstd_num_channels" => cfg.mbstd_num_channels = as_usize(ev, &key)?,
                            "activation" => {
                                cfg.epilogue_activation = Activation::parse(as_str(ev, &key)?)?
                            }
                            _ => return Err(unknown(&key)),
                        }
                    }
                }
                _ => return Err(unknown(k)),
            }
        }
        if !required.is_empty() {
            return Err(Error::Config(format!(
                "init_kwargs lacks required key(s): {}",
                required.join(", ")
            )));
        }
        let r = cfg.img_resolution;
        check_max_resolution("Discriminator ", r)?;
        if r < 8 || !r.is_power_of_two() {
            return Err(Error::Config(format!(
                "Discriminator img_resolution {r} must be a power of two >= 8"
            )));
        }
        if cfg.resample_filter.len() >= 8 {
            return Err(Error::Config(
                "resample_filter with >= 8 taps (separable) is not supported".into(),
            ));
        }
        if cfg.mbstd_group_size == Some(0) {
            return Err(Error::Config(
                "epilogue_kwargs.mbstd_group_size must be positive or null".into(),
            ));
        }
        if cfg.mbstd_num_channels > 0 && !cfg.channels(4).is_multiple_of(cfg.mbstd_num_channels) {
            return Err(Error::Config(
                "mbstd_num_channels must divide the 4x4 channel count".into(),
            ));
        }
        Ok(cfg)
    }

    pub fn channels(&self, res: usize) -> usize {
        (self.channel_base / res).min(self.channel_max)
    }

    /// `[R, R/2, …, 8]`.
    pub fn block_resolutions(&self) -> Vec<usize> {
        (3..=self.img_resolution.trailing_zeros())
            .rev()
            .map(|i| 1usize << i)
            .collect()
    }

    /// `cmap_dim`, defaulting to the 4×4 channel count (0 for unconditional networks).
    pub fn effective_cmap_dim(&self) -> usize {
        if self.c_dim == 0 {
            0
        } else {
            self.cmap_dim.unwrap_or_else(|| self.channels(4))
        }
    }

    pub fn to_init_kwargs(&self) -> Value {
        json!({
            "c_dim": self.c_dim,
            "img_resolution": self.img_resolution,
            "img_channels": self.img_channels,
            "architecture": self.architecture.name(),
            "channel_base": self.channel_base,
            "channel_max": self.channel_max,
            "num_fp16_res": self.num_fp16_res,
            "conv_clamp": self.conv_clamp,
            "cmap_dim": self.cmap_dim,
            "block_kwargs": {"activation": self.activation.name(), "resample_filter": self.resample_filter, "freeze_layers": self.freeze_layers},
            "mapping_kwargs": self.mapping.to_json(),
            "epilogue_kwargs": {"mbstd_group_size": self.mbstd_group_size, "mbstd_num_channels": self.mbstd_num_channels, "activation": self.epilogue_activation.name()},
        })
    }
}

pub(crate) fn obj<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| Error::Config(format!("{what} must be a JSON object, found {v}")))
}
pub(crate) fn unknown(key: &str) -> Error {
    Error::Config(format!("unknown init_kwargs key '{key}'"))
}
pub(crate) fn bad(key: &str, expected: &str, v: &Value) -> Error {
    Error::Config(format!("init_kwargs '{key}' must be {expected}, found {v}"))
}
pub(crate) fn as_usize(v: &Value, key: &str) -> Result<usize> {
    v.as_u64()
        .map(|x| x as usize)
        .ok_or_else(|| bad(key, "a non-negative integer", v))
}
pub(crate) fn opt_usize(v: &Value, key: &str) -> Result<Option<usize>> {
    if v.is_null() {
        Ok(None)
    } else {
        as_usize(v, key).map(Some)
    }
}
pub(crate) fn as_f64(v: &Value, key: &str) -> Result<f64> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| bad(key, "a finite number", v))
}
pub(crate) fn opt_f64(v: &Value, key: &str) -> Result<Option<f64>> {
    if v.is_null() {
        Ok(None)
    } else {
        as_f64(v, key).map(Some)
    }
}
pub(crate) fn as_str<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v.as_str().ok_or_else(|| bad(key, "a string", v))
}
pub(crate) fn as_f64_list(v: &Value, key: &str) -> Result<Vec<f64>> {
    v.as_array()
        .ok_or_else(|| bad(key, "a list of numbers", v))?
        .iter()
        .map(|x| as_f64(x, key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "training.networks_stylegan2.Generator";

    #[test]
    fn num_ws_matches_official() {
        for (r, n) in [(32, 8), (256, 14), (512, 16), (1024, 18)] {
            let cfg = GeneratorConfig::from_init_kwargs(
                G,
                &json!({"z_dim":512,"c_dim":0,"w_dim":512,"img_resolution":r,"img_channels":3}),
            )
            .unwrap();
            assert_eq!(cfg.num_ws(), n);
        }
    }

    #[test]
    fn unknown_and_bad_keys_are_refused_by_name() {
        let e = GeneratorConfig::from_init_kwargs(G, &json!({"z_dim":512,"c_dim":0,"w_dim":512,"img_resolution":32,"img_channels":3,"magic":1})).unwrap_err();
        assert!(e.to_string().contains("'magic'"), "{e}");
        let e = GeneratorConfig::from_init_kwargs(
            G,
            &json!({"z_dim":512,"c_dim":0,"w_dim":512,"img_resolution":30,"img_channels":3}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("power of two"), "{e}");
        // Above the documented maximum: refused before anything is allocated.
        let e = GeneratorConfig::from_init_kwargs(
            G,
            &json!({"z_dim":512,"c_dim":0,"w_dim":512,"img_resolution":65536,"img_channels":3,"channel_base":1<<30}),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("65536") && e.to_string().contains("4096"),
            "{e}"
        );
        let e = DiscriminatorConfig::from_init_kwargs(
            crate::models::discriminator::DISCRIMINATOR_CLASS,
            &json!({"c_dim":0,"img_resolution":8192,"img_channels":3}),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("8192") && e.to_string().contains("maximum"),
            "{e}"
        );
        let e = GeneratorConfig::from_init_kwargs("foo.Generator", &json!({})).unwrap_err();
        assert!(e.to_string().contains("unknown class_name"), "{e}");
    }

    #[test]
    fn ada_nested_synthesis_kwargs_and_defaults() {
        let cfg = GeneratorConfig::from_init_kwargs(
            "training.networks.Generator",
            &json!({"z_dim":512,"c_dim":0,"w_dim":512,"img_resolution":64,"img_channels":3,"mapping_kwargs":{"num_layers":2},
                    "synthesis_kwargs":{"channel_base":16384,"channel_max":512,"num_fp16_res":4}}),
        )
        .unwrap();
        let s = cfg.sg2("test").unwrap();
        assert_eq!(s.channel_base, 16384);
        assert_eq!(s.conv_clamp, None);
        assert_eq!(cfg.mapping.w_avg_beta, Some(0.995));
        assert_eq!(cfg.mapping.num_layers, 2);
    }
}
