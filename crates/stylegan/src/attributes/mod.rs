//! A small attribute classifier (a conv net trained on a labelled data set, e.g. the facesjs
//! faces: male, glasses, facial hair, ...), used to label generated images for InterFaceGAN
//! directions and, later, metrics such as linear separability.
//!
//! Architecture: per halving of the resolution down to 4×4, one 3×3 conv (lrelu) and one 3×3
//! conv with 2× FIR downsampling (lrelu) — the equalised-lr layers of the discriminator — then
//! two fully connected layers. One logit per attribute, trained with binary cross-entropy
//! (soft targets for attributes in [0, 1]).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::{json, Value};

use crate::backend::to_vec;
use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, NetworkEntry, RawTensor};
use crate::latent::RandomState;
use crate::nn::{Conv2dLayer, Conv2dSpec, FcSpec, FullyConnected, Params};
use crate::ops::{Activation, Filter};
use crate::optim::ParamSet;
use crate::optim::{Adam, AdamConfig};
use crate::train::data::{real_batch, TrainingData};

/// Class name written into classifier files.
pub const CLASSIFIER_CLASS: &str = "stylegan_rs.AttributeClassifier";

/// The network, built from a [`Params`] source like the StyleGAN networks.
pub struct AttributeClassifier {
    convs: Vec<(Conv2dLayer, Conv2dLayer)>,
    fc: FullyConnected,
    out: FullyConnected,
    pub resolution: usize,
    pub channels: usize,
    pub label_names: Vec<String>,
}

/// `(resolution, channels, width, label_names)` from the classifier's init_kwargs.
fn parse_kwargs(k: &Value) -> Result<(usize, usize, usize, Vec<String>)> {
    let num = |key: &str| {
        k.get(key)
            .and_then(Value::as_u64)
            .map(|v| v as usize)
            .ok_or_else(|| Error::Config(format!("classifier init_kwargs lacks '{key}'")))
    };
    let names = k
        .get("label_names")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Config("classifier init_kwargs lacks 'label_names'".into()))?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::Config("label_names must be strings".into()))
        })
        .collect::<Result<Vec<_>>>()?;
    let r = num("resolution")?;
    if r < 4 || !r.is_power_of_two() {
        return Err(Error::Config(format!(
            "classifier resolution {r} must be a power of two >= 4"
        )));
    }
    Ok((r, num("channels")?, num("width")?, names))
}

impl AttributeClassifier {
    pub fn new(init_kwargs: &Value, p: &mut Params) -> Result<Self> {
        let (res, ch, width, names) = parse_kwargs(init_kwargs)?;
        let f = Filter::from_taps_1d(&[1.0, 3.0, 3.0, 1.0], p.device())?;
        let act = Activation::Lrelu;
        let mut convs = Vec::new();
        let mut r = res;
        let mut cin = ch;
        while r > 4 {
            let pair = p.scope(&format!("b{r}"), |p| {
                let c0 = p.scope("conv0", |p| {
                    Conv2dLayer::new(p, Conv2dSpec::new(cin, width, 3, &f).activation(act))
                })?;
                let c1 = p.scope("conv1", |p| {
                    Conv2dLayer::new(
                        p,
                        Conv2dSpec::new(width, width, 3, &f).activation(act).down(2),
                    )
                })?;
                Ok((c0, c1))
            })?;
            convs.push(pair);
            cin = width;
            r /= 2;
        }
        let fc = p.scope("fc", |p| {
            FullyConnected::new(p, FcSpec::new(cin * 16, width).activation(act))
        })?;
        let out = p.scope("out", |p| {
            FullyConnected::new(p, FcSpec::new(width, names.len()))
        })?;
        p.finish()?;
        Ok(Self {
            convs,
            fc,
            out,
            resolution: res,
            channels: ch,
            label_names: names,
        })
    }

