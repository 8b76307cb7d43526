//! Where a network's tensors come from when it is built: a checkpoint (by official name, with
//! shape checks) or a seeded random initialisation (the official init rules). One constructor per
//! layer serves both, in the style of candle's `VarBuilder`.

use std::collections::{BTreeMap, BTreeSet};

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::rng::RandomState;
use crate::weights::RawTensor;

/// How a tensor is initialised when it is not loaded.
#[derive(Clone, Debug)]
pub enum Init {
    /// `randn * scale`.
    Randn(f64),
    /// Every element equal.
    Const(f64),
    /// Exactly these values (e.g. a resample filter).
    Values(Vec<f32>),
    /// Uniform in `[lo, hi)`.
    Uniform(f64, f64),
}

enum Source {
    Checkpoint {
        file: String,
        tensors: BTreeMap<String, RawTensor>,
        used: BTreeSet<String>,
    },
    Random(Box<RandomState>),
    /// A zero-weight build: only the names, the shapes and the values fixed by the config
    /// (`Init::Values`, e.g. resample filters) — what converters need as a template.
    Zeros,
    /// Tensors that already live on a device, kept flat (`[numel]`) with their shapes: the
    /// trainer's parameters. Layers get a reshaped view, so gradients reach the flat leaves.
    Live {
        tensors: BTreeMap<String, (Vec<usize>, Tensor<1>)>,
        used: BTreeSet<String>,
    },
}

/// A tensor provider scoped to a name prefix.
pub struct Params {
    source: Source,
    prefix: Vec<String>,
    device: Device,
}

impl Params {
    /// Tensors from a checkpoint's network entry; `file` names it in errors.
    pub fn from_tensors(
        file: impl Into<String>,
        tensors: BTreeMap<String, RawTensor>,
        device: &Device,
    ) -> Self {
        let source = Source::Checkpoint {
            file: file.into(),
            tensors,
            used: BTreeSet::new(),
        };
        Self {
            source,
            prefix: vec![],
            device: device.clone(),
        }
    }

    /// Fresh random weights, reproducible from `seed`.
    pub fn random(seed: u32, device: &Device) -> Self {
        Self {
            source: Source::Random(Box::new(RandomState::new(seed))),
            prefix: vec![],
            device: device.clone(),
        }
    }

    /// A zero-weight build (see [`Source::Zeros`]).
    pub fn zeros(device: &Device) -> Self {
        Self {
            source: Source::Zeros,
            prefix: vec![],
            device: device.clone(),
        }
    }

    /// Build from flat live tensors (see [`Source::Live`]); the device is where new tensors
    /// (buffers, labels) are created.
    pub fn live(tensors: BTreeMap<String, (Vec<usize>, Tensor<1>)>, device: &Device) -> Self {
        Self {
            source: Source::Live {
                tensors,
                used: BTreeSet::new(),
            },
            prefix: vec![],
            device: device.clone(),
        }
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether tensors are drawn at random (a fresh network) rather than loaded.
    pub fn is_random(&self) -> bool {
        matches!(self.source, Source::Random(_))
    }

    /// Run `f` with `name` pushed onto the prefix.
    pub fn scope<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.prefix.push(name.to_string());
        let out = f(self);
        self.prefix.pop();
        out
    }

    fn full_name(&self, name: &str) -> String {
        let mut s = self.prefix.join(".");
        if !s.is_empty() {
            s.push('.');
        }
        s.push_str(name);
        s
    }

    /// Whether the source holds `name` (random sources hold everything).
    pub fn contains(&self, name: &str) -> bool {
        match &self.source {
            Source::Checkpoint { tensors, .. } => tensors.contains_key(&self.full_name(name)),
            Source::Random(_) | Source::Zeros => true,
            Source::Live { tensors, .. } => tensors.contains_key(&self.full_name(name)),
        }
    }

    /// The live tensor `name` checked against `shape` (None for other sources).
    fn live_flat(&mut self, name: &str, shape: &[usize]) -> Option<Result<Tensor<1>>> {
        let full = self.full_name(name);
        let Source::Live { tensors, used } = &mut self.source else {
            return None;
        };
        Some(match tensors.get(&full) {
            None => Err(Error::MissingTensor {
                file: "(live parameters)".into(),
                name: full,
                expected: shape.to_vec(),
            }),
            Some((s, _)) if s != shape => Err(Error::ShapeMismatch {
                file: "(live parameters)".into(),
                name: full,
                expected: shape.to_vec(),
                found: s.clone(),
            }),
            Some((_, t)) => {
                let t = t.clone();
                used.insert(full);
                Ok(t)
            }
        })
    }

