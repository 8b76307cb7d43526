//! `stylegan expand` and `stylegan blend`: "StyleGAN of All Trades" feature-map operations.

use std::path::PathBuf;

use anyhow::{Context, Result};
use stylegan::features::{blend, expand, Extend, Mask};
use stylegan::latent::Latent;
use stylegan::models::{Generator, NoiseMode};

/// Write one image `[1, C, H, W]` in [-1, 1] as PNG.
fn save_png<T>(img: T, path: &std::path::Path) -> Result<()>
where
    T: Into<stylegan::features::ImageTensor>,
{
    let img: stylegan::features::ImageTensor = img.into();
    img.to_image8()?.save_png(path)?;
    Ok(())
}

#[derive(clap::Args)]
pub struct ExpandArgs {
    /// Network file; the bundled demo model when absent.
    #[arg(long)]
    network: Option<PathBuf>,
    /// Seed.
    #[arg(long)]
    seed: u32,
    /// Block after which the features are extended (0 = 4×4 block).
    #[arg(long)]
    layer: usize,
    /// reflect, replicate, circular or stretch.
    #[arg(long, default_value = "reflect")]
    mode: String,
    /// Width factor (>= 1).
    #[arg(long, default_value_t = 2.0)]
    width_factor: f64,
    /// Height factor (>= 1).
    #[arg(long, default_value_t = 1.0)]
    height_factor: f64,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, default_value = "const")]
    noise_mode: String,
    /// Output PNG.
    #[arg(long)]
    output: PathBuf,
}

pub fn run_expand(a: ExpandArgs) -> Result<()> {
    let mode: Extend = a.mode.parse()?;
    let noise: NoiseMode = a.noise_mode.parse()?;
    let g = Generator::load(&super::network(&a.network)?, &stylegan::backend::cpu())?;
    let styles = Latent::from_seeds(&g, &[a.seed], None)?.truncate(&g, a.trunc, None)?.styles(&g)?;
    let img = expand(&g, &styles, a.layer, mode, a.width_factor, a.height_factor, noise)?;
    save_png(img, &a.output)?;
    eprintln!("wrote {}", a.output.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct BlendArgs {
    /// Network file; the bundled demo model when absent.
    #[arg(long)]
    network: Option<PathBuf>,
    /// Seed of image A (α = 0).
    #[arg(long)]
    seed_a: u32,
    /// Seed of image B (α = 1).
    #[arg(long)]
    seed_b: u32,
    /// horizontal (α grows left to right), vertical (top to bottom), or a mask PNG (α = pixel/255).
    #[arg(long, default_value = "horizontal")]
    mask: String,
    /// Blocks where the features are blended, e.g. `0-2` (all by default).
    #[arg(long)]
    layers: Option<String>,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, default_value = "const")]
    noise_mode: String,
    /// Output PNG.
    #[arg(long)]
    output: PathBuf,
}

pub fn run_blend(a: BlendArgs) -> Result<()> {
    let noise: NoiseMode = a.noise_mode.parse()?;
    let mask = match a.mask.as_str() {
        "horizontal" => Mask::Horizontal,
        "vertical" => Mask::Vertical,
        path => Mask::from_image_file(std::path::Path::new(path))
            .with_context(|| format!("--mask {path}: not horizontal, vertical or a readable image"))?,
    };
    let layers: Option<Vec<usize>> = a
        .layers
        .as_deref()
        .map(|l| crate::args::parse_seeds(l).context("--layers").map(|v| v.into_iter().map(|x| x as usize).collect()))
        .transpose()?;
    let g = Generator::load(&super::network(&a.network)?, &stylegan::backend::cpu())?;
    let s = |seed| -> Result<_> { Ok(Latent::from_seeds(&g, &[seed], None)?.truncate(&g, a.trunc, None)?.styles(&g)?) };
    let img = blend(&g, &s(a.seed_a)?, &s(a.seed_b)?, &mask, layers.as_deref(), noise)?;
    save_png(img, &a.output)?;
    eprintln!("wrote {}", a.output.display());
    Ok(())
}
