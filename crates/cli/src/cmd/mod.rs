pub mod assets;
pub mod bench;
pub mod classifier;
pub mod convert;
pub mod dataset;
pub mod directions;
pub mod edit;
pub mod evaluate;
pub mod features;
pub mod generate;
pub mod info;
pub mod init;
pub mod inspect;
pub mod mix;
pub mod project;
pub mod pti;
pub mod train;
pub mod video;

use std::path::PathBuf;

use anyhow::{bail, Result};
use stylegan::{Device, DeviceKind};

/// The bundled demo model (a 32×32 facesjs face generator trained by this project; see README).
pub const DEMO_MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/faces32.safetensors"
);

/// `--network`, or the bundled demo model when it is absent.
pub fn network(given: &Option<PathBuf>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.clone());
    }
    let p = PathBuf::from(DEMO_MODEL);
    if !p.is_file() {
        bail!(
            "no --network given and the bundled demo model is missing at {} (pass --network FILE)",
            p.display()
        );
    }
    Ok(p)
}

/// `--device cpu|gpu` → a burn device.
pub fn device(kind: &crate::args::DeviceArg) -> Result<Device> {
    Ok(stylegan::device(DeviceKind::from(*kind))?)
}

/// A progress bar for `n` items (hidden for small jobs).
pub fn progress(n: usize, what: &str) -> indicatif::ProgressBar {
    if n <= 4 {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new(n as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// The latent named by `--seed…` or `--latent…` (a `stylegan project` output) for `g`
/// ([`stylegan::invert::LatentSource`]), with `what` in the errors.
pub fn pick_latent(
    g: &stylegan::models::Generator,
    seed: Option<u32>,
    latent: Option<&std::path::Path>,
    trunc: f64,
    what: &str,
) -> Result<stylegan::invert::Sourced> {
    use anyhow::Context;
    let source = stylegan::invert::LatentSource::either(seed, latent, what)?;
    source.resolve(g, trunc).with_context(|| match &source {
        stylegan::invert::LatentSource::Projection(p) => {
            format!("{what}: reading the projection {}", p.display())
        }
        stylegan::invert::LatentSource::Seed(s) => format!("{what}: seed {s}"),
    })
}
