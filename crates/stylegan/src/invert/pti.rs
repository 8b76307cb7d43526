//! Pivotal tuning (PTI, Roich et al. 2021): keep a projected latent — the pivot — fixed and
//! fine-tune the synthesis network until the pivot reproduces the target, while a locality
//! term keeps images of latents near the pivot as the original network made them.
//!
//! Recipe (the PTI repository's defaults): Adam, lr 3e-4, 350 steps; loss
//! `LPIPS(G(p), x) + 1 · MSE(G(p), x)`; locality: a latent `x_r` at distance `α` from the pivot
//! toward a random sample (truncated at ψ 0.5), `0.1 · MSE + 0.1 · LPIPS` between the tuned and
//! the original network's images of `x_r`. PTI's α = 30 is in FFHQ's w units; here α is in
//! units of the latent's spread (the official `w_std`, the RMS distance of a sample to the
//! mean), so one setting fits any network. The mapping network is frozen, so the pivot and
//! every direction found on the original network keep their meaning; the pivot may be w, W+ or S.
//!
//! The tuned generator carries the pivot's noise maps as its `noise_const` buffers, so
//! `NoiseMode::Const` reproduces the tuned reconstruction.

use burn::tensor::{Tensor, TensorData};

use super::projection::{flatten, Projection};
use super::stats::LatentStats;
use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::latent::space::s_unflatten;
use crate::latent::{broadcast, Latent, RandomState, Space};
use crate::models::{Generator, NoiseMode};
use crate::optim::{is_buffer, ParamSet};
use crate::optim::{Adam, AdamConfig};
use crate::perceptual::Lpips;

/// Locality regularisation settings.
#[derive(Clone, Copy, Debug)]
pub struct Locality {
    /// Distance of the regularisation latent from the pivot, in units of the latent's spread.
    pub alpha: f64,
    pub l2_weight: f64,
    pub lpips_weight: f64,
    /// Truncation of the random sample that sets the direction.
    pub psi: f64,
}

impl Default for Locality {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            l2_weight: 0.1,
            lpips_weight: 0.1,
            psi: 0.5,
        }
    }
}

/// PTI settings; [`Default`] is the PTI repository's recipe with locality regularisation on.
#[derive(Clone, Debug)]
pub struct PtiConfig {
    pub steps: usize,
    pub lr: f64,
    pub lpips_weight: f64,
    pub l2_weight: f64,
    pub locality: Option<Locality>,
    /// Seeds the locality samples.
    pub seed: u32,
}

impl Default for PtiConfig {
    fn default() -> Self {
        Self {
            steps: 350,
            lr: 3e-4,
            lpips_weight: 1.0,
            l2_weight: 1.0,
            locality: Some(Locality::default()),
            seed: 0,
        }
    }
}

/// One tuning step's numbers.
#[derive(Clone, Copy, Debug)]
pub struct PtiStep {
    pub step: usize,
    /// LPIPS between the pivot's image and the target.
    pub lpips: f64,
    /// MSE between them (images in [-1, 1]).
    pub mse: f64,
    /// The whole loss.
    pub loss: f64,
}

/// The parameters PTI tunes: the synthesis network's (not its buffers, not the mapping).
pub fn is_tuned(name: &str) -> bool {
    name.starts_with("synthesis.") && !is_buffer(name)
}

/// A latent at distance `alpha · spread` from `pivot` toward `sample` (same space).
fn toward(
    pivot: &Latent,
    sample: Latent,
    g: &Generator,
    alpha: f64,
    spread: f64,
) -> Result<Latent> {
    let sample = sample.to_space(g, pivot.space())?;
    let (p, q) = (flatten(pivot)?, flatten(&sample)?);
    let d = q - p.clone();
    let norm = (to_vec(&d.clone().square().sum())?[0] as f64)
        .sqrt()
        .max(1e-12);
    let r = p + d.mul_scalar((alpha * spread / norm) as f32);
    Ok(match pivot {
        Latent::W(w) => Latent::W(r.reshape(w.dims())),
        Latent::WPlus(ws) => Latent::WPlus(r.reshape(ws.dims())),
        Latent::S(s) => Latent::S(s_unflatten(r.reshape([1, -1]), s)?),
        Latent::Z { .. } => unreachable!("checked above"),
    })
}

