//! Blending masks α ∈ [0, 1] at any block's resolution, and the image tensor the feature
//! operations return.

use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Tensor, TensorData};

use crate::error::{Error, Result};

/// An image tensor `[1, C, H, W]` in [-1, 1] on its way to a file.
pub struct ImageTensor(pub Tensor<4>);

impl From<Tensor<4>> for ImageTensor {
    fn from(t: Tensor<4>) -> Self {
        Self(t)
    }
}

impl ImageTensor {
    pub fn to_image8(self) -> Result<crate::io::image::Image8> {
        let [n, _, _, _] = self.0.dims();
        if n != 1 {
            return Err(Error::InvalidArgument(format!(
                "expected one image, got {n}"
            )));
        }
        Ok(crate::io::image::Image8::from_batch(self.0)?.remove(0))
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
        crate::files::check_input(path)?;
        let img = image::open(path)
            .map_err(|e| Error::format(path, e.to_string()))?
            .to_luma8();
        let (w, h) = img.dimensions();
        Ok(Mask::Image {
            h: h as usize,
            w: w as usize,
            alpha: img.pixels().map(|p| p.0[0] as f32 / 255.0).collect(),
        })
    }

    /// α at size `h × w`, shaped `[1, 1, h, w]`.
    pub fn at(&self, h: usize, w: usize, device: &burn::tensor::Device) -> Tensor<4> {
        let ramp = |i: usize, n: usize| {
            if n > 1 {
                i as f32 / (n - 1) as f32
            } else {
                0.5
            }
        };
        let v: Vec<f32> = match self {
            Mask::Horizontal => (0..h * w).map(|k| ramp(k % w, w)).collect(),
            Mask::Vertical => (0..h * w).map(|k| ramp(k / w, h)).collect(),
            Mask::Constant(a) => vec![*a; h * w],
            Mask::Image {
                h: mh,
                w: mw,
                alpha,
            } => {
                let t = Tensor::<4>::from_data(
                    TensorData::new(alpha.clone(), [1, 1, *mh, *mw]),
                    device,
                );
                if (*mh, *mw) == (h, w) {
                    return t;
                }
                return interpolate(
                    t,
                    InterpolateOptions::new(InterpolateMode::Bilinear).with_output_size([h, w]),
                );
            }
        };
        Tensor::from_data(TensorData::new(v, [1, 1, h, w]), device)
    }
}

/// Where sample `c` of `len` samples at `rate` per image width (a StyleGAN3 layer, centred on
/// the image, margins included) lies: image widths from the image centre (the image spans
/// ±0.5).
pub(crate) fn sample_position(c: usize, len: usize, rate: f64) -> f64 {
    (c as f64 + 0.5 - len as f64 / 2.0) / rate
}

pub(crate) fn mix(a: Tensor<4>, b: Tensor<4>, alpha: &Tensor<4>) -> Tensor<4> {
    let [_, c, _, _] = a.dims();
    let al = alpha.clone().repeat_dim(1, c);
    a.clone() + (b - a) * al
}

impl Mask {
    /// α = 1 inside the box `[x0, x1) × [y0, y1)` given as fractions of the width / height.
    pub fn from_box(x0: f64, y0: f64, x1: f64, y1: f64) -> Result<Self> {
        if !(0.0 <= x0 && x0 < x1 && x1 <= 1.0 && 0.0 <= y0 && y0 < y1 && y1 <= 1.0) {
            return Err(Error::InvalidArgument(format!(
                "box ({x0}, {y0}) – ({x1}, {y1}) must satisfy 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1"
            )));
        }
        // A 64×64 raster is resized to each block; fine enough for a region mask.
        let n = 64;
        let alpha = (0..n * n)
            .map(|k| {
                let (y, x) = ((k / n) as f64 + 0.5, (k % n) as f64 + 0.5);
                let inside = x >= x0 * n as f64
                    && x < x1 * n as f64
                    && y >= y0 * n as f64
                    && y < y1 * n as f64;
                f32::from(u8::from(inside))
            })
            .collect();
        Ok(Mask::Image { h: n, w: n, alpha })
    }
}