    /// Logits `[N, K]` for images `[N, C, R, R]` in [-1, 1].
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let [n, c, h, w] = x.dims();
        if c != self.channels || h != self.resolution || w != self.resolution {
            return Err(Error::InvalidArgument(format!(
                "the classifier takes [N, {}, {r}, {r}] images, got [{n}, {c}, {h}, {w}]",
                self.channels,
                r = self.resolution
            )));
        }
        let mut x = x;
        for (c0, c1) in &self.convs {
            x = c1.forward(c0.forward(x, 1.0), 1.0);
        }
        let [n, c, h, w] = x.dims();
        Ok(self.out.forward(self.fc.forward(x.reshape([n, c * h * w]))))
    }

    /// Attribute probabilities `[N][K]` (sigmoid of the logits), in batches of 64.
    pub fn predict(&self, x: Tensor<4>) -> Result<Vec<Vec<f32>>> {
        let n = x.dims()[0];
        let k = self.label_names.len();
        let mut out = Vec::with_capacity(n);
        let mut i = 0;
        while i < n {
            let b = 64.min(n - i);
            let p = to_vec(&sigmoid(self.forward(x.clone().narrow(0, i, b))?))?;
            out.extend(p.chunks(k).map(<[f32]>::to_vec));
            i += b;
        }
        Ok(out)
    }

    /// Load a classifier file.
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let ck = Checkpoint::read(path)?;
        let entry = ck
            .entry_of_class(CLASSIFIER_CLASS)
            .ok_or_else(|| Error::format(path, format!("holds no {CLASSIFIER_CLASS}")))?;
        let mut p = Params::from_tensors(path.display().to_string(), entry.tensors.clone(), device);
        Self::new(&entry.init_kwargs, &mut p)
    }
}

/// The largest classifier minibatch (the default is 32; larger batches are refused up front
/// rather than left to run out of memory).
pub const MAX_BATCH: usize = 4096;
/// The most feature maps per classifier layer (the default is 32; parameters grow with its
/// square).
pub const MAX_WIDTH: usize = 1024;

/// A lower bound of the memory one training image of a classifier needs: every stage's two
/// convolution outputs (`width · r²` and `width · (r/2)²` floats) from the resolution down to 8,
/// plus the input, each kept with its pre-activation and gradient (×4), as float32.
pub fn classifier_bytes_per_image(resolution: usize, channels: usize, width: usize) -> u64 {
    let mut floats = (channels as u64).saturating_mul((resolution * resolution) as u64);
    let mut r = resolution as u64;
    while r > 4 {
        let stage = r * r + (r / 2) * (r / 2);
        floats = floats.saturating_add((width as u64).saturating_mul(stage));
        r /= 2;
    }
    floats.saturating_mul(4 * 4)
}

/// Options of [`train_classifier`].
#[derive(Clone, Debug)]
pub struct ClassifierOptions {
    pub width: usize,
    pub batch: usize,
    pub steps: usize,
    pub lr: f64,
    /// Fraction of the data set held out for the reported accuracy.
    pub holdout: f64,
    pub seed: u32,
}

impl ClassifierOptions {
    /// Every option in range: batch in `1..=MAX_BATCH`, width in `1..=MAX_WIDTH`, steps >= 1,
    /// learning rate finite in (0, 1], hold-out fraction in (0, 0.5].
    pub fn check(&self) -> Result<()> {
        let bad = |what: &str, want: String, v: String| {
            Err(Error::InvalidArgument(format!(
                "the classifier's {what} must be {want}, got {v}"
            )))
        };
        if self.batch == 0 || self.batch > MAX_BATCH {
            return bad(
                "batch size",
                format!("in 1..={MAX_BATCH}"),
                self.batch.to_string(),
            );
        }
        if self.width == 0 || self.width > MAX_WIDTH {
            return bad(
                "width",
                format!("in 1..={MAX_WIDTH}"),
                self.width.to_string(),
            );
        }
        if self.steps == 0 {
            return bad("step count", "at least 1".into(), "0".into());
        }
        if !(self.lr > 0.0 && self.lr <= 1.0) {
            return bad(
                "learning rate",
                "a finite number in (0, 1]".into(),
                self.lr.to_string(),
            );
        }
        if !(self.holdout > 0.0 && self.holdout <= 0.5) {
            return bad(
                "hold-out fraction",
                "in (0, 0.5]".into(),
                self.holdout.to_string(),
            );
        }
        Ok(())
    }
}

