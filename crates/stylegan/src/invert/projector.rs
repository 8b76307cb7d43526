//! The projector: find the latent (in w, W+ or S) and the noise maps whose image matches a
//! target, by gradient descent on LPIPS — the official `projector.py` recipe (FORMATS.md §11):
//!
//! * start from the mean latent; Adam (β = 0.9, 0.999) with the learning rate ramped up over the
//!   first 5 % of the steps and cosine-ramped down over the last 25 %;
//! * Gaussian noise added to the latent while optimising, `σ · 0.05 · max(0, 1 − t/0.75)²`, so
//!   the early steps explore;
//! * every `noise_const` buffer re-drawn and optimised too, with a penalty on its
//!   autocorrelation at all scales down to 8×8 (weight 1e5), and renormalised after each step;
//! * LPIPS on images area-downsampled to 256² when larger.
//!
//! StyleSpace S is optimised in whitened coordinates `u`, `s = μ + σ ⊙ u` with the per-channel
//! mean and standard deviation of S ([`super::stats`]): Adam's step is then relative to each
//! channel's natural spread (S channels differ in scale by orders of magnitude), and the
//! Gaussian prior of "StyleGAN of All Trades" is simply `weight · mean(u²)` — the negative log
//! density of the diagonal Gaussian, per dimension, up to a constant.

use std::collections::BTreeMap;

use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::{Tensor, TensorData};

use super::projection::{Projection, StepInfo};
use super::stats::{latent_stats, LatentStats, STATS_SAMPLES, STATS_SEED};
use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::latent::space::s_unflatten;
use crate::latent::{broadcast, Latent, RandomState, Space};
use crate::models::{BlockStyles, Generator, NoiseMode};
use crate::optim::ParamSet;
use crate::optim::{Adam, AdamConfig};
use crate::perceptual::Lpips;

/// A prior on the latent being optimised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Prior {
    /// None (the official projector).
    None,
    /// A diagonal Gaussian on StyleSpace S, `weight · mean(((s − μ)/σ)²)` (S only).
    GaussianS { weight: f64 },
}

/// The default weight of the S prior: chosen on the demo model so that the prior keeps S
/// projections within the spread of real samples without costing reconstruction
/// (`stylegan evaluate-inversion` measures both).
pub const DEFAULT_PRIOR_WEIGHT: f64 = 0.01;

/// The projector's settings; [`Default`] is the official recipe in w.
#[derive(Clone, Debug)]
pub struct ProjectorConfig {
    pub space: Space,
    pub steps: usize,
    /// Seeds the noise maps' initial values and the latent exploration noise.
    pub seed: u32,
    pub prior: Prior,
    /// Weight of the noise-map autocorrelation penalty.
    pub noise_reg: f64,
    /// Optimise the noise maps (official); when false the network's own are kept.
    pub optimize_noise: bool,
    pub initial_lr: f64,
    pub initial_noise_factor: f64,
    pub lr_rampdown: f64,
    pub lr_rampup: f64,
    pub noise_ramp: f64,
    /// Samples for the latent statistics.
    pub stat_samples: usize,
    /// Label for conditional networks.
    pub class: Option<usize>,
    /// Keep the latent every this many steps (for a video of the optimisation).
    pub record_every: Option<usize>,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            space: Space::W,
            steps: 1000,
            seed: 303,
            prior: Prior::None,
            noise_reg: 1e5,
            optimize_noise: true,
            initial_lr: 0.1,
            initial_noise_factor: 0.05,
            lr_rampdown: 0.25,
            lr_rampup: 0.05,
            noise_ramp: 0.75,
            stat_samples: STATS_SAMPLES,
            class: None,
            record_every: None,
        }
    }
}

impl ProjectorConfig {
    /// Learning rate at step `step`.
    pub fn lr(&self, step: usize) -> f64 {
        let t = step as f64 / self.steps as f64;
        let down = ((1.0 - t) / self.lr_rampdown).min(1.0);
        let ramp = 0.5 - 0.5 * (down * std::f64::consts::PI).cos();
        self.initial_lr * ramp * (t / self.lr_rampup).min(1.0)
    }

    /// Scale of the exploration noise at step `step`, relative to the latent's spread.
    pub fn noise_scale(&self, step: usize) -> f64 {
        let t = step as f64 / self.steps as f64;
        self.initial_noise_factor * (1.0 - t / self.noise_ramp).max(0.0).powi(2)
    }
}

