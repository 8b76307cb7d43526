//! The `Generator` of every family: mapping + synthesis, loaded from / saved to native
//! checkpoints.
//!
//! The family API: one `Generator` type for all families. The mapping (z, c → w, truncation
//! with `w_avg`) is the same network in StyleGAN2 and StyleGAN3, so it is shared; the synthesis
//! is the [`Synthesis`] enum, one variant per family. An enum rather than a trait object
//! because tools need the family's own structure (StyleGAN2 blocks and their StyleSpace,
//! StyleGAN3's input transform) as well as the common path `ws → image`: `Synthesis` offers
//! the common operations, and `sg2()` / `sg3()` give the family's network or an error that
//! names the family and the concept it lacks.

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

use super::config::Family;
use super::config::{GeneratorConfig, SynthesisConfig};
use super::mapping::MappingNetwork;
use super::pggan::PgganGenerator;
use super::stylegan1::{Sg1Mapping, Sg1Synthesis};
use super::stylegan3;
use super::synthesis::{BlockStyles, Features, NoiseMode, SynthesisNetwork};
use crate::error::{Error, Result};
use crate::io::image::Image8;
use crate::nn::{Params, StateDict};
use crate::weights::NetworkEntry;

/// The official class name we write for networks we create.
pub const GENERATOR_CLASS: &str = "training.networks_stylegan2.Generator";
/// The official class name of StyleGAN3 generators.
pub const GENERATOR_CLASS_SG3: &str = "training.networks_stylegan3.Generator";

#[derive(Clone, Debug)]
pub struct Generator {
    pub config: GeneratorConfig,
    pub class_name: String,
    /// The constructor arguments as found in the checkpoint (kept verbatim on re-save).
    pub init_kwargs: Value,
    pub mapping: Mapping,
    pub synthesis: Synthesis,
    device: Device,
}

/// The mapping network of each family: z, c → w.
// One per generator: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Mapping {
    /// StyleGAN2 and StyleGAN3 (`MappingNetwork`, with `w_avg`).
    StyleGan(MappingNetwork),
    /// StyleGAN v1 `G_mapping`, with `G_style`'s `dlatent_avg` and `lod`.
    StyleGan1(Box<Sg1Mapping>),
    /// PGGAN has no mapping network: its "w" is its input, z followed by the label.
    Pggan,
}

impl Mapping {
    /// w `[N, w_dim]` from z `[N, z_dim]` and the one-hot label.
    pub fn forward(&self, z: Tensor<2>, c: Option<Tensor<2>>) -> Result<Tensor<2>> {
        match self {
            Self::StyleGan(m) => m.forward(Some(z), c),
            Self::StyleGan1(m) => m.forward(z, c),
            Self::Pggan => Ok(match c {
                Some(c) => Tensor::cat(vec![z, c], 1),
                None => z,
            }),
        }
    }

    /// The running mean of w (truncation's centre): `w_avg` / `dlatent_avg`.
    pub fn w_avg(&self) -> Option<&Tensor<1>> {
        match self {
            Self::StyleGan(m) => m.w_avg.as_ref(),
            Self::StyleGan1(m) => Some(&m.dlatent_avg),
            Self::Pggan => None,
        }
    }

    /// The StyleGAN2/3 mapping network, or an error naming `what`.
    pub fn sg(&self, what: &str) -> Result<&MappingNetwork> {
        match self {
            Self::StyleGan(m) => Ok(m),
            Self::StyleGan1(_) => Err(not_in_family(Family::StyleGan1, what)),
            Self::Pggan => Err(not_in_family(Family::Pggan, what)),
        }
    }

    pub fn sg_mut(&mut self, what: &str) -> Result<&mut MappingNetwork> {
        match self {
            Self::StyleGan(m) => Ok(m),
            Self::StyleGan1(_) => Err(not_in_family(Family::StyleGan1, what)),
            Self::Pggan => Err(not_in_family(Family::Pggan, what)),
        }
    }

