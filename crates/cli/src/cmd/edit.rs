//! `stylegan edit`: a grid of seeds (rows) × edit strengths (columns) along a direction, or a
//! StyleSpace channel.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::edit::{Directions, Edit};
use stylegan::io::image::{grid, Image8};
use stylegan::latent::Latent;
use stylegan::models::{Generator, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seeds (grid rows), e.g. `0-3`.
    #[arg(long, required_unless_present = "latent", allow_hyphen_values = true)]
    seeds: Option<String>,
    /// A real image's projection (`stylegan project` → projected.safetensors) instead of
    /// seeds: one grid row, with the projection's noise maps. w / wplus projections take w
    /// directions, s projections StyleSpace edits.
    #[arg(long, conflicts_with = "seeds")]
    latent: Option<PathBuf>,
    /// Directions file (`stylegan directions ...`).
    #[arg(long, conflicts_with = "s_channel")]
    direction: Option<PathBuf>,
    /// Which direction of the file.
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// A StyleSpace channel instead of a direction: LAYER:CHANNEL (layers count conv0, conv1,
    /// torgb of every block in order).
    #[arg(long)]
    s_channel: Option<String>,
    /// Strengths START:STOP:COUNT (evenly spaced, inclusive) or a list `-2,0,2`. GANSpace
    /// strengths are in standard deviations.
    #[arg(long, default_value = "-3:3:7", allow_hyphen_values = true)]
    strengths: String,
    /// W+ layers the direction is applied to (w directions), e.g. `0-5`; default: all, or the
    /// layers a SeFa direction was computed from.
    #[arg(long)]
    layers: Option<String>,
    /// Where the edit acts: w (every layer), wplus (the layers in --layers), s (StyleSpace:
    /// S directions and --s-channel). Default: from the direction and --layers.
    #[arg(long, value_enum)]
    space: Option<crate::args::SpaceArg>,
    /// Truncation psi applied before editing.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Class label for conditional networks.
    #[arg(long)]
    class: Option<usize>,
    /// Output directory (grid.png and one PNG per cell).
    #[arg(long)]
    outdir: PathBuf,
}

/// `a:b:n` → n evenly spaced values from a to b; or a comma list (at most
/// [`crate::args::MAX_CELLS`] values). Errors name `flag`.
pub fn parse_strengths(s: &str, flag: &str) -> Result<Vec<f64>> {
    let parts: Vec<&str> = s.split(':').collect();
    let v: Vec<f64> = if parts.len() == 3 {
        let a: f64 = parts[0]
            .trim()
            .parse()
            .with_context(|| format!("{flag} start '{}'", parts[0]))?;
        let b: f64 = parts[1]
            .trim()
            .parse()
            .with_context(|| format!("{flag} stop '{}'", parts[1]))?;
        let n: usize = parts[2]
            .trim()
            .parse()
            .with_context(|| format!("{flag} count '{}'", parts[2]))?;
        crate::args::count(&format!("{flag} count"), n, 1, crate::args::MAX_CELLS)?;
        (0..n)
            .map(|i| {
                if n == 1 {
                    a
                } else {
                    a + (b - a) * i as f64 / (n - 1) as f64
                }
            })
            .collect()
    } else if parts.len() == 1 {
        s.split(',')
            .map(|x| {
                x.trim()
                    .parse::<f64>()
                    .with_context(|| format!("{flag} value '{x}'"))
            })
            .collect::<Result<_>>()?
    } else {
        bail!("{flag} must be START:STOP:COUNT or a comma list, got '{s}'");
    };
    if v.iter().any(|x| !x.is_finite()) {
        bail!("{flag} must be finite numbers, got '{s}'");
    }
    crate::args::count(
        &format!("{flag} (number of values)"),
        v.len(),
        1,
        crate::args::MAX_CELLS,
    )?;
    Ok(v)
}

pub fn run(a: Args) -> Result<()> {
    let seeds: Vec<Option<u32>> = match &a.seeds {
        Some(s) => crate::args::parse_seeds(s)
            .context("--seeds")?
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None],
    };
    let strengths = parse_strengths(&a.strengths, "--strengths")?;
    crate::args::finite("--trunc", a.trunc)?;
    let noise: NoiseMode = a.noise_mode.into();
    let layers = crate::args::parse_indices(a.layers.as_deref(), "--layers")?;
    let g = Generator::load(&a.net.path()?, &a.net.device()?)?;
    let edit = match (&a.direction, &a.s_channel) {
        (Some(path), None) => {
            let d = Directions::load(path)?;
            Edit::from_directions(&d, a.index, layers)
                .with_context(|| path.display().to_string())?
        }
        (None, Some(spec)) => {
            if layers.is_some() {
                bail!("--layers applies to --direction, not to --s-channel");
            }
            let (l, c) = spec
                .split_once(':')
                .with_context(|| format!("--s-channel must be LAYER:CHANNEL, got '{spec}'"))?;
            let layer = l
                .trim()
                .parse()
                .with_context(|| format!("--s-channel layer '{l}'"))?;
            let channel = c
                .trim()
                .parse()
                .with_context(|| format!("--s-channel channel '{c}'"))?;
            Edit::s_channel(layer, channel)
        }
        _ => bail!("give --direction FILE or --s-channel LAYER:CHANNEL"),
    };
    if let Some(space) = &a.space {
        let space: stylegan::latent::Space = (*space).into();
        edit.check_space(space)
            .with_context(|| format!("--space {}", space.name()))?;
    }
    crate::args::grid_fits(
        "--seeds/--strengths",
        strengths.len(),
        seeds.len(),
        g.config.img_resolution,
    )?;
    stylegan::io::prepare_dir(&a.outdir).context("--outdir")?;
    let pb = super::progress(seeds.len() * strengths.len(), "editing");
    let mut cells = Vec::new();
    for &seed in &seeds {
        let src = match seed {
            Some(s) => stylegan::invert::Sourced {
                latent: Latent::from_seeds(&g, &[s], a.class)?.truncate(&g, a.trunc, None)?,
                projection: None,
            },
            None => super::pick_latent(&g, None, a.latent.as_deref(), a.trunc, "--latent")?,
        };
        let g = stylegan::invert::with_noise_of(g.clone(), &[&src])?;
        let base = src.latent;
        let stem = seed.map_or("latent".to_string(), |s| format!("seed{s:04}"));
        for &s in &strengths {
            let img = edit
                .apply(&g, base.clone(), s)
                .with_context(|| format!("editing a {} latent", base.space().name()))?
                .generate(&g, noise)?;
            let im = Image8::from_batch(img)?.remove(0);
            im.save_png(&a.outdir.join(format!("{stem}_{s:+.2}.png")))?;
            cells.push(im);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    grid(&cells, strengths.len(), seeds.len())?.save_png(&a.outdir.join("grid.png"))?;
    eprintln!(
        "wrote {} rows x {} strengths and grid.png to {}",
        seeds.len(),
        strengths.len(),
        a.outdir.display()
    );
    Ok(())
}
