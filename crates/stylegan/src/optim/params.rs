//! A network's tensors as the trainer holds them: flat `[numel]` tensors by official name, each
//! either a trainable parameter or a buffer (resample filters, `w_avg`, `noise_const`), exactly
//! the split of the official modules' `parameters()` / `buffers()`.
//!
//! The networks themselves stay plain structs: for every step the trainer builds a `Generator`
//! or `Discriminator` from these tensors through [`Params::live`], so a layer's weight is a
//! reshaped view of a flat leaf and backward lands on the leaves.

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use serde_json::Value;

use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::models::{Discriminator, Generator};
use crate::nn::Params;
use crate::weights::{NetworkEntry, RawTensor};

/// Official buffer names (not optimised): the last name component (StyleGAN2's, then
/// StyleGAN3's input and layer buffers).
const BUFFERS: [&str; 9] = [
    "resample_filter",
    "w_avg",
    "noise_const",
    "transform",
    "freqs",
    "phases",
    "magnitude_ema",
    "up_filter",
    "down_filter",
];

/// Whether the official module registers `name` as a buffer rather than a parameter. For the
/// TF1 families (TF variable names with `/`), the non-trainable variables: `lod`,
/// `dlatent_avg` and the noise inputs `noise{i}`.
pub fn is_buffer(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    let tf_last = last.rsplit('/').next().unwrap_or(last);
    BUFFERS.contains(&last)
        || tf_last == "lod"
        || tf_last == "dlatent_avg"
        || tf_last
            .strip_prefix("noise")
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn tf1_non_trainables_are_buffers() {
        for b in [
            "lod",
            "G_synthesis/lod",
            "dlatent_avg",
            "G_synthesis/noise0",
            "G_synthesis/noise17",
        ] {
            assert!(super::is_buffer(b), "{b}");
        }
        for p in [
            "G_synthesis/4x4/Const/Noise/weight",
            "G_mapping/Dense0/weight",
            "4x4/Dense/bias",
            "G_synthesis/noisex",
        ] {
            assert!(!super::is_buffer(p), "{p}");
        }
        assert!(super::is_buffer("synthesis.b4.conv1.noise_const"));
    }
}

/// One network's tensors, flat, on the trainer's (non-autodiff) device.
#[derive(Clone)]
pub struct ParamSet {
    pub class_name: String,
    pub init_kwargs: Value,
    pub tensors: BTreeMap<String, (Vec<usize>, Tensor<1>)>,
    device: Device,
}

impl ParamSet {
    pub fn from_entry(entry: &NetworkEntry, device: &Device) -> Self {
        let tensors = entry
            .tensors
            .iter()
            .map(|(k, t)| {
                let flat =
                    Tensor::from_data(TensorData::new(t.data.clone(), [t.data.len()]), device);
                (k.clone(), (t.shape.clone(), flat))
            })
            .collect();
        Self {
            class_name: entry.class_name.clone(),
            init_kwargs: entry.init_kwargs.clone(),
            tensors,
            device: device.clone(),
        }
    }

    /// A set of named flat tensors that is not a checkpoint network (e.g. the projector's
    /// latent and noise maps), so that [`crate::optim::adam::Adam`] can optimise it.
    pub fn new(
        class_name: &str,
        tensors: BTreeMap<String, (Vec<usize>, Tensor<1>)>,
        device: &Device,
    ) -> Self {
        Self {
            class_name: class_name.to_string(),
            init_kwargs: Value::Null,
            tensors,
            device: device.clone(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Names of the trainable parameters (everything but buffers), sorted.
    pub fn param_names(&self) -> Vec<String> {
        self.tensors
            .keys()
            .filter(|k| !is_buffer(k))
            .cloned()
            .collect()
    }

    pub fn get(&self, name: &str) -> Result<&Tensor<1>> {
        self.tensors
            .get(name)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::Config(format!("no tensor '{name}' in {}", self.class_name)))
    }

    pub fn set(&mut self, name: &str, t: Tensor<1>) {
        let e = self.tensors.get_mut(name).expect("known tensor");
        e.1 = t;
    }

    /// Tensors for [`Params::live`]: on `device` (an autodiff device while training), with the
    /// parameters accepted by `trainable` marked to keep their gradients.
    pub fn leaves(
        &self,
        trainable: &dyn Fn(&str) -> bool,
    ) -> BTreeMap<String, (Vec<usize>, Tensor<1>)> {
        self.tensors
            .iter()
            .map(|(k, (s, t))| {
                let t = if !is_buffer(k) && trainable(k) {
                    t.clone().autodiff().require_grad()
                } else {
                    t.clone()
                };
                (k.clone(), (s.clone(), t))
            })
            .collect()
    }

    pub fn generator(
        &self,
        tensors: BTreeMap<String, (Vec<usize>, Tensor<1>)>,
    ) -> Result<Generator> {
        Generator::new(
            &self.class_name,
            &self.init_kwargs,
            &mut Params::live(tensors, &self.device),
        )
    }

    pub fn discriminator(
        &self,
        tensors: BTreeMap<String, (Vec<usize>, Tensor<1>)>,
    ) -> Result<Discriminator> {
        Discriminator::new(
            &self.class_name,
            &self.init_kwargs,
            &mut Params::live(tensors, &self.device),
        )
    }

    /// This network as a checkpoint entry (host copies).
    pub fn to_entry(&self) -> Result<NetworkEntry> {
        let tensors = self
            .tensors
            .iter()
            .map(|(k, (s, t))| {
                Ok((
                    k.clone(),
                    RawTensor {
                        shape: s.clone(),
                        data: to_vec(t)?,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        Ok(NetworkEntry {
            class_name: self.class_name.clone(),
            init_kwargs: self.init_kwargs.clone(),
            tensors,
        })
    }
}
