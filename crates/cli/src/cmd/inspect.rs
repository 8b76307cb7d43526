//! `stylegan inspect`: format, networks, config and tensor table of any supported file.

use std::path::PathBuf;

use anyhow::Result;
use stylegan::io::checkpoint::Checkpoint;

#[derive(clap::Args)]
pub struct Args {
    /// Any supported network file (format auto-detected): a native checkpoint (.safetensors,
    /// also PTI deltas), an official PyTorch network pickle (.pkl), an official TensorFlow
    /// pickle of StyleGAN2, StyleGAN v1 or PGGAN (.pkl) or a rosinality checkpoint (.pt).
    file: PathBuf,
}

pub fn run(a: Args) -> Result<()> {
    // A PTI delta is shown as it is stored (the changed tensors) and said to be a delta; its
    // base is not needed for that.
    let ckpt = Checkpoint::open_unresolved(&a.file)?;
    if let Some(base) = ckpt.delta_base() {
        let stored: usize = ckpt.networks.values().map(|e| e.tensors.len()).sum();
        println!(
            "{}: delta checkpoint (`stylegan pti` output) of the network '{base}': {stored} \
             changed tensors stored, the others come from the base when it is loaded",
            a.file.display()
        );
    }
    let format = match ckpt.extra_metadata.get("stylegan_rs.source") {
        Some(s) if s.starts_with("official PyTorch") => "official PyTorch network pickle",
        Some(s) if s.starts_with("official TensorFlow") => "official TensorFlow network pickle",
        Some(s) if s.starts_with("rosinality") => "rosinality checkpoint (torch.save zip)",
        _ => "native safetensors checkpoint",
    };
    if ckpt.delta_base().is_none() {
        println!("{}: {format}", a.file.display());
    }
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