    /// The dense layers' `[out, in]` sizes (for FLOP counts).
    fn layer_sizes(&self) -> Vec<(usize, usize)> {
        match self {
            Self::StyleGan(m) => m
                .fcs
                .iter()
                .chain(m.embed.iter())
                .map(|l| {
                    let [o, i] = l.weight.dims();
                    (o, i)
                })
                .collect(),
            Self::StyleGan1(m) => m
                .dense
                .iter()
                .map(|d| {
                    let [i, o] = d.weight.dims();
                    (o, i)
                })
                .collect(),
            Self::Pggan => vec![],
        }
    }
}

/// The synthesis network of each family.
#[derive(Clone, Debug)]
pub enum Synthesis {
    StyleGan2(SynthesisNetwork),
    StyleGan3(stylegan3::SynthesisNetwork),
    /// StyleGAN v1 `G_synthesis`.
    StyleGan1(Box<Sg1Synthesis>),
    /// PGGAN `G_paper` (the whole generator: it has no mapping); its ws are `[N, 1, z + c]`.
    Pggan(Box<PgganGenerator>),
}

/// The error for a concept a family does not have.
pub fn not_in_family(family: Family, what: &str) -> Error {
    Error::InvalidArgument(format!(
        "{what} is not available for {} networks",
        family.name()
    ))
}

impl Synthesis {
    pub fn family(&self) -> Family {
        match self {
            Self::StyleGan2(_) => Family::StyleGan2,
            Self::StyleGan3(_) => Family::StyleGan3,
            Self::StyleGan1(_) => Family::StyleGan1,
            Self::Pggan(_) => Family::Pggan,
        }
    }

    pub fn num_ws(&self) -> usize {
        match self {
            Self::StyleGan2(s) => s.num_ws,
            Self::StyleGan3(s) => s.num_ws,
            Self::StyleGan1(s) => s.cfg.num_layers,
            Self::Pggan(_) => 1,
        }
    }

    /// The level of detail rendered by [`Self::forward`] (progressive families; 0 otherwise).
    pub fn lod(&self) -> f64 {
        match self {
            Self::StyleGan1(s) => s.run_lod,
            Self::Pggan(g) => g.lod,
            _ => 0.0,
        }
    }

    /// The StyleGAN2 synthesis (blocks, StyleSpace, features), or an error naming `what`.
    pub fn sg2(&self, what: &str) -> Result<&SynthesisNetwork> {
        match self {
            Self::StyleGan2(s) => Ok(s),
            _ => Err(not_in_family(self.family(), what)),
        }
    }

    pub fn sg2_mut(&mut self, what: &str) -> Result<&mut SynthesisNetwork> {
        match self {
            Self::StyleGan2(s) => Ok(s),
            _ => Err(not_in_family(self.family(), what)),
        }
    }

    /// The StyleGAN3 synthesis (input transform, layers), or an error naming `what`.
    pub fn sg3(&self, what: &str) -> Result<&stylegan3::SynthesisNetwork> {
        match self {
            Self::StyleGan3(s) => Ok(s),
            _ => Err(not_in_family(self.family(), what)),
        }
    }

    pub fn sg3_mut(&mut self, what: &str) -> Result<&mut stylegan3::SynthesisNetwork> {
        let family = self.family();
        match self {
            Self::StyleGan3(s) => Ok(s),
            _ => Err(not_in_family(family, what)),
        }
    }

    /// The image `[N, C, R, R]` from ws `[N, num_ws, w_dim]`. StyleGAN3 has no noise inputs, so
    /// it ignores `noise`.
    /// A batch runs sample by sample where [`super::synthesis::sample_major`] says so.
    pub fn forward(&self, ws: &Tensor<3>, noise: NoiseMode) -> Result<Tensor<4>> {
        let batch = ws.dims()[0];
        if !matches!(self, Self::StyleGan2(_)) && super::synthesis::sample_major(batch, ws, noise) {
            return super::synthesis::per_sample(batch, |s| {
                self.forward(&ws.clone().narrow(0, s, 1), noise)
            });
        }
        match self {
            // (StyleGAN2 splits the batch in `forward_styles`, which StyleSpace edits call too.)
            Self::StyleGan2(s) => s.forward(ws, noise),
            Self::StyleGan3(s) => s.forward(ws),
            Self::StyleGan1(s) => s.forward_default(ws, noise),
            Self::Pggan(g) => {
                let [n, k, d] = ws.dims();
                if k != 1 {
                    return Err(Error::InvalidArgument(format!(
                        "a PGGAN generator takes one input vector per image, not {k} ws"
                    )));
                }
                g.forward_input(ws.clone().reshape([n, d]), g.lod)
            }
        }
    }

