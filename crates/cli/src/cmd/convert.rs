//! `stylegan convert`: any supported network file → a native checkpoint.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::io::checkpoint::Checkpoint;
use stylegan::models::{Discriminator, Generator};

#[derive(clap::Args)]
pub struct Args {
    /// Input (format auto-detected): a native checkpoint (.safetensors, or a PTI delta with its
    /// base beside it), an official PyTorch network pickle (.pkl), an official TensorFlow
    /// pickle of StyleGAN2, StyleGAN v1 or PGGAN (.pkl) or a rosinality checkpoint (.pt).
    input: PathBuf,
    /// Output `.safetensors` file.
    output: PathBuf,
    /// Networks to keep (native output; default: all of G_ema, G, D that the input has).
    #[arg(long, value_delimiter = ',')]
    nets: Option<Vec<String>>,
    /// Output format: `native` (.safetensors) or `rosinality` (a torch.save .pt holding
    /// g_ema, latent_avg and d, for rosinality-based tools).
    #[arg(long, default_value = "native")]
    to: String,
}

pub fn run(a: Args) -> Result<()> {
    use stylegan::io::{check_output, OutputKind};
    match a.to.as_str() {
        "native" => {}
        "rosinality" => {
            check_output(&a.output, OutputKind::Torch).context("OUTPUT of --to rosinality")?;
            return to_rosinality(&a);
        }
        other => bail!("unknown --to format '{other}' (expected native or rosinality)"),
    }
    if stylegan::files::extension(&a.output) != "safetensors" {
        bail!(
            "{}: native output must be a .safetensors file (use --to rosinality for .pt)",
            a.output.display()
        );
    }
    check_output(&a.output, OutputKind::Safetensors).context("OUTPUT")?;
    let ckpt = Checkpoint::open(&a.input)?;
    let file = a.input.display().to_string();
    let device = stylegan::backend::cpu();
    let names: Vec<String> = a
        .nets
        .clone()
        .unwrap_or_else(|| ckpt.networks.keys().cloned().collect());
    let mut nets = Vec::new();
    for name in &names {
        let Some(entry) = ckpt.networks.get(name.as_str()) else {
            let have: Vec<_> = ckpt.networks.keys().cloned().collect();
            bail!(
                "{file} has no network '{name}' (it has: {})",
                have.join(", ")
            );
        };
        // Build each network once: this checks that its config and tensors agree.
        match entry.short_class() {
            "Generator" => drop(Generator::from_entry(&file, entry, &device)?),
            "Discriminator" => drop(Discriminator::from_entry(&file, entry, &device)?),
            "G_style" | "G_paper" | "D_basic" | "D_paper" => {
                stylegan::convert::tf1::validate(&file, entry)?
            }
            other => bail!("{file}: network '{name}' has unsupported class {other}"),
        }
        nets.push((name.as_str(), entry));
    }
    // Training state (`train.*`) describes tensors that are not carried over: drop it, so
    // the result is a plain network file (e.g. a parent to fine-tune from).
    let meta: std::collections::BTreeMap<String, String> = ckpt
        .extra_metadata
        .iter()
        .filter(|(k, _)| !k.starts_with("train."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Checkpoint::write(&a.output, &nets, &meta)?;
    eprintln!("wrote {} ({})", a.output.display(), names.join(", "));
    Ok(())
}

fn to_rosinality(a: &Args) -> Result<()> {
    let ckpt = Checkpoint::open(&a.input)?;
    let (_, g) = ckpt.generator()?;
    let d = ckpt.discriminator().ok().map(|(_, d)| d);
    stylegan::convert::rosinality::write(&a.output, g, d)?;
    eprintln!(
        "wrote {} (rosinality: g_ema, latent_avg{})",
        a.output.display(),
        if d.is_some() { ", d" } else { "" }
    );
    Ok(())
}
