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
    }
}
