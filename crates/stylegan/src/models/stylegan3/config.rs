//! The StyleGAN3 synthesis configuration: the keyword arguments of the official
//! `SynthesisNetwork` and `SynthesisLayer` constructors (passed flat to `Generator`), with the
//! official defaults. Every keyword is honoured or refused by name.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::models::config::{as_f64, as_usize, bad, opt_f64, unknown};

/// `SynthesisNetwork(**synthesis_kwargs)` + `SynthesisLayer(**layer_kwargs)` of
/// `training/networks_stylegan3.py`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sg3Config {
    pub channel_base: usize,
    pub channel_max: usize,
    /// Number of synthesis layers, excluding the ToRGB layer.
    pub num_layers: usize,
    /// Number of critically sampled layers at the end.
    pub num_critical: usize,
    pub first_cutoff: f64,
    pub first_stopband: f64,
    pub last_stopband_rel: f64,
    pub margin_size: usize,
    pub output_scale: f64,
    /// CUDA-only precision choice; kept for round trips.
    pub num_fp16_res: usize,
    /// 3 for StyleGAN3-T, 1 for StyleGAN3-R.
    pub conv_kernel: usize,
    pub filter_size: usize,
    pub lrelu_upsampling: usize,
    /// Radially symmetric down-filters (StyleGAN3-R).
    pub use_radial_filters: bool,
    pub conv_clamp: Option<f64>,
    /// Decay of the layers' input-magnitude EMA (training only).
    pub magnitude_ema_beta: f64,
}

impl Default for Sg3Config {
    fn default() -> Self {
        Self {
            channel_base: 32768,
            channel_max: 512,
            num_layers: 14,
            num_critical: 2,
            first_cutoff: 2.0,
            first_stopband: 2f64.powf(2.1),
            last_stopband_rel: 2f64.powf(0.3),
            margin_size: 10,
            output_scale: 0.25,
            num_fp16_res: 4,
            conv_kernel: 3,
            filter_size: 6,
            lrelu_upsampling: 2,
            use_radial_filters: false,
            conv_clamp: Some(256.0),
            magnitude_ema_beta: 0.999,
        }
    }
}

impl Sg3Config {
    /// Take one synthesis keyword; `Ok(false)` when `key` is not one of them.
    pub(crate) fn set(&mut self, key: &str, v: &Value) -> Result<bool> {
        match key {
            "channel_base" => self.channel_base = as_usize(v, key)?,
            "channel_max" => self.channel_max = as_usize(v, key)?,
            "num_layers" => self.num_layers = as_usize(v, key)?,
            "num_critical" => self.num_critical = as_usize(v, key)?,
            "first_cutoff" => self.first_cutoff = as_f64(v, key)?,
            "first_stopband" => self.first_stopband = as_f64(v, key)?,
            "last_stopband_rel" => self.last_stopband_rel = as_f64(v, key)?,
            "margin_size" => self.margin_size = as_usize(v, key)?,
            "output_scale" => self.output_scale = as_f64(v, key)?,
            "num_fp16_res" => self.num_fp16_res = as_usize(v, key)?,
            "conv_kernel" => self.conv_kernel = as_usize(v, key)?,
            "filter_size" => self.filter_size = as_usize(v, key)?,
            "lrelu_upsampling" => self.lrelu_upsampling = as_usize(v, key)?,
            "use_radial_filters" => {
                self.use_radial_filters = v.as_bool().ok_or_else(|| bad(key, "a boolean", v))?
            }
            "conv_clamp" => self.conv_clamp = opt_f64(v, key)?,
            "magnitude_ema_beta" => self.magnitude_ema_beta = as_f64(v, key)?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Refuse values the official constructors would reject or that give no network.
    pub(crate) fn validate(&self, img_resolution: usize) -> Result<()> {
        let fail = |m: String| Err(Error::Config(format!("StyleGAN3: {m}")));
        if img_resolution < 4 {
            return fail(format!("img_resolution {img_resolution} must be >= 4"));
        }
        if self.num_layers <= self.num_critical || self.num_layers < 2 {
            return fail(format!(
                "num_layers {} must exceed num_critical {} (and be >= 2)",
                self.num_layers, self.num_critical
            ));
        }
        if self.conv_kernel == 0 || self.filter_size == 0 || self.lrelu_upsampling == 0 {
            return fail("conv_kernel, filter_size and lrelu_upsampling must be positive".into());
        }
        if !(self.first_cutoff > 0.0 && self.first_stopband > 0.0 && self.last_stopband_rel > 0.0) {
            return fail("first_cutoff, first_stopband and last_stopband_rel must be > 0".into());
        }
        if self.channel_max == 0 || self.channel_base == 0 {
            return fail("channel_base and channel_max must be positive".into());
        }
        Ok(())
    }

    /// The synthesis keywords, as the official code passes them (flat).
    pub(crate) fn write_json(&self, out: &mut Map<String, Value>) {
        let v = json!({
            "channel_base": self.channel_base,
            "channel_max": self.channel_max,
            "num_layers": self.num_layers,
            "num_critical": self.num_critical,
            "first_cutoff": self.first_cutoff,
            "first_stopband": self.first_stopband,
            "last_stopband_rel": self.last_stopband_rel,
            "margin_size": self.margin_size,
            "output_scale": self.output_scale,
            "num_fp16_res": self.num_fp16_res,
            "conv_kernel": self.conv_kernel,
            "filter_size": self.filter_size,
            "lrelu_upsampling": self.lrelu_upsampling,
            "use_radial_filters": self.use_radial_filters,
            "conv_clamp": self.conv_clamp,
            "magnitude_ema_beta": self.magnitude_ema_beta,
        });
        if let Value::Object(m) = v {
            out.extend(m);
        }
    }
}

/// The `MappingNetwork` keywords StyleGAN3's mapping accepts (it has no `embed_features`,
/// `layer_features` or `activation`).
pub(crate) fn check_mapping_kwargs(v: &Value) -> Result<()> {
    if let Some(m) = v.as_object() {
        for k in m.keys() {
            if !matches!(k.as_str(), "num_layers" | "lr_multiplier" | "w_avg_beta") {
                return Err(unknown(&format!("mapping_kwargs.{k}")));
            }
        }
    }
    Ok(())
}
