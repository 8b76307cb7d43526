//! `stylegan init`: a randomly initialised network from a config file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::io::checkpoint::Checkpoint;
use stylegan::models::{
    Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, SynthesisConfig,
};

#[derive(clap::Args)]
pub struct Args {
    /// JSON file: `{"G": {init_kwargs}, "D": {init_kwargs}}` ("D" optional), using the official
    /// keyword names; `"G_class": "training.networks_stylegan3.Generator"` makes a StyleGAN3
    /// generator (default `training.networks_stylegan2.Generator`).
    #[arg(long)]
    config: PathBuf,
    /// Output checkpoint (.safetensors) holding G_ema, G and (if configured) D.
    #[arg(long)]
    out: PathBuf,
    /// Seed of the random initialisation.
    #[arg(long, default_value_t = 0)]
    seed: u32,
}

/// Refuse a generator whose weights cannot fit in memory before any is drawn: a lower bound
/// of its parameters (the mapping's `w_dim² · layers` and, per resolution, the two k×k
/// convolutions of `channels(r)²`, or StyleGAN3's layers at `channel_max²`), as float32 held
/// twice (the network and the file's copy), against the memory available.
fn check_size(g: &GeneratorConfig, config: &std::path::Path) -> Result<()> {
    let sq = |c: usize| (c as u64).saturating_mul(c as u64);
    let mut params = sq(g.w_dim).saturating_mul(g.mapping.num_layers as u64);
    match &g.synthesis {
        SynthesisConfig::StyleGan2(s) => {
            for r in g.block_resolutions() {
                let k = (s.kernel_size * s.kernel_size) as u64;
                params = params.saturating_add(sq(s.channels(r)).saturating_mul(2 * k));
            }
        }
        SynthesisConfig::StyleGan3(s) => {
            let c = s.channel_max.min(s.channel_base / 2);
            let k = (s.conv_kernel * s.conv_kernel) as u64;
            params = params.saturating_add(sq(c).saturating_mul(k));
        }
        SynthesisConfig::StyleGan1(s) => {
            for r in 2..=s.log2 {
                params = params.saturating_add(sq(s.channels.nf(r - 1)).saturating_mul(18));
            }
        }
        SynthesisConfig::Pggan(s) => {
            for r in 2..=s.log2 {
                params = params.saturating_add(sq(s.channels.nf(r - 1)).saturating_mul(18));
            }
        }
    }
    let need = params.saturating_mul(4 * 2);
    if let Some(avail) = stylegan::train::available_memory() {
        if need > avail {
            bail!(
                "{}: this generator has at least {params} parameters ({:.1} GiB to build and \
                 write), but {:.1} GiB of memory are available; lower channel_base, \
                 channel_max or w_dim",
                config.display(),
                need as f64 / (1u64 << 30) as f64,
                avail as f64 / (1u64 << 30) as f64
            );
        }
    }
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    stylegan::io::check_output(&a.out, stylegan::io::OutputKind::Safetensors).context("--out")?;
    // A config is a few hundred bytes of JSON; 1 MiB is generous.
    let bytes = stylegan::files::read_input_at_most(&a.config, 1 << 20).context("--config")?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("{} is not UTF-8 text", a.config.display()))?;
    let cfg: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", a.config.display()))?;
    let g_kwargs = cfg
        .get("G")
        .with_context(|| format!("{}: no \"G\" entry", a.config.display()))?;
    let device = stylegan::backend::cpu();
    let g_class = match cfg.get("G_class") {
        None => stylegan::models::generator::GENERATOR_CLASS,
        Some(v) => v.as_str().with_context(|| {
            format!(
                "{}: \"G_class\" must be a class name string",
                a.config.display()
            )
        })?,
    };
    let g_cfg = GeneratorConfig::from_init_kwargs(g_class, g_kwargs)?;
    check_size(&g_cfg, &a.config)?;
    let g = Generator::random(&g_cfg, a.seed, &device)?;
    let g_entry = g.to_entry();
    let mut nets = vec![("G_ema", &g_entry), ("G", &g_entry)];
    let d_entry;
    if let Some(d_kwargs) = cfg.get("D") {
        let d_cfg = DiscriminatorConfig::from_init_kwargs(
            stylegan::models::discriminator::DISCRIMINATOR_CLASS,
            d_kwargs,
        )?;
        d_entry = Discriminator::random(&d_cfg, a.seed.wrapping_add(1), &device)?.to_entry();
        nets.push(("D", &d_entry));
    }
    let mut meta = BTreeMap::new();
    meta.insert(
        "stylegan_rs.note".to_string(),
        format!("randomly initialised by `stylegan init` (seed {})", a.seed),
    );
    Checkpoint::write(&a.out, &nets, &meta)?;
    eprintln!(
        "wrote {} ({}x{}, {} parameters in G)",
        a.out.display(),
        g_cfg.img_resolution,
        g_cfg.img_resolution,
        g_entry.num_params()
    );
    Ok(())
}
