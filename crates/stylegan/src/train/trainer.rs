//! The training step (official `training/loss.py` + `training_loop.py`): phases Gmain, Greg
//! (lazy path length), Dmain, Dreg (lazy R1), each followed by its optimiser step; then G_ema
//! and the ADA probability. Snapshots hold everything a resumed run needs. StyleGAN3 runs the
//! same phases with its recipe ([`TrainOptions::for_cfg`]): no style mixing, no path length,
//! the layers' input-magnitude EMAs updated in the Dmain generator pass, and (config R) the
//! images D sees blurred with a Gaussian whose σ fades out.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::{json, Value};

use super::augment::{self, AugmentPipe};
use super::data::{check_compatible, gen_labels, real_batch, TrainingData};
use super::options::{AugMode, TrainOptions};
use super::regularizers;
use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, NetworkEntry, RawTensor};
use crate::latent::{self, RandomState};
use crate::models::{Discriminator, Generator, GeneratorConfig, NoiseMode};
use crate::optim::adam::{Adam, AdamConfig};
use crate::optim::ParamSet;

/// An error when a training quantity went NaN or infinite at `nimg` images: training stops
/// there, before any optimiser step or snapshot with it.
pub(super) fn check_finite(what: &str, v: f64, nimg: u64) -> Result<()> {
    if v.is_finite() {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "training diverged at {nimg} images: {what} is {v}; stopped without writing a snapshot of \
         this state (the last snapshot on disk is the last good one; lower the learning rates or gamma)"
    )))
}

/// `torch.nan_to_num(grad, nan=0, posinf=1e5, neginf=-1e5)`, as the official
/// `training_loop.py` applies to every gradient before the optimiser step.
pub(super) fn nan_to_num(g: Tensor<1>) -> Tensor<1> {
    let g = g.clone().mask_fill(g.is_nan(), 0.0);
    let inf = g.clone().is_inf();
    let clamped = g.clone().clamp(-1e5, 1e5);
    g.mask_where(inf, clamped)
}

/// Write a training snapshot atomically: the networks `[G, D, G_ema]`, the optimiser state
/// `tensors` and `meta` — only ever a good state: one with NaN or infinite values (after
/// `nimg` images) is refused.
pub(super) fn write_snapshot(
    path: &Path,
    nimg: u64,
    [g, d, e]: [&NetworkEntry; 3],
    meta: &BTreeMap<String, String>,
    tensors: &BTreeMap<String, RawTensor>,
) -> Result<()> {
    let nets = [
        ("G", &g.tensors),
        ("D", &d.tensors),
        ("G_ema", &e.tensors),
        ("optimiser state", tensors),
    ];
    for (net, ts) in nets {
        if let Some((name, _)) = ts
            .iter()
            .find(|(_, t)| t.data.iter().any(|v| !v.is_finite()))
        {
            return Err(Error::InvalidArgument(format!(
                "training diverged by {nimg} images: {net} tensor '{name}' holds NaN or infinite \
                 values; not writing {} (the last snapshot on disk is the last good one)",
                path.display()
            )));
        }
    }
    Checkpoint::write_with_state(path, &[("G", g), ("D", d), ("G_ema", e)], meta, tensors)
}

/// A training snapshot's checkpoint (with G, D and G_ema) and its state JSON under `key`.
pub(super) fn read_snapshot(path: &Path, key: &str) -> Result<(Checkpoint, Value)> {
    let ckpt = Checkpoint::read(path)?;
    for p in ["G", "D", "G_ema"] {
        if !ckpt.networks.contains_key(p) {
            return Err(Error::format(
                path,
                format!("is not a training snapshot: it has no '{p}' network"),
            ));
        }
    }
    let state: Value = ckpt
        .extra_metadata
        .get(key)
        .ok_or_else(|| {
            Error::format(
                path,
                format!("is not a training snapshot of this kind: no '{key}' metadata"),
            )
        })
        .and_then(|s| {
            serde_json::from_str(s).map_err(|err| Error::format(path, format!("'{key}': {err}")))
        })?;
    Ok((ckpt, state))
}

/// Losses and statistics of one minibatch (NaN where a phase did not run).
#[derive(Clone, Debug, Default)]
pub struct StepStats {
    pub loss_g: f64,
    pub loss_d_real: f64,
    pub loss_d_gen: f64,
    pub r1_penalty: f64,
    pub pl_penalty: f64,
    pub pl_mean: f64,
    pub ada_p: f64,
    /// ADA's overfitting heuristic E[sign(D(real))] over the last adjustment interval.
    pub ada_rt: f64,
}