impl Default for ClassifierOptions {
    fn default() -> Self {
        Self {
            width: 32,
            batch: 32,
            steps: 1500,
            lr: 2e-3,
            holdout: 0.1,
            seed: 0,
        }
    }
}

/// Held-out accuracy per attribute (prediction > 0.5 vs label > 0.5).
pub type Accuracy = Vec<(String, f64)>;

/// A data set restricted to some indices.
struct Subset<'a> {
    data: &'a dyn TrainingData,
    idx: Vec<usize>,
}

impl TrainingData for Subset<'_> {
    fn len(&self) -> usize {
        self.idx.len()
    }
    fn resolution(&self) -> usize {
        self.data.resolution()
    }
    fn channels(&self) -> usize {
        self.data.channels()
    }
    fn label_dim(&self) -> usize {
        self.data.label_dim()
    }
    fn image(&self, i: usize) -> &[u8] {
        self.data.image(self.idx[i])
    }
    fn label(&self, i: usize) -> Vec<f32> {
        self.data.label(self.idx[i])
    }
}

/// Train a classifier on `data`'s labels (with x-flips); `progress(step, loss)` is called
/// every step. Returns the classifier file's entry and the held-out accuracy.
pub fn train_classifier(
    data: &dyn TrainingData,
    label_names: &[String],
    opts: &ClassifierOptions,
    progress: &dyn Fn(usize, f64),
) -> Result<(NetworkEntry, Accuracy)> {
    opts.check()?;
    let k = data.label_dim();
    if k == 0 {
        return Err(Error::InvalidArgument(
            "the data set has no labels to learn".into(),
        ));
    }
    if label_names.len() != k {
        return Err(Error::InvalidArgument(format!(
            "{} label names for {k} label values",
            label_names.len()
        )));
    }
    if data.len() < 10 {
        return Err(Error::InvalidArgument(
            "a classifier needs at least 10 labelled images".into(),
        ));
    }
    let device = crate::backend::cpu();
    let kwargs = json!({
        "resolution": data.resolution(), "channels": data.channels(), "width": opts.width,
        "label_names": label_names,
    });
    // Random init through the same constructor, then flat trainable tensors.
    let mut sd = BTreeMap::new();
    {
        let mut p = Params::random(opts.seed, &device);
        let c = AttributeClassifier::new(&kwargs, &mut p)?;
        let mut s = crate::nn::StateDict::default();
        for (i, (c0, c1)) in c.convs.iter().enumerate() {
            let r = c.resolution >> i;
            s.scope(&format!("b{r}"), |s| {
                s.scope("conv0", |s| c0.state_dict(s));
                s.scope("conv1", |s| c1.state_dict(s));
            });
        }
        s.scope("fc", |s| c.fc.state_dict(s));
        s.scope("out", |s| c.out.state_dict(s));
        for (name, t) in s.entries {
            sd.insert(name, t);
        }
    }
    let entry = NetworkEntry {
        class_name: CLASSIFIER_CLASS.into(),
        init_kwargs: kwargs.clone(),
        tensors: sd,
    };
    let mut params = ParamSet::from_entry(&entry, &device);
    let mut adam = Adam::new(AdamConfig {
        lr: opts.lr,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    });

    // Hold-out split (deterministic).
    let mut rng = RandomState::new(opts.seed);
    let mut order: Vec<usize> = (0..data.len()).collect();
    for i in (1..order.len()).rev() {
        let j = ((rng.random_sample() * (i + 1) as f64) as usize).min(i);
        order.swap(i, j);
    }
    let n_hold = ((data.len() as f64 * opts.holdout).round() as usize).clamp(1, data.len() / 2);
    let hold = Subset {
        data,
        idx: order[..n_hold].to_vec(),
    };
    let train = Subset {
        data,
        idx: order[n_hold..].to_vec(),
    };

    for step in 0..opts.steps {
        let (x, y) = real_batch(&train, opts.batch, true, true, &mut rng, &device);
        let y = y.expect("labels");
        let leaves = params.leaves(&|_| true);
        let net = AttributeClassifier::new(&kwargs, &mut Params::live(leaves.clone(), &device))?;
        let logits = net.forward(x)?;
        // BCE with logits: −[y·log σ(l) + (1−y)·log σ(−l)]
        let loss = (y.clone() * log_sigmoid(logits.clone())
            + (y.neg() + 1.0) * log_sigmoid(logits.neg()))
        .mean()
        .neg();
        let lv = to_vec(&loss.clone().without_autodiff())?[0] as f64;
        let grads = loss.backward();
        let g: BTreeMap<String, Tensor<1>> = leaves
            .iter()
            .filter_map(|(n, (_, t))| t.grad(&grads).map(|g| (n.clone(), g)))
            .collect();
        adam.step(&mut params, g)?;
        progress(step, lv);
    }
    let entry = params.to_entry()?;
    let net = AttributeClassifier::new(
        &kwargs,
        &mut Params::from_tensors("classifier", entry.tensors.clone(), &device),
    )?;
    // Held-out accuracy.
    let mut correct = vec![0usize; k];
    let (c, r) = (data.channels(), data.resolution());
    for chunk in hold.idx.chunks(64) {
        let px: Vec<f32> = chunk
            .iter()
            .flat_map(|&i| data.image(i).iter().map(|&u| u as f32 / 127.5 - 1.0))
            .collect();
        let x = Tensor::<4>::from_data(TensorData::new(px, [chunk.len(), c, r, r]), &device);
        for (p, &i) in net.predict(x)?.iter().zip(chunk) {
            let y = data.label(i);
            for a in 0..k {
                correct[a] += usize::from((p[a] > 0.5) == (y[a] > 0.5));
            }
        }
    }
    let acc = label_names
        .iter()
        .zip(&correct)
        .map(|(n, &c)| (n.clone(), c as f64 / n_hold as f64))
        .collect();
    Ok((entry, acc))
}

