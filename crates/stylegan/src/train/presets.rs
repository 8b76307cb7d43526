//! Network configurations for a new training run, as the official `train.py` builds them for
//! `--cfg stylegan2`, `stylegan3-t` and `stylegan3-r`.

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::checkpoint::NetworkEntry;
use crate::models::discriminator::DISCRIMINATOR_CLASS;
use crate::models::generator::{GENERATOR_CLASS, GENERATOR_CLASS_SG3};
use crate::models::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig};

/// `train.py --cfg`: the base configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrainConfig {
    StyleGan2,
    /// StyleGAN3 with 3×3 convolutions (translation equivariance).
    StyleGan3T,
    /// StyleGAN3 with 1×1 convolutions and radial filters (rotation equivariance).
    StyleGan3R,
}

impl TrainConfig {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "stylegan2" => Ok(Self::StyleGan2),
            "stylegan3-t" => Ok(Self::StyleGan3T),
            "stylegan3-r" => Ok(Self::StyleGan3R),
            o => Err(Error::InvalidArgument(format!(
                "unknown config '{o}' (expected stylegan2, stylegan3-t or stylegan3-r)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::StyleGan2 => "stylegan2",
            Self::StyleGan3T => "stylegan3-t",
            Self::StyleGan3R => "stylegan3-r",
        }
    }

    pub fn is_stylegan3(self) -> bool {
        self != Self::StyleGan2
    }

    /// The official mapping depth (`--map` default): 8 for StyleGAN2, 2 for StyleGAN3.
    pub fn default_map(self) -> usize {
        if self.is_stylegan3() {
            2
        } else {
            8
        }
    }
}

/// The knobs `train.py` exposes for the networks (`--cbase --cmax --map --mbstd-group`).
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkOptions {
    /// `--cfg`.
    pub cfg: TrainConfig,
    /// StyleGAN3's `magnitude_ema_beta`, `0.5 ** (batch / 20000)` in `train.py`.
    pub magnitude_ema_beta: f64,
    pub resolution: usize,
    pub channels: usize,
    pub c_dim: usize,
    /// `--cbase`, official default 32768.
    pub channel_base: usize,
    /// `--cmax`, official default 512.
    pub channel_max: usize,
    /// `--map`: mapping depth (official: 8 for `--cfg stylegan2`).
    pub map_layers: usize,
    /// z and w size (official 512).
    pub latent_dim: usize,
    /// `--mbstd-group`, official default 4.
    pub mbstd_group: usize,
}

impl NetworkOptions {
    /// `--cfg stylegan2` defaults for this data shape.
    pub fn stylegan2(resolution: usize, channels: usize, c_dim: usize) -> Self {
        Self {
            cfg: TrainConfig::StyleGan2,
            magnitude_ema_beta: 0.999,
            resolution,
            channels,
            c_dim,
            channel_base: 32768,
            channel_max: 512,
            map_layers: 8,
            latent_dim: 512,
            mbstd_group: 4,
        }
    }

    /// `--cfg cfg` defaults for this data shape and batch size (StyleGAN3: 2 mapping layers,
    /// `magnitude_ema_beta = 0.5 ** (batch / 20000)`).
    pub fn for_cfg(
        cfg: TrainConfig,
        resolution: usize,
        channels: usize,
        c_dim: usize,
        batch: usize,
    ) -> Self {
        Self {
            cfg,
            magnitude_ema_beta: 0.5f64.powf(batch as f64 / 20_000.0),
            map_layers: cfg.default_map(),
            ..Self::stylegan2(resolution, channels, c_dim)
        }
    }

    /// `(G init_kwargs, D init_kwargs)` in the stylegan3-repo form (conv_clamp 256; fp16 is a
    /// CUDA speed choice that we record as `num_fp16_res: 0`).
    pub fn init_kwargs(&self) -> Result<(Value, Value)> {
        if self.resolution < 4 || !self.resolution.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "resolution {} must be a power of two >= 4",
                self.resolution
            )));
        }
        let mut g = json!({
            "z_dim": self.latent_dim, "w_dim": self.latent_dim, "c_dim": self.c_dim,
            "img_resolution": self.resolution, "img_channels": self.channels,
            "mapping_kwargs": {"num_layers": self.map_layers},
            "channel_base": self.channel_base, "channel_max": self.channel_max,
            "num_fp16_res": 0, "conv_clamp": 256,
        });
        if self.cfg.is_stylegan3() {
            g["magnitude_ema_beta"] = json!(self.magnitude_ema_beta);
        }
        if self.cfg == TrainConfig::StyleGan3R {
            // train.py: 1x1 convolutions, twice the feature maps, radial filters (G only).
            g["conv_kernel"] = json!(1);
            g["channel_base"] = json!(self.channel_base * 2);
            g["channel_max"] = json!(self.channel_max * 2);
            g["use_radial_filters"] = json!(true);
        }
        let d = json!({
            "c_dim": self.c_dim, "img_resolution": self.resolution, "img_channels": self.channels,
            "channel_base": self.channel_base, "channel_max": self.channel_max,
            "num_fp16_res": 0, "conv_clamp": 256,
            "block_kwargs": {"freeze_layers": 0},
            "mapping_kwargs": {},
            "epilogue_kwargs": {"mbstd_group_size": self.mbstd_group},
        });
        Ok((g, d))
    }

    /// Freshly initialised G and D (official init rules), reproducible from `seed`.
    pub fn build(&self, seed: u32) -> Result<(NetworkEntry, NetworkEntry)> {
        let (gk, dk) = self.init_kwargs()?;
        let device = crate::backend::cpu();
        let class = if self.cfg.is_stylegan3() {
            GENERATOR_CLASS_SG3
        } else {
            GENERATOR_CLASS
        };
        let g = Generator::random(
            &GeneratorConfig::from_init_kwargs(class, &gk)?,
            seed,
            &device,
        )?;
        let d = Discriminator::random(
            &DiscriminatorConfig::from_init_kwargs(DISCRIMINATOR_CLASS, &dk)?,
            seed.wrapping_add(1),
            &device,
        )?;
        Ok((g.to_entry(), d.to_entry()))
    }
}
