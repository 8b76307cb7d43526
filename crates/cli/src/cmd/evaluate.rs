//! `stylegan evaluate-inversion`: how well each inversion method reconstructs held-out real
//! images (a data set the network was not trained on) and generated images — mean PSNR and
//! LPIPS per method, as a Markdown table, `results.json` and pictures of targets vs
//! reconstructions.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::data::Dataset;
use stylegan::invert::pti::PtiConfig;
use stylegan::invert::stats::{STATS_SAMPLES, STATS_SEED};
use stylegan::invert::target::{from_chw_u8, from_image8, Target};
use stylegan::invert::{latent_stats, pivotal_tuning, project, Prior, ProjectorConfig};
use stylegan::io::image::{grid, Image8};
use stylegan::latent::{Latent, Space};
use stylegan::metrics::psnr;
use stylegan::models::{Generator, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    /// Network file; the bundled demo model when absent.
    #[arg(long)]
    network: Option<PathBuf>,
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
    /// cpu or gpu.
    #[arg(long, default_value = "cpu")]
    device: String,
}

const METHODS: [&str; 5] = ["w", "wplus", "s", "s-prior", "pti"];

#[derive(Default, Clone)]
struct Score {
    psnr: Vec<f64>,
    lpips: Vec<f64>,
    atypicality: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

pub fn run(a: Args) -> Result<()> {
    let methods: Vec<String> = a.methods.split(',').map(|m| m.trim().to_string()).collect();
    if let Some(bad) = methods.iter().find(|m| !METHODS.contains(&m.as_str())) {
        bail!("unknown method '{bad}' in --methods (expected some of {METHODS:?})");
    }
    if a.steps == 0 || a.pti_steps == 0 {
        bail!("--steps and --pti-steps must be at least 1");
    }
    let device = super::device(&a.device)?;
    let network = super::network(&a.network)?;
    let g = Generator::load(&network, &device)?;
    let (c, r) = (g.config.img_channels, g.config.img_resolution);

    // Targets: (group, name, target).
    let mut targets: Vec<(&str, String, Target)> = Vec::new();
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
            targets.push((
                "real",
                ds.names()[i].clone(),
                from_chw_u8(ds.image_slice(i), c, r, &device)?,
            ));
        }
    }
    for k in 0..a.generated {
        let seed = a.gen_seed + k as u32;
        let img = Latent::from_seeds(&g, &[seed], None)?.generate(&g, NoiseMode::Const)?;
        // Quantised like any saved image, so that real and generated targets are treated alike.
        let t = from_image8(super::project::image8(img)?, &device);
        targets.push(("generated", format!("seed{seed:04}"), t));
    }
    if targets.is_empty() {
        bail!("no targets: give --targets DATASET and/or --generated N");
    }
    super::generate::prepare_outdir(&a.outdir)?;
    let lpips = super::project::lpips(&device)?;
    eprintln!("measuring the latent distribution ...");
    let stats = latent_stats(&g, STATS_SAMPLES, STATS_SEED, None)?;

    let projections_per_target = methods.iter().filter(|m| *m != "pti").count()
        + usize::from(methods.iter().any(|m| m == "pti") && !methods.iter().any(|m| m == "w"));
    let has_pti = methods.iter().any(|m| m == "pti");
    let total =
        targets.len() * (projections_per_target * a.steps + usize::from(has_pti) * a.pti_steps);
    let pb = super::progress(total, "inverting");
    let mut scores: BTreeMap<(String, String), Score> = BTreeMap::new();
    let mut rows: BTreeMap<&str, Vec<Image8>> = BTreeMap::new();
    let mut per_target = Vec::new();
    for (group, name, t) in &targets {
        let mut row = vec![t.image.clone()];
        let mut w_pivot = None;
        let mut record = BTreeMap::new();
        let mut score =
            |method: &str, img: Image8, latent: &Latent, row: &mut Vec<Image8>| -> Result<()> {
                let atyp = stats.atypicality(latent)?;
                let p = psnr(&t.image, &img)?;
                let l: f32 = lpips
                    .distance(from_image8(img.clone(), &device).tensor, t.tensor.clone())?
                    .into_scalar();
                let l = f64::from(l);
                let s = scores
                    .entry((group.to_string(), method.to_string()))
                    .or_default();
                s.psnr.push(p);
                s.lpips.push(l);
                s.atypicality.push(atyp);
                record.insert(
                    method.to_string(),
                    serde_json::json!({"psnr": p, "lpips": l, "atypicality": atyp}),
                );
                row.push(img);
                Ok(())
            };
        let mut spaces: Vec<&str> = methods
            .iter()
            .filter(|m| *m != "pti")
            .map(String::as_str)
            .collect();
        if has_pti && !spaces.contains(&"w") {
            spaces.insert(0, "w");
        }
        for m in &spaces {
            let (space, prior) = match *m {
                "w" => (Space::W, Prior::None),
                "wplus" => (Space::WPlus, Prior::None),
                "s" => (Space::S, Prior::None),
                _ => (
                    Space::S,
                    Prior::GaussianS {
                        weight: a.prior_weight,
                    },
                ),
            };
            let cfg = ProjectorConfig {
                space,
                steps: a.steps,
                prior,
                ..ProjectorConfig::default()
            };
            let pos = pb.position();
            let proj = project(&g, &lpips, &t.tensor, &cfg, Some(&stats), &mut |s| {
                pb.set_position(pos + s.step as u64 + 1);
            })?;
            if methods.iter().any(|x| x == m) {
                score(
                    m,
                    super::project::image8(proj.image(&g)?)?,
                    &proj.latent,
                    &mut row,
                )?;
            }
            if *m == "w" {
                w_pivot = Some(proj);
            }
        }
        if has_pti {
            let pivot = w_pivot.as_ref().expect("w projected for PTI");
            let cfg = PtiConfig {
                steps: a.pti_steps,
                ..PtiConfig::default()
            };
            let pos = pb.position();
            let (tuned, _) =
                pivotal_tuning(&g, &lpips, &t.tensor, pivot, &stats, &cfg, &mut |s| {
                    pb.set_position(pos + s.step as u64 + 1);
                })?;
            let img = pivot.latent.clone().generate(&tuned, NoiseMode::Const)?;
            score("pti", super::project::image8(img)?, &pivot.latent, &mut row)?;
        }
        per_target.push(serde_json::json!({"group": group, "name": name, "scores": record}));
        rows.entry(group).or_default().extend(row);
    }
    pb.finish_and_clear();

    // The table: one row per method, PSNR and LPIPS per target group.
    let groups: Vec<&str> = ["real", "generated"]
        .into_iter()
        .filter(|g| rows.contains_key(g))
        .collect();
    let count = |grp: &str| targets.iter().filter(|t| t.0 == grp).count();
    let mut md = String::from("| method |");
    for grp in &groups {
        md += &format!(" {grp} PSNR (dB) ↑ | {grp} LPIPS ↓ | {grp} atypicality |");
    }
    md += "\n|---|";
    md += &"---:|---:|---:|".repeat(groups.len());
    md += "\n";
    let label = |m: &str| match m {
        "w" => "W",
        "wplus" => "W+",
        "s" => "S",
        "s-prior" => "S + Gaussian prior",
        _ => "PTI (W pivot)",
    };
    for m in &methods {
        md += &format!("| {} |", label(m));
        for grp in &groups {
            let s = &scores[&(grp.to_string(), m.clone())];
            md += &format!(
                " {:.2} | {:.4} | {:.2} |",
                mean(&s.psnr),
                mean(&s.lpips),
                mean(&s.atypicality)
            );
        }
        md += "\n";
    }
    let summary = groups
        .iter()
        .map(|grp| format!("{} {grp}", count(grp)))
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
    let json = serde_json::json!({
        "network": network.display().to_string(),
        "steps": a.steps,
        "pti_steps": a.pti_steps,
        "prior_weight": a.prior_weight,
        "methods": methods,
        "targets": per_target,
    });
    stylegan::io::atomic_write(
        &a.outdir.join("results.json"),
        serde_json::to_string_pretty(&json)?.as_bytes(),
    )?;
    for (grp, cells) in &rows {
        let cols = methods.len() + 1;
        let shown: Vec<Image8> = cells
            .iter()
            .take(cols * 8)
            .map(|i| i.upscale(a.zoom.max(1)))
            .collect();
        grid(&shown, cols, shown.len() / cols)?
            .save_png(&a.outdir.join(format!("inversion-{grp}.png")))?;
    }
    print!("{md}");
    eprintln!(
        "wrote inversion.md, results.json and the pictures (columns: target, {}) to {}",
        methods.join(", "),
        a.outdir.display()
    );
    Ok(())
}
