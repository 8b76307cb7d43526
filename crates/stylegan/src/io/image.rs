//! Images: the official float → uint8 quantisation, PNG output and grids.

use std::path::Path;

use crate::error::{Error, Result};

/// `(x·127.5 + 128).clamp(0, 255)` then truncation, as `gen_images.py` does (float32 multiply,
/// then add, no FMA).
pub fn quantize(x: f32) -> u8 {
    let v = x * 127.5f32 + 128.0f32;
    v.clamp(0.0, 255.0) as u8
}

/// PGGAN's quantisation (`util_scripts.generate_fake_images`, FORMATS.md §14.4):
/// `round(x·127.5 + 127.5)` with ties to even (TF's `round`), clamped to [0, 255].
pub fn quantize_pggan(x: f32) -> u8 {
    let v = x * 127.5f32 + 127.5f32;
    v.round_ties_even().clamp(0.0, 255.0) as u8
}

/// The most pixels one picture the library makes may hold (images, grids, enlargements,
/// widened feature maps): 2^28, a 16384 × 16384 image. Larger requests are refused up front
/// instead of ending in an allocation failure.
pub const MAX_IMAGE_PIXELS: usize = 1 << 28;

/// `width × height` must stay within [`MAX_IMAGE_PIXELS`]; `what` names the picture.
pub fn check_size(what: &str, width: usize, height: usize) -> Result<()> {
    match width.checked_mul(height) {
        Some(p) if p <= MAX_IMAGE_PIXELS => Ok(()),
        _ => Err(Error::InvalidArgument(format!(
            "{what} would be {width}x{height} pixels, more than the limit of {MAX_IMAGE_PIXELS} \
             (16384x16384)"
        ))),
    }
}

/// Refuse a batch of raw images (`per_image` values each) that holds NaN or infinity: such
/// pixels would quantise to black without a word.
pub fn check_finite(pixels: &[f32], per_image: usize) -> Result<()> {
    match pixels.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(bad) => Err(Error::InvalidArgument(format!(
            "the network produced a non-finite pixel ({} in image {}): its weights or the \
             latents it was given hold NaN or infinity",
            pixels[bad],
            bad / per_image.max(1)
        ))),
    }
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
        Self::from_chw_with(chw, channels, height, width, quantize)
    }

    /// [`Self::from_chw`] with another quantisation (e.g. [`quantize_pggan`]).
    pub fn from_chw_with(
        chw: &[f32],
        channels: usize,
        height: usize,
        width: usize,
        quantize: fn(f32) -> u8,
    ) -> Self {
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
        check_finite(&v, c * h * w)?;
        Ok(v.chunks_exact(c * h * w)
            .take(n)
            .map(|chw| Self::from_chw(chw, c, h, w))
            .collect())
    }

    /// Nearest-neighbour enlargement by an integer `factor` (small images in figures).
    pub fn upscale(&self, factor: usize) -> Result<Self> {
        let (w, h) = (
            self.width.saturating_mul(factor),
            self.height.saturating_mul(factor),
        );
        check_size("the enlarged picture", w, h)?;
        let c = self.channels;
        let mut pixels = vec![0u8; w * h * c];
        for y in 0..h {
            for x in 0..w {
                let src = ((y / factor) * self.width + x / factor) * c;
                pixels[(y * w + x) * c..(y * w + x + 1) * c]
                    .copy_from_slice(&self.pixels[src..src + c]);
            }
        }
        Ok(Self {
            width: w,
            height: h,
            channels: c,
            pixels,
        })
    }

    /// Encode as PNG and write atomically.
    pub fn save_png(&self, path: &Path) -> Result<()> {
        self.save_as(path, ImageFormat::Png)
    }

    /// Encode in the format the extension of `path` names (`.png`, `.jpg`/`.jpeg`, `.webp`)
    /// and write atomically; any other extension is refused.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.save_as(path, ImageFormat::from_path(path)?)
    }

    /// Encode as `format` and write atomically.
    pub fn save_as(&self, path: &Path, format: ImageFormat) -> Result<()> {
        use image::ExtendedColorType as C;
        let color = match (self.channels, format) {
            (1, _) => C::L8,
            (3, _) => C::Rgb8,
            (4, ImageFormat::Png | ImageFormat::WebP) => C::Rgba8,
            (c, f) => {
                return Err(Error::InvalidArgument(format!(
                    "{}: cannot write a {c}-channel image as {f:?}",
                    path.display()
                )))
            }
        };
        let mut buf = Vec::new();
        let (w, h, px) = (self.width as u32, self.height as u32, &self.pixels);
        let encoded = match format {
            ImageFormat::Png => image::ImageEncoder::write_image(
                image::codecs::png::PngEncoder::new(&mut buf),
                px,
                w,
                h,
                color,
            ),
            ImageFormat::Jpeg => image::ImageEncoder::write_image(
                image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, 95),
                px,
                w,
                h,
                color,
            ),
            ImageFormat::WebP => image::ImageEncoder::write_image(
                image::codecs::webp::WebPEncoder::new_lossless(&mut buf),
                px,
                w,
                h,
                color,
            ),
        };
        encoded.map_err(|e| Error::format(path, format!("{format:?} encoding failed: {e}")))?;
        super::atomic_write(path, &buf)
    }
}

