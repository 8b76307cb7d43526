//! `stylegan generate`: images from seeds, like the official `gen_images.py`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::io::image::{grid, Image8};
use stylegan::io::npy;
use stylegan::latent::z_from_seed;
use stylegan::models::{Generator, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seeds, e.g. `0,1,4-6`.
    #[arg(long, allow_hyphen_values = true)]
    seeds: String,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Truncate only the first N ws (all when absent).
    #[arg(long)]
    trunc_cutoff: Option<usize>,
    /// Noise mode: const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Class label for conditional networks.
    #[arg(long)]
    class: Option<usize>,
    /// Level of detail of a progressive network (StyleGAN v1, PGGAN): 0 = full resolution,
    /// k = the 2^-k-size level upscaled, fractions blend two levels as during a fade-in.
    /// Default: the network's own `lod` variable.
    #[arg(long, allow_negative_numbers = true)]
    lod: Option<f64>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Output directory.
    #[arg(long)]
    outdir: PathBuf,
    /// Also write each image before quantisation as float32 `seed%04d.npy` `[1,C,H,W]`.
    #[arg(long)]
    raw: bool,
    /// Also write `seed%04d_z.npy` (float64) and `seed%04d_w.npy` (float32 ws after truncation).
    #[arg(long)]
    save_latents: bool,
    /// Also write all images as one `grid.png` with COLSxROWS cells.
    #[arg(long)]
    grid: Option<String>,
    #[command(flatten)]
    transform: crate::args::TransformArgs,
}

pub fn run(a: Args) -> Result<()> {
    let seeds = crate::args::parse_seeds(&a.seeds).context("--seeds")?;
    crate::args::finite("--trunc", a.trunc)?;
    crate::args::count("--batch", a.batch, 1, crate::args::MAX_BATCH)?;
    let noise: NoiseMode = a.noise_mode.into();
    let grid_shape = a
        .grid
        .as_deref()
        .map(crate::args::parse_grid)
        .transpose()
        .context("--grid")?;
    if let Some((c, r)) = grid_shape {
        if c * r < seeds.len() {
            bail!(
                "--grid {c}x{r} holds {} images but {} seeds were given",
                c * r,
                seeds.len()
            );
        }
    }
    let device = a.net.device()?;
    let mut g = Generator::load(&a.net.path()?, &device)?;
    a.transform.apply(&mut g)?;
    if let Some(lod) = a.lod {
        g.set_lod(lod).context("--lod")?;
    }
    // PGGAN's own tools round to nearest (ties to even) after +127.5; the others truncate
    // after +128 (FORMATS.md §10, §14.4).
    let quantize = if g.family() == stylegan::models::Family::Pggan {
        stylegan::io::image::quantize_pggan
    } else {
        stylegan::io::image::quantize
    };
    if let Some(k) = a.trunc_cutoff {
        if k == 0 || k > g.num_ws() {
            bail!(
                "--trunc-cutoff {k} is outside 1..={} (the network's num_ws)",
                g.num_ws()
            );
        }
    }
    // Fail on a bad --class, a grid too large or an unwritable --outdir before any work.
    g.label(a.class, 1).context("--class")?;
    if let Some((c, r)) = grid_shape {
        crate::args::grid_fits("--grid", c, r, g.config.img_resolution)?;
    }
    stylegan::io::prepare_dir(&a.outdir).context("--outdir")?;

    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    let pb = super::progress(seeds.len(), "generating");
    let mut images = Vec::with_capacity(if grid_shape.is_some() { seeds.len() } else { 0 });
    for chunk in seeds.chunks(a.batch) {
        let zs: Vec<Vec<f64>> = chunk
            .iter()
            .map(|&s| z_from_seed(s, g.config.z_dim))
            .collect();
        let ws = g.mapping_ws(
            g.z_tensor(&zs)?,
            g.label(a.class, chunk.len())?,
            a.trunc,
            a.trunc_cutoff,
        )?;
        let img = g.synthesis.forward(&ws, noise)?;
        let pixels = stylegan::backend::to_vec(&img)?;
        stylegan::io::image::check_finite(&pixels, c * r * r)?;
        let ws_data: Vec<f32> = if a.save_latents {
            stylegan::backend::to_vec(&ws)?
        } else {
            vec![]
        };
        let per = c * r * r;
        for (i, &seed) in chunk.iter().enumerate() {
            let chw = &pixels[i * per..(i + 1) * per];
            let im = Image8::from_chw_with(chw, c, r, r, quantize);
            im.save_png(&a.outdir.join(format!("seed{seed:04}.png")))?;
            if a.raw {
                npy::write_f32(
                    &a.outdir.join(format!("seed{seed:04}.npy")),
                    &[1, c, r, r],
                    chw,
                )?;
            }
            if a.save_latents {
                npy::write_f64(
                    &a.outdir.join(format!("seed{seed:04}_z.npy")),
                    &[1, g.config.z_dim],
                    &zs[i],
                )?;
                let per_w = g.num_ws() * g.config.w_dim;
                npy::write_f32(
                    &a.outdir.join(format!("seed{seed:04}_w.npy")),
                    &[1, g.num_ws(), g.config.w_dim],
                    &ws_data[i * per_w..(i + 1) * per_w],
                )?;
            }
            if grid_shape.is_some() {
                images.push(im);
            }
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    if let Some((cols, rows)) = grid_shape {
        grid(&images, cols, rows)?.save_png(&a.outdir.join("grid.png"))?;
    }
    eprintln!("wrote {} image(s) to {}", seeds.len(), a.outdir.display());
    Ok(())
}
