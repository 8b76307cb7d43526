//! Image-quality measures: PSNR ([`psnr`], on 8-bit images in `io::image`), and the official
//! generative-model metrics of `calc_metrics.py` — FID, KID and precision/recall on the
//! Inception features ([`inception`], [`stats`]) — perceptual path length ([`ppl`]), linear
//! separability ([`separability`], with an attribute classifier) and StyleGAN3's equivariance
//! EQ-T / EQ-T_frac / EQ-R ([`equivariance`]).
//!
//! Layered above `train`, `invert` and `attributes` (it reads run directories, uses LPIPS and
//! the attribute classifier from the layers below); PSNR lives in `io::image` so inversion can use it.

pub mod assets;
pub mod calc;
pub mod equivariance;
pub mod features;
pub mod inception;
pub mod ppl;
pub mod separability;
pub mod stats;

pub use crate::io::image::psnr;
