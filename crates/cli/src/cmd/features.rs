//! `stylegan expand` and `stylegan blend`: "StyleGAN of All Trades" feature-map operations.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::features::{blend, expand, Extend, Mask};
use stylegan::invert::with_noise_of;
use stylegan::latent::Latent;
use stylegan::models::{Generator, NoiseMode};

/// Write one image `[1, C, H, W]` in [-1, 1] in the format of `path`'s extension.
fn save_image<T>(img: T, path: &std::path::Path) -> Result<()>
where
    T: Into<stylegan::features::ImageTensor>,
{
    let img: stylegan::features::ImageTensor = img.into();
    img.to_image8()?.save(path)?;
    Ok(())
}

/// `--output`: an image path that can be written, checked before any work.
fn check_image_output(path: &std::path::Path) -> Result<()> {
    stylegan::io::check_output(path, stylegan::io::OutputKind::Image).context("--output")?;
    Ok(())
}

/// `--mask`: horizontal (α grows left to right), vertical (top to bottom) or a mask PNG.
fn parse_mask(spec: &str) -> Result<Mask> {
    Ok(match spec {
        "horizontal" => Mask::Horizontal,
        "vertical" => Mask::Vertical,
        path => Mask::from_image_file(std::path::Path::new(path)).with_context(|| {
            format!("--mask {path}: not horizontal, vertical or a readable image")
        })?,
    })
}

#[derive(clap::Args)]
pub struct ExpandArgs {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seed.
    #[arg(long, allow_negative_numbers = true)]
    seed: u32,
    /// Block after which the features are extended (0 = 4×4 block; StyleGAN2, required there).
    #[arg(long)]
    layer: Option<usize>,
    /// reflect (default), replicate, circular or stretch (StyleGAN2).
    #[arg(long, value_enum)]
    mode: Option<crate::args::ExtendArg>,
    /// Width factor (>= 1).
    #[arg(long, default_value_t = 2.0)]
    width_factor: f64,
    /// Height factor (>= 1).
    #[arg(long, default_value_t = 1.0)]
    height_factor: f64,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Output image (.png, .jpg or .webp).
    #[arg(long)]
    output: PathBuf,
}

pub fn run_expand(a: ExpandArgs) -> Result<()> {
    let noise: NoiseMode = a.noise_mode.into();
    crate::args::finite("--trunc", a.trunc)?;
    crate::args::within("--width-factor", a.width_factor, 1.0, 64.0)?;
    crate::args::within("--height-factor", a.height_factor, 1.0, 64.0)?;
    check_image_output(&a.output)?;
    let g = Generator::load(a.net.path()?, &a.net.device()?)?;
    stylegan::features::extend::check_expanded_size(
        g.config.img_resolution,
        a.width_factor,
        a.height_factor,
    )
    .context("--width-factor/--height-factor")?;
    let latent = Latent::from_seeds(&g, &[a.seed], None)?.truncate(&g, a.trunc, None)?;
    let img = if let Ok(s3) = g.synthesis.sg3("expand") {
        // StyleGAN3: the Fourier input plane goes on; no block or padding mode to choose.
        if a.layer.is_some() || a.mode.is_some() {
            bail!(
                "--layer and --mode apply to StyleGAN2; a StyleGAN3 network expands its Fourier \
                 input instead (give only --width-factor / --height-factor)"
            );
        }
        let r = g.config.img_resolution;
        let extra = [
            s3.extra_for_factor(a.width_factor, r)?,
            s3.extra_for_factor(a.height_factor, r)?,
        ];
        s3.forward_extended(&latent.wplus(&g)?, extra)?
    } else {
        let layer = a
            .layer
            .context("--layer is needed: the block after which the features are extended")?;
        let mode: Extend = a.mode.unwrap_or(crate::args::ExtendArg::Reflect).into();
        expand(
            &g,
            &latent.styles(&g)?,
            layer,
            mode,
            a.width_factor,
            a.height_factor,
            noise,
        )?
    };
    save_image(img, &a.output)?;
    eprintln!("wrote {}", a.output.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct BlendArgs {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seed of image A (α = 0).
    #[arg(
        long,
        required_unless_present = "latent_a",
        allow_negative_numbers = true
    )]
    seed_a: Option<u32>,
    /// Image A as a projection (`stylegan project` → projected.safetensors) instead of a seed;
    /// its noise maps are used for both images.
    #[arg(long, conflicts_with = "seed_a")]
    latent_a: Option<PathBuf>,
    /// Seed of image B (α = 1).
    #[arg(
        long,
        required_unless_present = "latent_b",
        allow_negative_numbers = true
    )]
    seed_b: Option<u32>,
    /// Image B as a projection instead of a seed.
    #[arg(long, conflicts_with = "seed_b")]
    latent_b: Option<PathBuf>,
    /// horizontal (α grows left to right), vertical (top to bottom), or a mask PNG (α = pixel/255).
    #[arg(long, default_value = "horizontal")]
    mask: String,
    /// Blocks where the features are blended, e.g. `0-2` (all by default); for StyleGAN3 the
    /// layers of `stylegan info`, 0 = the Fourier input.
    #[arg(long)]
    layers: Option<String>,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Output image (.png, .jpg or .webp).
    #[arg(long)]
    output: PathBuf,
}

