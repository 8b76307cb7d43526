//! `stylegan directions`: compute edit directions and save them as a small safetensors file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use stylegan::edit::sefa::sefa;
use stylegan::models::Generator;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    method: Method,
}

#[derive(Subcommand)]
enum Method {
    /// SeFa: closed-form factorisation of the style affines of the conv layers.
    Sefa {
        /// Network file (any supported format); the bundled demo model when absent.
        #[arg(long)]
        network: Option<PathBuf>,
        /// Output `.safetensors` (tensors `directions [K, w_dim]`, `values [K]`).
        #[arg(long)]
        out: PathBuf,
        /// Conv-layer indices to factorise (0 = b4.conv1, 1 = b8.conv0, …); all by default.
        #[arg(long)]
        layers: Option<String>,
    },
    /// GANSpace: principal components of w (or StyleSpace) over sampled latents; values are
    /// standard deviations, so edit strengths are in σ.
    Ganspace {
        /// Network file (any supported format); the bundled demo model when absent.
        #[arg(long)]
        network: Option<PathBuf>,
        /// Output `.safetensors`.
        #[arg(long)]
        out: PathBuf,
        /// Space: w or s.
        #[arg(long, default_value = "w")]
        space: String,
        /// Number of sampled latents.
        #[arg(long, default_value_t = 10000)]
        samples: usize,
        /// Number of components kept.
        #[arg(long, default_value_t = 20)]
        components: usize,
        /// Seed of the sampled z.
        #[arg(long, default_value_t = 0)]
        seed: u32,
    },
}

pub fn run(a: Args) -> Result<()> {
    match a.method {
        Method::Sefa {
            network,
            out,
            layers,
        } => {
            let layers: Option<Vec<usize>> = layers
                .map(|l| {
                    crate::args::parse_seeds(&l)
                        .context("--layers")
                        .map(|v| v.into_iter().map(|x| x as usize).collect())
                })
                .transpose()?;
            let g = Generator::load(&super::network(&network)?, &stylegan::backend::cpu())?;
            let dirs = sefa(&g, layers.as_deref())?;
            dirs.save(&out)?;
            let top: Vec<String> = dirs
                .values
                .iter()
                .take(5)
                .map(|v| format!("{v:.3}"))
                .collect();
            eprintln!(
                "wrote {} directions to {} (layers {:?}; top singular values {})",
                dirs.directions.len(),
                out.display(),
                dirs.layers,
                top.join(", ")
            );
            Ok(())
        }
        Method::Ganspace { network, out, space, samples, components, seed } => {
            let space: stylegan::latent::Space = space.parse()?;
            let g = Generator::load(&super::network(&network)?, &stylegan::backend::cpu())?;
            let dirs = stylegan::edit::ganspace::ganspace(&g, space, samples, components, seed)?;
            dirs.save(&out)?;
            let top: Vec<String> = dirs.values.iter().take(5).map(|v| format!("{v:.3}")).collect();
            eprintln!(
                "wrote {} GANSpace directions in {} to {} (top standard deviations {})",
                dirs.directions.len(),
                dirs.space,
                out.display(),
                top.join(", ")
            );
            Ok(())
        }
    }
}
