//! Perceptual networks: LPIPS (VGG16, v0.1).

pub mod assets;
pub mod lpips;

pub use lpips::Lpips;
