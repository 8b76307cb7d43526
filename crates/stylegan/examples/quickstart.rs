//! Load any supported network file, generate seed 3 and edit it along SeFa direction 0.
//!
//! ```sh
//! cargo run -p stylegan --example quickstart -- [NETWORK] [OUTDIR]
//! ```
//! Without arguments it uses the bundled demo model and writes `out/quickstart/`:
//! `seed0003.png` and `seed0003-sefa0.png` (strengths −3, 0, +3 side by side).

use std::path::PathBuf;

use stylegan::edit::sefa::sefa;
use stylegan::io::image::grid;
use stylegan::prelude::*;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let network = args.next().map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/faces32.safetensors")
    });
    let out = PathBuf::from(args.next().unwrap_or_else(|| "out/quickstart".into()));
    std::fs::create_dir_all(&out).map_err(|e| Error::InvalidArgument(format!("{e}")))?;

    let g = Generator::load(&network, &stylegan::backend::cpu())?;
    println!(
        "{}: {} network, {}x{}",
        network.display(),
        g.family().name(),
        g.config.img_resolution,
        g.config.img_resolution
    );
    let image = &g.render(&[3], 0.7, None)?[0];
    image.save_png(&out.join("seed0003.png"))?;

    // The strongest SeFa direction, applied at three strengths.
    let edit = Edit::from_directions(&sefa(&g, None)?, 0, None)?;
    let mut cells = Vec::new();
    for strength in [-3.0, 0.0, 3.0] {
        let latent = Latent::from_seeds(&g, &[3], None)?.truncate(&g, 0.7, None)?;
        let edited = edit.apply(&g, latent, strength)?;
        cells.extend(Image8::from_batch(edited.generate(&g, NoiseMode::Const)?)?);
    }
    grid(&cells, 3, 1)?.save_png(&out.join("seed0003-sefa0.png"))?;
    println!(
        "wrote seed0003.png and seed0003-sefa0.png to {}",
        out.display()
    );
    Ok(())
}
