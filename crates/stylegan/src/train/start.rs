//! How a training run begins, as `train.py --resume` decides it: a snapshot (with optimiser
//! state) is **resumed** exactly, in its own run directory when it sits in one; a network file
//! (official pickle, native safetensors) is **fine-tuned** — G, D and G_ema as initial weights,
//! fresh optimisers, a new run directory; otherwise a **new** network is built from the preset.
//! Either way the recipe must belong to the network's family.
//!
//! A snapshot is resumed in its own run directory only when it is that directory's latest
//! (otherwise the continuation would write over later snapshots: it gets a new directory).
//! Resuming in place drops the log lines written after the snapshot and removes temporary
//! files that killed writes left behind. [`inspect_start`] tells the caller what a snapshot
//! recorded (options, data fingerprint, networks) so it can refuse a resume that would not be
//! the exact continuation it promises.

use std::path::{Path, PathBuf};

use super::data::TrainingData;
use super::options::TrainOptions;
use super::presets::{NetworkOptions, TrainConfig};
use super::run::{latest_snapshot, new_run_dir, trim_log, DATA_KEY};
use super::trainer::{Trainer, STATE_KEY};
use crate::backend::Device;
use crate::error::{Error, Result};
use crate::files::remove_stale_temporaries;
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
    /// What was tidied in a resumed run directory (log lines dropped, stale temporaries
    /// removed), one sentence each.
    pub notes: Vec<String>,
}

/// What a training snapshot recorded about its run.
#[derive(Clone, Debug)]
pub struct SnapshotState {
    pub cur_nimg: u64,
    pub seed: u32,
    pub batch: usize,
    /// The full options (`None` in snapshots written before they were recorded).
    pub options: Option<TrainOptions>,
    /// [`super::run::data_fingerprint`] of its data (`None` in older snapshots).
    pub data_fingerprint: Option<String>,
}

/// What a run would start from: the file (a run directory resolved to its latest snapshot),
/// G's and D's `init_kwargs`, and the training state when it is a snapshot.
#[derive(Clone, Debug)]
pub struct StartInfo {
    pub file: PathBuf,
    pub g_kwargs: serde_json::Value,
    pub d_kwargs: Option<serde_json::Value>,
    pub snapshot: Option<SnapshotState>,
}

/// Read what `path` (a snapshot, a run directory or a network file) would start a run from.
pub fn inspect_start(path: &Path) -> Result<StartInfo> {
    let file = if path.is_dir() {
        latest_snapshot(path)?
    } else {
        path.to_path_buf()
    };
    let ckpt = Checkpoint::open(&file)?;
    let g = match ckpt.networks.get("G") {
        Some(g) => g,
        None => ckpt.generator()?.1,
    };
    let d_kwargs = ckpt
        .discriminator()
        .ok()
        .map(|(_, d)| d.init_kwargs.clone());
    let snapshot = match ckpt.extra_metadata.get(STATE_KEY) {
        None => None,
        Some(s) => {
            let state: serde_json::Value = serde_json::from_str(s)
                .map_err(|e| Error::format(&file, format!("'{STATE_KEY}': {e}")))?;
            let num = |k: &str| {
                state
                    .get(k)
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| Error::format(&file, format!("'{STATE_KEY}' lacks '{k}'")))
            };
            Some(SnapshotState {
                cur_nimg: num("cur_nimg")?,
                seed: num("seed")? as u32,
                batch: num("batch")? as usize,
                options: state.get("options").and_then(TrainOptions::from_record),
                data_fingerprint: ckpt.extra_metadata.get(DATA_KEY).cloned(),
            })
        }
    };
    Ok(StartInfo {
        g_kwargs: g.init_kwargs.clone(),
        d_kwargs,
        snapshot,
        file,
    })
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
                notes: Vec::new(),
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
                let parent = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                };
                let mut notes = Vec::new();
                let latest = latest_snapshot(parent).ok();
                let in_place = parent.join("training_options.json").exists()
                    && latest.as_deref().map(same_file) == Some(same_file(&file));
                let dir = if in_place {
                    let dropped = trim_log(parent, trainer.cur_nimg)?;
                    if dropped > 0 {
                        notes.push(format!(
                            "dropped {dropped} log.jsonl line(s) written after the snapshot"
                        ));
                    }
                    for p in remove_stale_temporaries(parent, None)? {
                        notes.push(format!("removed {}, left by a killed write", p.display()));
                    }
                    parent.to_path_buf()
                } else {
                    if let Some(l) =
                        latest.filter(|_| parent.join("training_options.json").exists())
                    {
                        notes.push(format!(
                            "{} is not the latest snapshot of its run ({} is): continuing in a \
                             new run directory so no later snapshot is overwritten",
                            file.display(),
                            l.display()
                        ));
                    }
                    new_run_dir(outdir, desc)?
                };
                Started {
                    trainer,
                    dir,
                    begun: Begun::Resumed { snapshot: file },
                    notes,
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
                    notes: Vec::new(),
                }
            }
        }
    };
    Ok(started)
}

/// A path made comparable (canonical where it exists).
fn same_file(p: &Path) -> PathBuf {
    p.canonicalize().unwrap_or_else(|_| p.to_path_buf())
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
