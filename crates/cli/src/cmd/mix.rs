//! `stylegan mix`: a style-mixing grid, like the official `style_mixing.py`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stylegan::io::image::{grid, Image8};
use stylegan::io::npy;
use stylegan::latent::{mix, z_from_seed};
use stylegan::models::{Generator, NoiseMode};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    net: crate::args::NetworkArgs,
    /// Row seeds: their ws are kept except for `--styles`.
    #[arg(long, allow_hyphen_values = true)]
    rows: String,
    /// Column seeds: they give the layers in `--styles`.
    #[arg(long, allow_hyphen_values = true)]
    cols: String,
    /// Layers taken from the column seed, e.g. `0-6`.
    #[arg(long, default_value = "0-6")]
    styles: String,
    /// Truncation psi.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    trunc: f64,
    /// const, random or none.
    #[arg(long, value_enum, default_value_t = crate::args::NoiseArg::Const)]
    noise_mode: crate::args::NoiseArg,
    /// Class label for conditional networks.
    #[arg(long)]
    class: Option<usize>,
    /// Output directory.
    #[arg(long)]
    outdir: PathBuf,
    /// Also write every cell as float32 `mix_ROW-COL.npy` `[1,C,H,W]`.
    #[arg(long)]
    raw: bool,
}

pub fn run(a: Args) -> Result<()> {
    let rows = crate::args::parse_seeds(&a.rows).context("--rows")?;
    let cols = crate::args::parse_seeds(&a.cols).context("--cols")?;
    let styles: Vec<usize> =
        crate::args::parse_indices(Some(&a.styles), "--styles")?.unwrap_or_default();
    crate::args::finite("--trunc", a.trunc)?;
    let noise: NoiseMode = a.noise_mode.into();
    let g = Generator::load(&a.net.path()?, &a.net.device()?)?;
    g.require_w("style mixing")?;
    if let Some(&bad) = styles.iter().find(|&&s| s >= g.num_ws()) {
        bail!(
            "--styles layer {bad} is out of range: the network has {} ws (0..{})",
            g.num_ws(),
            g.num_ws() - 1
        );
    }
    g.label(a.class, 1).context("--class")?;
    crate::args::grid_fits(
        "--rows/--cols",
        cols.len() + 1,
        rows.len() + 1,
        g.config.img_resolution,
    )?;
    stylegan::io::prepare_dir(&a.outdir).context("--outdir")?;
    let ws_of = |seed: u32| -> Result<_> {
        Ok(g.mapping_ws(
            g.z_tensor(&[z_from_seed(seed, g.config.z_dim)])?,
            g.label(a.class, 1)?,
            a.trunc,
            None,
        )?)
    };
    let (c, r) = (g.config.img_channels, g.config.img_resolution);
    let render = |ws: &_| -> Result<(Image8, Vec<f32>)> {
        let img = stylegan::backend::to_vec(&g.synthesis.forward(ws, noise)?)?;
        stylegan::io::image::check_finite(&img, c * r * r)?;
        Ok((Image8::from_chw(&img, c, r, r), img))
    };
    let row_ws: Vec<_> = rows.iter().map(|&s| ws_of(s)).collect::<Result<_>>()?;
    let col_ws: Vec<_> = cols.iter().map(|&s| ws_of(s)).collect::<Result<_>>()?;
    let pb = super::progress((rows.len() + 1) * (cols.len() + 1), "mixing");
    // Files and grid as style_mixing.py: `ROW-COL.png` (and `SEED-SEED.png` for the unmixed
    // images); the grid has a black corner, the column images on top, the row images
    // on the left, and the mixes in between.
    let blank = Image8 {
        width: r,
        height: r,
        channels: c,
        pixels: vec![0; r * r * c],
    };
    let mut cells = vec![blank];
    for (s, ws) in cols.iter().zip(&col_ws) {
        let (im, _) = render(ws)?;
        im.save_png(&a.outdir.join(format!("{s}-{s}.png")))?;
        cells.push(im);
        pb.inc(1);
    }
    for (rs, rw) in rows.iter().zip(&row_ws) {
        let (im, _) = render(rw)?;
        im.save_png(&a.outdir.join(format!("{rs}-{rs}.png")))?;
        cells.push(im);
        pb.inc(1);
        for (cs, cw) in cols.iter().zip(&col_ws) {
            let (im, raw) = render(&mix(rw, cw, &styles)?)?;
            im.save_png(&a.outdir.join(format!("{rs}-{cs}.png")))?;
            if a.raw {
                npy::write_f32(
                    &a.outdir.join(format!("mix_{rs}-{cs}.npy")),
                    &[1, c, r, r],
                    &raw,
                )?;
            }
            cells.push(im);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    grid(&cells, cols.len() + 1, rows.len() + 1)?.save_png(&a.outdir.join("grid.png"))?;
    eprintln!(
        "wrote {}x{} mixes and grid.png to {}",
        rows.len(),
        cols.len(),
        a.outdir.display()
    );
    Ok(())
}
