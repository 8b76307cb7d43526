//! `stylegan video`: a looping latent interpolation video like the official `gen_video.py`:
//! seeds laid out on a grid, each cell moving through its keyframes (slerp in z, linear or
//! cubic in w), written as GIF (always) or MP4 (with ffmpeg).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::io::image::{grid, Image8};
use stylegan::io::video::write_video;
use stylegan::latent::interp::{slerp, Kind, Looped};
use stylegan::latent::{z_from_seed, Latent};
use stylegan::models::{Generator, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Seeds: keyframes, grid cell by cell (a multiple of the grid size).
    #[arg(long, allow_hyphen_values = true)]
    seeds: String,
    /// Grid COLSxROWS.
    #[arg(long, default_value = "1x1")]
    grid: String,
    /// Frames between two keyframes.
    #[arg(long, default_value_t = 120)]
    w_frames: usize,
    /// Interpolation in w: cubic or linear (z is always slerped).
    #[arg(long, value_enum, default_value_t = crate::args::InterpKind::Cubic)]
    kind: crate::args::InterpKind,
    /// Interpolate in z (slerp) or w. Default: w, except for PGGAN, which has no W and whose
    /// normalised z is interpolated with slerp (as the StyleGAN v1 paper advises).
    #[arg(long, value_enum)]
    space: Option<crate::args::InterpSpace>,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// Noise mode: const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u32,
    /// Output `.gif`, or `.mp4` (needs ffmpeg).
    #[arg(long)]
    output: PathBuf,
    #[command(flatten)]
    transform: crate::args::TransformArgs,
}

pub fn run(a: Args) -> Result<()> {
    let seeds = crate::args::parse_seeds(&a.seeds).context("--seeds")?;
    let (cols, rows) = crate::args::parse_grid(&a.grid).context("--grid")?;
    let cells = cols * rows;
    if seeds.len() % cells != 0 {
        bail!(
            "--seeds has {} seeds, not a multiple of the {cols}x{rows} grid",
            seeds.len()
        );
    }
    crate::args::count("--w-frames", a.w_frames, 1, 100_000)?;
    crate::args::count("--fps", a.fps as usize, 1, 240)?;
    crate::args::finite("--trunc", a.trunc)?;
    stylegan::io::video::check_video_output(&a.output).context("--output")?;
    let kind: Kind = a.kind.into();
    let noise: NoiseMode = a.noise_mode.into();
    let mut g = Generator::load(&a.net.path()?, &a.net.device()?)?;
    let in_z = match a.space {
        Some(s) => s == crate::args::InterpSpace::Z,
        None => g.family() == stylegan::models::Family::Pggan,
    };
    a.transform.apply(&mut g)?;
    if g.config.c_dim > 0 {
        bail!("video: conditional networks are not supported yet");
    }
    let keys_per_cell = seeds.len() / cells;
    // Every frame is kept until the video is encoded: bound them before the work.
    let r = g.config.img_resolution;
    crate::args::grid_fits("--grid", cols, rows, r)?;
    let frame_bytes = (cols * r) * (rows * r) * g.config.img_channels;
    let frames = keys_per_cell.saturating_mul(a.w_frames);
    if frames.saturating_mul(frame_bytes) > crate::args::MAX_VIDEO_BYTES {
        bail!(
            "--seeds/--w-frames/--grid: {frames} frames of {}x{} pixels would take {} MiB before \
             encoding, more than the limit of {} MiB",
            cols * r,
            rows * r,
            frames.saturating_mul(frame_bytes) >> 20,
            crate::args::MAX_VIDEO_BYTES >> 20
        );
    }
    let zdim = g.config.z_dim;
    // Keyframes per cell: z (for slerp) or w (for the spline).
    let mut curves: Vec<Box<dyn Fn(f64) -> Result<Latent>>> = Vec::new();
    for cell in 0..cells {
        let cell_seeds: Vec<u32> = (0..keys_per_cell)
            .map(|k| seeds[cell * keys_per_cell + k])
            .collect();
        let zs: Vec<Vec<f64>> = cell_seeds.iter().map(|&s| z_from_seed(s, zdim)).collect();
        if in_z {
            let g2 = &g;
            let f = move |x: f64| -> Result<Latent> {
                let n = zs.len();
                let x = x.rem_euclid(n as f64);
                let i = (x.floor() as usize).min(n - 1);
                let z = slerp(&zs[i], &zs[(i + 1) % n], x - i as f64);
                Ok(Latent::Z {
                    z: g2.z_tensor(&[z])?,
                    c: None,
                })
            };
            curves.push(Box::new(f));
        } else {
            let keys = (Latent::Z {
                z: g.z_tensor(&zs)?,
                c: None,
            })
            .w_rows(&g)?;
            let curve = Looped::new(keys, kind)?;
            let g2 = &g;
            let f =
                move |x: f64| -> Result<Latent> { Ok(Latent::from_w_rows(g2, &[curve.at(x)])?) };
            curves.push(Box::new(f));
        }
    }
    let total = keys_per_cell * a.w_frames;
    let pb = super::progress(total, "frames");
    let mut frames = Vec::with_capacity(total);
    for f in 0..total {
        let x = f as f64 / a.w_frames as f64;
        let mut imgs = Vec::with_capacity(cells);
        for curve in &curves {
            let img = curve(x)?.truncate(&g, a.trunc, None)?.generate(&g, noise)?;
            imgs.extend(Image8::from_batch(img)?);
        }
        frames.push(grid(&imgs, cols, rows)?);
        pb.inc(1);
    }
    pb.finish_and_clear();
    write_video(&a.output, &frames, a.fps)?;
    eprintln!(
        "wrote {total} frames ({cols}x{rows} grid) to {}",
        a.output.display()
    );
    Ok(())
}
