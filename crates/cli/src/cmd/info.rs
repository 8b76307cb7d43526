//! `stylegan info`: what is in a checkpoint.

use std::path::PathBuf;

use anyhow::Result;
use stylegan::io::checkpoint::Checkpoint;
use stylegan::models::{Discriminator, Generator};

#[derive(clap::Args)]
pub struct Args {
    /// Network file (any supported format); the bundled demo model when absent.
    #[arg(long)]
    network: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    let ckpt = Checkpoint::open(&super::network(&a.network)?)?;
    let device = stylegan::backend::cpu();
    let file = super::network(&a.network)?.display().to_string();
    println!("file: {file}");
    for (prefix, entry) in &ckpt.networks {
        let name = if prefix.is_empty() {
            "(unprefixed)"
        } else {
            prefix.as_str()
        };
        println!("\n[{name}] {}", entry.class_name);
        println!("  init_kwargs: {}", entry.init_kwargs);
        match entry.short_class() {
            "Generator" => {
                let g = Generator::from_entry(&file, entry, &device)?;
                let count = |p: &str| {
                    entry
                        .tensors
                        .iter()
                        .filter(|(k, _)| k.starts_with(p))
                        .map(|(_, t)| t.data.len())
                        .sum::<usize>()
                };
                let cfg = &g.config;
                println!(
                    "  resolution: {0}x{0}, channels: {1}",
                    cfg.img_resolution, cfg.img_channels
                );
                println!(
                    "  z_dim: {}, w_dim: {}, c_dim: {}, num_ws: {}",
                    cfg.z_dim,
                    cfg.w_dim,
                    cfg.c_dim,
                    g.num_ws()
                );
                println!(
                    "  architecture: {}, conv_clamp: {:?}, mapping layers: {}",
                    cfg.architecture.name(),
                    cfg.conv_clamp,
                    cfg.mapping.num_layers
                );
                println!(
                    "  parameters: mapping {}, synthesis {}, total {}",
                    count("mapping."),
                    count("synthesis."),
                    entry.num_params()
                );
                println!(
                    "  FLOPs per image: {:.2} GFLOP",
                    g.flops_per_image() as f64 / 1e9
                );
            }
            "Discriminator" => {
                let d = Discriminator::from_entry(&file, entry, &device)?;
                let cfg = &d.config;
                println!(
                    "  resolution: {0}x{0}, channels: {1}, c_dim: {2}",
                    cfg.img_resolution, cfg.img_channels, cfg.c_dim
                );
                println!(
                    "  architecture: {}, mbstd group: {:?}",
                    cfg.architecture.name(),
                    cfg.mbstd_group_size
                );
                println!("  parameters: {}", entry.num_params());
            }
            other => println!("  (unknown network class {other})"),
        }
    }
    Ok(())
}
