//! Progressive growing as the official TF1 training loops schedule it (PGGAN's
//! `train.py` / StyleGAN v1's `training/training_loop.py`, FORMATS.md §14.3): the level of
//! detail `lod`, the resolution, minibatch and learning rates at every point of a run, and the
//! reals as the networks see them at that `lod`.
//!
//! **Schedule** (`TrainingSchedule` / `training_schedule`): phases of `lod_training_kimg`
//! (stable) + `lod_transition_kimg` (fade-in) thousand images; in phase `k` the lod is
//! `log2 R − log2(initial resolution) − k`, minus the fraction of the fade-in done, and never
//! below 0. The resolution trained is `2^(log2 R − ⌊lod⌋)`; minibatch and learning rates are
//! looked up per resolution.
//!
//! **Reals** (`process_reals` + the data set's LOD pyramid): the official data sets store each
//! image at every power-of-two size, each level the 2×2 mean of the one above rounded to uint8
//! (`dataset_tool.py`); training reads level `⌊lod⌋`, maps it to [-1, 1], mirrors it (when
//! asked), blends it with its own 2×2 mean by `lod − ⌊lod⌋` (the fade-in of the next
//! resolution), and upscales it (nearest) to the full size.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::{json, Value};

use super::data::TrainingData;
use super::regularizers;
use super::trainer::{check_finite, nan_to_num, read_snapshot, write_snapshot};
use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, NetworkEntry, RawTensor};
use crate::latent::RandomState;
use crate::models::pggan::PgganDiscriminator;
use crate::models::stylegan1::Sg1Discriminator;
use crate::models::{Family, Generator, NoiseMode};
use crate::nn::Params;
use crate::optim::adam::{Adam, AdamConfig};
use crate::optim::params::is_buffer;
use crate::optim::ParamSet;

/// Which TF1 recipe a progressive run follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipe {
    /// PGGAN (tkarras/progressive_growing_of_gans `config.py`, one GPU): WGAN-GP with ε-drift,
    /// Gs with β = 0.999, growth from 4×4.
    Pggan,
    /// StyleGAN v1 (NVlabs/stylegan `train.py`, FFHQ config, one GPU): non-saturating logistic
    /// loss with R1 (γ = 10), style-mixing regularisation, Gs with a 10-kimg half-life, growth
    /// from 8×8, higher learning rates from 128 px.
    StyleGan1,
}

/// The schedule's parameters (`TrainingSchedule` kwargs) with the recipe's official values.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub lod_initial_resolution: usize,
    pub lod_training_kimg: f64,
    pub lod_transition_kimg: f64,
    pub minibatch_base: usize,
    pub minibatch_dict: BTreeMap<usize, usize>,
    pub g_lrate_base: f64,
    pub g_lrate_dict: BTreeMap<usize, f64>,
    pub d_lrate_base: f64,
    pub d_lrate_dict: BTreeMap<usize, f64>,
}

/// Where a run is: the schedule at `cur_nimg`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub kimg: f64,
    pub lod: f64,
    /// The resolution trained, `2^(log2 R − ⌊lod⌋)`.
    pub resolution: usize,
    pub minibatch: usize,
    pub g_lrate: f64,
    pub d_lrate: f64,
}

impl Schedule {
    /// The recipe's official one-GPU schedule.
    pub fn official(recipe: Recipe) -> Self {
        // Both configs: minibatch_base 4 and this table for one GPU.
        let minibatch_dict = BTreeMap::from([
            (4, 128),
            (8, 128),
            (16, 128),
            (32, 64),
            (64, 32),
            (128, 16),
            (256, 8),
            (512, 4),
        ]);
        let (initial, lr) = match recipe {
            Recipe::Pggan => (4, BTreeMap::from([(1024, 0.0015)])),
            Recipe::StyleGan1 => (
                8,
                BTreeMap::from([(128, 0.0015), (256, 0.002), (512, 0.003), (1024, 0.003)]),
            ),
        };
        Self {
            lod_initial_resolution: initial,
            lod_training_kimg: 600.0,
            lod_transition_kimg: 600.0,
            minibatch_base: 4,
            minibatch_dict,
            g_lrate_base: 0.001,
            g_lrate_dict: lr.clone(),
            d_lrate_base: 0.001,
            d_lrate_dict: lr,
        }
    }

    /// Check the values a user may change.
    pub fn check(&self, resolution: usize) -> Result<()> {
        let r0 = self.lod_initial_resolution;
        if r0 < 4 || !r0.is_power_of_two() || r0 > resolution {
            return Err(Error::InvalidArgument(format!(
                "the initial resolution of progressive growing ({r0}) must be a power of two in \
                 4..={resolution}"
            )));
        }
        for (what, v) in [
            ("lod_training_kimg", self.lod_training_kimg),
            ("lod_transition_kimg", self.lod_transition_kimg),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "{what} must be a finite number >= 0, got {v}"
                )));
            }
        }
        if self.minibatch_base == 0 || self.minibatch_dict.values().any(|&m| m == 0) {
            return Err(Error::InvalidArgument(
                "minibatch sizes must be positive".into(),
            ));
        }
        Ok(())
    }

    /// The schedule at `cur_nimg` images for a `2^log2` px network (`training_schedule`).
    pub fn at(&self, cur_nimg: u64, log2: usize) -> Point {
        let kimg = cur_nimg as f64 / 1000.0;
        let phase_dur = self.lod_training_kimg + self.lod_transition_kimg;
        let phase_idx = if phase_dur > 0.0 {
            (kimg / phase_dur).floor()
        } else {
            0.0
        };
        let phase_kimg = kimg - phase_idx * phase_dur;
        let mut lod = log2 as f64;
        lod -= (self.lod_initial_resolution as f64).log2().floor();
        lod -= phase_idx;
        if self.lod_transition_kimg > 0.0 {
            lod -= (phase_kimg - self.lod_training_kimg).max(0.0) / self.lod_transition_kimg;
        }
        let lod = lod.max(0.0);
        let resolution = 1usize << (log2 - lod.floor() as usize);
        Point {
            kimg,
            lod,
            resolution,
            minibatch: *self
                .minibatch_dict
                .get(&resolution)
                .unwrap_or(&self.minibatch_base),
            g_lrate: *self
                .g_lrate_dict
                .get(&resolution)
                .unwrap_or(&self.g_lrate_base),
            d_lrate: *self
                .d_lrate_dict
                .get(&resolution)
                .unwrap_or(&self.d_lrate_base),
        }
    }

    /// Whether the optimisers are reset between two lods (`reset_opt_for_new_lod`): when
    /// `⌊lod⌋` or `⌈lod⌉` changes, i.e. when a fade-in starts or ends.
    pub fn resets_between(prev_lod: f64, lod: f64) -> bool {
        prev_lod.floor() != lod.floor() || prev_lod.ceil() != lod.ceil()
    }
}

