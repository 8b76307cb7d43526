//! `stylegan dataset`: build a data set ZIP in the official layout, from a folder or ZIP of
//! images (like the official `dataset_tool.py`) or from facesjs cartoon faces.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::data::{self, BuildOptions, FacesOptions, Resolution, Transform};

use super::Bar;
use stylegan::models::config::MAX_RESOLUTION;

#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = "Examples:\n  stylegan dataset --source photos/ --dest data.zip --resolution 64 --transform center-crop\n  stylegan dataset faces --count 10000 --resolution 64 --dest faces64.zip --seed 0"
)]
pub struct Args {
    #[command(subcommand)]
    faces: Option<Sub>,
    /// Folder (searched recursively) or ZIP of PNG/JPEG images.
    #[arg(long, required = true)]
    source: Option<PathBuf>,
    /// Output data set (.zip).
    #[arg(long, required = true)]
    dest: Option<PathBuf>,
    /// Output resolution R (R×R), or WxH for center-crop-wide/-tall (W×H content on a square
    /// canvas). Without a transform, defaults to the size of the images.
    #[arg(long)]
    resolution: Option<String>,
    /// Crop and resize: center-crop, center-crop-wide or center-crop-tall. Without it, every
    /// image must already be R×R.
    #[arg(long, value_parser = ["center-crop", "center-crop-wide", "center-crop-tall"])]
    transform: Option<String>,
    /// Labels in the official format {"labels": [["relative/path.png", label], ...]}, label an
    /// integer class or a list of floats. Default: dataset.json in the source, if any.
    #[arg(long)]
    labels: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Render facesjs cartoon faces with attribute labels (needs Node.js and npm).
    Faces(FacesArgs),
}

#[derive(clap::Args)]
struct FacesArgs {
    /// Number of faces.
    #[arg(long)]
    count: usize,
    /// Output resolution (a power of two, e.g. 32 or 64).
    #[arg(long)]
    resolution: u32,
    /// Output data set (.zip).
    #[arg(long)]
    dest: PathBuf,
    /// Seed: the same seed gives the same faces.
    #[arg(long, default_value_t = 0)]
    seed: u32,
    /// Colour treatment: natural, or sepia (a restyled domain for fine-tuned children).
    #[arg(long, default_value = "natural")]
    palette: String,
}

pub fn run(a: Args) -> Result<()> {
    match a.faces {
        Some(Sub::Faces(f)) => faces(f),
        None => {
            // clap enforces both without the subcommand.
            let source = a.source.context("--source is required")?;
            let dest = a.dest.context("--dest is required")?;
            from_images(source, dest, a.resolution, a.transform, a.labels)
        }
    }
}

fn from_images(
    source: PathBuf,
    dest: PathBuf,
    resolution: Option<String>,
    transform: Option<String>,
    labels: Option<PathBuf>,
) -> Result<()> {
    let resolution = resolution
        .map(|r| r.parse::<Resolution>())
        .transpose()
        .context("--resolution")?;
    if let Some(r) = &resolution {
        let big = r.width.max(r.height) as usize;
        if big > MAX_RESOLUTION {
            bail!("--resolution {r}: at most {MAX_RESOLUTION} (the largest network resolution)");
        }
    }
    let transform = match transform {
        Some(t) => t.parse::<Transform>()?,
        None => Transform::None,
    };
    let opts = BuildOptions {
        resolution,
        transform,
        labels,
    };
    let bar = Bar::new();
    let result = data::build_from_images(&source, &dest, &opts, &bar);
    bar.finish();
    let s = result?;
    println!(
        "wrote {} images ({r}x{r}) to {}",
        s.written,
        s.dest.display(),
        r = s.resolution
    );
    if s.skipped.is_empty() {
        println!("skipped 0 files");
    } else {
        println!("skipped {} files:", s.skipped.len());
        for k in s.skipped.iter().take(20) {
            println!("  {}: {}", k.name, k.reason);
        }
        if s.skipped.len() > 20 {
            println!("  ... and {} more", s.skipped.len() - 20);
        }
    }
    match &s.labels_from {
        None => println!("labels: no"),
        Some(from) if s.labels_are_classes => println!(
            "labels: yes, {} classes (from {})",
            s.label_dim,
            from.display()
        ),
        Some(from) => println!(
            "labels: yes, vectors of {} (from {}){}",
            s.label_dim,
            from.display(),
            match &s.label_names {
                Some(names) => format!(": {}", names.join(", ")),
                None => String::new(),
            }
        ),
    }
    Ok(())
}

/// The most faces one `dataset faces` run makes: every image's labels stay in memory until
/// `dataset.json` is written.
const MAX_FACES: usize = 10_000_000;

fn faces(f: FacesArgs) -> Result<()> {
    crate::args::count("--count", f.count, 1, MAX_FACES)?;
    let r = f.resolution as usize;
    if r < 4 || !r.is_power_of_two() || r > MAX_RESOLUTION {
        bail!(
            "--resolution must be a power of two in 4..={MAX_RESOLUTION}, got {}",
            f.resolution
        );
    }
    let mut opts = FacesOptions::new(f.count, f.resolution, f.seed);
    opts.palette = f.palette.parse()?;
    let bar = Bar::new();
    let result = data::generate_faces(&opts, &f.dest, &bar);
    bar.finish();
    let s = result?;
    println!(
        "wrote {} facesjs faces ({r}x{r}, seed {}) to {}",
        s.written,
        f.seed,
        s.dest.display(),
        r = s.resolution
    );
    println!("skipped 0 files");
    let stats: Vec<String> = s
        .label_names
        .iter()
        .zip(&s.label_means)
        .map(|(n, m)| {
            if n == "skin_lightness" {
                format!("{n} (mean {m:.2})")
            } else {
                format!("{n} ({:.0}%)", m * 100.0)
            }
        })
        .collect();
    println!(
        "labels: yes, vectors of {}: {}",
        s.label_names.len(),
        stats.join(", ")
    );
    Ok(())
}
