//! Plain weight types at the bottom of the crate: a float32 tensor as files store it, and one
//! network's entry (class, constructor config, tensors by official name). Every reader writes
//! these and every network is built from them.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};

/// Refuse a tensor that holds NaN or ±inf: weights, buffers (`w_avg`), latents and directions
/// read from files must be finite, or every image made from them is garbage (or NaN). The one
/// check every reader uses; the error names the file, the tensor and the first bad element.
pub fn check_finite(file: &Path, tensor: &str, data: &[f32]) -> Result<()> {
    match data.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => {
            let count = data.iter().filter(|v| !v.is_finite()).count();
            Err(Error::format(
                file,
                format!(
                    "tensor '{tensor}' holds non-finite values ({count} of {}; element {i} is \
                     {}): the file is damaged or was saved from a diverged run",
                    data.len(),
                    data[i]
                ),
            ))
        }
    }
}

/// A dense float32 tensor as stored in a file.
#[derive(Clone, Debug, PartialEq)]
pub struct RawTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// One network in a checkpoint: its class, constructor config and tensors.
#[derive(Clone, Debug)]
pub struct NetworkEntry {
    /// Official class name, e.g. `training.networks_stylegan2.Generator`.
    pub class_name: String,
    /// The constructor's keyword arguments.
    pub init_kwargs: serde_json::Value,
    /// Tensors by official name (without the network prefix).
    pub tensors: BTreeMap<String, RawTensor>,
}

impl NetworkEntry {
    /// The class name without its module path (`Generator`, `Discriminator`).
    pub fn short_class(&self) -> &str {
        self.class_name
            .rsplit('.')
            .next()
            .unwrap_or(&self.class_name)
    }

    /// The role of this network, `Generator` or `Discriminator`, whatever the family's class
    /// name (`G_style`, `G_paper`, `D_basic`, `D_paper` for the TF1 families); otherwise the
    /// short class name.
    pub fn role(&self) -> &str {
        match self.short_class() {
            "G_style" | "G_paper" => "Generator",
            "D_basic" | "D_paper" => "Discriminator",
            other => other,
        }
    }

    pub fn num_params(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }

    /// [`check_finite`] on every tensor; `prefix` (the network's, e.g. `G_ema`) is put before
    /// the tensor names in errors.
    pub fn check_finite(&self, file: &Path, prefix: &str) -> Result<()> {
        for (name, t) in &self.tensors {
            let full = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            check_finite(file, &full, &t.data)?;
        }
        Ok(())
    }
}