/// Level `k` of the LOD pyramid of a `C × R × R` uint8 image: `k` times the 2×2 mean,
/// rounded half to even and clipped to uint8 after each halving (`dataset_tool.py`).
pub fn pyramid_level(image: &[u8], channels: usize, resolution: usize, k: usize) -> Vec<u8> {
    let mut img = image.to_vec();
    let mut r = resolution;
    for _ in 0..k {
        let h = r / 2;
        let mut out = vec![0u8; channels * h * h];
        for c in 0..channels {
            let src = &img[c * r * r..(c + 1) * r * r];
            for y in 0..h {
                for x in 0..h {
                    let s = src[2 * y * r + 2 * x] as f32
                        + src[2 * y * r + 2 * x + 1] as f32
                        + src[(2 * y + 1) * r + 2 * x] as f32
                        + src[(2 * y + 1) * r + 2 * x + 1] as f32;
                    out[c * h * h + y * h + x] =
                        (s * 0.25).round_ties_even().clamp(0.0, 255.0) as u8;
                }
            }
        }
        img = out;
        r = h;
    }
    img
}

/// The reals as the networks see them at `lod` (`process_reals` on pyramid level `⌊lod⌋`):
/// `[N, C, R, R]` in [-1, 1], sample `i` mirrored left-right when `mirror[i]`.
pub fn process_reals(
    images: &[&[u8]],
    channels: usize,
    resolution: usize,
    lod: f64,
    mirror: &[bool],
    device: &Device,
) -> Result<Tensor<4>> {
    let log2 = resolution.trailing_zeros() as usize;
    if !(lod.is_finite() && lod >= 0.0 && lod <= (log2 - 2) as f64) {
        return Err(Error::InvalidArgument(format!(
            "lod {lod} is out of range for {resolution} px reals"
        )));
    }
    let k = lod.floor() as usize;
    let r = resolution >> k;
    let n = images.len();
    let mut v = Vec::with_capacity(n * channels * r * r);
    for (i, img) in images.iter().enumerate() {
        if img.len() != channels * resolution * resolution {
            return Err(Error::InvalidArgument(format!(
                "real {i} has {} bytes, expected {channels}x{resolution}x{resolution}",
                img.len()
            )));
        }
        let level = pyramid_level(img, channels, resolution, k);
        let flip = mirror.get(i).copied().unwrap_or(false);
        for c in 0..channels {
            for y in 0..r {
                for x in 0..r {
                    let sx = if flip { r - 1 - x } else { x };
                    // adjust_dynamic_range([0, 255] → [-1, 1]): x·(2/255) − 1 in float32.
                    let p = level[c * r * r + y * r + sx] as f32;
                    v.push(p * (2.0f32 / 255.0) - 1.0);
                }
            }
        }
    }
    let x = Tensor::<4>::from_data(TensorData::new(v, [n, channels, r, r]), device);
    // FadeLOD: lerp toward the 2×2 mean (tiled back) by the fraction of the fade-in.
    let t = lod - lod.floor();
    let x = if t > 0.0 {
        let y = crate::models::tf1::downscale2d(x.clone(), 2);
        crate::models::tf1::tf_lerp(x, crate::models::tf1::upscale2d(y, 2), t)
    } else {
        x
    };
    // UpscaleLOD.
    Ok(crate::models::tf1::upscale2d(x, 1 << k))
}

/// The options of a progressive run (the recipe's official values unless changed).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressiveOptions {
    pub recipe: Recipe,
    pub schedule: Schedule,
    /// x-flip half of the reals (`mirror_augment`; StyleGAN v1's FFHQ config: on).
    pub mirror: bool,
    pub seed: u32,
    /// Minibatches between schedule updates (official 4).
    pub minibatch_repeats: usize,
    /// D steps per G step (official 1).
    pub d_repeats: usize,
    /// StyleGAN v1: R1 weight γ (10) and style-mixing probability (0.9).
    pub r1_gamma: f64,
    pub style_mixing_prob: f64,
    /// PGGAN: WGAN-GP λ (10), ε-drift (0.001) and target (1).
    pub wgan_lambda: f64,
    pub wgan_epsilon: f64,
    pub wgan_target: f64,
    /// Relative step of the first-order regularisers' central differences.
    pub eps_rel: f64,
    /// Half-life of Gs in thousands of images; `None`: the recipe's (PGGAN: β = 0.999 per
    /// minibatch, 11 kimg at 16 images; StyleGAN v1: 10 kimg). Short runs need a shorter one:
    /// Gs averages G over a few half-lives, and in 30-kimg phases that spans whole levels.
    pub ema_kimg: Option<f64>,
}

impl ProgressiveOptions {
    pub fn official(recipe: Recipe) -> Self {
        Self {
            recipe,
            schedule: Schedule::official(recipe),
            mirror: recipe == Recipe::StyleGan1,
            seed: 0,
            minibatch_repeats: 4,
            d_repeats: 1,
            r1_gamma: 10.0,
            style_mixing_prob: if recipe == Recipe::StyleGan1 {
                0.9
            } else {
                0.0
            },
            wgan_lambda: 10.0,
            wgan_epsilon: 0.001,
            wgan_target: 1.0,
            eps_rel: regularizers::DEFAULT_EPS_REL,
            ema_kimg: None,
        }
    }

    /// Gs ← G + (Gs − G)·β after each D step of `minibatch` images: β of this recipe or of
    /// `ema_kimg`.
    pub fn gs_beta(&self, minibatch: usize) -> f64 {
        match (self.ema_kimg, self.recipe) {
            (Some(k), _) => 0.5f64.powf(minibatch as f64 / (k * 1000.0)),
            (None, Recipe::Pggan) => 0.999,
            (None, Recipe::StyleGan1) => 0.5f64.powf(minibatch as f64 / 10_000.0),
        }
    }

