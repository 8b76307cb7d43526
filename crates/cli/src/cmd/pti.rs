//! `stylegan pti`: pivotal tuning — fine-tune the generator around a projected pivot so that it
//! reproduces the target; saves the synthesis weights that changed (a delta of the input
//! network), or the whole generator with `--full`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use stylegan::invert::pti::PtiConfig;
use stylegan::invert::stats::STATS_SAMPLES;
use stylegan::invert::{load_target, pivotal_tuning, Projection};
use stylegan::io::checkpoint::Checkpoint;
use stylegan::io::image::grid;
use stylegan::io::{check_output, OutputKind};
use stylegan::models::{Generator, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// The target image (as given to `stylegan project`).
    #[arg(long)]
    target: PathBuf,
    /// The pivot: `projected.safetensors` from `stylegan project`.
    #[arg(long)]
    pivot: PathBuf,
    /// Tuning steps.
    #[arg(long, default_value_t = 350)]
    steps: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 3e-4)]
    lr: f64,
    /// Turn off the locality regularisation (images of latents near the pivot kept as they were).
    #[arg(long)]
    no_locality: bool,
    /// Seed of the locality samples.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Output network file.
    #[arg(long)]
    out: PathBuf,
    /// Save the whole generator instead of the tensors that changed (a delta that needs the
    /// input network to load).
    #[arg(long)]
    full: bool,
    /// Also write target | projection | tuned reconstruction side by side to this PNG.
    #[arg(long)]
    compare: Option<PathBuf>,
}

pub fn run(a: Args) -> Result<()> {
    crate::args::count("--steps", a.steps, 1, 100_000)?;
    crate::args::range("--lr", a.lr, 0.0, true, 1.0)?;
    // Unwritable destinations are found now, not after the tuning.
    check_output(&a.out, OutputKind::Safetensors).context("--out")?;
    if let Some(p) = &a.compare {
        check_output(p, OutputKind::Image).context("--compare")?;
    }
    let device = a.net.device()?;
    let network = a.net.path()?;
    let g = Generator::load(&network, &device)?;
    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    let target = load_target(&a.target, r, c, &device)?;
    for n in &target.notes {
        eprintln!("note: {}: {n}", a.target.display());
    }
    let pivot = Projection::load(&a.pivot, &g)?;
    let lpips = super::project::lpips(&device)?;
    let stats = super::latent_stats(&g, STATS_SAMPLES, None)?;
    let cfg = PtiConfig {
        steps: a.steps,
        lr: a.lr,
        locality: (!a.no_locality).then(Default::default),
        seed: a.seed,
        ..PtiConfig::default()
    };
    let pb = super::progress(a.steps, "pivotal tuning");
    let (tuned, history) =
        pivotal_tuning(&g, &lpips, &target.tensor, &pivot, &stats, &cfg, &mut |s| {
            pb.set_position(s.step as u64 + 1);
            pb.set_message(format!("pivotal tuning, LPIPS {:.4}", s.lpips));
        })?;
    pb.finish_and_clear();
    let before: f32 = lpips
        .distance(pivot.image(&g)?, target.tensor.clone())?
        .into_scalar();
    let after_img = pivot.latent.clone().generate(&tuned, NoiseMode::Const)?;
    let after: f32 = lpips
        .distance(after_img.clone(), target.tensor.clone())?
        .into_scalar();
    let entry = tuned.to_entry();
    if a.full {
        Checkpoint::write(&a.out, &[("G_ema", &entry)], &BTreeMap::new())?;
        eprintln!("wrote the whole tuned generator to {}", a.out.display());
    } else {
        let base = Checkpoint::open(&network)?;
        let (_, base_entry) = base.generator()?;
        let n = Checkpoint::write_delta(&a.out, "G_ema", &entry, &network, base_entry)?;
        eprintln!(
            "wrote {n} changed tensors to {} (a delta of {}; --full for a standalone file)",
            a.out.display(),
            network.display()
        );
    }
    if let Some(p) = &a.compare {
        let proj = super::project::image8(pivot.image(&g)?)?;
        let tuned_img = super::project::image8(after_img)?;
        grid(&[target.image.clone(), proj, tuned_img], 3, 1)?.save(p)?;
    }
    let last = history.last().expect("at least one step");
    eprintln!(
        "LPIPS to the target: {before:.4} projected, {after:.4} after tuning (MSE {:.5})",
        last.mse
    );
    Ok(())
}
