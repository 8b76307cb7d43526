//! A projected image — its latent and noise maps — and the `projected.safetensors` file that
//! carries it to the other tools (edit, blend, transfer, translate, pivotal tuning).
//!
//! File layout: tensor `latent` (`[1, w_dim]` for w, `[1, num_ws, w_dim]` for W+, `[1, dim_S]`
//! for S, flattened in `latent::space::s_layers` order), one tensor per noise buffer under its
//! official name (`synthesis.b8.conv0.noise_const`, ...), and metadata `format`, `space`,
//! `w_dim`, `num_ws`, `resolution` plus whatever the caller adds (network, target, LPIPS).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use safetensors::SafeTensors;

use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::latent::space::{s_flatten, s_unflatten};
use crate::latent::{broadcast, Latent, Space};
use crate::models::{Generator, NoiseMode};

/// The `format` metadata value of projection files.
pub const PROJECTION_FORMAT: &str = "stylegan-rs.projection";

/// One optimisation step's numbers.
#[derive(Clone, Copy, Debug)]
pub struct StepInfo {
    pub step: usize,
    /// LPIPS distance to the target.
    pub dist: f64,
    /// The whole loss (distance + noise penalty + prior).
    pub loss: f64,
}

/// A projected image: the latent, the noise maps it was found with, and the optimisation's trace.
#[derive(Clone, Debug)]
pub struct Projection {
    /// Batch of one, in the space it was optimised in.
    pub latent: Latent,
    /// Noise buffers by official name (put them in the generator with
    /// `synthesis.set_noise_maps` to reproduce the image with `NoiseMode::Const`).
    pub noise: Vec<(String, Tensor<2>)>,
    /// Per step (empty for a projection read from a file).
    pub history: Vec<StepInfo>,
    /// `(step, latent)` every `record_every` steps and at the end (empty when read from a file).
    pub frames: Vec<(usize, Latent)>,
}

/// A w, W+ or S latent as one flat vector (S in `latent::space::s_layers` order).
pub(crate) fn flatten(latent: &Latent) -> Result<Tensor<1>> {
    Ok(match latent {
        Latent::W(w) => w.clone().reshape([-1]),
        Latent::WPlus(ws) => ws.clone().reshape([-1]),
        Latent::S(s) => s_flatten(s).reshape([-1]),
        Latent::Z { .. } => {
            return Err(Error::InvalidArgument(
                "projections and pivots are w, wplus or s latents, not z".into(),
            ))
        }
    })
}

impl Projection {
    pub fn space(&self) -> Space {
        self.latent.space()
    }

    /// `g` with this projection's noise maps.
    pub fn generator(&self, g: &Generator) -> Result<Generator> {
        let mut g = g.clone();
        g.synthesis.set_noise_maps(&self.noise)?;
        Ok(g)
    }

    /// The projected image `[1, C, R, R]`.
    pub fn image(&self, g: &Generator) -> Result<Tensor<4>> {
        self.latent
            .clone()
            .generate(&self.generator(g)?, NoiseMode::Const)
    }

    /// Write `path` atomically; `info` is stored as extra metadata (e.g. network and target).
    pub fn save(&self, path: &Path, g: &Generator, info: &BTreeMap<String, String>) -> Result<()> {
        let latent = flatten(&self.latent)?;
        let shape = match &self.latent {
            Latent::W(w) => w.dims().to_vec(),
            Latent::WPlus(ws) => ws.dims().to_vec(),
            _ => vec![1, latent.dims()[0]],
        };
        let latent = to_vec(&latent)?;
        let noise: Vec<(String, Vec<usize>, Vec<f32>)> = self
            .noise
            .iter()
            .map(|(name, t)| Ok((name.clone(), t.dims().to_vec(), to_vec(t)?)))
            .collect::<Result<_>>()?;
        let mut tensors: Vec<(&str, &[usize], &[f32])> = vec![("latent", &shape, &latent)];
        tensors.extend(
            noise
                .iter()
                .map(|(n, s, v)| (n.as_str(), s.as_slice(), v.as_slice())),
        );
        let mut meta: HashMap<String, String> = info.clone().into_iter().collect();
        meta.insert("format".into(), PROJECTION_FORMAT.into());
        meta.insert("space".into(), self.space().name().into());
        meta.insert("w_dim".into(), g.config.w_dim.to_string());
        meta.insert("num_ws".into(), g.num_ws().to_string());
        meta.insert("resolution".into(), g.config.img_resolution.to_string());
        crate::io::write_safetensors_f32(path, &tensors, meta)
    }

    /// Read a projection file for use with `g` (shapes are checked against it).
    pub fn load(path: &Path, g: &Generator) -> Result<Self> {
        let bytes = crate::files::read_input(path)?;
        let bad = |m: String| Error::format(path, m);
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a projection file: {e}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        if meta.get("format").map(String::as_str) != Some(PROJECTION_FORMAT) {
            return Err(bad(
                "not a projection file (no 'format: stylegan-rs.projection' metadata; \
                 make one with `stylegan project`)"
                    .into(),
            ));
        }
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a projection file: {e}")))?;
        // Every tensor read must be finite (`read_f32` checks): a NaN latent or noise map
        // poisons every image.
        let f32s = |name: &str| crate::io::read_f32(&st, name, path);
        let space: Space = meta
            .get("space")
            .ok_or_else(|| bad("no 'space' metadata".into()))?
            .parse()?;
        let device = g.device();
        let (w_dim, num_ws) = (g.config.w_dim, g.num_ws());
        let (shape, v) = f32s("latent")?;
        let template = if space == Space::S {
            g.synthesis
                .styles(&broadcast(Tensor::zeros([1, w_dim], device), num_ws))?
        } else {
            vec![]
        };
        let dim_s: usize = crate::latent::space::s_layers(&template)
            .iter()
            .map(|l| l.2)
            .sum();
        let expected = match space {
            Space::W => vec![1, w_dim],
            Space::WPlus => vec![1, num_ws, w_dim],
            Space::S => vec![1, dim_s],
            Space::Z => return Err(bad("a projection cannot be a z latent".into())),
        };
        if shape != expected {
            return Err(bad(format!(
                "the {} latent has shape {shape:?}, this network needs {expected:?} \
                 (was it projected with another network?)",
                space.name()
            )));
        }
        let flat = Tensor::<1>::from_data(
            TensorData::new(v, [shape.iter().product::<usize>()]),
            device,
        );
        let latent = match space {
            Space::W => Latent::W(flat.reshape([1, w_dim])),
            Space::WPlus => Latent::WPlus(flat.reshape([1, num_ws, w_dim])),
            _ => Latent::S(s_unflatten(flat.reshape([1, dim_s]), &template)?),
        };
        let mut noise = Vec::new();
        for (name, t) in g.synthesis.noise_maps() {
            let (shape, v) = f32s(&name)?;
            if shape != t.dims() {
                return Err(bad(format!(
                    "noise map '{name}' has shape {shape:?}, this network needs {:?}",
                    t.dims()
                )));
            }
            noise.push((
                name,
                Tensor::from_data(TensorData::new(v, [shape[0], shape[1]]), device),
            ));
        }
        Ok(Self {
            latent,
            noise,
            history: Vec::new(),
            frames: Vec::new(),
        })
    }
}
