//! "StyleGAN of All Trades" (Chong et al. 2021): operations on the intermediate features of a
//! pretrained generator, between synthesis blocks — spatial resizing / padding (wider or taller
//! images), and feature blending with a mask (image mixing).
//!
//! Everything goes through the synthesis network's block interface
//! ([`SynthesisNetwork::run_blocks`](crate::models::SynthesisNetwork::run_blocks)); no forward
//! pass is re-implemented here. Styles stay per block and independent of spatial size, since
//! the network is fully convolutional.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, PadMode};
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};
use crate::models::{BlockStyles, Features, Generator, NoiseMode};

/// How features are extended to a larger size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extend {
    /// Mirror at the border, excluding the edge (`[3 2 | 1 2 3 4]`).
    Reflect,
    /// Repeat the edge value.
    Replicate,
    /// Wrap around (the features tile).
    Circular,
    /// Resize the features (bilinear), no padding.
    Stretch,
}

impl std::str::FromStr for Extend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "reflect" => Ok(Self::Reflect),
            "replicate" => Ok(Self::Replicate),
            "circular" => Ok(Self::Circular),
            "stretch" => Ok(Self::Stretch),
            o => Err(Error::InvalidArgument(format!(
                "unknown mode '{o}' (expected reflect, replicate, circular or stretch)"
            ))),
        }
    }
}

/// Pad one spatial axis (`axis` 2 = height, 3 = width) by `before`/`after`.
fn pad_axis(x: Tensor<4>, axis: usize, before: usize, after: usize, mode: Extend) -> Tensor<4> {
    if before == 0 && after == 0 {
        return x;
    }
    let n = x.dims()[axis];
    match mode {
        Extend::Circular => {
            // Wrap as many times as needed.
            let mut parts = Vec::new();
            let mut b = before;
            while b > 0 {
                let take = b.min(n);
                parts.push(x.clone().narrow(axis, n - take, take));
                b -= take;
            }
            parts.reverse();
            parts.push(x.clone());
            let mut a = after;
            while a > 0 {
                let take = a.min(n);
                parts.push(x.clone().narrow(axis, 0, take));
                a -= take;
            }
            Tensor::cat(parts, axis)
        }
        Extend::Reflect | Extend::Replicate => {
            let pm = if mode == Extend::Reflect { PadMode::Reflect } else { PadMode::Edge };
            // Reflect pads at most n − 1 at a time; repeat on the growing tensor.
            let (mut x, mut b, mut a) = (x, before, after);
            while b > 0 || a > 0 {
                let cur = x.dims()[axis];
                let lim = if mode == Extend::Reflect { cur - 1 } else { usize::MAX };
                let (pb, pa) = (b.min(lim), a.min(lim));
                let pads = if axis == 3 { vec![(0, 0), (pb, pa)] } else { vec![(pb, pa), (0, 0)] };
                x = x.pad(pads, pm);
                b -= pb;
                a -= pa;
            }
            x
        }
        Extend::Stretch => unreachable!("handled by resize"),
    }
}

/// Extend `x` `[N, C, H, W]` to `[N, C, h, w]` (centred padding, or a resize for `Stretch`).
pub fn extend(x: Tensor<4>, h: usize, w: usize, mode: Extend) -> Result<Tensor<4>> {
    let [_, _, h0, w0] = x.dims();
    if mode == Extend::Stretch {
        if (h, w) == (h0, w0) {
            return Ok(x);
        }
        return Ok(interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]),
        ));
    }
    if h < h0 || w < w0 {
        return Err(Error::InvalidArgument(format!(
            "padding cannot shrink features from {h0}x{w0} to {h}x{w}; crop instead"
        )));
    }
    let (ph, pw) = (h - h0, w - w0);
    let x = pad_axis(x, 3, pw / 2, pw - pw / 2, mode);
    Ok(pad_axis(x, 2, ph / 2, ph - ph / 2, mode))
}

/// Run blocks `0..=layer`, extend the features (and the skip image) by the factors, continue
/// to the image. Factor 1 in both directions is the plain forward pass.
pub fn expand(
    g: &Generator,
    styles: &[BlockStyles],
    layer: usize,
    mode: Extend,
    width_factor: f64,
    height_factor: f64,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    let n_blocks = g.synthesis.blocks.len();
    if layer >= n_blocks {
        return Err(Error::InvalidArgument(format!(
            "block {layer} is out of range: the network has blocks 0..{} (b4 … b{})",
            n_blocks - 1,
            g.config.img_resolution
        )));
    }
    if !(width_factor >= 1.0 && height_factor >= 1.0 && width_factor.is_finite() && height_factor.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "factors must be finite and >= 1, got width {width_factor}, height {height_factor}"
        )));
    }
    let f = g.synthesis.run_blocks(styles, 0..layer + 1, None, noise)?;
    let [_, _, h0, w0] = f.x.dims();
    let (h, w) = ((h0 as f64 * height_factor).round() as usize, (w0 as f64 * width_factor).round() as usize);
    let f = Features {
        x: extend(f.x, h, w, mode)?,
        img: f.img.map(|i| extend(i, h, w, mode)).transpose()?,
    };
    let f = if layer + 1 < n_blocks {
        g.synthesis.run_blocks(styles, layer + 1..n_blocks, Some(f), noise)?
    } else {
        f
    };
    f.img.ok_or_else(|| Error::Config("the last block made no image".into()))
}

