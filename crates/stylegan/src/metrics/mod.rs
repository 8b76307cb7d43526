//! Image-quality measures: PSNR, and the official generative-model metrics of
//! `calc_metrics.py` — FID, KID and precision/recall on the Inception features
//! ([`inception`], [`stats`]) — and perceptual path length ([`ppl`]).

pub mod assets;
pub mod calc;
pub mod features;
pub mod inception;
pub mod ppl;
pub mod stats;

use crate::error::{Error, Result};
use crate::io::image::Image8;

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
mod tests {
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
