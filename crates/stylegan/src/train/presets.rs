//! Network configurations for a new training run, as the official `train.py` builds them.

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::io::checkpoint::NetworkEntry;
use crate::models::discriminator::DISCRIMINATOR_CLASS;
use crate::models::generator::GENERATOR_CLASS;
use crate::models::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig};

/// The knobs `train.py` exposes for the networks (`--cbase --cmax --map --mbstd-group`).
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkOptions {
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

    /// `(G init_kwargs, D init_kwargs)` in the stylegan3-repo form (conv_clamp 256; fp16 is a
    /// CUDA speed choice that we record as `num_fp16_res: 0`).
    pub fn init_kwargs(&self) -> Result<(Value, Value)> {
        if self.resolution < 4 || !self.resolution.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "resolution {} must be a power of two >= 4",
                self.resolution
            )));
        }
        let g = json!({
            "z_dim": self.latent_dim, "w_dim": self.latent_dim, "c_dim": self.c_dim,
            "img_resolution": self.resolution, "img_channels": self.channels,
            "mapping_kwargs": {"num_layers": self.map_layers},
            "channel_base": self.channel_base, "channel_max": self.channel_max,
            "num_fp16_res": 0, "conv_clamp": 256,
        });
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
        let g = Generator::random(
            &GeneratorConfig::from_init_kwargs(GENERATOR_CLASS, &gk)?,
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
