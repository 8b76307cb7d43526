//! stylegan-rs: StyleGAN networks faithful to NVIDIA's code, their checkpoints, and the tools
//! built on them. This crate is the library; the `stylegan` command line lives in `crates/cli`.
//!
//! The data path, top-down:
//! checkpoint ─[`io`]→ [`models::Generator`] ─ mapping: z, c → w ─ [`latent`]: w → ws (W+),
//! truncation ─ synthesis: ws → styles (S) → block features → image.

pub mod attributes;
pub mod backend;
pub mod data;
pub mod edit;
pub mod error;
pub mod features;
pub mod invert;
pub mod io;
pub mod latent;
pub mod metrics;
pub mod models;
pub mod nn;
pub mod ops;
pub mod perceptual;
pub mod train;

pub use backend::{device, Device, DeviceKind};
pub use error::{Error, Result};
