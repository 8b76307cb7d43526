//! Statistics of the latent distribution that projection starts from and is regularised by:
//! the mean and spread of w (official `projector.py`: 10 000 samples of
//! `RandomState(123).randn`), and the per-channel mean and standard deviation of StyleSpace S
//! (the diagonal Gaussian of the S prior).

use burn::tensor::{Tensor, TensorData};

use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::latent::space::s_flatten;
use crate::latent::{broadcast, Latent, RandomState};
use crate::models::Generator;

/// The seed of the official projector's w samples.
pub const STATS_SEED: u32 = 123;
/// How many samples the official projector measures.
pub const STATS_SAMPLES: usize = 10_000;

/// Mean and spread of w and S under the mapping of `z ~ N(0, I)`.
#[derive(Clone, Debug)]
pub struct LatentStats {
    /// Mean w `[w_dim]`.
    pub w_avg: Tensor<1>,
    /// `sqrt(Σ‖w − w_avg‖² / N)` (one number, as the official projector computes it).
    pub w_std: f64,
    /// Mean of the flattened StyleSpace vector `[dim_S]` (None for families without a
    /// StyleSpace, see [`LatentStats::s`]).
    pub s_mean: Option<Tensor<1>>,
    /// Per-channel standard deviation of S `[dim_S]` (floored at 1e-8 of the largest).
    pub s_std: Option<Tensor<1>>,
    pub samples: usize,
}

/// Sample `samples` latents (z from `RandomState(seed)`, as one `randn(samples, z_dim)` draw)
/// and measure w and S. `class` is the label for conditional networks.
pub fn latent_stats(
    g: &Generator,
    samples: usize,
    seed: u32,
    class: Option<usize>,
) -> Result<LatentStats> {
    latent_stats_with_progress(g, samples, seed, class, &mut |_, _| {})
}

/// [`latent_stats`], calling `progress(sampled, samples)` after each batch.
pub fn latent_stats_with_progress(
    g: &Generator,
    samples: usize,
    seed: u32,
    class: Option<usize>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<LatentStats> {
    if samples < 2 {
        return Err(Error::InvalidArgument(format!(
            "latent statistics need at least 2 samples, got {samples}"
        )));
    }
    let (z_dim, w_dim) = (g.config.z_dim, g.config.w_dim);
    let z_all = RandomState::new(seed).randn(samples * z_dim);
    let device = g.device().clone();
    // StyleSpace statistics where the family has one (StyleGAN2).
    let has_s = g.synthesis.sg2("StyleSpace").is_ok();
    let mut w_sum = vec![0f64; w_dim];
    let mut ws_host: Vec<f32> = Vec::with_capacity(samples * w_dim);
    let (mut s_sum, mut s_sq): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    const BATCH: usize = 500;
    for start in (0..samples).step_by(BATCH) {
        let n = BATCH.min(samples - start);
        let z: Vec<f32> = z_all[start * z_dim..(start + n) * z_dim]
            .iter()
            .map(|&v| v as f32)
            .collect();
        let z = Tensor::from_data(TensorData::new(z, [n, z_dim]), &device);
        let w = g.map(z, g.label(class, n)?)?;
        let s = has_s
            .then(|| g.synthesis.styles(&broadcast(w.clone(), g.num_ws())))
            .transpose()?;
        let w = to_vec(&w)?;
        for (i, v) in w.iter().enumerate() {
            w_sum[i % w_dim] += *v as f64;
        }
        ws_host.extend(w);
        progress(start + n, samples);
        let Some(s) = s else { continue };
        let s = to_vec(&s_flatten(&s))?;
        let dim_s = s.len() / n;
        if s_sum.is_empty() {
            s_sum = vec![0.0; dim_s];
            s_sq = vec![0.0; dim_s];
        }
        for (i, v) in s.iter().enumerate() {
            let (k, v) = (i % dim_s, *v as f64);
            s_sum[k] += v;
            s_sq[k] += v * v;
        }
    }
    let nf = samples as f64;
    let w_avg: Vec<f64> = w_sum.iter().map(|v| v / nf).collect();
    let sq: f64 = ws_host
        .iter()
        .enumerate()
        .map(|(i, &v)| (v as f64 - w_avg[i % w_dim]).powi(2))
        .sum();
    let w_std = (sq / nf).sqrt();
    let s_mean: Vec<f64> = s_sum.iter().map(|v| v / nf).collect();
    let mut s_std: Vec<f64> = s_sq
        .iter()
        .zip(&s_mean)
        .map(|(q, m)| (q / nf - m * m).max(0.0).sqrt())
        .collect();
    let floor = s_std.iter().cloned().fold(0.0, f64::max) * 1e-8;
    s_std.iter_mut().for_each(|v| *v = v.max(floor).max(1e-12));
    let t = |v: Vec<f64>| {
        let n = v.len();
        Tensor::<1>::from_data(
            TensorData::new(v.into_iter().map(|x| x as f32).collect::<Vec<_>>(), [n]),
            &device,
        )
    };
    Ok(LatentStats {
        w_avg: t(w_avg),
        w_std,
        s_mean: has_s.then(|| t(s_mean)),
        s_std: has_s.then(|| t(s_std)),
        samples,
    })
}

impl LatentStats {
    /// The StyleSpace mean and standard deviation, or an error for a family without S.
    pub fn s(&self) -> Result<(&Tensor<1>, &Tensor<1>)> {
        match (&self.s_mean, &self.s_std) {
            (Some(m), Some(s)) => Ok((m, s)),
            _ => Err(Error::InvalidArgument(
                "StyleSpace (S) is not available for this network's family (StyleGAN2 only)".into(),
            )),
        }
    }

    /// How far a latent (batch of one) lies from the typical sample, in squared spreads:
    /// `‖w − w_avg‖² / w_std²` for w (averaged over layers for W+), the mean of
    /// `((s − μ)/σ)²` for S. A typical sample scores about 1; far larger values mean the
    /// latent left the distribution the network was trained on (poor editability).
    pub fn atypicality(&self, latent: &Latent) -> Result<f64> {
        let sq = |t: Tensor<1>| -> Result<f64> { Ok(to_vec(&t.square().sum())?[0] as f64) };
        match latent {
            Latent::W(w) => {
                let d = w.clone().reshape([-1]) - self.w_avg.clone();
                Ok(sq(d)? / (self.w_std * self.w_std))
            }
            Latent::WPlus(ws) => {
                let [n, k, d] = ws.dims();
                let diff = ws.clone() - self.w_avg.clone().reshape([1, 1, d]);
                Ok(sq(diff.reshape([-1]))? / (self.w_std * self.w_std) / (n * k) as f64)
            }
            Latent::S(styles) => {
                let s = s_flatten(styles);
                let [n, d] = s.dims();
                let (mean, std) = self.s()?;
                let u = (s - mean.clone().reshape([1, d])) / std.clone().reshape([1, d]);
                Ok(sq(u.reshape([-1]))? / (n * d) as f64)
            }
            Latent::Z { .. } => Err(Error::InvalidArgument(
                "atypicality is measured in w, W+ or S".into(),
            )),
        }
    }
}
