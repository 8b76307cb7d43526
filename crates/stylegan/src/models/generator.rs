//! The StyleGAN2 `Generator`: mapping + synthesis, loaded from / saved to native checkpoints.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

use super::config::GeneratorConfig;
use super::mapping::MappingNetwork;
use super::synthesis::{NoiseMode, SynthesisNetwork};
use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, NetworkEntry};
use crate::latent;
use crate::nn::{Params, StateDict};

/// The official class name we write for networks we create.
pub const GENERATOR_CLASS: &str = "training.networks_stylegan2.Generator";

#[derive(Clone, Debug)]
pub struct Generator {
    pub config: GeneratorConfig,
    pub class_name: String,
    /// The constructor arguments as found in the checkpoint (kept verbatim on re-save).
    pub init_kwargs: Value,
    pub mapping: MappingNetwork,
    pub synthesis: SynthesisNetwork,
    device: Device,
}

impl Generator {
    /// Build from a parameter source (checkpoint tensors or random init).
    pub fn new(class_name: &str, init_kwargs: &Value, p: &mut Params) -> Result<Self> {
        let config = GeneratorConfig::from_init_kwargs(class_name, init_kwargs)?;
        let synthesis = p.scope("synthesis", |p| SynthesisNetwork::new(p, &config))?;
        let mapping = p.scope("mapping", |p| {
            MappingNetwork::new(
                p,
                config.z_dim,
                config.c_dim,
                config.w_dim,
                true,
                &config.mapping,
            )
        })?;
        p.finish()?;
        Ok(Self {
            class_name: class_name.to_string(),
            init_kwargs: init_kwargs.clone(),
            mapping,
            synthesis,
            device: p.device().clone(),
            config,
        })
    }

    /// A randomly initialised network (official init rules), reproducible from `seed`.
    pub fn random(config: &GeneratorConfig, seed: u32, device: &Device) -> Result<Self> {
        Self::new(
            GENERATOR_CLASS,
            &config.to_init_kwargs(),
            &mut Params::random(seed, device),
        )
    }

    /// Build from one checkpoint entry.
    pub fn from_entry(file: &str, entry: &NetworkEntry, device: &Device) -> Result<Self> {
        let mut p = Params::from_tensors(file, entry.tensors.clone(), device);
        Self::new(&entry.class_name, &entry.init_kwargs, &mut p).map_err(|e| match e {
            Error::Config(m) if !m.starts_with(file) => Error::Config(format!("{file}: {m}")),
            e => e,
        })
    }

    /// Load the generator of a checkpoint file (`G_ema`, else `G`, else the only Generator).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let ckpt = Checkpoint::open(path)?;
        let (_, entry) = ckpt.generator()?;
        Self::from_entry(&path.display().to_string(), entry, device)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn num_ws(&self) -> usize {
        self.synthesis.num_ws
    }

    /// The one-hot label for `class` (`None` for unconditional networks).
    pub fn label(&self, class: Option<usize>, batch: usize) -> Result<Option<Tensor<2>>> {
        let c_dim = self.config.c_dim;
        match (c_dim, class) {
            (0, None) => Ok(None),
            (0, Some(_)) => Err(Error::InvalidArgument(
                "--class was given but the network is unconditional".into(),
            )),
            (_, None) => Err(Error::InvalidArgument(format!(
                "the network is conditional (c_dim {c_dim}): give a class with --class 0..{}",
                c_dim - 1
            ))),
            (_, Some(k)) if k >= c_dim => Err(Error::InvalidArgument(format!(
                "class {k} is out of range: the network has {c_dim} classes (0..{})",
                c_dim - 1
            ))),
            (_, Some(k)) => {
                let mut v = vec![0f32; batch * c_dim];
                for b in 0..batch {
                    v[b * c_dim + k] = 1.0;
                }
                Ok(Some(Tensor::from_data(
                    TensorData::new(v, [batch, c_dim]),
                    &self.device,
                )))
            }
        }
    }