/// An image tensor `[1, C, H, W]` in [-1, 1] on its way to a file.
pub struct ImageTensor(pub Tensor<4>);

impl From<Tensor<4>> for ImageTensor {
    fn from(t: Tensor<4>) -> Self {
        Self(t)
    }
}

impl ImageTensor {
    pub fn to_image8(self) -> Result<crate::io::image::Image8> {
        let [n, c, h, w] = self.0.dims();
        if n != 1 {
            return Err(Error::InvalidArgument(format!("expected one image, got {n}")));
        }
        let v: Vec<f32> = self.0.into_data().try_to_vec().map_err(|e| Error::Config(format!("{e:?}")))?;
        Ok(crate::io::image::Image8::from_chw(&v, c, h, w))
    }
}

/// A blending mask α ∈ [0, 1]: 0 = all A, 1 = all B.
#[derive(Clone, Debug)]
pub enum Mask {
    /// α grows left to right.
    Horizontal,
    /// α grows top to bottom.
    Vertical,
    /// Any mask `[H, W]` (e.g. an image read as pixel/255), resized to each layer (bilinear).
    Image { h: usize, w: usize, alpha: Vec<f32> },
    /// The same α everywhere.
    Constant(f32),
}

impl Mask {
    /// A mask image read as α = grey value / 255 (black = all A, white = all B).
    pub fn from_image_file(path: &std::path::Path) -> Result<Self> {
        let img = image::open(path).map_err(|e| Error::format(path, e.to_string()))?.to_luma8();
        let (w, h) = img.dimensions();
        Ok(Mask::Image {
            h: h as usize,
            w: w as usize,
            alpha: img.pixels().map(|p| p.0[0] as f32 / 255.0).collect(),
        })
    }

    /// α at size `h × w`, shaped `[1, 1, h, w]`.
    pub fn at(&self, h: usize, w: usize, device: &burn::tensor::Device) -> Tensor<4> {
        let ramp = |i: usize, n: usize| if n > 1 { i as f32 / (n - 1) as f32 } else { 0.5 };
        let v: Vec<f32> = match self {
            Mask::Horizontal => (0..h * w).map(|k| ramp(k % w, w)).collect(),
            Mask::Vertical => (0..h * w).map(|k| ramp(k / w, h)).collect(),
            Mask::Constant(a) => vec![*a; h * w],
            Mask::Image { h: mh, w: mw, alpha } => {
                let t = Tensor::<4>::from_data(TensorData::new(alpha.clone(), [1, 1, *mh, *mw]), device);
                if (*mh, *mw) == (h, w) {
                    return t;
                }
                return interpolate(t, InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]));
            }
        };
        Tensor::from_data(TensorData::new(v, [1, 1, h, w]), device)
    }
}

fn mix(a: Tensor<4>, b: Tensor<4>, alpha: &Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = a.dims();
    let al = alpha.clone().repeat_dim(1, c);
    a.clone() + (b - a) * al
}

/// Feature blending: every block in `layers` runs on the blended features so far with A's and
/// with B's styles, and its outputs (features and skip image) are mixed as `(1−α)·A + α·B` with
/// the mask at that block's resolution; blocks not in `layers` run with A's styles.
/// α = 0 everywhere gives A's image and α = 1 (with all layers) gives B's.
pub fn blend(
    g: &Generator,
    styles_a: &[BlockStyles],
    styles_b: &[BlockStyles],
    mask: &Mask,
    layers: Option<&[usize]>,
    noise: NoiseMode,
) -> Result<Tensor<4>> {
    let n_blocks = g.synthesis.blocks.len();
    if let Some(bad) = layers.and_then(|l| l.iter().find(|&&i| i >= n_blocks)) {
        return Err(Error::InvalidArgument(format!("block {bad} is out of range 0..{}", n_blocks - 1)));
    }
    let (ba, bb) = (styles_a[0].conv1.dims()[0], styles_b[0].conv1.dims()[0]);
    if ba != bb {
        return Err(Error::InvalidArgument(format!("A has {ba} latents, B has {bb}")));
    }
    let device = g.device().clone();
    let mut f: Option<Features> = None;
    for i in 0..n_blocks {
        let fa = g.synthesis.run_blocks(styles_a, i..i + 1, f.clone(), noise)?;
        let blended = layers.is_none_or(|l| l.contains(&i));
        f = Some(if blended {
            let fb = g.synthesis.run_blocks(styles_b, i..i + 1, f, noise)?;
            let [_, _, h, w] = fa.x.dims();
            let alpha = mask.at(h, w, &device);
            Features {
                x: mix(fa.x, fb.x, &alpha),
                img: match (fa.img, fb.img) {
                    (Some(a), Some(b)) => {
                        let [_, _, ih, iw] = a.dims();
                        let al = if (ih, iw) == (h, w) { alpha } else { mask.at(ih, iw, &device) };
                        Some(mix(a, b, &al))
                    }
                    (a, _) => a,
                },
            }
        } else {
            fa
        });
    }
    f.and_then(|f| f.img).ok_or_else(|| Error::Config("the last block made no image".into()))
}