pub fn run_blend(a: BlendArgs) -> Result<()> {
    let noise: NoiseMode = a.noise_mode.into();
    crate::args::finite("--trunc", a.trunc)?;
    let mask = parse_mask(&a.mask)?;
    let layers: Option<Vec<usize>> = crate::args::parse_indices(a.layers.as_deref(), "--layers")?;
    check_image_output(&a.output)?;
    let g = Generator::load(a.net.path()?, &a.net.device()?)?;
    let sa = super::pick_latent(&g, a.seed_a, a.latent_a.as_deref(), a.trunc, "image A")?;
    let sb = super::pick_latent(&g, a.seed_b, a.latent_b.as_deref(), a.trunc, "image B")?;
    let g = with_noise_of(g, &[&sa, &sb])?;
    let (la, lb) = (sa.latent, sb.latent);
    let img = if g.family() == stylegan::models::Family::StyleGan3 {
        // StyleGAN3: layer by layer on the ws (0 = input, 1.. = the layers of `stylegan info`).
        stylegan::features::blend_stylegan3(
            &g,
            &la.wplus(&g)?,
            &lb.wplus(&g)?,
            &mask,
            layers.as_deref(),
        )?
    } else {
        blend(
            &g,
            &la.styles(&g)?,
            &lb.styles(&g)?,
            &mask,
            layers.as_deref(),
            noise,
        )?
    };
    save_image(img, &a.output)?;
    eprintln!("wrote {}", a.output.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct PanoramaArgs {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seeds, left to right, e.g. `1,2,3,4`.
    #[arg(long, allow_hyphen_values = true)]
    seeds: String,
    /// Block whose features are laid side by side (0 = 4×4; StyleGAN2, default 1). A
    /// StyleGAN3 panorama is made on the Fourier input and takes no block.
    #[arg(long)]
    layer: Option<usize>,
    /// Overlap between neighbours, as a fraction of one image's width (height with --vertical).
    #[arg(long, default_value_t = 0.5)]
    overlap: f64,
    /// Stack the seeds top to bottom instead of left to right.
    #[arg(long)]
    vertical: bool,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Output image (.png, .jpg or .webp).
    #[arg(long)]
    output: PathBuf,
}

pub fn run_panorama(a: PanoramaArgs) -> Result<()> {
    let seeds = crate::args::parse_seeds(&a.seeds).context("--seeds")?;
    let noise: NoiseMode = a.noise_mode.into();
    crate::args::finite("--trunc", a.trunc)?;
    crate::args::within("--overlap", a.overlap, 0.0, 0.95)?;
    check_image_output(&a.output)?;
    let g = Generator::load(a.net.path()?, &a.net.device()?)?;
    // The panorama is one image wide per seed, less the overlaps.
    let r = g.config.img_resolution;
    let long = r + ((seeds.len().max(1) - 1) as f64 * r as f64 * (1.0 - a.overlap)).ceil() as usize;
    stylegan::features::extend::check_expanded_size(r, long as f64 / r as f64, 1.0)
        .context("--seeds/--overlap: the panorama")?;
    let direction = if a.vertical {
        stylegan::features::Direction::Vertical
    } else {
        stylegan::features::Direction::Horizontal
    };
    if g.family() == stylegan::models::Family::StyleGan3 {
        if a.layer.is_some() {
            bail!(
                "--layer applies to StyleGAN2; a StyleGAN3 panorama is made on the Fourier \
                 input (leave --layer out)"
            );
        }
        let ws: Vec<_> = seeds
            .iter()
            .map(|&s| -> Result<_> {
                Ok(Latent::from_seeds(&g, &[s], None)?
                    .truncate(&g, a.trunc, None)?
                    .wplus(&g)?)
            })
            .collect::<Result<_>>()?;
        let img = stylegan::features::panorama_stylegan3(&g, &ws, a.overlap, direction)?;
        save_image(img, &a.output)?;
        eprintln!("wrote {} ({} seeds)", a.output.display(), seeds.len());
        return Ok(());
    }
    let styles: Vec<_> = seeds
        .iter()
        .map(|&s| -> Result<_> {
            Ok(Latent::from_seeds(&g, &[s], None)?
                .truncate(&g, a.trunc, None)?
                .styles(&g)?)
        })
        .collect::<Result<_>>()?;
    let refs: Vec<&[_]> = styles.iter().map(Vec::as_slice).collect();
    let layer = a.layer.unwrap_or(1);
    let img = stylegan::features::panorama(&g, &refs, layer, a.overlap, direction, noise)?;
    save_image(img, &a.output)?;
    eprintln!("wrote {} ({} seeds)", a.output.display(), seeds.len());
    Ok(())
}

#[derive(clap::Args)]
pub struct TransferArgs {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seed of the source image (kept outside the region).
    #[arg(
        long,
        required_unless_present = "latent_src",
        allow_negative_numbers = true
    )]
    seed_src: Option<u32>,
    /// The source as a projection (`stylegan project`, w or wplus) instead of a seed; its noise
    /// maps are used.
    #[arg(long, conflicts_with = "seed_src")]
    latent_src: Option<PathBuf>,
    /// Seed of the reference image (its region is transferred).
    #[arg(
        long,
        required_unless_present = "latent_ref",
        allow_negative_numbers = true
    )]
    seed_ref: Option<u32>,
    /// The reference as a projection (w or wplus) instead of a seed.
    #[arg(long, conflicts_with = "seed_ref")]
    latent_ref: Option<PathBuf>,
    /// Region as fractions x0,y0,x1,y1 (e.g. `0.25,0.1,0.75,0.5`).
    #[arg(long, conflicts_with = "mask")]
    r#box: Option<String>,
    /// Region as a mask PNG (white = transferred).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Pose alignment: the reference takes the source's first N ws.
    #[arg(long, default_value_t = 4)]
    align: usize,
    /// Blocks (StyleGAN3: layers, 0 = input) where the features are blended (all by default).
    #[arg(long)]
    layers: Option<String>,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Output image (.png, .jpg or .webp).
    #[arg(long)]
    output: PathBuf,
}