    /// The options as JSON (recorded in snapshots; a resume compares them).
    pub fn record(&self) -> Value {
        let s = &self.schedule;
        let mut v = json!({
            "recipe": match self.recipe { Recipe::Pggan => "pggan", Recipe::StyleGan1 => "stylegan1" },
            "lod_initial_resolution": s.lod_initial_resolution,
            "lod_training_kimg": s.lod_training_kimg,
            "lod_transition_kimg": s.lod_transition_kimg,
            "minibatch_base": s.minibatch_base,
            "minibatch_dict": s.minibatch_dict,
            "g_lrate_base": s.g_lrate_base,
            "g_lrate_dict": s.g_lrate_dict,
            "d_lrate_base": s.d_lrate_base,
            "d_lrate_dict": s.d_lrate_dict,
            "mirror": self.mirror,
            "seed": self.seed,
            "minibatch_repeats": self.minibatch_repeats,
            "d_repeats": self.d_repeats,
            "r1_gamma": self.r1_gamma,
            "style_mixing_prob": self.style_mixing_prob,
            "wgan_lambda": self.wgan_lambda,
            "wgan_epsilon": self.wgan_epsilon,
            "wgan_target": self.wgan_target,
        });
        // Recorded only when set, so that the records of earlier snapshots stay valid.
        if let Some(k) = self.ema_kimg {
            v["ema_kimg"] = json!(k);
        }
        v
    }
}

impl ProgressiveOptions {
    /// The options a snapshot recorded ([`Self::record`]).
    pub fn from_record(v: &Value) -> Result<Self> {
        let bad = |k: &str| {
            Error::Config(format!(
                "progressive options: '{k}' is missing or malformed"
            ))
        };
        let f = |k: &str| v.get(k).and_then(Value::as_f64).ok_or_else(|| bad(k));
        let u = |k: &str| {
            v.get(k)
                .and_then(Value::as_u64)
                .map(|x| x as usize)
                .ok_or_else(|| bad(k))
        };
        let recipe = match v.get("recipe").and_then(Value::as_str) {
            Some("pggan") => Recipe::Pggan,
            Some("stylegan1") => Recipe::StyleGan1,
            _ => return Err(bad("recipe")),
        };
        // {resolution: value} tables, values read by `val`.
        fn dict<T>(
            v: &Value,
            k: &str,
            val: impl Fn(&Value) -> Option<T>,
            bad: impl Fn(&str) -> Error,
        ) -> Result<BTreeMap<usize, T>> {
            v.get(k)
                .and_then(Value::as_object)
                .ok_or_else(|| bad(k))?
                .iter()
                .map(|(r, m)| {
                    Ok((
                        r.parse().map_err(|_| bad(k))?,
                        val(m).ok_or_else(|| bad(k))?,
                    ))
                })
                .collect()
        }
        let dict_u = |k: &str| dict(v, k, |m| m.as_u64().map(|x| x as usize), bad);
        let dict_f = |k: &str| dict(v, k, Value::as_f64, bad);
        let o = Self {
            recipe,
            schedule: Schedule {
                lod_initial_resolution: u("lod_initial_resolution")?,
                lod_training_kimg: f("lod_training_kimg")?,
                lod_transition_kimg: f("lod_transition_kimg")?,
                minibatch_base: u("minibatch_base")?,
                minibatch_dict: dict_u("minibatch_dict")?,
                g_lrate_base: f("g_lrate_base")?,
                g_lrate_dict: dict_f("g_lrate_dict")?,
                d_lrate_base: f("d_lrate_base")?,
                d_lrate_dict: dict_f("d_lrate_dict")?,
            },
            mirror: v
                .get("mirror")
                .and_then(Value::as_bool)
                .ok_or_else(|| bad("mirror"))?,
            seed: u("seed")? as u32,
            minibatch_repeats: u("minibatch_repeats")?,
            d_repeats: u("d_repeats")?,
            r1_gamma: f("r1_gamma")?,
            style_mixing_prob: f("style_mixing_prob")?,
            wgan_lambda: f("wgan_lambda")?,
            wgan_epsilon: f("wgan_epsilon")?,
            wgan_target: f("wgan_target")?,
            eps_rel: regularizers::DEFAULT_EPS_REL,
            ema_kimg: match v.get("ema_kimg") {
                None => None,
                Some(k) => Some(k.as_f64().ok_or_else(|| bad("ema_kimg"))?),
            },
        };
        if o.record() != *v {
            return Err(Error::Config(
                "progressive options: unexpected values in the record".into(),
            ));
        }
        Ok(o)
    }

    /// The recorded options of a progressive snapshot (what a resume continues with).
    pub fn of_snapshot(path: &Path) -> Result<Self> {
        let ckpt = Checkpoint::read(path)?;
        let state: Value = ckpt
            .extra_metadata
            .get(PROGRESSIVE_STATE_KEY)
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                Error::format(
                    path,
                    "is not a progressive-growing snapshot (StyleGAN v1 / PGGAN)",
                )
            })?;
        Self::from_record(&state["options"]).map_err(|e| Error::format(path, e.to_string()))
    }
}

/// Losses of one round (the last D and G steps of it).
#[derive(Clone, Copy, Debug, Default)]
pub struct RoundStats {
    pub lod: f64,
    pub resolution: usize,
    pub minibatch: usize,
    pub loss_g: f64,
    pub loss_d: f64,
    /// Mean R1 penalty (StyleGAN v1) or gradient penalty (PGGAN).
    pub penalty: f64,
    /// Mean D logits on the reals and the fakes of the last D step (how far D separates them).
    pub d_real: f64,
    pub d_fake: f64,
    /// Root mean square of the last D step's fakes (nominal range [-1, 1]; the reals' is
    /// below 1): a generator drifting to saturated images shows here first.
    pub fake_rms: f64,
}

/// A TF1 discriminator built from live parameters.
// Built for one step at a time: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
enum TfD {
    Sg1(Sg1Discriminator),
    Pggan(PgganDiscriminator),
}

impl TfD {
    fn build(set: &ParamSet, leaves: BTreeMap<String, (Vec<usize>, Tensor<1>)>) -> Result<Self> {
        let mut p = Params::live(leaves, set.device());
        let d = match set.class_name.rsplit('.').next() {
            Some("D_basic") => Self::Sg1(Sg1Discriminator::new(&mut p, &set.init_kwargs)?),
            Some("D_paper") => Self::Pggan(PgganDiscriminator::new(&mut p, &set.init_kwargs)?),
            _ => {
                return Err(Error::Config(format!(
                    "progressive growing trains D_basic or D_paper discriminators, not {}",
                    set.class_name
                )))
            }
        };
        p.finish()?;
        Ok(d)
    }

    fn forward(&self, x: &Tensor<4>, lod: f64) -> Result<Tensor<2>> {
        match self {
            Self::Sg1(d) => d.forward(x, None, lod),
            Self::Pggan(d) => d.forward(x, lod),
        }
    }
}