    /// z rows (float64, as numpy draws them) → a float32 tensor (round to nearest even).
    pub fn z_tensor(&self, z: &[Vec<f64>]) -> Result<Tensor<2>> {
        let d = self.config.z_dim;
        if let Some(bad) = z.iter().find(|r| r.len() != d) {
            return Err(Error::InvalidArgument(format!(
                "z has {} dims, the network expects {d}",
                bad.len()
            )));
        }
        let v: Vec<f32> = z.iter().flatten().map(|&x| x as f32).collect();
        Ok(Tensor::from_data(
            TensorData::new(v, [z.len(), d]),
            &self.device,
        ))
    }

    /// w `[N, w_dim]` from z and c.
    pub fn map(&self, z: Tensor<2>, c: Option<Tensor<2>>) -> Result<Tensor<2>> {
        self.mapping.forward(Some(z), c)
    }

    /// `G.mapping(z, c, truncation_psi, truncation_cutoff)`: ws `[N, num_ws, w_dim]`.
    pub fn mapping_ws(
        &self,
        z: Tensor<2>,
        c: Option<Tensor<2>>,
        psi: f64,
        cutoff: Option<usize>,
    ) -> Result<Tensor<3>> {
        let ws = latent::broadcast(self.map(z, c)?, self.num_ws());
        if psi == 1.0 {
            return Ok(ws);
        }
        let w_avg = self.mapping.w_avg.as_ref().ok_or_else(|| {
            Error::InvalidArgument("truncation needs w_avg, which this network lacks".into())
        })?;
        latent::truncate(ws, w_avg, psi, cutoff)
    }

    /// `G(z, c, psi, cutoff, noise_mode)`: images `[N, C, R, R]` in nominal [-1, 1].
    pub fn generate(
        &self,
        z: Tensor<2>,
        c: Option<Tensor<2>>,
        psi: f64,
        cutoff: Option<usize>,
        noise: NoiseMode,
    ) -> Result<Tensor<4>> {
        let ws = self.mapping_ws(z, c, psi, cutoff)?;
        self.synthesis.forward(&ws, noise)
    }

    /// Floating-point operations for one image (2 per multiply-add): mapping and affine FCs,
    /// modulation, the convolutions and the FIR resampling filters. Element-wise bias, noise and
    /// activations are not counted.
    pub fn flops_per_image(&self) -> u64 {
        let fc = |l: &crate::nn::FullyConnected| {
            let [o, i] = l.weight.dims();
            (o * i) as u64
        };
        let mut macs: u64 = self.mapping.fcs.iter().map(fc).sum::<u64>()
            + self.mapping.embed.as_ref().map_or(0, fc);
        for b in &self.synthesis.blocks {
            let r = b.resolution as u64;
            for layer in b.conv0.iter().chain(std::iter::once(&b.conv1)) {
                let [o, i, kh, kw] = layer.weight.dims().map(|d| d as u64);
                let r_in = r / layer.up as u64;
                macs += fc(&layer.affine) + i * r_in * r_in + o * i * kh * kw * r_in * r_in;
                if layer.up > 1 {
                    macs += o * (layer.filter.h * layer.filter.w) as u64 * r * r;
                }
            }
            if let Some(t) = &b.torgb {
                let [o, i, _, _] = t.weight.dims().map(|d| d as u64);
                macs += fc(&t.affine) + i * r * r + o * i * r * r;
                if b.in_channels > 0 && b.architecture == super::config::Architecture::Skip {
                    macs += o * (b.filter.h * b.filter.w) as u64 * r * r;
                }
            }
            if let Some(s) = &b.skip {
                let [o, i, _, _] = s.weight.dims().map(|d| d as u64);
                macs += o * i * (r / 2) * (r / 2) + o * (s.filter.h * s.filter.w) as u64 * r * r;
            }
        }
        2 * macs
    }

    /// The official `state_dict()`: synthesis first, then mapping.
    pub fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::default();
        sd.scope("synthesis", |sd| self.synthesis.state_dict(sd));
        sd.scope("mapping", |sd| self.mapping.state_dict(sd));
        sd
    }

    /// This network as a checkpoint entry.
    pub fn to_entry(&self) -> NetworkEntry {
        NetworkEntry {
            class_name: self.class_name.clone(),
            init_kwargs: self.init_kwargs.clone(),
            tensors: self.state_dict().entries.into_iter().collect(),
        }
    }
}