/// Write a classifier file (atomically).
pub fn save_classifier(path: &Path, entry: &NetworkEntry) -> Result<()> {
    Checkpoint::write(path, &[("", entry)], &BTreeMap::new())
}

/// Generated samples with their w and attribute scores (what InterFaceGAN learns from).
#[derive(Clone, Debug)]
pub struct LabelledSamples {
    pub seeds: Vec<u32>,
    /// `[N][w_dim]`
    pub w: Vec<Vec<f32>>,
    /// `[N][K]` probabilities.
    pub scores: Vec<Vec<f32>>,
    pub label_names: Vec<String>,
}

impl LabelledSamples {
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut tensors = BTreeMap::new();
        let n = self.w.len();
        tensors.insert(
            "w".to_string(),
            RawTensor {
                shape: vec![n, self.w.first().map_or(0, Vec::len)],
                data: self.w.concat(),
            },
        );
        tensors.insert(
            "scores".to_string(),
            RawTensor {
                shape: vec![n, self.label_names.len()],
                data: self.scores.concat(),
            },
        );
        tensors.insert(
            "seeds".to_string(),
            RawTensor {
                shape: vec![n],
                data: self.seeds.iter().map(|&s| s as f32).collect(),
            },
        );
        let entry = NetworkEntry {
            class_name: "stylegan_rs.LabelledSamples".into(),
            init_kwargs: json!({"label_names": self.label_names}),
            tensors,
        };
        Checkpoint::write(path, &[("", &entry)], &BTreeMap::new())
    }

    pub fn load(path: &Path) -> Result<Self> {
        let ck = Checkpoint::read(path)?;
        let e = ck
            .entry_of_class("stylegan_rs.LabelledSamples")
            .ok_or_else(|| {
                Error::format(
                    path,
                    "is not a labelled-samples file (stylegan classifier label)",
                )
            })?;
        let names: Vec<String> = e
            .init_kwargs
            .get("label_names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let get = |n: &str| {
            e.tensors
                .get(n)
                .ok_or_else(|| Error::format(path, format!("lacks '{n}'")))
        };
        let (w, s, seeds) = (get("w")?, get("scores")?, get("seeds")?);
        let rows = |t: &RawTensor| -> Vec<Vec<f32>> {
            t.data
                .chunks(t.shape[1].max(1))
                .map(<[f32]>::to_vec)
                .collect()
        };
        Ok(Self {
            seeds: seeds.data.iter().map(|&v| v as u32).collect(),
            w: rows(w),
            scores: rows(s),
            label_names: names,
        })
    }
}
