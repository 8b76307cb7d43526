//! `stylegan convert`: any supported network file → a native checkpoint.

use std::path::PathBuf;

use anyhow::{bail, Result};
use stylegan::io::checkpoint::Checkpoint;
use stylegan::models::{Discriminator, Generator};

#[derive(clap::Args)]
pub struct Args {
    /// Input: a native checkpoint or an official PyTorch network pickle (format auto-detected).
    input: PathBuf,
    /// Output `.safetensors` file.
    output: PathBuf,
    /// Networks to keep.
    #[arg(long, default_value = "G_ema,G,D", value_delimiter = ',')]
    nets: Vec<String>,
}

pub fn run(a: Args) -> Result<()> {
    if a.output.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!("{}: the output must be a .safetensors file (other export formats are not supported yet)", a.output.display());
    }
    let ckpt = Checkpoint::open(&a.input)?;
    let file = a.input.display().to_string();
    let device = stylegan::backend::cpu();
    let mut nets = Vec::new();
    for name in &a.nets {
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
            other => bail!("{file}: network '{name}' has unsupported class {other}"),
        }
        nets.push((name.as_str(), entry));
    }
    Checkpoint::write(&a.output, &nets, &ckpt.extra_metadata)?;
    eprintln!("wrote {} ({})", a.output.display(), a.nets.join(", "));
    Ok(())
}