/// Images as LPIPS sees them in the projector: area-downsampled to 256² when larger.
pub fn perceptual_input(img: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = img.dims();
    if h <= 256 {
        return img;
    }
    if h % 256 == 0 && w % 256 == 0 {
        let (kh, kw) = (h / 256, w / 256);
        avg_pool2d(img, AvgPoolOptions::new([kh, kw]).with_stride([kh, kw]))
    } else {
        adaptive_avg_pool2d(img, [256, 256])
    }
}

/// The official noise-map penalty: squared mean autocorrelation at lag 1 along both axes, at
/// every scale from the map's own down to 8×8 (2×2 average pooling between scales).
pub fn noise_penalty(maps: &[Tensor<4>]) -> Option<Tensor<1>> {
    let mut total: Option<Tensor<1>> = None;
    for m in maps {
        let mut n = m.clone();
        loop {
            for dim in [3, 2] {
                let c = (n.clone() * n.clone().roll_dim(1, dim)).mean().square();
                total = Some(match total {
                    None => c,
                    Some(t) => t + c,
                });
            }
            if n.dims()[2] <= 8 {
                break;
            }
            n = avg_pool2d(n, AvgPoolOptions::new([2, 2]).with_stride([2, 2]));
        }
    }
    total
}

fn host_tensor(v: Vec<f64>, device: &burn::tensor::Device) -> Tensor<1> {
    let n = v.len();
    Tensor::from_data(
        TensorData::new(v.into_iter().map(|x| x as f32).collect::<Vec<_>>(), [n]),
        device,
    )
}