/// The still-image formats outputs can be written in, chosen by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    /// Quality 95 (lossy).
    Jpeg,
    /// Lossless.
    WebP,
}

impl ImageFormat {
    /// The format `path`'s extension names, or an error naming the extensions that work.
    /// A device or FIFO (`/dev/stdout`) with another name gets PNG.
    pub fn from_path(path: &Path) -> Result<Self> {
        if let Err(e) = crate::files::check_extension(path, super::OutputKind::Image) {
            if !crate::files::is_stream(path) {
                return Err(e);
            }
        }
        Ok(match crate::files::extension(path).as_str() {
            "jpg" | "jpeg" => Self::Jpeg,
            "webp" => Self::WebP,
            _ => Self::Png,
        })
    }
}

/// Lay same-sized images out in a `cols × rows` grid (row-major, unused cells black).
pub fn grid(images: &[Image8], cols: usize, rows: usize) -> Result<Image8> {
    let first = images
        .first()
        .ok_or_else(|| Error::InvalidArgument("grid of zero images".into()))?;
    if cols.saturating_mul(rows) < images.len() {
        return Err(Error::InvalidArgument(format!(
            "a {cols}x{rows} grid cannot hold {} images",
            images.len()
        )));
    }
    let (w, h, c) = (first.width, first.height, first.channels);
    if images
        .iter()
        .any(|i| i.width != w || i.height != h || i.channels != c)
    {
        return Err(Error::InvalidArgument(
            "a grid needs images of one size and channel count".into(),
        ));
    }
    check_size(
        &format!("a {cols}x{rows} grid"),
        w.saturating_mul(cols),
        h.saturating_mul(rows),
    )?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_pixels_are_refused() {
        let dev = crate::backend::cpu();
        let mut v = vec![0.5f32; 2 * 3 * 4 * 4];
        assert_eq!(Image8::from_batch(batch(&v, &dev)).unwrap().len(), 2);
        v[3 * 16 + 5] = f32::NAN;
        let e = Image8::from_batch(batch(&v, &dev)).unwrap_err().to_string();
        assert!(e.contains("non-finite") && e.contains("image 1"), "{e}");
        v[3 * 16 + 5] = f32::INFINITY;
        assert!(check_finite(&v, 48).is_err());
    }

    fn batch(v: &[f32], dev: &crate::Device) -> burn::tensor::Tensor<4> {
        burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(v.to_vec(), [2, 3, 4, 4]),
            dev,
        )
    }

    #[test]
    fn grids_and_enlargements_are_bounded() {
        let img = Image8 {
            width: 8,
            height: 8,
            channels: 3,
            pixels: vec![0; 8 * 8 * 3],
        };
        assert!(img
            .upscale(100_000)
            .unwrap_err()
            .to_string()
            .contains("limit"));
        assert_eq!(img.upscale(3).unwrap().width, 24);
        let e = grid(std::slice::from_ref(&img), 100_000, 100_000)
            .unwrap_err()
            .to_string();
        assert!(e.contains("100000x100000 grid"), "{e}");
        assert!(grid(&[img.clone(), img], 2, 1).is_ok());
    }
}

/// Peak signal-to-noise ratio of two 8-bit images in dB, `10·log10(255² / MSE)`
/// (infinite for identical images).
pub fn psnr(a: &Image8, b: &Image8) -> Result<f64> {
    if (a.width, a.height, a.channels) != (b.width, b.height, b.channels) {
        return Err(Error::InvalidArgument(format!(
            "PSNR compares images of one size, got {}x{}x{} and {}x{}x{}",
            a.width, a.height, a.channels, b.width, b.height, b.channels
        )));
    }
    let mse = a
        .pixels
        .iter()
        .zip(&b.pixels)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.pixels.len() as f64;
    Ok(10.0 * (255.0f64 * 255.0 / mse).log10())
}

#[cfg(test)]
mod psnr_tests {
    use super::*;

    fn img(v: Vec<u8>) -> Image8 {
        Image8 {
            width: v.len(),
            height: 1,
            channels: 1,
            pixels: v,
        }
    }

    #[test]
    fn psnr_of_known_errors() {
        // Every pixel off by 255: MSE 255², 0 dB; off by 1: 20·log10(255) ≈ 48.13 dB.
        assert!(psnr(&img(vec![0, 0]), &img(vec![255, 255])).unwrap().abs() < 1e-12);
        let p = psnr(&img(vec![10, 20]), &img(vec![11, 19])).unwrap();
        assert!((p - 20.0 * 255f64.log10()).abs() < 1e-9);
        assert!(psnr(&img(vec![3]), &img(vec![3])).unwrap().is_infinite());
        assert!(psnr(&img(vec![3]), &img(vec![3, 4])).is_err());
    }
}