    /// [`Self::forward`] as training's `update_emas=True` pass: StyleGAN3 updates its layers'
    /// input-magnitude EMAs (decay `beta`) and returns them by name; StyleGAN2 has none.
    pub fn forward_update_emas(
        &self,
        ws: &Tensor<3>,
        noise: NoiseMode,
        beta: f64,
    ) -> Result<(Tensor<4>, Vec<(String, f32)>)> {
        match self {
            Self::StyleGan3(s) => s.forward_update_emas(ws, beta),
            _ => Ok((self.forward(ws, noise)?, vec![])),
        }
    }

    /// The number of synthesis blocks (one per resolution) for the block-by-block tools
    /// (StyleGAN2 and StyleGAN v1); `what` names the tool in the error for other families.
    pub fn num_blocks(&self, what: &str) -> Result<usize> {
        match self {
            Self::StyleGan2(s) => Ok(s.blocks.len()),
            Self::StyleGan1(s) => Ok(s.num_blocks()),
            _ => Err(not_in_family(self.family(), what)),
        }
    }

    /// StyleSpace styles per block (StyleGAN2: the affine outputs; StyleGAN v1: the
    /// `StyleMod` outputs): what S-space tools and the block-by-block feature operations
    /// start from.
    pub fn styles(&self, ws: &Tensor<3>) -> Result<Vec<BlockStyles>> {
        match self {
            Self::StyleGan2(s) => s.styles(ws),
            Self::StyleGan1(s) => s.styles(ws),
            _ => Err(not_in_family(
                self.family(),
                "StyleSpace (S) and the block-by-block feature operations",
            )),
        }
    }

    /// The image from StyleSpace styles (StyleGAN2, StyleGAN v1 at lod 0).
    pub fn forward_styles(&self, styles: &[BlockStyles], noise: NoiseMode) -> Result<Tensor<4>> {
        let n = self.num_blocks("StyleSpace (S)")?;
        let f = self.run_blocks(styles, 0..n, None, noise)?;
        f.img
            .ok_or_else(|| Error::InvalidArgument("the last block made no image".into()))
    }

    /// Run synthesis blocks `range` (StyleGAN2, StyleGAN v1 at lod 0; see
    /// [`SynthesisNetwork::run_blocks`]).
    pub fn run_blocks(
        &self,
        styles: &[BlockStyles],
        range: std::ops::Range<usize>,
        input: Option<Features>,
        noise: NoiseMode,
    ) -> Result<Features> {
        match self {
            Self::StyleGan2(s) => s.run_blocks(styles, range, input, noise),
            Self::StyleGan1(s) => s.run_blocks(styles, range, input, noise),
            _ => Err(not_in_family(self.family(), "block-by-block synthesis")),
        }
    }

    /// The per-pixel noise buffers by official name (none in StyleGAN3).
    pub fn noise_maps(&self) -> Vec<(String, Tensor<2>)> {
        match self {
            Self::StyleGan2(s) => s.noise_maps(),
            Self::StyleGan1(s) => s.noise_maps(),
            Self::StyleGan3(_) | Self::Pggan(_) => vec![],
        }
    }

    /// Replace noise buffers by name (StyleGAN3 has none: any name is refused).
    pub fn set_noise_maps(&mut self, maps: &[(String, Tensor<2>)]) -> Result<()> {
        match self {
            Self::StyleGan2(s) => s.set_noise_maps(maps),
            Self::StyleGan1(s) => s.set_noise_maps(maps),
            _ if maps.is_empty() => Ok(()),
            other => Err(Error::InvalidArgument(format!(
                "{} networks have no noise buffers (given '{}')",
                other.family().name(),
                maps[0].0
            ))),
        }
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        match self {
            Self::StyleGan2(s) => s.state_dict(sd),
            Self::StyleGan3(s) => s.state_dict(sd),
            Self::StyleGan1(s) => s.state_dict(sd),
            Self::Pggan(g) => g.state_dict(sd),
        }
    }
}

