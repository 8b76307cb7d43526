//! Adam as `torch.optim.Adam` computes it (no weight decay, no amsgrad), over a [`ParamSet`]'s
//! flat tensors, with its state saved in snapshots.
//!
//! Written here rather than taken from `burn-optim` because our networks are plain structs
//! rebuilt from flat tensors every step (see [`super::params`]), and the moments must be saved
//! under the parameters' official names in our own snapshot format so that a resumed run
//! continues bit for bit.

use std::collections::BTreeMap;

use burn::tensor::Tensor;

use super::params::ParamSet;
use crate::error::{Error, Result};
use crate::weights::RawTensor;

/// Learning rate and betas of one optimiser.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
}

impl AdamConfig {
    /// The official lazy-regularisation adjustment: with a regulariser run every `interval`
    /// minibatches, `mb_ratio = interval / (interval + 1)`, `lr *= mb_ratio`,
    /// `betas = betas ** mb_ratio` (training_loop.py).
    pub fn lazy(self, interval: Option<usize>) -> Self {
        match interval {
            Some(i) if i > 0 => {
                let r = i as f64 / (i as f64 + 1.0);
                Self {
                    lr: self.lr * r,
                    beta1: self.beta1.powf(r),
                    beta2: self.beta2.powf(r),
                    eps: self.eps,
                }
            }
            _ => self,
        }
    }
}

struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// One Adam optimiser: moments per parameter name and the shared step count.
pub struct Adam {
    pub config: AdamConfig,
    pub step: u64,
    moments: BTreeMap<String, Moments>,
}

impl Adam {
    pub fn new(config: AdamConfig) -> Self {
        Self {
            config,
            step: 0,
            moments: BTreeMap::new(),
        }
    }

    /// One step: `params[name] -= lr · m̂ / (√v̂ + eps)` for every name in `grads` (parameters
    /// without a gradient — frozen ones — are left alone, as torch does).
    pub fn step(
        &mut self,
        params: &mut ParamSet,
        grads: BTreeMap<String, Tensor<1>>,
    ) -> Result<()> {
        self.step += 1;
        let c = self.config;
        let t = self.step as i32;
        let bc1 = 1.0 - c.beta1.powi(t);
        let bc2 = 1.0 - c.beta2.powi(t);
        let step_size = c.lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        for (name, g) in grads {
            let p = params.get(&name)?.clone();
            let mo = self.moments.entry(name.clone()).or_insert_with(|| Moments {
                m: p.zeros_like(),
                v: p.zeros_like(),
            });
            // torch: m.lerp_(g, 1-β1); v.mul_(β2).addcmul_(g, g, value=1-β2)
            let m = mo.m.clone().mul_scalar(c.beta1 as f32)
                + g.clone().mul_scalar((1.0 - c.beta1) as f32);
            let v = mo.v.clone().mul_scalar(c.beta2 as f32)
                + g.square().mul_scalar((1.0 - c.beta2) as f32);
            // torch: denom = (v.sqrt() / sqrt(bc2)).add_(eps); p.addcdiv_(m, denom, value=-step_size)
            let denom = v
                .clone()
                .sqrt()
                .div_scalar(bc2_sqrt as f32)
                .add_scalar(c.eps as f32);
            let p = p - (m.clone() / denom).mul_scalar(step_size as f32);
            mo.m = m;
            mo.v = v;
            params.set(&name, p);
        }
        Ok(())
    }

    /// The state as snapshot tensors `{prefix}.exp_avg.{name}`, `{prefix}.exp_avg_sq.{name}`
    /// and `{prefix}.step` (a 1-element tensor; exact up to 2^24 steps).
    pub fn state(&self, prefix: &str) -> Result<BTreeMap<String, RawTensor>> {
        let mut out = BTreeMap::new();
        for (name, mo) in &self.moments {
            let n = mo.m.dims()[0];
            out.insert(
                format!("{prefix}.exp_avg.{name}"),
                RawTensor {
                    shape: vec![n],
                    data: crate::backend::to_vec(&mo.m)?,
                },
            );
            out.insert(
                format!("{prefix}.exp_avg_sq.{name}"),
                RawTensor {
                    shape: vec![n],
                    data: crate::backend::to_vec(&mo.v)?,
                },
            );
        }
        out.insert(
            format!("{prefix}.step"),
            RawTensor {
                shape: vec![1],
                data: vec![self.step as f32],
            },
        );
        Ok(out)
    }

    /// Restore from [`Adam::state`] tensors; `params` checks names and sizes.
    pub fn load_state(
        &mut self,
        prefix: &str,
        tensors: &BTreeMap<String, RawTensor>,
        params: &ParamSet,
    ) -> Result<()> {
        let step = tensors
            .get(&format!("{prefix}.step"))
            .and_then(|t| t.data.first())
            .ok_or_else(|| Error::Config(format!("snapshot has no '{prefix}.step'")))?;
        self.step = *step as u64;
        self.moments.clear();
        let device = params.device();
        for name in params.param_names() {
            let (m, v) = (
                tensors.get(&format!("{prefix}.exp_avg.{name}")),
                tensors.get(&format!("{prefix}.exp_avg_sq.{name}")),
            );
            let (m, v) = match (m, v) {
                (Some(m), Some(v)) => (m, v),
                (None, None) => continue, // never updated (frozen)
                _ => {
                    return Err(Error::Config(format!(
                        "snapshot has only one of the Adam moments of '{name}' under '{prefix}'"
                    )))
                }
            };
            let n = params.get(&name)?.dims()[0];
            if m.data.len() != n || v.data.len() != n {
                return Err(Error::Config(format!(
                    "snapshot Adam state '{prefix}' for '{name}' has {} values, the parameter has {n}",
                    m.data.len()
                )));
            }
            let t = |d: &Vec<f32>| {
                Tensor::from_data(burn::tensor::TensorData::new(d.clone(), [n]), device)
            };
            self.moments.insert(
                name,
                Moments {
                    m: t(&m.data),
                    v: t(&v.data),
                },
            );
        }
        Ok(())
    }
}