fn phase_rng(seed: u32, round: u64, phase: u32) -> RandomState {
    RandomState::from_array(&[
        seed,
        round as u32,
        (round >> 32) as u32,
        0x9c9a_0000 | phase,
    ])
}

fn randn(rng: &mut RandomState, shape: [usize; 2], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = rng
        .randn(shape[0] * shape[1])
        .into_iter()
        .map(|x| x as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// Fresh G and D of a recipe's family, from the networks' static kwargs (the same for both,
/// as the official configs pass them: `resolution`, `num_channels`, `fmap_base`, ...), with
/// the official initialisation (N(0, 1) weights under the equalised learning rate, zero
/// biases, SG1's constant input of ones), reproducible from `seed`.
pub fn new_networks(
    recipe: Recipe,
    kwargs: &Value,
    seed: u32,
    device: &Device,
) -> Result<(NetworkEntry, NetworkEntry)> {
    use crate::models::{pggan, stylegan1};
    let (g_class, d_class) = match recipe {
        Recipe::Pggan => (pggan::G_CLASS, pggan::D_CLASS),
        Recipe::StyleGan1 => (stylegan1::G_CLASS, stylegan1::D_CLASS),
    };
    let g = Generator::new(g_class, kwargs, &mut Params::random(seed, device))?.to_entry();
    let mut p = Params::random(seed.wrapping_add(1), device);
    let mut sd = crate::nn::StateDict::default();
    match recipe {
        Recipe::Pggan => PgganDiscriminator::new(&mut p, kwargs)?.state_dict(&mut sd),
        Recipe::StyleGan1 => Sg1Discriminator::new(&mut p, kwargs)?.state_dict(&mut sd),
    }
    let d = NetworkEntry {
        class_name: d_class.into(),
        init_kwargs: kwargs.clone(),
        tensors: sd.entries.into_iter().collect(),
    };
    Ok((g, d))
}

/// Metadata key of a progressive run's state in a snapshot.
pub const PROGRESSIVE_STATE_KEY: &str = "train.progressive";

/// Training of a StyleGAN v1 or PGGAN network by progressive growing (official
/// `training_loop`): G, D and Gs (the moving average), both optimisers and the counters.
pub struct ProgressiveTrainer {
    pub opts: ProgressiveOptions,
    pub g: ParamSet,
    pub d: ParamSet,
    pub gs: ParamSet,
    g_opt: Adam,
    d_opt: Adam,
    pub cur_nimg: u64,
    /// The lod of the previous round (−1 before the first: `prev_lod = -1.0`).
    pub prev_lod: f64,
    /// Rounds done (seeds the random numbers of the next one).
    pub round: u64,
    log2: usize,
    device: Device,
}

impl ProgressiveTrainer {
    /// Start from fresh (or parent) G and D entries of one TF1 family.
    pub fn new(
        opts: ProgressiveOptions,
        g: &NetworkEntry,
        d: &NetworkEntry,
        device: &Device,
    ) -> Result<Self> {
        let (g, d) = (
            ParamSet::from_entry(g, device),
            ParamSet::from_entry(d, device),
        );
        let gn = g.generator(g.leaves(&|_| false))?;
        let family = gn.family();
        let expected = match opts.recipe {
            Recipe::Pggan => Family::Pggan,
            Recipe::StyleGan1 => Family::StyleGan1,
        };
        if family != expected {
            return Err(Error::InvalidArgument(format!(
                "the {} recipe trains {} networks; this generator is {}",
                opts.record()["recipe"].as_str().unwrap_or(""),
                expected.name(),
                family.name()
            )));
        }
        if gn.config.c_dim > 0 {
            return Err(Error::InvalidArgument(
                "progressive growing of conditional networks is not supported yet".into(),
            ));
        }
        TfD::build(&d, d.leaves(&|_| false))?;
        let res = gn.config.img_resolution;
        opts.schedule.check(res)?;
        if let Some(k) = opts.ema_kimg {
            if !(k.is_finite() && k > 0.0) {
                return Err(Error::InvalidArgument(format!(
                    "the Gs half-life must be a positive number of kimg, got {k}"
                )));
            }
        }
        if opts.minibatch_repeats == 0 || opts.d_repeats == 0 {
            return Err(Error::InvalidArgument(
                "minibatch_repeats and d_repeats must be positive".into(),
            ));
        }
        Ok(Self {
            g_opt: Adam::new(Self::adam(0.001)),
            d_opt: Adam::new(Self::adam(0.001)),
            gs: g.clone(),
            g,
            d,
            opts,
            cur_nimg: 0,
            prev_lod: -1.0,
            round: 0,
            log2: res.trailing_zeros() as usize,
            device: device.clone(),
        })
    }

    fn adam(lr: f64) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: 0.0,
            beta2: 0.99,
            eps: 1e-8,
        }
    }

    /// The schedule now.
    pub fn point(&self) -> Point {
        self.opts.schedule.at(self.cur_nimg, self.log2)
    }

    /// The moving-average generator (`Gs`) at the current lod.
    pub fn gs(&self) -> Result<Generator> {
        self.gs.generator(self.gs.leaves(&|_| false))
    }

    /// Write `lod` into every network's `lod` variables (what the official loop feeds them).
    fn set_lod(&mut self, lod: f64) {
        let dev = self.device.clone();
        let t = || Tensor::<1>::from_data(TensorData::new(vec![lod as f32], [1]), &dev);
        for set in [&mut self.g, &mut self.gs, &mut self.d] {
            let names: Vec<String> = set
                .tensors
                .keys()
                .filter(|k| *k == "lod" || k.ends_with("/lod"))
                .cloned()
                .collect();
            for n in names {
                set.set(&n, t());
            }
        }
    }

    /// The generator's ws for latents `z` as `G_style` makes them in training (style mixing
    /// with a cutoff below the current number of layers; `dlatent_avg` updated), or PGGAN's
    /// input.
    fn training_ws(
        &mut self,
        g: &Generator,
        z: Tensor<2>,
        lod: f64,
        rng: &mut RandomState,
    ) -> Result<Tensor<3>> {
        if g.family() == Family::Pggan {
            return g.mapping_ws(z, None, 1.0, None);
        }
        let w = g.map(z.clone(), None)?;
        // dlatent_avg = lerp(batch mean of w, dlatent_avg, 0.995).
        let avg = self.g.get("dlatent_avg")?.clone();
        let batch_avg = w.clone().without_autodiff().mean_dim(0).reshape([-1]);
        self.g.set(
            "dlatent_avg",
            batch_avg.clone() + (avg - batch_avg).mul_scalar(0.995),
        );
        let layers = g.num_ws();
        let ws = crate::models::mapping::broadcast(w, layers);
        let p = self.opts.style_mixing_prob;
        let u = rng.random_sample();
        let pick = rng.random_sample();
        let z2 = randn(rng, z.dims(), &z.device());
        if p <= 0.0 {
            return Ok(ws);
        }
        let cur = layers - 2 * lod.floor() as usize;
        let cutoff = if u < p && cur > 1 {
            1 + ((pick * (cur - 1) as f64) as usize).min(cur - 2)
        } else {
            cur
        };
        if cutoff >= layers {
            return Ok(ws);
        }
        let ws2 = crate::models::mapping::broadcast(g.map(z2, None)?, layers);
        Ok(Tensor::cat(
            vec![
                ws.narrow(1, 0, cutoff),
                ws2.narrow(1, cutoff, layers - cutoff),
            ],
            1,
        ))
    }

    fn reals(
        &self,
        data: &dyn TrainingData,
        n: usize,
        lod: f64,
        rng: &mut RandomState,
    ) -> Result<Tensor<4>> {
        let len = data.len();
        let idx: Vec<usize> = (0..n)
            .map(|_| ((rng.random_sample() * len as f64) as usize).min(len - 1))
            .collect();
        let mirror: Vec<bool> = (0..n)
            .map(|_| self.opts.mirror && rng.random_sample() < 0.5)
            .collect();
        let images: Vec<&[u8]> = idx.iter().map(|&i| data.image(i)).collect();
        process_reals(
            &images,
            data.channels(),
            data.resolution(),
            lod,
            &mirror,
            &self.device,
        )
    }

    fn collect(
        leaves: &BTreeMap<String, (Vec<usize>, Tensor<1>)>,
        grads: &burn::tensor::Gradients,
        into: &mut BTreeMap<String, Tensor<1>>,
    ) {
        for (k, (_, t)) in leaves {
            if let Some(g) = t.grad(grads) {
                let g = nan_to_num(g);
                let sum = match into.remove(k) {
                    Some(prev) => prev + g,
                    None => g,
                };
                into.insert(k.clone(), sum);
            }
        }
    }

    /// One D step (and the Gs update that runs with it).
    fn d_step(
        &mut self,
        data: &dyn TrainingData,
        p: &Point,
        k: u32,
        st: &mut RoundStats,
    ) -> Result<()> {
        let mut rng = phase_rng(self.opts.seed, self.round, 2 * k);
        let n = p.minibatch;
        let mut gen = self.g.generator(self.g.leaves(&|_| false))?;
        gen.set_lod(p.lod)?;
        let z = randn(&mut rng, [n, gen.config.z_dim], &self.device);
        let ws = self.training_ws(&gen, z, p.lod, &mut rng)?;
        let noise = NoiseMode::Seeded(rng.next_u32() as u64 | (rng.next_u32() as u64) << 32);
        let fake = gen.synthesis.forward(&ws, noise)?.without_autodiff();
        let real = self.reals(data, n, p.lod, &mut rng)?;
        let leaves = self.d.leaves(&|_| true);
        let d = TfD::build(&self.d, leaves.clone())?;
        let fake_logits = d.forward(&fake, p.lod)?;
        let real_logits = d.forward(&real, p.lod)?;
        let mean_of = |t: &Tensor<2>| -> Result<f64> {
            Ok(to_vec(&t.clone().without_autodiff().mean())?[0] as f64)
        };
        st.d_real = mean_of(&real_logits)?;
        st.d_fake = mean_of(&fake_logits)?;
        st.fake_rms = (to_vec(&fake.clone().square().mean())?[0] as f64).sqrt();
        let mut grads = BTreeMap::new();
        match self.opts.recipe {
            Recipe::Pggan => {
                // loss = D(fake) − D(real) + ε·D(real)² (+ the gradient penalty below).
                let drift = real_logits
                    .clone()
                    .square()
                    .mul_scalar(self.opts.wgan_epsilon as f32);
                let loss = (fake_logits - real_logits + drift).mean();
                st.loss_d = to_vec(&loss.clone().without_autodiff())?[0] as f64;
                check_finite("the discriminator loss", st.loss_d, self.cur_nimg)?;
                Self::collect(&leaves, &loss.backward(), &mut grads);
                let t: Vec<f32> = (0..n).map(|_| rng.random_sample() as f32).collect();
                let t = Tensor::<4>::from_data(TensorData::new(t, [n, 1, 1, 1]), &self.device);
                let mixed = real.clone() + (fake - real) * t;
                let lv = leaves.clone();
                let lod = p.lod;
                let dset = self.d.clone();
                let run = |x: Tensor<4>| TfD::build(&dset, lv.clone())?.forward(&x, lod);
                let target = self.opts.wgan_target;
                let weight = self.opts.wgan_lambda / (target * target);
                let gp =
                    regularizers::gradient_penalty(&run, mixed, target, weight, self.opts.eps_rel)?;
                st.penalty = gp.penalty.iter().sum::<f64>() / n as f64;
                Self::collect(&leaves, &gp.surrogate.sum().backward(), &mut grads);
            }
            Recipe::StyleGan1 => {
                let loss = (softplus(fake_logits, 1.0) + softplus(real_logits.neg(), 1.0)).mean();
                st.loss_d = to_vec(&loss.clone().without_autodiff())?[0] as f64;
                check_finite("the discriminator loss", st.loss_d, self.cur_nimg)?;
                Self::collect(&leaves, &loss.backward(), &mut grads);
                if self.opts.r1_gamma > 0.0 {
                    let lv = leaves.clone();
                    let lod = p.lod;
                    let dset = self.d.clone();
                    let run = |x: Tensor<4>| TfD::build(&dset, lv.clone())?.forward(&x, lod);
                    let r1 =
                        regularizers::r1(&run, real, self.opts.r1_gamma, 1.0, self.opts.eps_rel)?;
                    st.penalty = r1.penalty.iter().sum::<f64>() / n as f64;
                    Self::collect(&leaves, &r1.surrogate.sum().backward(), &mut grads);
                }
            }
        }
        check_finite("the regulariser", st.penalty, self.cur_nimg)?;
        self.d_opt.config.lr = p.d_lrate;
        self.d_opt.step(&mut self.d, grads)?;
        self.update_gs(n)
    }

    /// One G step.
    fn g_step(&mut self, p: &Point, k: u32, st: &mut RoundStats) -> Result<()> {
        let mut rng = phase_rng(self.opts.seed, self.round, 2 * k + 1);
        let n = p.minibatch;
        let leaves = self.g.leaves(&|_| true);
        let mut gen = self.g.generator(leaves.clone())?;
        gen.set_lod(p.lod)?;
        let z = randn(&mut rng, [n, gen.config.z_dim], &self.device);
        let ws = self.training_ws(&gen, z, p.lod, &mut rng)?;
        let noise = NoiseMode::Seeded(rng.next_u32() as u64 | (rng.next_u32() as u64) << 32);
        let fake = gen.synthesis.forward(&ws, noise)?;
        let d = TfD::build(&self.d, self.d.leaves(&|_| false))?;
        let logits = d.forward(&fake, p.lod)?;
        let loss = match self.opts.recipe {
            Recipe::Pggan => logits.neg().mean(),
            Recipe::StyleGan1 => softplus(logits.neg(), 1.0).mean(),
        };
        st.loss_g = to_vec(&loss.clone().without_autodiff())?[0] as f64;
        check_finite("the generator loss", st.loss_g, self.cur_nimg)?;
        let mut grads = BTreeMap::new();
        Self::collect(&leaves, &loss.backward(), &mut grads);
        self.g_opt.config.lr = p.g_lrate;
        self.g_opt.step(&mut self.g, grads)
    }

    /// Gs ← G + (Gs − G)·β for the trainables, a copy of the other variables (β = 0):
    /// `setup_as_moving_average_of`, β from [`ProgressiveOptions::gs_beta`].
    fn update_gs(&mut self, minibatch: usize) -> Result<()> {
        let beta = self.opts.gs_beta(minibatch);
        let names: Vec<String> = self.g.tensors.keys().cloned().collect();
        for name in names {
            let g = self.g.get(&name)?.clone();
            let new = if is_buffer(&name) {
                g
            } else {
                let s = self.gs.get(&name)?.clone();
                g.clone() + (s - g).mul_scalar(beta as f32)
            };
            self.gs.set(&name, new);
        }
        Ok(())
    }

    /// One round of the official loop: the schedule at `cur_nimg` (optimisers reset when a
    /// fade-in starts or ends), then `minibatch_repeats` × (`d_repeats` D steps with the Gs
    /// update, one G step).
    pub fn round(&mut self, data: &dyn TrainingData) -> Result<RoundStats> {
        let res = 1usize << self.log2;
        super::data::check_compatible(data, res, data.channels(), 0)?;
        let p = self.point();
        if Schedule::resets_between(self.prev_lod, p.lod) {
            self.g_opt = Adam::new(Self::adam(p.g_lrate));
            self.d_opt = Adam::new(Self::adam(p.d_lrate));
        }
        self.prev_lod = p.lod;
        self.set_lod(p.lod);
        let mut st = RoundStats {
            lod: p.lod,
            resolution: p.resolution,
            minibatch: p.minibatch,
            ..Default::default()
        };
        let mut k = 0;
        for _ in 0..self.opts.minibatch_repeats {
            for _ in 0..self.opts.d_repeats {
                self.d_step(data, &p, k, &mut st)?;
                self.cur_nimg += p.minibatch as u64;
                k += 1;
            }
            self.g_step(&p, k, &mut st)?;
            k += 1;
        }
        self.round += 1;
        Ok(st)
    }

    fn state_json(&self) -> Value {
        json!({
            "cur_nimg": self.cur_nimg,
            "prev_lod": self.prev_lod,
            "round": self.round,
            "options": self.opts.record(),
        })
    }

    /// Write a snapshot atomically: G, D, G_ema (= Gs), both Adam states and the counters.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let (g, d, e) = (self.g.to_entry()?, self.d.to_entry()?, self.gs.to_entry()?);
        let mut tensors: BTreeMap<String, RawTensor> = self.g_opt.state("G_opt")?;
        tensors.extend(self.d_opt.state("D_opt")?);
        let mut meta = extra.clone();
        meta.insert(PROGRESSIVE_STATE_KEY.into(), self.state_json().to_string());
        write_snapshot(path, self.cur_nimg, [&g, &d, &e], &meta, &tensors)
    }

    /// Resume from a snapshot written by [`Self::save`]; `opts` must equal the recorded ones
    /// (the seed is taken from the snapshot).
    pub fn resume(path: &Path, mut opts: ProgressiveOptions, device: &Device) -> Result<Self> {
        let (ckpt, state) = read_snapshot(path, PROGRESSIVE_STATE_KEY)?;
        let [g, d, e] = ["G", "D", "G_ema"].map(|p| &ckpt.networks[p]);
        let num = |k: &str| {
            state.get(k).and_then(Value::as_f64).ok_or_else(|| {
                Error::format(path, format!("'{PROGRESSIVE_STATE_KEY}' lacks '{k}'"))
            })
        };
        opts.seed = state["options"]["seed"].as_u64().unwrap_or(0) as u32;
        if state["options"] != opts.record() {
            return Err(Error::InvalidArgument(format!(
                "{}: the snapshot was trained with other options ({}) than these ({})",
                path.display(),
                state["options"],
                opts.record()
            )));
        }
        let mut t = Self::new(opts, g, d, device)?;
        t.gs = ParamSet::from_entry(e, device);
        t.cur_nimg = num("cur_nimg")? as u64;
        t.prev_lod = num("prev_lod")?;
        t.round = num("round")? as u64;
        t.g_opt
            .load_state("G_opt", &ckpt.extra_tensors, &t.g)
            .map_err(|e| Error::format(path, e.to_string()))?;
        t.d_opt
            .load_state("D_opt", &ckpt.extra_tensors, &t.d)
            .map_err(|e| Error::format(path, e.to_string()))?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tiny 32-px networks of the gradient checks.
    fn kwargs32() -> Value {
        serde_json::json!({"resolution": 32, "num_channels": 3, "fmap_base": 64,
            "fmap_max": 16, "latent_size": 16, "dlatent_size": 16, "mapping_layers": 2,
            "mapping_fmaps": 16})
    }

    fn flat(v: Vec<f32>) -> Tensor<1> {
        let len = v.len();
        Tensor::from_data(TensorData::new(v, [len]), &crate::backend::cpu())
    }

    /// The directional derivative of `loss(values)` at `base` along the random unit direction
    /// `dir`: autodiff's (from `grad`) and central differences at three steps relative to the
    /// values' scale.
    fn directional(
        grad: &[f32],
        base: &[f32],
        dir: &[f64],
        loss: &mut dyn FnMut(Vec<f32>) -> f64,
    ) -> (f64, [f64; 3]) {
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        let scale = base
            .iter()
            .map(|v| (*v as f64).abs())
            .fold(0.0, f64::max)
            .max(1.0);
        let analytic = grad
            .iter()
            .zip(dir)
            .map(|(a, u)| *a as f64 * u / norm)
            .sum();
        let mut numeric = [0.0; 3];
        for (slot, rel) in numeric.iter_mut().zip([1e-3, 3e-4, 1e-4]) {
            let eps = rel * scale;
            let mut at = |sign: f64| {
                loss(
                    base.iter()
                        .zip(dir)
                        .map(|(b, u)| (*b as f64 + sign * eps * u / norm) as f32)
                        .collect(),
                )
            };
            *slot = (at(1.0) - at(-1.0)) / (2.0 * eps);
        }
        (analytic, numeric)
    }

    /// Every row's autodiff value within 10 % of its differences at one of the steps (kinks and
    /// instance norms make f32 differences noisy at some points; a wrong layer gradient fails
    /// at every step), relative to the larger value plus 5 % of the median gradient (directions that
    /// nearly cancel).
    fn assert_close(what: &str, rows: &[(String, f64, [f64; 3])]) {
        assert!(rows.len() > 10, "{what}: {} tensors", rows.len());
        let mut mags: Vec<f64> = rows.iter().map(|r| r.1.abs()).collect();
        mags.sort_by(f64::total_cmp);
        let floor = 0.05 * mags[mags.len() / 2];
        for (name, a, num) in rows {
            let err = |v: f64| (a - v).abs() / (floor + a.abs().max(v.abs()));
            let best = num.iter().map(|&v| err(v)).fold(f64::INFINITY, f64::min);
            assert!(best < 0.1, "{what} {name}: autodiff {a} against {num:?}");
        }
    }

    /// One row per parameter tensor of `set` that kept a gradient in `grads` (`leaves` as
    /// given to the differentiated pass): autodiff's directional derivative against central
    /// differences of `loss`, evaluated with that tensor moved along a random direction (put
    /// back afterwards).
    fn parameter_rows(
        set: &mut ParamSet,
        leaves: &BTreeMap<String, (Vec<usize>, Tensor<1>)>,
        grads: &burn::tensor::Gradients,
        rng: &mut RandomState,
        loss: &dyn Fn(&ParamSet) -> f64,
    ) -> Vec<(String, f64, [f64; 3])> {
        let mut rows = Vec::new();
        for name in set.param_names() {
            let Some(grad) = leaves[&name].1.grad(grads) else {
                continue;
            };
            let base = to_vec(set.get(&name).unwrap()).unwrap();
            let dir = rng.randn(base.len());
            let mut at = |v: Vec<f32>| {
                set.set(&name, flat(v));
                loss(set)
            };
            let (a, num) = directional(&to_vec(&grad).unwrap(), &base, &dir, &mut at);
            set.set(&name, flat(base));
            rows.push((name, a, num));
        }
        rows
    }

    /// StyleGAN v1's synthesis at 32 px (lod 0, the level whose training misbehaves on
    /// facesjs): the gradient of `Σ G(z)·R` with respect to every parameter tensor.
    #[test]
    fn stylegan1_generator_gradients_match_finite_differences() {
        let dev = crate::backend::cpu();
        let (ge, _) = new_networks(Recipe::StyleGan1, &kwargs32(), 3, &dev).unwrap();
        let mut g = ParamSet::from_entry(&ge, &dev);
        let mut rng = RandomState::new(5);
        // The official start (a constant input of ones, zero noise strengths) puts the 4×4
        // planes exactly at the instance norm's singularity (zero variance: derivatives of
        // 1/√ε), where differences are meaningless; move the point off it.
        for name in g.param_names() {
            if name.ends_with("/const") || name.ends_with("Noise/weight") {
                let len = to_vec(g.get(&name).unwrap()).unwrap().len();
                g.set(
                    &name,
                    flat(
                        rng.randn(len)
                            .into_iter()
                            .map(|x| (0.5 * x) as f32)
                            .collect(),
                    ),
                );
            }
        }
        let n = 2;
        let z = randn(&mut rng, [n, 16], &dev);
        let proj: Vec<f32> = rng
            .randn(n * 3 * 32 * 32)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let loss = |set: &ParamSet, leaves| -> Tensor<1> {
            let mut gen = set.generator(leaves).unwrap();
            gen.set_lod(0.0).unwrap();
            let ws = gen.mapping_ws(z.clone(), None, 1.0, None).unwrap();
            let img = gen.synthesis.forward(&ws, NoiseMode::Seeded(9)).unwrap();
            let r = Tensor::<4>::from_data(TensorData::new(proj.clone(), [n, 3, 32, 32]), &dev);
            (img * r).sum()
        };
        let leaves = g.leaves(&|_| true);
        let grads = loss(&g, leaves.clone()).backward();
        let rows = parameter_rows(&mut g, &leaves, &grads, &mut rng, &|g| {
            to_vec(&loss(g, g.leaves(&|_| false))).unwrap()[0] as f64
        });
        assert!(rows.len() > 40, "{} tensors", rows.len());
        assert_close("G_style", &rows);
    }

    /// D_basic (StyleGAN v1) and D_paper (PGGAN) at 32 px, lod 0: the gradient of `Σ D(x)·r`
    /// with respect to every parameter tensor and to the images.
    #[test]
    fn discriminator_gradients_match_finite_differences() {
        let dev = crate::backend::cpu();
        for recipe in [Recipe::StyleGan1, Recipe::Pggan] {
            let (_, de) = new_networks(recipe, &kwargs32(), 4, &dev).unwrap();
            let mut d = ParamSet::from_entry(&de, &dev);
            let mut rng = RandomState::new(6);
            let n = 4;
            let x: Vec<f32> = rng
                .randn(n * 3 * 32 * 32)
                .into_iter()
                .map(|v| (0.5 * v) as f32)
                .collect();
            let r = Tensor::<2>::from_data(
                TensorData::new(rng.randn(n).into_iter().map(|v| v as f32).collect(), [n, 1]),
                &dev,
            );
            let img =
                |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [n, 3, 32, 32]), &dev);
            let loss = |set: &ParamSet, leaves, x: Tensor<4>| -> f64 {
                let logits = TfD::build(set, leaves).unwrap().forward(&x, 0.0).unwrap();
                to_vec(&(logits * r.clone()).sum()).unwrap()[0] as f64
            };
            let leaves = d.leaves(&|_| true);
            let xl = img(x.clone()).autodiff().require_grad();
            let logits = TfD::build(&d, leaves.clone())
                .unwrap()
                .forward(&xl, 0.0)
                .unwrap();
            let grads = (logits * r.clone()).sum().backward();
            let mut rows = Vec::new();
            let dx = to_vec(&xl.grad(&grads).unwrap()).unwrap();
            let dir = rng.randn(x.len());
            let (a, num) = directional(&dx, &x, &dir, &mut |v| {
                loss(&d, d.leaves(&|_| false), img(v))
            });
            rows.push(("input".to_string(), a, num));
            rows.extend(parameter_rows(&mut d, &leaves, &grads, &mut rng, &|d| {
                loss(d, d.leaves(&|_| false), img(x.clone()))
            }));
            assert_close(&format!("{recipe:?}"), &rows);
        }
    }

    /// The official FFHQ StyleGAN v1 schedule at 1024² (log2 10, growth from 8×8).
    #[test]
    fn stylegan1_schedule_matches_the_official_formula() {
        let s = Schedule::official(Recipe::StyleGan1);
        let p = s.at(0, 10);
        assert_eq!(
            (p.lod, p.resolution, p.minibatch, p.g_lrate),
            (7.0, 8, 128, 0.001)
        );
        // Stable for 600 kimg, then fading in 16×16 over 600.
        assert_eq!(s.at(600_000, 10).lod, 7.0);
        let p = s.at(900_000, 10);
        assert_eq!((p.lod, p.resolution), (6.5, 16));
        assert_eq!(s.at(1_200_000, 10).lod, 6.0);
        // 128 px (lod 3, phase 4): minibatch 16, learning rate 0.0015.
        let p = s.at(4_800_000, 10);
        assert_eq!(
            (p.lod, p.resolution, p.minibatch, p.d_lrate),
            (3.0, 128, 16, 0.0015)
        );
        // Full resolution from phase 7 on; minibatch_base 4, lr 0.003.
        let p = s.at(8_400_000, 10);
        assert_eq!(
            (p.lod, p.resolution, p.minibatch, p.g_lrate),
            (0.0, 1024, 4, 0.003)
        );
        assert_eq!(s.at(25_000_000, 10).lod, 0.0);
    }

    #[test]
    fn pggan_schedule_grows_from_4x4() {
        let s = Schedule::official(Recipe::Pggan);
        assert_eq!(s.at(0, 5).lod, 3.0);
        assert_eq!(s.at(0, 5).resolution, 4);
        let p = s.at(1_050_000, 5);
        assert!((p.lod - 2.25).abs() < 1e-12, "{p:?}");
        assert_eq!((p.resolution, p.minibatch), (8, 128));
        assert_eq!(s.at(3_600_000, 5).lod, 0.0);
        assert_eq!(s.at(3_600_000, 5).minibatch, 64);
        // lod 1.0 → 1.0 keeps the optimisers; a fade-in starting or ending resets them.
        assert!(!Schedule::resets_between(1.0, 1.0));
        assert!(Schedule::resets_between(1.0, 0.99));
        assert!(Schedule::resets_between(0.01, 0.0));
        assert!(!Schedule::resets_between(0.6, 0.4));
    }

    /// Gs's β: the recipes' own (PGGAN per minibatch, StyleGAN v1 a 10-kimg half-life) unless
    /// a half-life is given; a set half-life survives the snapshot record, an unset one leaves
    /// the record as earlier snapshots have it.
    #[test]
    fn gs_half_life_is_the_recipes_unless_given() {
        let pg = ProgressiveOptions::official(Recipe::Pggan);
        let sg1 = ProgressiveOptions::official(Recipe::StyleGan1);
        assert_eq!(pg.gs_beta(16), 0.999);
        assert_eq!(pg.gs_beta(64), 0.999);
        assert!((sg1.gs_beta(32) - 0.5f64.powf(32.0 / 10_000.0)).abs() < 1e-15);
        let short = ProgressiveOptions {
            ema_kimg: Some(2.0),
            ..pg.clone()
        };
        // 2000 images at 64 per step halve the weight of the past.
        assert!((short.gs_beta(64).powf(2000.0 / 64.0) - 0.5).abs() < 1e-12);
        for o in [pg, sg1, short] {
            let r = o.record();
            assert_eq!(r.get("ema_kimg").is_some(), o.ema_kimg.is_some());
            assert_eq!(ProgressiveOptions::from_record(&r).unwrap(), o);
        }
    }

    #[test]
    fn pyramid_levels_round_half_to_even() {
        // One channel, 4×4: the top-left 2×2 sums to 2 (mean 0.5 → 0), the next to 6 (1.5 → 2).
        let img: Vec<u8> = vec![0, 1, 1, 2, 0, 1, 1, 2, 9, 9, 200, 255, 9, 9, 255, 255];
        assert_eq!(pyramid_level(&img, 1, 4, 1), vec![0, 2, 9, 241]);
        assert_eq!(pyramid_level(&img, 1, 4, 2), vec![63]);
        assert_eq!(pyramid_level(&img, 1, 4, 0), img);
    }

    #[test]
    fn reals_fade_between_levels() {
        let dev = crate::backend::cpu();
        let img: Vec<u8> = (0..3 * 8 * 8).map(|i| (i * 37 % 256) as u8).collect();
        let v = |lod: f64, mirror: bool| {
            crate::backend::to_vec(&process_reals(&[&img], 3, 8, lod, &[mirror], &dev).unwrap())
                .unwrap()
        };
        // lod 0: the image in [-1, 1].
        let full = v(0.0, false);
        assert_eq!(full.len(), 3 * 64);
        assert!((full[1] - (img[1] as f32 * 2.0 / 255.0 - 1.0)).abs() < 1e-7);
        // lod 1: level 1 upscaled; lod 0.5: halfway between lod 0 and lod 1.
        let one = v(1.0, false);
        let half = v(0.5, false);
        let level1 = pyramid_level(&img, 3, 8, 1);
        assert!((one[0] - (level1[0] as f32 * 2.0 / 255.0 - 1.0)).abs() < 1e-7);
        assert_eq!(one[0], one[9], "nearest upscale");
        // The 2×2 mean in float32 (not the rounded level) is what the fade blends toward.
        let mean00 = (full[0] + full[1] + full[8] + full[9]) / 4.0;
        assert!((half[0] - (full[0] + (mean00 - full[0]) * 0.5)).abs() < 1e-6);
        // Mirroring flips each row.
        let m = v(0.0, true);
        assert_eq!(m[0], full[7]);
        // 8 px: lod 0 ..= 1 (4×4 at most).
        assert!(process_reals(&[&img], 3, 8, 1.5, &[false], &dev).is_err());
        assert!(process_reals(&[&img[..10]], 3, 8, 0.0, &[false], &dev).is_err());
    }
}
