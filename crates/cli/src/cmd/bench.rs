//! `stylegan bench`: generator throughput for config-f-sized networks with random weights, and
//! training throughput (sec/kimg) for the demo model's small 32×32 config.

use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::json;
use stylegan::models::{Generator, GeneratorConfig, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    /// Families of the random networks: sg2 (config-f), sg3 (StyleGAN3-T as the official
    /// `--cfg stylegan3-t`: cbase 32768, cmax 512, 2 mapping layers), sg1 (StyleGAN v1 with the
    /// official FFHQ channels: fmap_base 8192, fmap_max 512, 8 mapping layers, blur, fused
    /// convs from 128 px), pggan (PGGAN's official G_paper at fmap_base 8192, fmap_max 512).
    #[arg(long, default_value = "sg2", value_delimiter = ',')]
    family: Vec<String>,
    /// Output resolutions of the random networks to measure.
    #[arg(long, default_value = "256,1024", value_delimiter = ',')]
    resolutions: Vec<usize>,
    /// Batch sizes to measure.
    #[arg(long, default_value = "1,8", value_delimiter = ',')]
    batches: Vec<usize>,
    /// Timed forward passes per (resolution, batch), after one warm-up pass.
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// What to measure: generate, train, inception (the FID network, images/s; needs
    /// `stylegan assets inception`) (comma-separated).
    #[arg(long, default_value = "generate,train", value_delimiter = ',')]
    what: Vec<String>,
    /// Training: minibatches to time (after 16 warm-up minibatches).
    #[arg(long, default_value_t = 32)]
    train_steps: usize,
    /// cpu or gpu.
    #[arg(long, value_enum, default_value_t = crate::args::DeviceArg::Cpu)]
    device: crate::args::DeviceArg,
    /// Time this network instead of random config-f ones (e.g. the same file given to
    /// `tools/torch_bench/torch_generator.py bench`, so both run the same weights).
    #[arg(long)]
    network: Option<std::path::PathBuf>,
}

/// sec/kimg of the full StyleGAN2 recipe and, as the same-run baseline, without the lazy
/// regularisers (R1, path length), on the demo config (32×32, cbase 1024, cmax 64, batch 16)
/// with random data.
fn bench_train(steps: usize, device: &stylegan::Device) -> Result<()> {
    use stylegan::train::{InMemoryData, NetworkOptions, TrainOptions, Trainer};
    let net = NetworkOptions {
        channel_base: 1024,
        channel_max: 64,
        map_layers: 4,
        latent_dim: 256,
        ..NetworkOptions::stylegan2(32, 3, 0)
    };
    let (g, d) = net.build(0)?;
    let mut rng = stylegan::latent::RandomState::new(0);
    let images = (0..64)
        .map(|_| {
            (0..3 * 32 * 32)
                .map(|_| (rng.random_sample() * 255.0) as u8)
                .collect()
        })
        .collect();
    let data = InMemoryData {
        resolution: 32,
        channels: 3,
        images,
        labels: None,
    };
    println!(
        "Training GEMMs (gemm crate): {} (AVX-512 only in a build with the `gemm-avx512` \
         feature)\n",
        stylegan::ops::gemm_isa().name()
    );
    println!(
        "| training (32x32, cbase 1024, cmax 64, batch 16) | sec/kimg | relative | peak RSS (MiB) |"
    );
    println!("|---|---|---|---|");
    let mut base = None;
    for (name, reg) in [
        ("no regularisers (baseline)", false),
        ("full recipe: lazy R1 + path length", true),
    ] {
        let opts = TrainOptions {
            batch: 16,
            r1_gamma: 0.02,
            g_reg_interval: reg.then_some(4),
            d_reg_interval: reg.then_some(16),
            ..TrainOptions::default()
        };
        reset_peak_rss();
        let mut t = Trainer::new(opts, &g, &d, device)?;
        for _ in 0..16 {
            t.step(&data)?;
        }
        let start = Instant::now();
        for _ in 0..steps {
            t.step(&data)?;
        }
        let spk = start.elapsed().as_secs_f64() / (steps * 16) as f64 * 1000.0;
        let b = *base.get_or_insert(spk);
        println!("| {name} | {spk:.1} | {:.2}x | {} |", spk / b, peak_rss());
    }
    Ok(())
}

/// The FID Inception network on batches of 32 random 64×64 uint8 images (preprocessing
/// included: resize to 299², normalise), `iters` timed batches after one warm-up.
fn bench_inception(iters: usize, device: &stylegan::Device) -> Result<()> {
    use stylegan::metrics::inception::preprocess;
    let net = stylegan::metrics::assets::load_inception(device)?;
    let (n, r) = (32usize, 64usize);
    let mut rng = stylegan::rng::RandomState::new(0);
    let px: Vec<u8> = (0..n * 3 * r * r)
        .map(|_| (rng.next_u32() >> 24) as u8)
        .collect();
    let run = || -> Result<()> {
        let f = net.forward(preprocess(&px, [n, 3, r, r], device)?)?;
        stylegan::backend::to_vec(&f)?;
        Ok(())
    };
    run()?;
    reset_peak_rss();
    let start = Instant::now();
    for _ in 0..iters {
        run()?;
    }
    let s = start.elapsed().as_secs_f64() / (iters * n) as f64;
    println!("| network | batch | ms/image | images/s | peak RSS MiB |");
    println!("|---|---|---|---|---|");
    println!(
        "| Inception-v3 pool3 (FID) | {n} | {:.1} | {:.1} | {} |",
        s * 1000.0,
        1.0 / s,
        peak_rss()
    );
    Ok(())
}