/// Training state: the three networks, both optimisers, counters and the regularisers' state.
pub struct Trainer {
    pub opts: TrainOptions,
    pub g: ParamSet,
    pub d: ParamSet,
    pub g_ema: ParamSet,
    g_opt: Adam,
    d_opt: Adam,
    pub pl_mean: f64,
    pub ada_p: f64,
    ada_signs: (f64, usize),
    pub cur_nimg: u64,
    pub batch_idx: u64,
    device: Device,
}

/// What every phase of one minibatch reads: the data shape, the batch, the seed and index.
struct StepContext {
    res: usize,
    ch: usize,
    c_dim: usize,
    batch: usize,
    z_dim: usize,
    seed: u32,
    bi: u64,
    dev: Device,
}

/// The minibatch of reals, with its labels and augmentation parameters.
struct Reals {
    x: Tensor<4>,
    c: Option<Tensor<2>>,
    aug: Option<augment::Params>,
}

/// Metadata key of the trainer state in a snapshot.
pub const STATE_KEY: &str = "train.state";

fn phase_rng(seed: u32, batch_idx: u64, phase: u32) -> RandomState {
    RandomState::from_array(&[seed, batch_idx as u32, (batch_idx >> 32) as u32, phase])
}

fn randn(rng: &mut RandomState, shape: [usize; 2], device: &Device) -> Tensor<2> {
    let v: Vec<f32> = rng
        .randn(shape[0] * shape[1])
        .into_iter()
        .map(|x| x as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

fn scalar(t: Tensor<1>) -> Result<f64> {
    Ok(to_vec(&t)?[0] as f64)
}

impl Trainer {
    /// Start from networks (fresh or a parent to fine-tune). `G_ema` starts as a copy of G.
    pub fn new(
        opts: TrainOptions,
        g: &NetworkEntry,
        d: &NetworkEntry,
        device: &Device,
    ) -> Result<Self> {
        let g = ParamSet::from_entry(g, device);
        let d = ParamSet::from_entry(d, device);
        // Check both build and fit together before any work.
        let gn = g.generator(g.leaves(&|_| false))?;
        let dn = d.discriminator(d.leaves(&|_| false))?;
        if gn.config.img_resolution != dn.config.img_resolution
            || gn.config.img_channels != dn.config.img_channels
            || gn.config.c_dim != dn.config.c_dim
        {
            return Err(Error::Config(format!(
                "G makes {}-channel {}² images with c_dim {}, D takes {}-channel {}² with c_dim {}",
                gn.config.img_channels,
                gn.config.img_resolution,
                gn.config.c_dim,
                dn.config.img_channels,
                dn.config.img_resolution,
                dn.config.c_dim
            )));
        }
        opts.check()?;
        let n_blocks = dn.config.img_resolution.trailing_zeros() as usize - 1;
        if opts.freeze_d > n_blocks {
            return Err(Error::InvalidArgument(format!(
                "cannot freeze {} discriminator blocks: a {r}x{r} discriminator has {n_blocks} (b{r} down to b4)",
                opts.freeze_d,
                r = dn.config.img_resolution
            )));
        }
        let ada_p = match opts.aug {
            AugMode::Fixed { p } => p,
            _ => 0.0,
        };
        Ok(Self {
            g_opt: Adam::new(Self::adam(opts.glr, opts.g_reg_interval)),
            d_opt: Adam::new(Self::adam(opts.dlr, opts.d_reg_interval)),
            g_ema: g.clone(),
            g,
            d,
            opts,
            pl_mean: 0.0,
            ada_p,
            ada_signs: (0.0, 0),
            cur_nimg: 0,
            batch_idx: 0,
            device: device.clone(),
        })
    }

    fn adam(lr: f64, interval: Option<usize>) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: 0.0,
            beta2: 0.99,
            eps: 1e-8,
        }
        .lazy(interval)
    }

    /// The generator to sample from (G_ema).
    pub fn g_ema(&self) -> Result<Generator> {
        self.g_ema.generator(self.g_ema.leaves(&|_| false))
    }

    fn g_trainable(&self) -> impl Fn(&str) -> bool + '_ {
        move |name: &str| {
            !(self.opts.freeze_mapping && name.starts_with("mapping."))
                && !(self.opts.freeze_affine && name.contains(".affine."))
        }
    }

    fn d_trainable(&self) -> impl Fn(&str) -> bool {
        // D blocks run from the image resolution down: b{R}, b{R/2}, ...
        let res = self
            .d
            .init_kwargs
            .get("img_resolution")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let frozen: Vec<String> = (0..self.opts.freeze_d.min(usize::BITS as usize - 1))
            .map(|i| format!("b{}.", res >> i))
            .filter(|p| p != "b4." || res == 4)
            .collect();
        move |name: &str| !frozen.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// Mapping with style mixing as the official `run_G` does it: with probability
    /// `mixing_prob`, the ws from one random layer on (one cutoff per batch) come from a second z.
    fn mixed_ws(
        g: &Generator,
        z: Tensor<2>,
        c: Option<Tensor<2>>,
        mixing_prob: f64,
        rng: &mut RandomState,
    ) -> Result<Tensor<3>> {
        let num_ws = g.num_ws();
        let mut ws = latent::broadcast(g.map(z.clone(), c.clone())?, num_ws);
        if mixing_prob > 0.0 {
            let cutoff = 1 + ((rng.random_sample() * (num_ws - 1) as f64) as usize).min(num_ws - 2);
            let cutoff = if rng.random_sample() < mixing_prob {
                cutoff
            } else {
                num_ws
            };
            let z2 = randn(rng, z.dims(), &z.device());
            if cutoff < num_ws {
                let ws2 = latent::broadcast(g.map(z2, c)?, num_ws);
                ws = Tensor::cat(
                    vec![
                        ws.narrow(1, 0, cutoff),
                        ws2.narrow(1, cutoff, num_ws - cutoff),
                    ],
                    1,
                );
            }
        }
        Ok(ws)
    }

    /// `run_G` of the official loss: [`Self::mixed_ws`], then synthesis with seeded random
    /// noise. Returns the image and the ws it was made from.
    fn run_g(
        g: &Generator,
        z: Tensor<2>,
        c: Option<Tensor<2>>,
        mixing_prob: f64,
        rng: &mut RandomState,
    ) -> Result<(Tensor<4>, Tensor<3>)> {
        let ws = Self::mixed_ws(g, z, c, mixing_prob, rng)?;
        let noise = NoiseMode::Seeded(rng.next_u32() as u64 | (rng.next_u32() as u64) << 32);
        let img = g.synthesis.forward(&ws, noise)?;
        Ok((img, ws))
    }

    /// What D sees (official `run_D`): the blur of StyleGAN3-R's recipe, then augmentation.
    fn augment(&self, x: Tensor<4>, params: &Option<augment::Params>) -> Tensor<4> {
        let x = self.blur(x);
        match params {
            Some(p) => AugmentPipe::apply(x, p),
            None => x,
        }
    }

    /// `filter2d` with a Gaussian of σ = `max(1 − cur_nimg / (fade·1000), 0) · blur_init_sigma`
    /// (taps `exp2(−(k/σ)²)` for |k| ≤ ⌊3σ⌋, normalised); nothing when σ < 1/3.
    fn blur(&self, x: Tensor<4>) -> Tensor<4> {
        let o = &self.opts;
        let sigma = if o.blur_fade_kimg > 0.0 {
            (1.0 - self.cur_nimg as f64 / (o.blur_fade_kimg * 1e3)).max(0.0) * o.blur_init_sigma
        } else {
            0.0
        };
        let size = (sigma * 3.0).floor();
        if size <= 0.0 {
            return x;
        }
        let taps: Vec<f64> = (-(size as i64)..=size as i64)
            .map(|k| (-(k as f64 / sigma).powi(2)).exp2())
            .collect();
        let sum: f64 = taps.iter().sum();
        let taps: Vec<f32> = taps.iter().map(|t| (t / sum) as f32).collect();
        let k = taps.len() as i64;
        let f = crate::ops::filtered_lrelu::LowPass::separable(taps, &x.device());
        f.upfirdn2d(x, 1, 1, [k / 2, (k - 1) / 2, k / 2, (k - 1) / 2], 1.0)
    }

    fn aug_params(&self, n: usize, res: usize, rng: &mut RandomState) -> Option<augment::Params> {
        (self.ada_p > 0.0).then(|| augment::Params::sample(n, res, self.ada_p, rng))
    }

    /// Gradients of the leaves in `leaves` that kept one.
    fn collect(
        leaves: &BTreeMap<String, (Vec<usize>, Tensor<1>)>,
        grads: &burn::tensor::Gradients,
    ) -> BTreeMap<String, Tensor<1>> {
        leaves
            .iter()
            .filter_map(|(k, (_, t))| t.grad(grads).map(|g| (k.clone(), nan_to_num(g))))
            .collect()
    }

    /// The generator's (resolution, channels, c_dim).
    fn shape(&self) -> Result<(usize, usize, usize)> {
        let c = GeneratorConfig::from_init_kwargs(&self.g.class_name, &self.g.init_kwargs)?;
        Ok((c.img_resolution, c.img_channels, c.c_dim))
    }

    /// Whether `data` can train these networks (resolution, channels, labels).
    pub fn check_data(&self, data: &dyn TrainingData) -> Result<()> {
        let (res, ch, c_dim) = self.shape()?;
        check_compatible(data, res, ch, if self.opts.cond { c_dim } else { 0 })?;
        if c_dim > 0 && !self.opts.cond {
            return Err(Error::InvalidArgument(format!(
                "the network is conditional (c_dim {c_dim}): train it conditionally on a labelled data set"
            )));
        }
        if c_dim == 0 && self.opts.cond {
            return Err(Error::InvalidArgument(
                "conditional training was asked for, but the network is unconditional (c_dim 0)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// One minibatch: all phases due at this `batch_idx`, optimiser steps, EMA, ADA.
    pub fn step(&mut self, data: &dyn TrainingData) -> Result<StepStats> {
        let (res, ch, c_dim) = self.shape()?;
        self.check_data(data)?;
        let cx = StepContext {
            res,
            ch,
            c_dim,
            batch: self.opts.batch,
            z_dim: self
                .g
                .init_kwargs
                .get("z_dim")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize,
            seed: self.opts.seed,
            bi: self.batch_idx,
            dev: self.device.clone(),
        };
        let mut st = StepStats {
            loss_g: f64::NAN,
            loss_d_real: f64::NAN,
            loss_d_gen: f64::NAN,
            r1_penalty: f64::NAN,
            pl_penalty: f64::NAN,
            ..Default::default()
        };
        self.phase_gmain(&cx, data, &mut st)?;
        self.phase_greg(&cx, data, &mut st)?;
        st.pl_mean = self.pl_mean;
        let reals = self.reals(&cx, data);
        self.phase_dmain(&cx, data, &reals, &mut st)?;
        self.phase_dreg(&cx, reals, &mut st)?;
        self.update_g_ema()?;
        self.cur_nimg += cx.batch as u64;
        self.batch_idx += 1;
        self.update_ada(&mut st);
        st.ada_p = self.ada_p;
        Ok(st)
    }

    /// The labels of `n` generated images (None for unconditional networks).
    fn gen_c(
        cx: &StepContext,
        data: &dyn TrainingData,
        n: usize,
        rng: &mut RandomState,
    ) -> Option<Tensor<2>> {
        if cx.c_dim > 0 {
            gen_labels(data, n, rng, &cx.dev)
        } else {
            None
        }
    }

    /// Gmain: softplus(−D(G(z))), D frozen.
    fn phase_gmain(
        &mut self,
        cx: &StepContext,
        data: &dyn TrainingData,
        st: &mut StepStats,
    ) -> Result<()> {
        let o = self.opts.clone();
        let &StepContext {
            res,
            batch,
            z_dim,
            seed,
            bi,
            ref dev,
            ..
        } = cx;
        {
            let mut rng = phase_rng(seed, bi, 1);
            let z = randn(&mut rng, [batch, z_dim], dev);
            let c = Self::gen_c(cx, data, batch, &mut rng);
            let g_leaves = self.g.leaves(&self.g_trainable());
            let g = self.g.generator(g_leaves.clone())?;
            let d = self.d.discriminator(self.d.leaves(&|_| false))?;
            let (img, _) = Self::run_g(&g, z, c.clone(), o.style_mixing_prob, &mut rng)?;
            let aug = self.aug_params(batch, res, &mut rng);
            let logits = d.forward(self.augment(img, &aug), c)?;
            let loss = softplus(logits.neg(), 1.0).mean();
            st.loss_g = scalar(loss.clone().without_autodiff())?;
            check_finite("the generator loss", st.loss_g, self.cur_nimg)?;
            let grads = loss.backward();
            let gr = Self::collect(&g_leaves, &grads);
            self.g_opt.step(&mut self.g, gr)?;
        }

        Ok(())
    }

    /// Greg: lazy path-length regularisation (StyleGAN2).
    fn phase_greg(
        &mut self,
        cx: &StepContext,
        data: &dyn TrainingData,
        st: &mut StepStats,
    ) -> Result<()> {
        let o = self.opts.clone();
        let &StepContext {
            res,
            ch,
            c_dim,
            batch,
            z_dim,
            seed,
            bi,
            ref dev,
            ..
        } = cx;
        if let Some(interval) = o.g_reg_interval.filter(|_| o.pl_weight > 0.0) {
            if bi % interval as u64 == 0 {
                let mut rng = phase_rng(seed, bi, 2);
                let n = (batch / o.pl_batch_shrink.max(1)).max(1);
                let z = randn(&mut rng, [n, z_dim], dev);
                let c = if c_dim > 0 {
                    gen_labels(data, n, &mut rng, dev)
                } else {
                    None
                };
                let g_leaves = self.g.leaves(&self.g_trainable());
                let g = self.g.generator(g_leaves.clone())?;
                let noise =
                    NoiseMode::Seeded(rng.next_u32() as u64 | (rng.next_u32() as u64) << 32);
                // The ws with style mixing, attached to the mapping network.
                let ws = Self::mixed_ws(&g, z, c, o.style_mixing_prob, &mut rng)?;
                let y_vals: Vec<f32> = rng
                    .randn(n * ch * res * res)
                    .into_iter()
                    .map(|v| (v / res as f64) as f32)
                    .collect();
                let y = Tensor::<4>::from_data(TensorData::new(y_vals, [n, ch, res, res]), dev);
                // A fresh network per call: burn cannot backward twice through one graph.
                let synth = |w: Tensor<3>| {
                    let g = self.g.generator(g_leaves.clone())?;
                    g.synthesis.forward(&w, noise)
                };
                let pl = regularizers::path_length(
                    &synth,
                    ws,
                    y,
                    self.pl_mean,
                    o.pl_decay,
                    o.pl_weight,
                    interval as f64,
                    o.reg_eps,
                )?;
                self.pl_mean = pl.pl_mean;
                st.pl_penalty = pl
                    .lengths
                    .iter()
                    .map(|l| (l - pl.pl_mean).powi(2))
                    .sum::<f64>()
                    / n as f64;
                check_finite("the path length penalty", st.pl_penalty, self.cur_nimg)?;
                let grads = pl.surrogate.sum().backward();
                let gr = Self::collect(&g_leaves, &grads);
                self.g_opt.step(&mut self.g, gr)?;
            }
        }
        Ok(())
    }

    /// The minibatch of reals (and their labels, augmentation) that Dmain and Dreg share.
    fn reals(&self, cx: &StepContext, data: &dyn TrainingData) -> Reals {
        let o = &self.opts;
        let &StepContext {
            res,
            c_dim,
            batch,
            seed,
            bi,
            ref dev,
            ..
        } = cx;
        let (real, real_c, real_aug) = {
            let mut rng = phase_rng(seed, bi, 0);
            let (x, c) = real_batch(data, batch, o.mirror, c_dim > 0, &mut rng, dev);
            let aug = self.aug_params(batch, res, &mut rng);
            (x, c, aug)
        };
        Reals {
            x: real,
            c: real_c,
            aug: real_aug,
        }
    }

    /// Dmain: softplus(D(G(z))) + softplus(−D(x)); w_avg (and StyleGAN3's magnitude EMAs)
    /// tracked on the generated batch.
    fn phase_dmain(
        &mut self,
        cx: &StepContext,
        data: &dyn TrainingData,
        reals: &Reals,
        st: &mut StepStats,
    ) -> Result<()> {
        let o = self.opts.clone();
        let &StepContext {
            res,
            batch,
            z_dim,
            seed,
            bi,
            ref dev,
            ..
        } = cx;
        let (real, real_c, real_aug) = (&reals.x, &reals.c, &reals.aug);
        {
            let mut rng = phase_rng(seed, bi, 3);
            let z = randn(&mut rng, [batch, z_dim], dev);
            let c = Self::gen_c(cx, data, batch, &mut rng);
            let g = self.g.generator(self.g.leaves(&|_| false))?;
            let w = g.map(z.clone(), c.clone())?;
            self.update_w_avg(&g, w)?;
            // run_G(update_emas=True): StyleGAN3's layers update their input-magnitude EMAs.
            let img = match &g.config.synthesis {
                crate::models::SynthesisConfig::StyleGan3(s3) => {
                    let ws = Self::mixed_ws(&g, z, c.clone(), o.style_mixing_prob, &mut rng)?;
                    let (img, emas) = g.synthesis.forward_update_emas(
                        &ws,
                        NoiseMode::Const,
                        s3.magnitude_ema_beta,
                    )?;
                    for (name, v) in emas {
                        let t = Tensor::<1>::from_data(TensorData::new(vec![v], [1]), dev);
                        self.g.set(&name, t);
                    }
                    img
                }
                _ => Self::run_g(&g, z, c.clone(), o.style_mixing_prob, &mut rng)?.0,
            };
            let d_leaves = self.d.leaves(&self.d_trainable());
            let d = self.d.discriminator(d_leaves.clone())?;
            let aug = self.aug_params(batch, res, &mut rng);
            let gen_logits = d.forward(self.augment(img.without_autodiff(), &aug), c)?;
            let real_logits = d.forward(self.augment(real.clone(), real_aug), real_c.clone())?;
            let signs: f64 = to_vec(&real_logits.clone().without_autodiff().sign())?
                .iter()
                .map(|&s| s as f64)
                .sum();
            self.ada_signs.0 += signs;
            self.ada_signs.1 += batch;
            let loss_gen = softplus(gen_logits, 1.0).mean();
            let loss_real = softplus(real_logits.neg(), 1.0).mean();
            st.loss_d_gen = scalar(loss_gen.clone().without_autodiff())?;
            st.loss_d_real = scalar(loss_real.clone().without_autodiff())?;
            check_finite(
                "the discriminator loss on fakes",
                st.loss_d_gen,
                self.cur_nimg,
            )?;
            check_finite(
                "the discriminator loss on reals",
                st.loss_d_real,
                self.cur_nimg,
            )?;
            let grads = (loss_gen + loss_real).backward();
            let gr = Self::collect(&d_leaves, &grads);
            self.d_opt.step(&mut self.d, gr)?;
        }

        Ok(())
    }

    /// Dreg: lazy R1 on the reals.
    fn phase_dreg(&mut self, cx: &StepContext, reals: Reals, st: &mut StepStats) -> Result<()> {
        let o = self.opts.clone();
        let &StepContext { bi, .. } = cx;
        let Reals {
            x: real,
            c: real_c,
            aug: real_aug,
        } = reals;
        if let Some(interval) = o.d_reg_interval.filter(|_| o.r1_gamma > 0.0) {
            if bi % interval as u64 == 0 {
                let d_leaves = self.d.leaves(&self.d_trainable());
                let aug = real_aug.clone();
                let run = |x: Tensor<4>| {
                    let d = self.d.discriminator(d_leaves.clone())?;
                    d.forward(self.augment(x, &aug), real_c.clone())
                };
                let r1 = regularizers::r1(&run, real, o.r1_gamma, interval as f64, o.reg_eps)?;
                st.r1_penalty = r1.penalty.iter().sum::<f64>() / r1.penalty.len() as f64;
                check_finite("the R1 penalty", st.r1_penalty, self.cur_nimg)?;
                let grads = r1.surrogate.sum().backward();
                let gr = Self::collect(&d_leaves, &grads);
                self.d_opt.step(&mut self.d, gr)?;
            }
        }

        Ok(())
    }

    /// G_ema (training_loop.py): β = 0.5^(batch / ema_nimg), ema_nimg ramped up; buffers are
    /// copied.
    fn update_g_ema(&mut self) -> Result<()> {
        let o = self.opts.clone();
        let batch = o.batch;
        let mut ema_nimg = o.ema_kimg * 1000.0;
        if let Some(r) = o.ema_rampup {
            ema_nimg = ema_nimg.min(self.cur_nimg as f64 * r);
        }
        let beta = 0.5f64.powf(batch as f64 / ema_nimg.max(1e-8));
        for (name, (_, p)) in &self.g.tensors {
            let e = self.g_ema.get(name)?.clone();
            let new = if crate::optim::params::is_buffer(name) {
                p.clone()
            } else {
                // p_ema.copy_(p.lerp(p_ema, β))
                crate::ops::lerp(p.clone(), e, beta)
            };
            self.g_ema.set(name, new);
        }

        Ok(())
    }

    /// ADA: every ada_interval minibatches, move p by sign(r_t − target).
    fn update_ada(&mut self, st: &mut StepStats) {
        let o = self.opts.clone();
        let batch = o.batch;
        if let AugMode::Ada { target } = o.aug {
            if self.batch_idx.is_multiple_of(o.ada_interval as u64) && self.ada_signs.1 > 0 {
                let rt = self.ada_signs.0 / self.ada_signs.1 as f64;
                let adjust = (rt - target).signum() * (batch * o.ada_interval) as f64
                    / (o.ada_kimg * 1000.0);
                self.ada_p = (self.ada_p + adjust).max(0.0);
                st.ada_rt = rt;
                self.ada_signs = (0.0, 0);
            }
        }
    }

    /// `w_avg.copy_(w.mean(0).lerp(w_avg, w_avg_beta))` on G (the mapping's running mean).
    fn update_w_avg(&mut self, g: &Generator, w: Tensor<2>) -> Result<()> {
        let Ok(m) = g.mapping.sg("w_avg") else {
            return Ok(());
        };
        let (Some(beta), Some(_)) = (m.w_avg_beta, &m.w_avg) else {
            return Ok(());
        };
        let mean = w.without_autodiff().mean_dim(0).reshape([-1]);
        let old = self.g.get("mapping.w_avg")?.clone();
        self.g
            .set("mapping.w_avg", crate::ops::lerp(mean, old, beta));
        Ok(())
    }

    /// The trainer state that is not a tensor, as JSON.
    fn state_json(&self) -> Value {
        json!({
            "cur_nimg": self.cur_nimg,
            "batch_idx": self.batch_idx,
            "pl_mean": self.pl_mean,
            "ada_p": self.ada_p,
            "ada_signs": [self.ada_signs.0, self.ada_signs.1],
            "seed": self.opts.seed,
            "batch": self.opts.batch,
            "options": self.opts.record(),
        })
    }

    /// Write a snapshot atomically: G, D, G_ema, both Adam states, counters, ADA p, seed.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<()> {
        let (g, d, e) = (
            self.g.to_entry()?,
            self.d.to_entry()?,
            self.g_ema.to_entry()?,
        );
        let mut tensors: BTreeMap<String, RawTensor> = self.g_opt.state("G_opt")?;
        tensors.extend(self.d_opt.state("D_opt")?);
        let mut meta = extra.clone();
        meta.insert(STATE_KEY.into(), self.state_json().to_string());
        write_snapshot(path, self.cur_nimg, [&g, &d, &e], &meta, &tensors)
    }

    /// Resume from a snapshot written by [`Trainer::save`]. With `opts = None` the snapshot's
    /// own seed and batch are kept; given options must agree with them.
    pub fn resume(path: &Path, mut opts: TrainOptions, device: &Device) -> Result<Self> {
        let (ckpt, state) = read_snapshot(path, STATE_KEY)?;
        let [g, d, e] = ["G", "D", "G_ema"].map(|p| &ckpt.networks[p]);
        let num = |k: &str| {
            state
                .get(k)
                .and_then(Value::as_f64)
                .ok_or_else(|| Error::format(path, format!("'{STATE_KEY}' lacks '{k}'")))
        };
        opts.seed = num("seed")? as u32;
        let mut t = Self::new(opts, g, d, device)?;
        t.g_ema = ParamSet::from_entry(e, device);
        t.cur_nimg = num("cur_nimg")? as u64;
        t.batch_idx = num("batch_idx")? as u64;
        t.pl_mean = num("pl_mean")?;
        t.ada_p = num("ada_p")?;
        if let Some(s) = state.get("ada_signs").and_then(Value::as_array) {
            t.ada_signs = (
                s.first().and_then(Value::as_f64).unwrap_or(0.0),
                s.get(1).and_then(Value::as_u64).unwrap_or(0) as usize,
            );
        }
        t.g_opt
            .load_state("G_opt", &ckpt.extra_tensors, &t.g)
            .map_err(|e| Error::format(path, e.to_string()))?;
        t.d_opt
            .load_state("D_opt", &ckpt.extra_tensors, &t.d)
            .map_err(|e| Error::format(path, e.to_string()))?;
        Ok(t)
    }

    /// The discriminator as it is now (for evaluation and tests).
    pub fn discriminator(&self) -> Result<Discriminator> {
        self.d.discriminator(self.d.leaves(&|_| false))
    }
}