pub fn run_transfer(a: TransferArgs) -> Result<()> {
    let noise: NoiseMode = a.noise_mode.into();
    crate::args::finite("--trunc", a.trunc)?;
    check_image_output(&a.output)?;
    let mask = match (&a.r#box, &a.mask) {
        (Some(b), None) => {
            let v: Vec<f64> = b
                .split(',')
                .map(|x| {
                    x.trim()
                        .parse::<f64>()
                        .with_context(|| format!("--box value '{x}'"))
                })
                .collect::<Result<_>>()?;
            if v.len() != 4 {
                anyhow::bail!("--box needs 4 numbers x0,y0,x1,y1, got {}", v.len());
            }
            Mask::from_box(v[0], v[1], v[2], v[3])?
        }
        (None, Some(p)) => Mask::from_image_file(p)?,
        _ => anyhow::bail!("give the region with --box x0,y0,x1,y1 or --mask FILE.png"),
    };
    let layers: Option<Vec<usize>> = crate::args::parse_indices(a.layers.as_deref(), "--layers")?;
    let g = Generator::load(a.net.path()?, &a.net.device()?)?;
    let ss = super::pick_latent(&g, a.seed_src, a.latent_src.as_deref(), a.trunc, "source")?;
    let sr = super::pick_latent(
        &g,
        a.seed_ref,
        a.latent_ref.as_deref(),
        a.trunc,
        "reference",
    )?;
    let g = with_noise_of(g, &[&ss, &sr])?;
    let (ls, lr) = (ss.latent, sr.latent);
    // Pose alignment swaps ws, so both must be w / W+ latents.
    let ws = |l: Latent, what: &str| -> Result<_> {
        l.wplus(&g)
            .with_context(|| format!("the {what} must be a w or wplus latent for pose alignment"))
    };
    let img = stylegan::features::transfer(
        &g,
        &ws(ls, "source")?,
        &ws(lr, "reference")?,
        &mask,
        a.align,
        layers.as_deref(),
        noise,
    )?;
    save_image(img, &a.output)?;
    eprintln!("wrote {}", a.output.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct SingleImageArgs {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seed of the image.
    #[arg(long, allow_negative_numbers = true)]
    seed: u32,
    /// Block whose features are shifted (0 = 4×4).
    #[arg(long, default_value_t = 1)]
    layer: usize,
    /// Number of variations.
    #[arg(long, default_value_t = 8)]
    count: usize,
    /// Seed of the random patch shifts.
    #[arg(long, default_value_t = 0)]
    shift_seed: u32,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Output directory: `orig.png`, `var%02d.png` and `grid.png`.
    #[arg(long)]
    outdir: PathBuf,
}

pub fn run_single_image(a: SingleImageArgs) -> Result<()> {
    crate::args::count("--count", a.count, 1, 1000)?;
    crate::args::finite("--trunc", a.trunc)?;
    stylegan::io::prepare_dir(&a.outdir).context("--outdir")?;
    let g = Generator::load(a.net.path()?, &a.net.device()?)?;
    let n_blocks = g.synthesis.num_blocks("single-image")?;
    let styles = Latent::from_seeds(&g, &[a.seed], None)?
        .truncate(&g, a.trunc, None)?
        .styles(&g)?;
    if a.layer >= n_blocks {
        anyhow::bail!("--layer {} is out of range 0..{}", a.layer, n_blocks - 1);
    }
    let r = 4usize << a.layer;
    let mut cells = Vec::new();
    let orig = stylegan::features::ImageTensor(stylegan::features::single_image(
        &g,
        &styles,
        a.layer,
        &[],
        NoiseMode::Const,
    )?)
    .to_image8()?;
    orig.save_png(&a.outdir.join("orig.png"))?;
    cells.push(orig);
    for (i, shifts) in stylegan::features::random_shifts(r, r, a.count, a.shift_seed)
        .iter()
        .enumerate()
    {
        let img = stylegan::features::single_image(&g, &styles, a.layer, shifts, NoiseMode::Const)?;
        let im = stylegan::features::ImageTensor(img).to_image8()?;
        im.save_png(&a.outdir.join(format!("var{i:02}.png")))?;
        cells.push(im);
    }
    let cols = cells.len().min(8);
    let rows = cells.len().div_ceil(cols);
    stylegan::io::image::grid(&cells, cols, rows)?.save_png(&a.outdir.join("grid.png"))?;
    eprintln!(
        "wrote {} variations and grid.png to {}",
        a.count,
        a.outdir.display()
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct TranslateArgs {
    /// Parent network; the bundled demo model when absent.
    #[arg(long)]
    parent: Option<PathBuf>,
    /// Child network fine-tuned from the parent (`stylegan train --resume PARENT
    /// --freeze-mapping --freeze-affine`).
    #[arg(long)]
    child: PathBuf,
    /// Seeds.
    #[arg(long, required_unless_present = "latent", allow_hyphen_values = true)]
    seeds: Option<String>,
    /// A real image's projection into the parent (`stylegan project --network PARENT`)
    /// instead of seeds; its noise maps are used in both networks.
    #[arg(long, conflicts_with = "seeds")]
    latent: Option<PathBuf>,
    /// Translation strengths α (0 = parent, 1 = child), e.g. `0,0.5,1`; a grid seeds × α.
    #[arg(long, default_value = "0,0.25,0.5,0.75,1", conflicts_with = "mask")]
    alphas: String,
    /// Local translation: horizontal, vertical or a mask PNG (white = child).
    #[arg(long)]
    mask: Option<String>,
    /// Blocks where parent and child are mixed (all by default).
    #[arg(long)]
    layers: Option<String>,
    /// Truncation psi (with the parent's w_avg).
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Output directory: `grid.png` and one PNG per cell.
    #[arg(long)]
    outdir: PathBuf,
}

pub fn run_translate(a: TranslateArgs) -> Result<()> {
    let seeds: Vec<Option<u32>> = match &a.seeds {
        Some(s) => crate::args::parse_seeds(s)
            .context("--seeds")?
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None],
    };
    crate::args::finite("--trunc", a.trunc)?;
    let parent = Generator::load(&super::network(&a.parent)?, &stylegan::backend::cpu())?;
    let child = Generator::load(&a.child, &stylegan::backend::cpu())?;
    let layers: Option<Vec<usize>> = crate::args::parse_indices(a.layers.as_deref(), "--layers")?;
    let masks: Vec<(String, Mask)> = match a.mask.as_deref() {
        Some(spec @ ("horizontal" | "vertical")) => vec![(spec.into(), parse_mask(spec)?)],
        Some(path) => vec![("mask".into(), parse_mask(path)?)],
        None => super::edit::parse_strengths(&a.alphas, "--alphas")?
            .into_iter()
            .map(|v| (format!("{v:.2}"), Mask::Constant(v as f32)))
            .collect(),
    };
    crate::args::grid_fits(
        "--seeds/--alphas",
        masks.len(),
        seeds.len(),
        parent.config.img_resolution,
    )?;
    stylegan::io::prepare_dir(&a.outdir).context("--outdir")?;
    let mut cells = Vec::new();
    for &seed in &seeds {
        let src = super::pick_latent(&parent, seed, a.latent.as_deref(), a.trunc, "input")?;
        let l = src.latent;
        let (parent, child) = match &src.projection {
            Some(p) => (p.generator(&parent)?, p.generator(&child)?),
            None => (parent.clone(), child.clone()),
        };
        let ws = l
            .wplus(&parent)
            .context("translation needs a w or wplus latent (project with --space w or wplus)")?;
        let stem = seed.map_or("latent".to_string(), |s| format!("seed{s:04}"));
        for (name, m) in &masks {
            let img = stylegan::features::translate(
                &parent,
                &child,
                &ws,
                m,
                layers.as_deref(),
                NoiseMode::Const,
            )?;
            let im = stylegan::features::ImageTensor(img).to_image8()?;
            im.save_png(&a.outdir.join(format!("{stem}_{name}.png")))?;
            cells.push(im);
        }
    }
    stylegan::io::image::grid(&cells, masks.len(), seeds.len())?
        .save_png(&a.outdir.join("grid.png"))?;
    eprintln!(
        "wrote {} x {} translations and grid.png to {}",
        seeds.len(),
        masks.len(),
        a.outdir.display()
    );
    Ok(())
}