/// The class name we give a new network of `config`.
fn class_of(config: &GeneratorConfig) -> &'static str {
    match &config.synthesis {
        SynthesisConfig::StyleGan2(_) => GENERATOR_CLASS,
        SynthesisConfig::StyleGan3(_) => GENERATOR_CLASS_SG3,
        SynthesisConfig::StyleGan1(_) => super::stylegan1::G_CLASS,
        SynthesisConfig::Pggan(s) if !s.up_weight_out_in => super::pggan::G_CLASS_PORT,
        SynthesisConfig::Pggan(_) => super::pggan::G_CLASS,
    }
}

impl Generator {
    /// Build from a parameter source (checkpoint tensors or random init).
    pub fn new(class_name: &str, init_kwargs: &Value, p: &mut Params) -> Result<Self> {
        let config = GeneratorConfig::from_init_kwargs(class_name, init_kwargs)?;
        // The TF1 families keep the official TF variable names, unscoped.
        let tf1 = match &config.synthesis {
            SynthesisConfig::StyleGan1(s) => {
                let mapping = Sg1Mapping::new(p, s)?;
                let mut synthesis = Sg1Synthesis::new(p, s)?;
                synthesis.run_lod = mapping.lod;
                Some((
                    Mapping::StyleGan1(Box::new(mapping)),
                    Synthesis::StyleGan1(Box::new(synthesis)),
                ))
            }
            SynthesisConfig::Pggan(s) => Some((
                Mapping::Pggan,
                Synthesis::Pggan(Box::new(PgganGenerator::new(p, s)?)),
            )),
            _ => None,
        };
        if let Some((mapping, synthesis)) = tf1 {
            p.finish()?;
            return Ok(Self {
                class_name: class_name.to_string(),
                init_kwargs: config.to_init_kwargs(),
                mapping,
                synthesis,
                device: p.device().clone(),
                config,
            });
        }
        let synthesis = p.scope("synthesis", |p| match &config.synthesis {
            SynthesisConfig::StyleGan2(_) => {
                Ok(Synthesis::StyleGan2(SynthesisNetwork::new(p, &config)?))
            }
            SynthesisConfig::StyleGan3(s) => {
                Ok(Synthesis::StyleGan3(stylegan3::SynthesisNetwork::new(
                    p,
                    s,
                    config.w_dim,
                    config.img_resolution,
                    config.img_channels,
                )?))
            }
            _ => unreachable!("TF1 families are built above"),
        })?;
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
        let mapping = Mapping::StyleGan(mapping);
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
        let class = class_of(config);
        Self::new(
            class,
            &config.to_init_kwargs(),
            &mut Params::random(seed, device),
        )
    }

    /// The checkpoint entry a network of `config` has, with zero weights: the official names,
    /// shapes and config-fixed buffers (resample filters), without drawing random numbers —
    /// what converters from other formats fill in.
    pub fn template(config: &GeneratorConfig, device: &Device) -> Result<NetworkEntry> {
        let class = class_of(config);
        Ok(Self::new(class, &config.to_init_kwargs(), &mut Params::zeros(device))?.to_entry())
    }

