//! How a training run begins, as `train.py --resume` decides it: a snapshot (with optimiser
//! state) is **resumed** exactly, in its own run directory when it sits in one; a network file
//! (official pickle, native safetensors) is **fine-tuned** — G, D and G_ema as initial weights,
//! fresh optimisers, a new run directory; otherwise a **new** network is built from the preset.
//! Either way the recipe must belong to the network's family.

use std::path::{Path, PathBuf};

use super::data::TrainingData;
use super::presets::{NetworkOptions, TrainConfig};
use super::run::{latest_snapshot, new_run_dir};
use super::trainer::{TrainOptions, Trainer, STATE_KEY};
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::io::checkpoint::Checkpoint;
use crate::models::{Family, GeneratorConfig};

/// Where the weights come from.
pub enum Start<'a> {
    /// A fresh network from these options, drawn from `seed`.
    New {
        network: &'a NetworkOptions,
        seed: u32,
    },
    /// A snapshot, a run directory (its latest snapshot) or a network file to fine-tune.
    From(&'a Path),
}

/// What [`start_run`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Begun {
    /// A snapshot continued at its `cur_nimg`.
    Resumed { snapshot: PathBuf },
    /// A network's weights as the starting point of a new run.
    FineTuned { network: PathBuf },
    /// A new network.
    New,
}

/// A run ready to train: its trainer, its directory, and how it began.
pub struct Started {
    pub trainer: Trainer,
    pub dir: PathBuf,
    pub begun: Begun,
}

/// Begin a run of `cfg` with `opts` on `data`: new run directories are made under `outdir`
/// as `NNNNN-{desc}`.
pub fn start_run(
    start: Start,
    cfg: TrainConfig,
    opts: TrainOptions,
    data: &dyn TrainingData,
    outdir: &Path,
    desc: &str,
    device: &Device,
) -> Result<Started> {
    let context = |what: &str, file: &Path, e: Error| {
        Error::InvalidArgument(format!("{what} {}: {e}", file.display()))
    };
    let started = match start {
        Start::New { network, seed } => {
            let (g, d) = network.build(seed)?;
            let trainer = Trainer::new(opts, &g, &d, device)?;
            check_family(&trainer, cfg)?;
            Started {
                trainer,
                dir: new_run_dir(outdir, desc)?,
                begun: Begun::New,
            }
        }
        Start::From(path) => {
            let file = if path.is_dir() {
                latest_snapshot(path)?
            } else {
                path.to_path_buf()
            };
            let ckpt = Checkpoint::open(&file)?;
            if ckpt.extra_metadata.contains_key(STATE_KEY) {
                let trainer = Trainer::resume(&file, opts, device)?;
                trainer
                    .check_data(data)
                    .map_err(|e| context("resuming", &file, e))?;
                check_family(&trainer, cfg)?;
                let parent = file.parent().unwrap_or(Path::new("."));
                let dir = if parent.join("training_options.json").exists() {
                    parent.to_path_buf()
                } else {
                    new_run_dir(outdir, desc)?
                };
                Started {
                    trainer,
                    dir,
                    begun: Begun::Resumed { snapshot: file },
                }
            } else {
                let (_, g) = ckpt
                    .generator()
                    .map_err(|e| context("fine-tuning from", &file, e))?;
                let g = ckpt.networks.get("G").unwrap_or(g);
                let (_, d) = ckpt.discriminator().map_err(|e| {
                    context("fine-tuning needs the discriminator too; from", &file, e)
                })?;
                let mut trainer = Trainer::new(opts, g, d, device)?;
                trainer
                    .check_data(data)
                    .map_err(|e| context("fine-tuning", &file, e))?;
                if let Some(e) = ckpt.networks.get("G_ema") {
                    trainer.g_ema = crate::optim::ParamSet::from_entry(e, device);
                }
                check_family(&trainer, cfg)?;
                Started {
                    trainer,
                    dir: new_run_dir(outdir, desc)?,
                    begun: Begun::FineTuned { network: file },
                }
            }
        }
    };
    Ok(started)
}

/// The recipe must be the network's family (a StyleGAN3 snapshot resumed with the StyleGAN2
/// recipe would get style mixing and path length).
fn check_family(trainer: &Trainer, cfg: TrainConfig) -> Result<()> {
    let family =
        GeneratorConfig::from_init_kwargs(&trainer.g.class_name, &trainer.g.init_kwargs)?.family();
    if cfg.is_stylegan3() != (family == Family::StyleGan3) {
        return Err(Error::InvalidArgument(format!(
            "the training config {} does not match the network, which is a {} (use {})",
            cfg.name(),
            family.name(),
            if cfg.is_stylegan3() {
                "stylegan2"
            } else {
                "stylegan3-t or stylegan3-r"
            }
        )));
    }
    Ok(())
}