    /// The raw data of tensor `name` with the given shape.
    pub fn data(&mut self, name: &str, shape: &[usize], init: Init) -> Result<TensorData> {
        let full = self.full_name(name);
        match &mut self.source {
            Source::Checkpoint {
                file,
                tensors,
                used,
            } => {
                let t = tensors.get(&full).ok_or_else(|| Error::MissingTensor {
                    file: file.clone(),
                    name: full.clone(),
                    expected: shape.to_vec(),
                })?;
                if t.shape != shape {
                    return Err(Error::ShapeMismatch {
                        file: file.clone(),
                        name: full,
                        expected: shape.to_vec(),
                        found: t.shape.clone(),
                    });
                }
                used.insert(full);
                Ok(TensorData::new(t.data.clone(), shape.to_vec()))
            }
            Source::Random(rng) => {
                let n: usize = shape.iter().product();
                let values = match init {
                    Init::Randn(scale) => rng
                        .randn(n)
                        .into_iter()
                        .map(|v| (v * scale) as f32)
                        .collect(),
                    Init::Const(v) => vec![v as f32; n],
                    Init::Uniform(lo, hi) => (0..n)
                        .map(|_| (lo + (hi - lo) * rng.random_sample()) as f32)
                        .collect(),
                    Init::Values(v) => {
                        assert_eq!(v.len(), n, "init values for {full}");
                        v
                    }
                };
                Ok(TensorData::new(values, shape.to_vec()))
            }
            Source::Zeros => {
                let n: usize = shape.iter().product();
                let values = match init {
                    Init::Values(v) => {
                        assert_eq!(v.len(), n, "init values for {full}");
                        v
                    }
                    _ => vec![0f32; n],
                };
                Ok(TensorData::new(values, shape.to_vec()))
            }
            Source::Live { .. } => {
                let t = self.live_flat(name, shape).expect("live source")?;
                let v: Vec<f32> = t
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec::<f32>()
                    .map_err(|e| Error::Config(format!("{name}: {e:?}")))?;
                Ok(TensorData::new(v, shape.to_vec()))
            }
        }
    }

    /// Tensor `name` of rank `D`.
    pub fn tensor<const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        init: Init,
    ) -> Result<Tensor<D>> {
        if let Some(t) = self.live_flat(name, &shape) {
            return Ok(t?.reshape(shape));
        }
        let data = self.data(name, &shape, init)?;
        Ok(Tensor::from_data(data, &self.device))
    }

    /// A scalar tensor (shape `[]` in the checkpoint), returned as `[1]`.
    pub fn scalar(&mut self, name: &str, init: Init) -> Result<Tensor<1>> {
        if let Some(t) = self.live_flat(name, &[]) {
            return t;
        }
        let data = self.data(name, &[], init)?;
        let v: Vec<f32> = data
            .try_to_vec()
            .map_err(|e| Error::Config(format!("{name}: {e:?}")))?;
        Ok(Tensor::from_data(TensorData::new(v, [1]), &self.device))
    }

    /// Names in the checkpoint that no layer asked for (empty for random sources).
    pub fn unused(&self) -> Vec<String> {
        match &self.source {
            Source::Checkpoint { tensors, used, .. } => tensors
                .keys()
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect(),
            Source::Live { tensors, used } => tensors
                .keys()
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect(),
            Source::Random(_) | Source::Zeros => vec![],
        }
    }

    /// Fail if the checkpoint holds tensors the network does not use: a sign that the config
    /// does not describe these weights.
    pub fn finish(&self) -> Result<()> {
        let unused = self.unused();
        if unused.is_empty() {
            return Ok(());
        }
        let file = match &self.source {
            Source::Checkpoint { file, .. } => file.clone(),
            Source::Live { .. } => "(live parameters)".into(),
            Source::Random(_) | Source::Zeros => String::new(),
        };
        let shown: Vec<_> = unused.iter().take(5).cloned().collect();
        Err(Error::Config(format!(
            "{file}: {} tensor(s) are not used by the network its config describes: {}{}",
            unused.len(),
            shown.join(", "),
            if unused.len() > 5 { ", ..." } else { "" }
        )))
    }
}

/// Collects a network's tensors under their official names (the `state_dict()`).
#[derive(Default)]
pub struct StateDict {
    pub entries: Vec<(String, RawTensor)>,
    prefix: Vec<String>,
}

impl StateDict {
    pub fn scope(&mut self, name: &str, f: impl FnOnce(&mut Self)) {
        self.prefix.push(name.to_string());
        f(self);
        self.prefix.pop();
    }

    pub fn add<const D: usize>(&mut self, name: &str, t: &Tensor<D>) {
        let shape = t.dims().to_vec();
        self.add_data(
            name,
            shape,
            t.clone()
                .into_data()
                .try_to_vec::<f32>()
                .expect("float tensor"),
        );
    }

    /// A `[1]` tensor saved as a scalar (shape `[]`).
    pub fn add_scalar(&mut self, name: &str, t: &Tensor<1>) {
        let v = t
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .expect("float tensor");
        self.add_data(name, vec![], v);
    }

    pub fn add_data(&mut self, name: &str, shape: Vec<usize>, data: Vec<f32>) {
        let mut full = self.prefix.join(".");
        if !full.is_empty() {
            full.push('.');
        }
        full.push_str(name);
        self.entries.push((full, RawTensor { shape, data }));
    }
}
