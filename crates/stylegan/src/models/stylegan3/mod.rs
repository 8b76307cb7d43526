//! The StyleGAN3 family (`training/networks_stylegan3.py`, configs T and R; FORMATS.md §5).
//!
//! Its mapping network is the StyleGAN2 one (2 layers by default, `models::mapping`). Its
//! synthesis differs throughout: a Fourier-feature `input` (with a user transform for
//! translation/rotation), and alias-free layers whose sampling rates, cutoffs and filters are
//! *designed* from the constructor arguments (`design`). Loading checks the stored filters
//! against that design. StyleGAN3 has no per-pixel noise: every noise mode gives the same image.
//!
//! - `config`: the constructor keywords and their defaults;
//! - `design`: the layer design and the Kaiser / jinc filters;
//! - `input`: `SynthesisInput` and the `make_transform` of `gen_images.py`;
//! - `layer`: `SynthesisLayer` (and ToRGB);
//! - `synthesis`: the network.

pub mod config;
pub mod design;
pub mod input;
pub mod layer;
pub mod synthesis;

pub use config::Sg3Config;
pub use design::{Design, LayerDesign};
pub use input::{invert3, make_transform, SynthesisInput};
pub use synthesis::SynthesisNetwork;
