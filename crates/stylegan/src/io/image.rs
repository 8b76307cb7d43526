//! Images: the official float → uint8 quantisation, PNG output and grids.

use std::path::Path;

use crate::error::{Error, Result};

/// `(x·127.5 + 128).clamp(0, 255)` then truncation, as `gen_images.py` does (float32 multiply,
/// then add, no FMA).
pub fn quantize(x: f32) -> u8 {
    let v = x * 127.5f32 + 128.0f32;
    v.clamp(0.0, 255.0) as u8
}

/// An 8-bit image, `channels` = 1 (grey) or 3 (RGB), row-major HWC.
#[derive(Clone, Debug)]
pub struct Image8 {
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    pub pixels: Vec<u8>,
}

impl Image8 {
    /// Quantise one CHW float image in [-1, 1].
    pub fn from_chw(chw: &[f32], channels: usize, height: usize, width: usize) -> Self {
        let mut pixels = vec![0u8; channels * height * width];
        for c in 0..channels {
            for y in 0..height {
                for x in 0..width {
                    pixels[(y * width + x) * channels + c] =
                        quantize(chw[(c * height + y) * width + x]);
                }
            }
        }
        Self {
            width,
            height,
            channels,
            pixels,
        }
    }

    /// Every image of an NCHW batch in [-1, 1] (the official quantisation).
    pub fn from_batch(images: burn::tensor::Tensor<4>) -> Result<Vec<Self>> {
        let [n, c, h, w] = images.dims();
        let v = crate::backend::to_vec(&images)?;
        Ok(v.chunks_exact(c * h * w)
            .take(n)
            .map(|chw| Self::from_chw(chw, c, h, w))
            .collect())
    }

    /// Nearest-neighbour enlargement by an integer `factor` (small images in figures).
    pub fn upscale(&self, factor: usize) -> Self {
        let (w, h, c) = (self.width * factor, self.height * factor, self.channels);
        let mut pixels = vec![0u8; w * h * c];
        for y in 0..h {
            for x in 0..w {
                let src = ((y / factor) * self.width + x / factor) * c;
                pixels[(y * w + x) * c..(y * w + x + 1) * c]
                    .copy_from_slice(&self.pixels[src..src + c]);
            }
        }
        Self {
            width: w,
            height: h,
            channels: c,
            pixels,
        }
    }

    /// Encode as PNG and write atomically.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        let color = match self.channels {
            1 => image::ExtendedColorType::L8,
            3 => image::ExtendedColorType::Rgb8,
            4 => image::ExtendedColorType::Rgba8,
            c => {
                return Err(Error::InvalidArgument(format!(
                    "cannot write a {c}-channel image as PNG"
                )))
            }
        };
        let mut buf = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut buf),
            &self.pixels,
            self.width as u32,
            self.height as u32,
            color,
        )
        .map_err(|e| Error::format(path, format!("PNG encoding failed: {e}")))?;
        super::atomic_write(path, &buf)
    }
}

/// Lay same-sized images out in a `cols × rows` grid (row-major, unused cells black).
pub fn grid(images: &[Image8], cols: usize, rows: usize) -> Result<Image8> {
    let first = images
        .first()
        .ok_or_else(|| Error::InvalidArgument("grid of zero images".into()))?;
    if cols * rows < images.len() {
        return Err(Error::InvalidArgument(format!(
            "a {cols}x{rows} grid cannot hold {} images",
            images.len()
        )));
    }
    let (w, h, c) = (first.width, first.height, first.channels);
    let gw = w * cols;
    let mut pixels = vec![0u8; gw * h * rows * c];
    for (i, img) in images.iter().enumerate() {
        let (gx, gy) = (i % cols, i / cols);
        for y in 0..h {
            let src = &img.pixels[y * w * c..(y + 1) * w * c];
            let dst = ((gy * h + y) * gw + gx * w) * c;
            pixels[dst..dst + w * c].copy_from_slice(src);
        }
    }
    Ok(Image8 {
        width: gw,
        height: h * rows,
        channels: c,
        pixels,
    })
}
