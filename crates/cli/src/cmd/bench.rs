//! `stylegan bench`: generator throughput for config-f-sized networks with random weights.

use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::json;
use stylegan::models::{Generator, GeneratorConfig, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    /// Output resolutions of the config-f networks to measure.
    #[arg(long, default_value = "256,1024", value_delimiter = ',')]
    resolutions: Vec<usize>,
    /// Batch sizes to measure.
    #[arg(long, default_value = "1,8", value_delimiter = ',')]
    batches: Vec<usize>,
    /// Timed forward passes per (resolution, batch), after one warm-up pass.
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// cpu or gpu.
    #[arg(long, default_value = "cpu")]
    device: String,
}

pub fn run(a: Args) -> Result<()> {
    if a.iters == 0 {
        bail!("--iters must be at least 1");
    }
    let device = super::device(&a.device)?;
    println!("| network | batch | images/s | ms/image | GFLOP/image | GFLOP/s |");
    println!("|---|---|---|---|---|---|");
    for &res in &a.resolutions {
        let kwargs = json!({"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": res, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 8}, "channel_base": 32768, "channel_max": 512, "conv_clamp": null, "num_fp16_res": 0});
        let cfg = GeneratorConfig::from_init_kwargs(
            stylegan::models::generator::GENERATOR_CLASS,
            &kwargs,
        )?;
        let g = Generator::random(&cfg, 0, &device)?;
        let gflop = g.flops_per_image() as f64 / 1e9;
        for &batch in &a.batches {
            let zs: Vec<Vec<f64>> = (0..batch as u32)
                .map(|s| stylegan::latent::z_from_seed(s, 512))
                .collect();
            let run = || -> Result<()> {
                let img = g.generate(g.z_tensor(&zs)?, None, 1.0, None, NoiseMode::Const)?;
                let _: Vec<f32> = img
                    .into_data()
                    .try_to_vec()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
                Ok(())
            };
            run()?;
            let t = Instant::now();
            for _ in 0..a.iters {
                run()?;
            }
            let secs = t.elapsed().as_secs_f64() / a.iters as f64;
            let ips = batch as f64 / secs;
            println!(
                "| config-f {res}x{res} | {batch} | {ips:.3} | {:.1} | {gflop:.1} | {:.1} |",
                1000.0 / ips,
                gflop * ips
            );
        }
    }
    Ok(())
}
