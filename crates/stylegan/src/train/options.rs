//! What a training run is asked to do: [`TrainOptions`] (the official `train.py` options that
//! the training step reads), their bounds and validation, and the record of them a snapshot
//! keeps so that a resume can take them back and list what a new command line changes.

use serde_json::Value;

use super::regularizers;
use crate::error::{Error, Result};

/// How augmentation is applied to every image D sees.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum AugMode {
    /// No augmentation.
    NoAug,
    /// ADA: p adjusted toward the target overfitting heuristic r_t.
    Ada { target: f64 },
    /// A fixed p.
    Fixed { p: f64 },
}

/// The largest minibatch a run accepts (the official configs use at most 64 over 8 GPUs; a
/// larger batch is refused up front rather than left to run out of memory).
pub const MAX_BATCH: usize = 4096;

/// The largest learning rate a run accepts (the official recipe uses 0.002–0.0025; Adam moves
/// every weight by about the learning rate per step, so 1 already wrecks a network).
pub const MAX_LEARNING_RATE: f64 = 1.0;

/// The official StyleGAN2 recipe's hyper-parameters (`train.py --cfg stylegan2`).
/// Snapshots record them (see [`TrainOptions::record`]) so a resume can be checked against them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainOptions {
    pub batch: usize,
    pub r1_gamma: f64,
    pub glr: f64,
    pub dlr: f64,
    pub style_mixing_prob: f64,
    pub pl_weight: f64,
    pub pl_decay: f64,
    pub pl_batch_shrink: usize,
    pub g_reg_interval: Option<usize>,
    pub d_reg_interval: Option<usize>,
    pub ema_kimg: f64,
    pub ema_rampup: Option<f64>,
    pub mirror: bool,
    pub aug: AugMode,
    /// ADA: adjust p every this many minibatches, by at most `batch·interval / (ada_kimg·1000)`.
    pub ada_interval: usize,
    pub ada_kimg: f64,
    /// Conditioning on the data set's labels.
    pub cond: bool,
    /// Freeze the first N D blocks (from the image side).
    pub freeze_d: usize,
    /// Keep the mapping network of the parent (fine-tuning an aligned child).
    pub freeze_mapping: bool,
    /// Keep the style affines (`*.affine.*`) of the parent.
    pub freeze_affine: bool,
    /// Relative step of the regularisers' central differences.
    pub reg_eps: f64,
    pub seed: u32,
    /// σ of the Gaussian blur on every image D sees at the start (StyleGAN3-R: 10; 0 = off).
    pub blur_init_sigma: f64,
    /// The blur fades out linearly over this many kimg (StyleGAN3-R: `batch · 200 / 32`).
    pub blur_fade_kimg: f64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        let batch = 32;
        Self {
            batch,
            r1_gamma: 10.0,
            glr: 0.0025,
            dlr: 0.0025,
            style_mixing_prob: 0.9,
            pl_weight: 2.0,
            pl_decay: 0.01,
            pl_batch_shrink: 2,
            g_reg_interval: Some(4),
            d_reg_interval: Some(16),
            ema_kimg: batch as f64 * 10.0 / 32.0,
            ema_rampup: Some(0.05),
            mirror: false,
            aug: AugMode::NoAug,
            ada_interval: 4,
            ada_kimg: 500.0,
            cond: false,
            freeze_d: 0,
            freeze_mapping: false,
            freeze_affine: false,
            reg_eps: regularizers::DEFAULT_EPS_REL,
            seed: 0,
            blur_init_sigma: 0.0,
            blur_fade_kimg: 0.0,
        }
    }
}

impl TrainOptions {
    /// The recipe of `train.py --cfg cfg` for this batch size (learning rates, γ and the
    /// rest are the caller's): StyleGAN2 keeps style mixing 0.9, path length 2 every 4
    /// minibatches; StyleGAN3 has neither; StyleGAN3-R blurs D's images (σ 10, fading over
    /// `batch · 200 / 32` kimg).
    pub fn for_cfg(cfg: super::TrainConfig, batch: usize) -> Self {
        let base = Self {
            batch,
            ema_kimg: batch as f64 * 10.0 / 32.0,
            ..Self::default()
        };
        match cfg {
            super::TrainConfig::StyleGan2 => base,
            super::TrainConfig::StyleGan3T | super::TrainConfig::StyleGan3R => Self {
                style_mixing_prob: 0.0,
                pl_weight: 0.0,
                g_reg_interval: None,
                dlr: 0.002,
                blur_init_sigma: if cfg == super::TrainConfig::StyleGan3R {
                    10.0
                } else {
                    0.0
                },
                blur_fade_kimg: batch as f64 * 200.0 / 32.0,
                ..base
            },
        }
    }
}

