//! `stylegan info`: what is in a checkpoint.

use anyhow::Result;
use stylegan::io::checkpoint::Checkpoint;
use stylegan::models::{Discriminator, Generator, SynthesisConfig};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
}

pub fn run(a: Args) -> Result<()> {
    let ckpt = Checkpoint::open(&a.net.path()?)?;
    let device = stylegan::backend::cpu();
    let file = a.net.path()?.display().to_string();
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
            "Generator" | "G_style" | "G_paper" => {
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
                match &cfg.synthesis {
                    SynthesisConfig::StyleGan2(s) => println!(
                        "  family: StyleGAN2, architecture: {}, conv_clamp: {:?}, mapping layers: {}",
                        s.architecture.name(),
                        s.conv_clamp,
                        cfg.mapping.num_layers
                    ),
                    SynthesisConfig::StyleGan3(s) => {
                        println!(
                            "  family: StyleGAN3-{}, conv_kernel: {}, conv_clamp: {:?}, mapping layers: {}",
                            if s.use_radial_filters { "R" } else { "T" },
                            s.conv_kernel,
                            s.conv_clamp,
                            cfg.mapping.num_layers
                        );
                        let net = g.synthesis.sg3("info")?;
                        let d = &net.input.design;
                        println!(
                            "  input: {} channels, {}x{} at sampling rate {}, bandwidth {:.3}",
                            d.channels, d.size, d.size, d.sampling_rate, d.bandwidth
                        );
                        for l in &net.layers {
                            let d = &l.design;
                            println!(
                                "  {:<12} {:>4} -> {:<4} ch, size {:>4} -> {:<4}, rate {:>4} -> {:<4}, cutoff {:.2} -> {:.2}, up {} down {}{}",
                                d.name, d.in_channels, d.out_channels, d.in_size, d.out_size,
                                d.in_sampling_rate, d.out_sampling_rate, d.in_cutoff, d.out_cutoff,
                                d.up_factor, d.down_factor,
                                if d.down_radial { ", radial" } else { "" }
                            );
                        }
                    }
                    SynthesisConfig::StyleGan1(s) => println!(
                        "  family: StyleGAN v1 (TensorFlow G_style), channels {:?}, mapping \
                         layers: {}, lr multiplier {}, truncation default: psi {} cutoff {}, \
                         lod: {}",
                        (2..=s.log2).map(|r| s.channels.nf(r - 1)).collect::<Vec<_>>(),
                        s.mapping_layers,
                        s.mapping_lrmul,
                        stylegan::models::stylegan1::DEFAULT_PSI,
                        stylegan::models::stylegan1::DEFAULT_CUTOFF,
                        g.synthesis.lod()
                    ),
                    SynthesisConfig::Pggan(s) => println!(
                        "  family: PGGAN (TensorFlow G_paper{}), channels {:?}, no mapping \
                         network (z is the input), lod: {}",
                        if s.up_weight_out_in { "" } else { ", NVlabs/stylegan port" },
                        (2..=s.log2).map(|r| s.channels.nf(r - 1)).collect::<Vec<_>>(),
                        g.synthesis.lod()
                    ),
                }
                let (m, syn) = match &cfg.synthesis {
                    SynthesisConfig::StyleGan1(_) => ("G_mapping/", "G_synthesis/"),
                    SynthesisConfig::Pggan(_) => ("(none)", ""),
                    _ => ("mapping.", "synthesis."),
                };
                println!(
                    "  parameters: mapping {}, synthesis {}, total {}",
                    count(m),
                    count(syn),
                    entry.num_params()
                );
                println!(
                    "  FLOPs per image: {:.2} GFLOP",
                    g.flops_per_image() as f64 / 1e9
                );
            }
            "D_basic" | "D_paper" => {
                println!(
                    "  {} discriminator (TensorFlow), parameters: {}",
                    if entry.short_class() == "D_basic" {
                        "StyleGAN v1"
                    } else {
                        "PGGAN"
                    },
                    entry.num_params()
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