/// Fine-tune `g` around `pivot` so that it reproduces `target` (`[1, C, R, R]` in [-1, 1]).
/// Returns the tuned generator (with the pivot's noise maps) and the per-step numbers.
pub fn pivotal_tuning(
    g: &Generator,
    lpips: &Lpips,
    target: &Tensor<4>,
    pivot: &Projection,
    stats: &LatentStats,
    cfg: &PtiConfig,
    on_step: &mut dyn FnMut(&PtiStep),
) -> Result<(Generator, Vec<PtiStep>)> {
    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    if target.dims() != [1, c, r, r] {
        return Err(Error::InvalidArgument(format!(
            "the target has shape {:?}, the network makes [1, {c}, {r}, {r}]",
            target.dims()
        )));
    }
    if pivot.latent.batch() != 1 {
        return Err(Error::InvalidArgument(format!(
            "the pivot must be one latent, got a batch of {}",
            pivot.latent.batch()
        )));
    }
    if cfg.steps == 0 {
        return Err(Error::InvalidArgument(
            "pivotal tuning needs at least 1 step".into(),
        ));
    }
    let device = g.device().clone();
    let base = pivot.generator(g)?;
    let mut params = ParamSet::from_entry(&base.to_entry(), &device);
    let mut adam = Adam::new(AdamConfig {
        lr: cfg.lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    });
    let target_emb = lpips.embed(target.clone());
    let spread = match pivot.space() {
        Space::W => stats.w_std,
        Space::WPlus => stats.w_std * (g.num_ws() as f64).sqrt(),
        _ => (to_vec(&stats.s()?.1.clone().square().sum())?[0] as f64).sqrt(),
    };
    let mut rng = RandomState::new(cfg.seed);
    let mut history = Vec::with_capacity(cfg.steps);
    for step in 0..cfg.steps {
        let leaves = params.leaves(&is_tuned);
        let tuned = params.generator(leaves.clone())?;
        let img = pivot.latent.clone().generate(&tuned, NoiseMode::Const)?;
        let d_lpips = lpips
            .distance_embedded(&target_emb, &lpips.embed(img.clone()))?
            .sum();
        let mse = (img - target.clone()).square().mean();
        let mut loss = d_lpips.clone().mul_scalar(cfg.lpips_weight as f32)
            + mse.clone().mul_scalar(cfg.l2_weight as f32);
        if let Some(loc) = cfg.locality {
            let z: Vec<f32> = rng
                .randn(g.config.z_dim)
                .into_iter()
                .map(|v| v as f32)
                .collect();
            let z = Tensor::from_data(TensorData::new(z, [1, g.config.z_dim]), &device);
            let w_avg = g.mapping.w_avg().cloned().ok_or_else(|| {
                Error::InvalidArgument("locality regularisation needs w_avg".into())
            })?;
            let w_z = g.map(z, g.label(None, 1)?)?;
            let w_z = crate::latent::truncate(broadcast(w_z, g.num_ws()), &w_avg, loc.psi, None)?;
            let w_z = Latent::W(w_z.narrow(1, 0, 1).reshape([1, g.config.w_dim]));
            let x_r = toward(&pivot.latent, w_z, g, loc.alpha, spread)?;
            let want = x_r.clone().generate(&base, NoiseMode::Const)?;
            let got = x_r.generate(&tuned, NoiseMode::Const)?;
            let reg_l2 = (got.clone() - want.clone()).square().mean();
            let reg_lp = lpips.distance(got, want)?.sum();
            loss = loss
                + reg_l2.mul_scalar(loc.l2_weight as f32)
                + reg_lp.mul_scalar(loc.lpips_weight as f32);
        }
        let info = PtiStep {
            step,
            lpips: to_vec(&d_lpips)?[0] as f64,
            mse: to_vec(&mse)?[0] as f64,
            loss: to_vec(&loss)?[0] as f64,
        };
        if !info.loss.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "pivotal tuning diverged at step {step} (loss {})",
                info.loss
            )));
        }
        let grads = loss.backward();
        let mut g_map = std::collections::BTreeMap::new();
        for (name, (_, leaf)) in &leaves {
            if is_tuned(name) {
                if let Some(gr) = leaf.grad(&grads) {
                    g_map.insert(name.clone(), gr);
                }
            }
        }
        drop(grads);
        adam.step(&mut params, g_map)?;
        history.push(info);
        on_step(&info);
    }
    let tuned = params.generator(params.leaves(&|_| false))?;
    Ok((tuned, history))
}