    /// Build from one checkpoint entry.
    pub fn from_entry(file: &str, entry: &NetworkEntry, device: &Device) -> Result<Self> {
        let mut p = Params::from_tensors(file, entry.tensors.clone(), device);
        Self::new(&entry.class_name, &entry.init_kwargs, &mut p).map_err(|e| match e {
            Error::Config(m) if !m.starts_with(file) => Error::Config(format!("{file}: {m}")),
            e => e,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn num_ws(&self) -> usize {
        self.synthesis.num_ws()
    }

    /// The model family.
    pub fn family(&self) -> Family {
        self.synthesis.family()
    }

    /// An error naming `what` for networks without a W space (PGGAN: no mapping network, its
    /// input is z); `Ok` otherwise.
    pub fn require_w(&self, what: &str) -> Result<()> {
        if self.family() == Family::Pggan {
            return Err(Error::InvalidArgument(format!(
                "{what} needs the W latent space of a mapping network; PGGAN has none (its input \
                 is z)"
            )));
        }
        Ok(())
    }

    /// The level of detail the progressive families (StyleGAN v1, PGGAN) render: 0 = full
    /// resolution, k = the 2^(log2 R − k) px level upscaled, fractions blend two levels as
    /// during a fade-in. From the network's own `lod` variable unless set here.
    pub fn set_lod(&mut self, lod: f64) -> Result<()> {
        let log2 = self.config.img_resolution.trailing_zeros() as usize;
        let family = self.family();
        match &mut self.synthesis {
            Synthesis::StyleGan1(s) => {
                s.run_lod = super::tf1::check_lod("the generator", lod, log2)?;
            }
            Synthesis::Pggan(g) => g.lod = super::tf1::check_lod("the generator", lod, log2)?,
            _ => {
                return Err(not_in_family(
                    family,
                    "lod (the level of detail of progressive growing)",
                ))
            }
        }
        if let Mapping::StyleGan1(m) = &mut self.mapping {
            m.lod = lod;
        }
        Ok(())
    }

    /// Translate and rotate the image as `gen_images.py --translate TX,TY --rotate DEG` does:
    /// the input's user transform becomes `inv(make_transform(translate, rotate))`. Only
    /// StyleGAN3 has an input transform; other families get an error.
    pub fn set_image_transform(&mut self, translate: (f64, f64), rotate_deg: f64) -> Result<()> {
        let m = stylegan3::make_transform(translate, rotate_deg);
        let inv = stylegan3::invert3(&m).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "the transform translate {translate:?}, rotate {rotate_deg} is not invertible"
            ))
        })?;
        self.synthesis
            .sg3_mut("translation/rotation of the image (the StyleGAN3 input transform)")?
            .input
            .set_transform(&inv)
    }

    /// Set StyleGAN3's input transform `M` itself (row-major 3×3; the official
    /// `G.synthesis.input.transform`, the inverse of the image-space transform), as the
    /// equivariance metrics do. Other families get an error.
    pub fn set_input_transform(&mut self, m: &[f64; 9]) -> Result<()> {
        self.synthesis
            .sg3_mut("the StyleGAN3 input transform")?
            .input
            .set_transform(m)
    }

    /// The one-hot label for `class` (`None` for unconditional networks).
    pub fn label(&self, class: Option<usize>, batch: usize) -> Result<Option<Tensor<2>>> {
        let c_dim = self.config.c_dim;
        match (c_dim, class) {
            (0, None) => Ok(None),
            (0, Some(_)) => Err(Error::InvalidArgument(
                "a class label was given, but the network is unconditional (c_dim 0)".into(),
            )),
            (_, None) => Err(Error::InvalidArgument(format!(
                "the network is conditional (c_dim {c_dim}): give a class label 0..{}",
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
        if z.is_empty() {
            return Err(Error::InvalidArgument(
                "a batch of zero latents: give at least one z".into(),
            ));
        }
        if z.iter().flatten().any(|x| !x.is_finite()) {
            return Err(Error::InvalidArgument("z holds NaN or infinity".into()));
        }
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
        self.mapping.forward(z, c)
    }

    /// `G.mapping(z, c, truncation_psi, truncation_cutoff)`: ws `[N, num_ws, w_dim]`.
    pub fn mapping_ws(
        &self,
        z: Tensor<2>,
        c: Option<Tensor<2>>,
        psi: f64,
        cutoff: Option<usize>,
    ) -> Result<Tensor<3>> {
        let ws = super::mapping::broadcast(self.map(z, c)?, self.num_ws());
        self.truncate(ws, psi, cutoff)
    }

    /// Truncation of ws toward the running mean of w as the family does it: StyleGAN2/3 lerp
    /// the first `cutoff` layers (all when `None`) with `w_avg.lerp(w, ψ)`; StyleGAN v1's
    /// `G_style` uses cutoff 8 unless given and its own per-layer formula; PGGAN has no W.
    pub fn truncate(&self, ws: Tensor<3>, psi: f64, cutoff: Option<usize>) -> Result<Tensor<3>> {
        if psi == 1.0 {
            return Ok(ws);
        }
        if !psi.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "truncation psi must be finite, got {psi}"
            )));
        }
        if let Mapping::StyleGan1(m) = &self.mapping {
            // G_style's own truncation: cutoff 8 unless given, its per-layer lerp formula.
            let cutoff = cutoff.unwrap_or(super::stylegan1::DEFAULT_CUTOFF);
            return Ok(super::stylegan1::truncate(ws, &m.dlatent_avg, psi, cutoff));
        }
        let w_avg = self.mapping.w_avg().ok_or_else(|| match self.family() {
            Family::Pggan => Error::InvalidArgument(
                "PGGAN has no mapping network and no W: truncation (psi) does not apply".into(),
            ),
            _ => Error::InvalidArgument("truncation needs w_avg, which this network lacks".into()),
        })?;
        super::mapping::truncate(ws, w_avg, psi, cutoff)
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

    /// The images of `seeds` as `gen_images.py` makes them: z from
    /// `RandomState(seed).randn`, truncation ψ (all layers), const noise, 8-bit quantisation.
    ///
    /// ```
    /// # fn main() -> stylegan::Result<()> {
    /// use stylegan::prelude::*;
    /// let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/faces32.safetensors");
    /// let g = Generator::load(demo, &stylegan::backend::cpu())?;
    /// let images = g.render(&[0, 1], 0.7, None)?;
    /// assert_eq!((images.len(), images[0].width), (2, 32));
    /// # Ok(())
    /// # }
    /// ```
    pub fn render(&self, seeds: &[u32], psi: f64, class: Option<usize>) -> Result<Vec<Image8>> {
        let zs: Vec<Vec<f64>> = seeds
            .iter()
            .map(|&s| crate::rng::z_from_seed(s, self.config.z_dim))
            .collect();
        let c = self.label(class, seeds.len())?;
        let img = self.generate(self.z_tensor(&zs)?, c, psi, None, NoiseMode::Const)?;
        Image8::from_batch(img)
    }

    /// Floating-point operations for one image (2 per multiply-add): mapping and affine FCs,
    /// modulation, the convolutions and the FIR resampling filters. Element-wise bias, noise and
    /// activations are not counted.
    pub fn flops_per_image(&self) -> u64 {
        let fc = |l: &crate::nn::FullyConnected| {
            let [o, i] = l.weight.dims();
            (o * i) as u64
        };
        let mut macs: u64 = self
            .mapping
            .layer_sizes()
            .iter()
            .map(|&(o, i)| (o * i) as u64)
            .sum();
        let sg2 = match &self.synthesis {
            Synthesis::StyleGan2(s) => s,
            Synthesis::StyleGan1(s) => return 2 * (macs + s.macs()),
            Synthesis::Pggan(g) => return 2 * g.macs(),
            Synthesis::StyleGan3(s) => {
                macs += fc(&s.input.affine);
                let d = &s.input.design;
                macs += (d.size * d.size * d.channels * (d.channels + 2)) as u64;
                for l in &s.layers {
                    let d = &l.design;
                    let [o, i, k, _] = l.weight.dims().map(|v| v as u64);
                    let conv = d.in_size as u64 + k - 1;
                    macs += fc(&l.affine) + o * i * k * k * conv * conv;
                    // Separable FIRs: two passes at the upsampled rate (up) and two at the
                    // decimated output (down), each tap one multiply-add.
                    let tmp = conv * d.up_factor as u64;
                    macs += 2 * o * d.up_taps as u64 * tmp * tmp;
                    let out = d.out_size as u64;
                    let down_taps = if d.down_radial {
                        (d.down_taps * d.down_taps) as u64
                    } else {
                        2 * d.down_taps as u64
                    };
                    macs += o * down_taps * out * out * d.down_factor as u64;
                }
                return 2 * macs;
            }
        };
        for b in &sg2.blocks {
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
        match &self.mapping {
            Mapping::StyleGan(m) => {
                sd.scope("synthesis", |sd| self.synthesis.state_dict(sd));
                sd.scope("mapping", |sd| m.state_dict(sd));
            }
            // The TF1 families: G's own variables, G_mapping/…, G_synthesis/… (TF names).
            Mapping::StyleGan1(m) => {
                m.state_dict(&mut sd);
                self.synthesis.state_dict(&mut sd);
            }
            Mapping::Pggan => self.synthesis.state_dict(&mut sd),
        }
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
