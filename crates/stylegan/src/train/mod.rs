//! Training StyleGAN2 and StyleGAN3 (official `training/loss.py` and `training_loop.py`).
//!
//! The trainable parameters and Adam (with the lazy-regularisation adjustment) are in
//! `crate::optim`, shared with inversion and the classifier.
//! - [`regularizers`]: R1 and path length from first-order gradients (central differences).
//! - [`augment`]: ADA augmentations.
//! - [`data`]: what the trainer reads from a data set; minibatches.
//! - [`presets`]: network configs for new runs (`train.py --cfg stylegan2`).
//! - [`options`]: the options of a run, their bounds, and the record a snapshot keeps.
//! - [`run`]: the run directory, ticks, logs, snapshots and fakes grids.
//! - [`trainer`]: the phases, EMA, ADA p, snapshots and resume.
//! - [`progressive`]: progressive growing (PGGAN, StyleGAN v1): the lod schedule and the reals
//!   at each lod.

pub mod augment;
pub mod data;
pub mod options;
pub mod presets;
pub mod progressive;
pub mod regularizers;
pub mod run;
pub mod start;
pub mod trainer;

pub use data::{InMemoryData, TrainingData};
pub use options::{AugMode, TrainOptions, MAX_BATCH, MAX_LEARNING_RATE};
pub use presets::{NetworkOptions, TrainConfig};
pub use run::{
    available_memory, data_fingerprint, latest_snapshot, new_run_dir, snapshot_nimg, snapshot_tag,
    snapshots, training_bytes_per_image, trim_log, Observer, RunOptions, TrainingRun,
};
pub use start::{inspect_start, start_run, Begun, SnapshotState, Start, StartInfo, Started};
pub use trainer::{StepStats, Trainer};