/// Starts a new peak-memory window (Linux: writing 5 to `/proc/self/clear_refs` resets VmHWM).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident memory since [`reset_peak_rss`], in MiB, as text (`n/a` where the system
/// does not report it): VmHWM of `/proc/self/status`.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!("{:.0}", kb / 1024.0))
        })
        .unwrap_or_else(|| "n/a".into())
}

pub fn run(a: Args) -> Result<()> {
    use crate::args::count;
    count("--iters", a.iters, 1, 10_000)?;
    count("--train-steps", a.train_steps, 1, 100_000)?;
    for &b in &a.batches {
        count("--batches", b, 1, 256)?;
    }
    for &r in &a.resolutions {
        if !(r.is_power_of_two() && (4..=2048).contains(&r)) {
            bail!("--resolutions must be powers of two from 4 to 2048, got {r}");
        }
    }
    for w in &a.what {
        if !["generate", "train", "inception"].contains(&w.as_str()) {
            bail!("--what: unknown '{w}' (expected generate, train, inception)");
        }
    }
    let device = super::device(&a.device)?;
    if a.what.iter().any(|w| w == "inception") {
        bench_inception(a.iters, &device)?;
        println!();
    }
    if a.what.iter().any(|w| w == "train") {
        bench_train(a.train_steps, &device)?;
        println!();
    }
    if !a.what.iter().any(|w| w == "generate") {
        return Ok(());
    }
    let networks: Vec<(String, Generator)> = match &a.network {
        Some(path) => {
            let g = Generator::load(path, &device)?;
            let name = path
                .file_name()
                .map_or("network".into(), |n| n.to_string_lossy().into_owned());
            vec![(name, g)]
        }
        None => {
            let mut v = Vec::new();
            for family in &a.family {
                for &res in &a.resolutions {
                    let (name, class, kwargs) = match family.as_str() {
                        "sg2" => (
                            "config-f",
                            stylegan::models::generator::GENERATOR_CLASS,
                            json!({"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": res, "img_channels": 3,
                            "mapping_kwargs": {"num_layers": 8}, "channel_base": 32768, "channel_max": 512, "conv_clamp": null, "num_fp16_res": 0}),
                        ),
                        "sg3" => (
                            "stylegan3-t",
                            stylegan::models::generator::GENERATOR_CLASS_SG3,
                            json!({"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": res, "img_channels": 3,
                            "mapping_kwargs": {"num_layers": 2}, "channel_base": 32768, "channel_max": 512, "num_fp16_res": 0}),
                        ),
                        "sg1" => (
                            "stylegan1",
                            stylegan::models::stylegan1::G_CLASS,
                            json!({"resolution": res, "num_channels": 3, "fmap_base": 8192, "fmap_max": 512}),
                        ),
                        "pggan" => (
                            "pggan",
                            stylegan::models::pggan::G_CLASS,
                            json!({"resolution": res, "num_channels": 3, "fmap_base": 8192, "fmap_max": 512}),
                        ),
                        other => {
                            bail!("--family: unknown '{other}' (expected sg2, sg3, sg1, pggan)")
                        }
                    };
                    let cfg = GeneratorConfig::from_init_kwargs(class, &kwargs)?;
                    v.push((
                        format!("{name} {res}x{res}"),
                        Generator::random(&cfg, 0, &device)?,
                    ));
                }
            }
            v
        }
    };
    if let Some((name, _)) = networks.iter().find(|(_, g)| g.config.c_dim > 0) {
        bail!("{name}: a conditional network; bench times unconditional ones");
    }
    println!(
        "CPU inference kernels: {} (STYLEGAN_CPU_ISA=avx2|portable caps them)\n",
        stylegan::ops::direct_conv::isa().name()
    );
    // Peak RSS is per row: the network's weights plus what generating that batch needed.
    println!("| network | batch | images/s | ms/image | GFLOP/image | GFLOP/s | peak RSS (MiB) |");
    println!("|---|---|---|---|---|---|---|");
    for (name, g) in &networks {
        let gflop = g.flops_per_image() as f64 / 1e9;
        for &batch in &a.batches {
            let zs: Vec<Vec<f64>> = (0..batch as u32)
                .map(|s| stylegan::latent::z_from_seed(s, g.config.z_dim))
                .collect();
            let run = || -> Result<()> {
                let img = g.generate(g.z_tensor(&zs)?, None, 1.0, None, NoiseMode::Const)?;
                let _ = stylegan::backend::to_vec(&img)?;
                Ok(())
            };
            reset_peak_rss();
            run()?;
            let t = Instant::now();
            for _ in 0..a.iters {
                run()?;
            }
            let secs = t.elapsed().as_secs_f64() / a.iters as f64;
            let ips = batch as f64 / secs;
            // Small networks (tests, the demo model) need more digits than config-f ones.
            let digits = if gflop < 1.0 { 4 } else { 1 };
            println!(
                "| {name} | {batch} | {ips:.3} | {:.1} | {gflop:.digits$} | {:.1} | {} |",
                1000.0 / ips,
                gflop * ips,
                peak_rss()
            );
        }
    }
    Ok(())
}