/// Project `target` (`[1, C, R, R]` in [-1, 1]) into `cfg.space`. `stats` are computed when not
/// given (they only depend on the network: pass them in when projecting many images).
/// `on_step` sees every step (progress bars, logs).
pub fn project(
    g: &Generator,
    lpips: &Lpips,
    target: &Tensor<4>,
    cfg: &ProjectorConfig,
    stats: Option<&LatentStats>,
    on_step: &mut dyn FnMut(&StepInfo),
) -> Result<Projection> {
    g.require_w("projection")?;
    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    if target.dims() != [1, c, r, r] {
        return Err(Error::InvalidArgument(format!(
            "the target has shape {:?}, the network makes [1, {c}, {r}, {r}]",
            target.dims()
        )));
    }
    if c != 3 {
        return Err(Error::InvalidArgument(format!(
            "LPIPS compares RGB images; this network makes {c}-channel images"
        )));
    }
    if cfg.steps == 0 {
        return Err(Error::InvalidArgument(
            "projection needs at least 1 step".into(),
        ));
    }
    if cfg.space == Space::S {
        g.synthesis.sg2("projection into StyleSpace (S)")?;
    }
    match (cfg.space, cfg.prior) {
        (Space::Z, _) => {
            return Err(Error::InvalidArgument(
                "projection works in w, wplus or s (z is not invertible through the mapping)"
                    .into(),
            ))
        }
        (Space::W | Space::WPlus, Prior::GaussianS { .. }) => {
            return Err(Error::InvalidArgument(
                "the Gaussian prior acts on StyleSpace: project in S to use it".into(),
            ))
        }
        _ => {}
    }
    let own_stats;
    let stats = match stats {
        Some(s) => s,
        None => {
            own_stats = latent_stats(g, cfg.stat_samples, STATS_SEED, cfg.class)?;
            &own_stats
        }
    };
    let device = g.device().clone();
    let (num_ws, w_dim) = (g.num_ws(), g.config.w_dim);
    // The styles' shapes (batch 1), for unflattening S, and the S statistics.
    let (template, s_stats): (Vec<BlockStyles>, _) = if cfg.space == Space::S {
        let t = g
            .synthesis
            .styles(&broadcast(stats.w_avg.clone().reshape([1, w_dim]), num_ws))?;
        (t, Some(stats.s()?))
    } else {
        (vec![], None)
    };
    let dim_s = s_stats.map_or(0, |(m, _)| m.dims()[0]);

    // Variables: the latent (flat) and the noise maps.
    let mut rng = RandomState::new(cfg.seed);
    let mut vars = BTreeMap::new();
    let init = match cfg.space {
        Space::W => stats.w_avg.clone(),
        Space::WPlus => stats
            .w_avg
            .clone()
            .reshape([1, w_dim])
            .repeat_dim(0, num_ws)
            .reshape([-1]),
        _ => Tensor::zeros([dim_s], &device),
    };
    let latent_shape = init.dims().to_vec();
    vars.insert("latent".to_string(), (latent_shape, init));
    let noise_names: Vec<(String, [usize; 2])> = g
        .synthesis
        .noise_maps()
        .into_iter()
        .map(|(n, t)| (n, t.dims()))
        .collect();
    for (i, (_, [h, w])) in noise_names.iter().enumerate() {
        let t = if cfg.optimize_noise {
            host_tensor(rng.randn(h * w), &device)
        } else {
            g.synthesis.noise_maps()[i].1.clone().reshape([h * w])
        };
        vars.insert(format!("noise{i:03}"), (vec![h * w], t));
    }
    let mut vars = ParamSet::new("projector", vars, &device);
    let mut adam = Adam::new(AdamConfig {
        lr: cfg.initial_lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    });
    let target_emb: Vec<Tensor<4>> = lpips.embed(perceptual_input(target.clone()));
    let spread = match cfg.space {
        Space::S => 1.0, // whitened coordinates
        _ => stats.w_std,
    };
    // The latent from its flat variable (plus exploration noise `jitter`).
    let to_latent = |flat: Tensor<1>| -> Result<Latent> {
        Ok(match cfg.space {
            Space::W => Latent::W(flat.reshape([1, w_dim])),
            Space::WPlus => Latent::WPlus(flat.reshape([1, num_ws, w_dim])),
            _ => {
                let (mean, std) = s_stats.expect("S statistics for an S projection");
                let s = mean.clone() + std.clone() * flat;
                Latent::S(s_unflatten(s.reshape([1, dim_s]), &template)?)
            }
        })
    };
    let trainable = |name: &str| name == "latent" || cfg.optimize_noise;
    let mut history = Vec::with_capacity(cfg.steps);
    let mut frames = Vec::new();
    for step in 0..cfg.steps {
        let leaves = vars.leaves(&trainable);
        let lat = leaves["latent"].1.clone();
        let n_lat = lat.dims()[0];
        let jitter = host_tensor(
            rng.randn(n_lat)
                .into_iter()
                .map(|v| v * spread * cfg.noise_scale(step))
                .collect(),
            &device,
        );
        let mut g_step = g.clone();
        let maps: Vec<(String, Tensor<2>)> = noise_names
            .iter()
            .enumerate()
            .map(|(i, (name, [h, w]))| {
                (
                    name.clone(),
                    leaves[&format!("noise{i:03}")].1.clone().reshape([*h, *w]),
                )
            })
            .collect();
        g_step.synthesis.set_noise_maps(&maps)?;
        let img = to_latent(lat.clone() + jitter)?.generate(&g_step, NoiseMode::Const)?;
        let dist = lpips
            .distance_embedded(&target_emb, &lpips.embed(perceptual_input(img)))?
            .sum();
        let mut loss = dist.clone();
        if cfg.optimize_noise && cfg.noise_reg != 0.0 {
            let m4: Vec<Tensor<4>> = maps
                .iter()
                .map(|(_, t)| {
                    let [h, w] = t.dims();
                    t.clone().reshape([1, 1, h, w])
                })
                .collect();
            if let Some(p) = noise_penalty(&m4) {
                loss = loss + p.mul_scalar(cfg.noise_reg as f32);
            }
        }
        if let Prior::GaussianS { weight } = cfg.prior {
            loss = loss + lat.clone().square().mean().mul_scalar(weight as f32);
        }
        let info = StepInfo {
            step,
            dist: to_vec(&dist)?[0] as f64,
            loss: to_vec(&loss)?[0] as f64,
        };
        if !info.loss.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "projection diverged at step {step} (loss {})",
                info.loss
            )));
        }
        let grads = loss.backward();
        let mut g_map = BTreeMap::new();
        for (name, (_, leaf)) in &leaves {
            if trainable(name) {
                if let Some(gr) = leaf.grad(&grads) {
                    g_map.insert(name.clone(), gr);
                }
            }
        }
        drop(grads);
        adam.config.lr = cfg.lr(step);
        adam.step(&mut vars, g_map)?;
        if cfg.optimize_noise {
            for i in 0..noise_names.len() {
                let name = format!("noise{i:03}");
                let t = vars.get(&name)?.clone();
                let t = t.clone() - t.mean();
                let t = t.clone() / t.clone().square().mean().sqrt();
                vars.set(&name, t);
            }
        }
        history.push(info);
        on_step(&info);
        if let Some(k) = cfg.record_every {
            if k > 0 && (step % k == 0 || step + 1 == cfg.steps) {
                frames.push((step, to_latent(vars.get("latent")?.clone())?));
            }
        }
    }
    let latent = to_latent(vars.get("latent")?.clone())?;
    let noise = noise_names
        .iter()
        .enumerate()
        .map(|(i, (name, [h, w]))| {
            Ok((
                name.clone(),
                vars.get(&format!("noise{i:03}"))?.clone().reshape([*h, *w]),
            ))
        })
        .collect::<Result<_>>()?;
    Ok(Projection {
        latent,
        noise,
        history,
        frames,
    })
}
