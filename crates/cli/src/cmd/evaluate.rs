//! `stylegan evaluate-inversion`: how well each inversion method reconstructs held-out real
//! images (a data set the network was not trained on) and generated images — mean PSNR and
//! LPIPS per method, as a Markdown table, `results.json` and pictures of targets vs
//! reconstructions.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::data::Dataset;
use stylegan::invert::stats::STATS_SAMPLES;
use stylegan::invert::target::from_chw_u8;
use stylegan::invert::{evaluate_inversion, EvalConfig, EvalTarget, Method};
use stylegan::io::image::{grid, Image8};
use stylegan::models::Generator;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Held-out real images: a data set (ZIP or folder in the official layout, e.g. from
    /// `stylegan dataset faces --seed 4242`) at the network's resolution.
    #[arg(long)]
    targets: Option<PathBuf>,
    /// How many images of --targets to use (the first N).
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// How many generated targets (seeds from --gen-seed on, ψ = 1).
    #[arg(long, default_value_t = 8)]
    generated: usize,
    /// First seed of the generated targets.
    #[arg(long, default_value_t = 1000)]
    gen_seed: u32,
    /// Methods, comma-separated: w, wplus, s, s-prior, pti (pti tunes around the w projection).
    #[arg(long, default_value = "w,wplus,s-prior,pti")]
    methods: String,
    /// Projection steps.
    #[arg(long, default_value_t = 1000)]
    steps: usize,
    /// Pivotal tuning steps.
    #[arg(long, default_value_t = 350)]
    pti_steps: usize,
    /// Weight of the S prior (s-prior).
    #[arg(long, default_value_t = stylegan::invert::projector::DEFAULT_PRIOR_WEIGHT)]
    prior_weight: f64,
    /// Output directory: inversion.md, results.json, inversion-real.png, inversion-generated.png.
    #[arg(long)]
    outdir: PathBuf,
    /// Enlargement of the pictures (nearest neighbour).
    #[arg(long, default_value_t = 3)]
    zoom: usize,
}

pub fn run(a: Args) -> Result<()> {
    let methods: Vec<Method> = a
        .methods
        .split(',')
        .map(|m| m.trim().parse::<Method>().context("--methods"))
        .collect::<Result<_>>()?;
    let cfg = EvalConfig {
        methods,
        steps: a.steps,
        pti_steps: a.pti_steps,
        prior_weight: a.prior_weight,
    };
    use crate::args::{count, within};
    count("--steps", a.steps, 1, 100_000)?;
    count("--pti-steps", a.pti_steps, 1, 100_000)?;
    count("--count", a.count, 0, 10_000)?;
    count("--generated", a.generated, 0, 10_000)?;
    count("--zoom", a.zoom, 1, 64)?;
    within("--prior-weight", a.prior_weight, 0.0, 1e6)?;
    if a.gen_seed.checked_add(a.generated as u32).is_none() {
        bail!(
            "--gen-seed {} + --generated {} passes the last seed",
            a.gen_seed,
            a.generated
        );
    }
    stylegan::io::prepare_dir(&a.outdir).context("--outdir")?;
    let device = a.net.device()?;
    let network = a.net.path()?;
    let g = Generator::load(&network, &device)?;
    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    // The pictures (up to 8 rows of target + methods, enlarged) must fit before the work.
    crate::args::picture(
        "--zoom",
        (cfg.methods.len() + 1) * r * a.zoom,
        8 * r * a.zoom,
    )?;

    let mut targets: Vec<EvalTarget> = Vec::new();
    if let Some(path) = &a.targets {
        let ds = Dataset::open(path).with_context(|| format!("--targets {}", path.display()))?;
        if ds.resolution() != r || ds.channels() != c {
            bail!(
                "{}: images are {}x{}x{}, the network makes {c}x{r}x{r}",
                path.display(),
                ds.channels(),
                ds.resolution(),
                ds.resolution()
            );
        }
        if ds.len() < a.count {
            bail!(
                "{} holds {} images, --count asks for {}",
                path.display(),
                ds.len(),
                a.count
            );
        }
        for i in 0..a.count {
            targets.push(EvalTarget {
                group: "real".into(),
                name: ds.names()[i].clone(),
                target: from_chw_u8(ds.image_slice(i), c, r, &device)?,
            });
        }
    }
    for k in 0..a.generated {
        targets.push(EvalTarget::generated(&g, a.gen_seed + k as u32)?);
    }
    if targets.is_empty() {
        bail!("no targets: give --targets DATASET and/or --generated N");
    }
    let lpips = super::project::lpips(&device)?;
    eprintln!("measuring the latent distribution ...");
    let stats = super::latent_stats(&g, STATS_SAMPLES, None)?;
    let pb = super::progress(targets.len() * cfg.steps_per_target(), "inverting");
    let eval = evaluate_inversion(&g, &lpips, &targets, &cfg, &stats, &mut |done| {
        pb.set_position(done as u64)
    })?;
    pb.finish_and_clear();

    let mut md = eval.markdown_table();
    let summary = eval
        .groups()
        .iter()
        .map(|grp| {
            let n = eval.targets.iter().filter(|t| &t.group == grp).count();
            format!("{n} {grp}")
        })
        .collect::<Vec<_>>()
        .join(" and ");
    md += &format!(
        "\n{summary} targets; projection {} steps, PTI {} steps; {}. Atypicality: squared \
         distance of the latent from the mean in units of the samples' spread (a typical \
         sample scores about 1; PTI uses the W pivot).\n",
        a.steps,
        a.pti_steps,
        network
            .file_name()
            .map_or(String::new(), |f| f.to_string_lossy().into_owned())
    );
    stylegan::io::atomic_write(&a.outdir.join("inversion.md"), md.as_bytes())?;
    let names: Vec<&str> = cfg.methods.iter().map(|m| m.name()).collect();
    let per_target: Vec<_> = eval
        .targets
        .iter()
        .map(|t| {
            let scores: serde_json::Map<String, serde_json::Value> = t
                .methods
                .iter()
                .map(|(m, s, _)| {
                    (
                        m.name().to_string(),
                        serde_json::json!({"psnr": s.psnr, "lpips": s.lpips, "atypicality": s.atypicality}),
                    )
                })
                .collect();
            serde_json::json!({"group": t.group, "name": t.name, "scores": scores})
        })
        .collect();
    let json = serde_json::json!({
        "network": network.display().to_string(),
        "steps": a.steps,
        "pti_steps": a.pti_steps,
        "prior_weight": a.prior_weight,
        "methods": names,
        "targets": per_target,
    });
    stylegan::io::atomic_write(
        &a.outdir.join("results.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    for grp in eval.groups() {
        let cols = cfg.methods.len() + 1;
        let shown: Vec<Image8> = eval
            .picture_rows(&grp)
            .into_iter()
            .take(8)
            .flatten()
            .map(|i| i.upscale(a.zoom))
            .collect::<stylegan::Result<_>>()?;
        grid(&shown, cols, shown.len() / cols)?
            .save_png(&a.outdir.join(format!("inversion-{grp}.png")))?;
    }
    print!("{md}");
    eprintln!(
        "wrote inversion.md, results.json and the pictures (columns: target, {}) to {}",
        names.join(", "),
        a.outdir.display()
    );
    Ok(())
}
