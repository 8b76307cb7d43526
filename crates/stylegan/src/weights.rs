//! Plain weight types at the bottom of the crate: a float32 tensor as files store it, and one
//! network's entry (class, constructor config, tensors by official name). Every reader writes
//! these and every network is built from them.

use std::collections::BTreeMap;

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

    pub fn num_params(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }
}
