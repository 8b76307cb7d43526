//! Inversion: find the latent of a real image and make the generator reproduce it.
//!
//! * [`target`]: a real image prepared for a network (crop, resize, checks);
//! * [`stats`]: the latent distribution the projector starts from and the S prior;
//! * [`projector`]: LPIPS projection into w, W+ or S (official `projector.py` recipe);
//! * [`projection`]: the result and its file;
//! * [`pti`]: pivotal tuning — fine-tune the generator around a projected pivot;
//! * [`source`]: a tool's latent from a seed or a projection file, with its noise maps;
//! * [`evaluate`]: scores of each method on a set of targets (PSNR, LPIPS, atypicality).

pub mod evaluate;
pub mod projection;
pub mod projector;
pub mod pti;
pub mod source;
pub mod stats;
pub mod target;

pub use evaluate::{evaluate_inversion, EvalConfig, EvalTarget, Evaluation, Method};
pub use projection::{Projection, StepInfo};
pub use projector::{project, Prior, ProjectorConfig};
pub use pti::{pivotal_tuning, Locality, PtiConfig};
pub use source::{with_noise_of, LatentSource, Sourced};
pub use stats::{latent_stats, latent_stats_with_progress, LatentStats};
pub use target::{load_target, Target};
