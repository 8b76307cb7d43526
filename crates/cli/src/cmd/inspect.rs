//! `stylegan inspect`: format, networks, config and tensor table of any supported file.

use std::path::PathBuf;

use anyhow::Result;
use stylegan::io::checkpoint::Checkpoint;

#[derive(clap::Args)]
pub struct Args {
    /// A native checkpoint or an official PyTorch network pickle.
    file: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    let ckpt = Checkpoint::open(&a.file)?;
    let format = match ckpt.extra_metadata.get("stylegan_rs.source") {
        Some(s) if s.starts_with("official PyTorch") => "official PyTorch network pickle",
        Some(s) if s.starts_with("official TensorFlow") => "official TensorFlow network pickle",
        Some(s) if s.starts_with("rosinality") => "rosinality checkpoint (torch.save zip)",
        _ => "native safetensors checkpoint",
    };
    println!("{}: {format}", a.file.display());
    for (k, v) in &ckpt.extra_metadata {
        if k != "stylegan_rs.source" {
            println!("  {k}: {v}");
        }
    }
    for (prefix, entry) in &ckpt.networks {
        let name = if prefix.is_empty() {
            "(unprefixed)"
        } else {
            prefix
        };
        println!(
            "\n[{name}] {}  ({} tensors, {} values)",
            entry.class_name,
            entry.tensors.len(),
            entry.num_params()
        );
        println!("  init_kwargs: {}", entry.init_kwargs);
        for (t, v) in &entry.tensors {
            println!("  {t:60} {:?}", v.shape);
        }
    }
    Ok(())
}
