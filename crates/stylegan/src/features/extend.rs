//! Extending features to a larger size (padding modes, a bilinear stretch) and `expand`:
//! a wider or taller image from the features after one block.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, PadMode};
use burn::tensor::Tensor;

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
            let pm = if mode == Extend::Reflect {
                PadMode::Reflect
            } else {
                PadMode::Edge
            };
            // Reflect pads at most n − 1 at a time; repeat on the growing tensor.
            let (mut x, mut b, mut a) = (x, before, after);
            while b > 0 || a > 0 {
                let cur = x.dims()[axis];
                let lim = if mode == Extend::Reflect {
                    cur - 1
                } else {
                    usize::MAX
                };
                let (pb, pa) = (b.min(lim), a.min(lim));
                let pads = if axis == 3 {
                    vec![(0, 0), (pb, pa)]
                } else {
                    vec![(pb, pa), (0, 0)]
                };
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

/// The most pixels an expanded image may have: 2^24 (4096 × 4096). Every layer after the
/// extended block holds features that much larger, so the bound is well below the one for
/// plain pictures ([`crate::io::image::MAX_IMAGE_PIXELS`]).
pub const MAX_EXPANDED_PIXELS: usize = 1 << 24;

/// An image of `resolution` widened by `width_factor` and heightened by `height_factor` must
/// stay within [`MAX_EXPANDED_PIXELS`] (StyleGAN2 and StyleGAN3 expansion alike).
pub fn check_expanded_size(resolution: usize, width_factor: f64, height_factor: f64) -> Result<()> {
    let side = |f: f64| (resolution as f64 * f).round();
    let (w, h) = (side(width_factor), side(height_factor));
    if !(width_factor >= 1.0 && height_factor >= 1.0 && w * h <= MAX_EXPANDED_PIXELS as f64) {
        return Err(Error::InvalidArgument(format!(
            "factors must be >= 1 and keep the expanded image within {MAX_EXPANDED_PIXELS} pixels \
             (4096x4096); width {width_factor} x height {height_factor} of a {resolution}-pixel \
             image asks for {w}x{h}"
        )));
    }
    Ok(())
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
    let n_blocks = g.synthesis.num_blocks("expand")?;
    if layer >= n_blocks {
        return Err(Error::InvalidArgument(format!(
            "block {layer} is out of range: the network has blocks 0..{} (b4 … b{})",
            n_blocks - 1,
            g.config.img_resolution
        )));
    }
    if !(width_factor >= 1.0
        && height_factor >= 1.0
        && width_factor.is_finite()
        && height_factor.is_finite())
    {
        return Err(Error::InvalidArgument(format!(
            "factors must be finite and >= 1, got width {width_factor}, height {height_factor}"
        )));
    }
    check_expanded_size(g.config.img_resolution, width_factor, height_factor)?;
    let f = g.synthesis.run_blocks(styles, 0..layer + 1, None, noise)?;
    let [_, _, h0, w0] = f.x.dims();
    let (h, w) = (
        (h0 as f64 * height_factor).round() as usize,
        (w0 as f64 * width_factor).round() as usize,
    );
    let f = Features {
        x: extend(f.x, h, w, mode)?,
        img: f.img.map(|i| extend(i, h, w, mode)).transpose()?,
    };
    let f = if layer + 1 < n_blocks {
        g.synthesis
            .run_blocks(styles, layer + 1..n_blocks, Some(f), noise)?
    } else {
        f
    };
    f.img
        .ok_or_else(|| Error::Config("the last block made no image".into()))
}