impl TrainOptions {
    /// Every value finite and in its range: batch in `1..=MAX_BATCH`, learning rates in
    /// `(0, MAX_LEARNING_RATE]`, γ ≥ 0, ADA's target finite and p in [0, 1], its speed > 0, and the
    /// rest of the recipe non-negative. Errors name the option and the value found.
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, want: &str, v: String| {
            Err(Error::InvalidArgument(format!(
                "{what} must be {want}, got {v}"
            )))
        };
        if self.batch == 0 || self.batch > MAX_BATCH {
            return bad(
                "the batch size",
                &format!("in 1..={MAX_BATCH}"),
                self.batch.to_string(),
            );
        }
        for (what, v) in [
            ("the G learning rate", self.glr),
            ("the D learning rate", self.dlr),
        ] {
            if !(v > 0.0 && v <= MAX_LEARNING_RATE) {
                return bad(
                    what,
                    &format!("a finite number in (0, {MAX_LEARNING_RATE}]"),
                    v.to_string(),
                );
            }
        }
        let non_negative = [
            ("the R1 weight gamma", self.r1_gamma),
            ("the style mixing probability", self.style_mixing_prob),
            ("the path length weight", self.pl_weight),
            ("the path length decay", self.pl_decay),
            ("the G_ema half-life (kimg)", self.ema_kimg),
            ("the G_ema ramp-up", self.ema_rampup.unwrap_or(0.0)),
            ("the blur sigma", self.blur_init_sigma),
            ("the blur fade (kimg)", self.blur_fade_kimg),
        ];
        for (what, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return bad(what, "a finite number >= 0", v.to_string());
            }
        }
        if !(self.reg_eps.is_finite() && self.reg_eps > 0.0) {
            return bad(
                "the regularisers' difference step",
                "a finite number > 0",
                self.reg_eps.to_string(),
            );
        }
        match self.aug {
            // Targets beyond r_t's range [-1, 1] are allowed: they move p one way only.
            AugMode::Ada { target } if !target.is_finite() => {
                return bad("the ADA target", "finite", target.to_string())
            }
            AugMode::Fixed { p } if !(0.0..=1.0).contains(&p) => {
                return bad("the augmentation probability", "in [0, 1]", p.to_string())
            }
            _ => {}
        }
        if !(self.ada_kimg.is_finite() && self.ada_kimg > 0.0) {
            return bad(
                "the ADA speed (kimg for p to go from 0 to 1)",
                "a finite number > 0",
                self.ada_kimg.to_string(),
            );
        }
        if self.ada_interval == 0 || self.pl_batch_shrink == 0 {
            return bad(
                "the ADA interval and path length batch shrink",
                "at least 1",
                "0".into(),
            );
        }
        if self.g_reg_interval == Some(0) || self.d_reg_interval == Some(0) {
            return bad("a lazy regularisation interval", "at least 1", "0".into());
        }
        Ok(())
    }

    /// The options as JSON (field names as keys), as snapshots record them.
    pub fn record(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The options a snapshot recorded ([`Self::record`]); `None` for snapshots written before
    /// options were recorded.
    pub fn from_record(v: &Value) -> Option<Self> {
        serde_json::from_value(v.clone()).ok()
    }

    /// The options that differ from `other`: `(field, other's value, this value)`.
    pub fn differences(&self, other: &Self) -> Vec<(String, Value, Value)> {
        let (a, b) = (self.record(), other.record());
        let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
            return Vec::new();
        };
        a.iter()
            .filter(|(k, v)| b.get(k.as_str()) != Some(v))
            .map(|(k, v)| {
                (
                    k.clone(),
                    b.get(k.as_str()).cloned().unwrap_or(Value::Null),
                    v.clone(),
                )
            })
            .collect()
    }
}
