//! Helpers shared by the CLI tests: run the `stylegan` binary and check its outcome.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Run `stylegan ARGS`.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stylegan"))
        .args(args)
        .output()
        .expect("run stylegan")
}

/// Assert success; the stderr text.
pub fn ok(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "failed: {err}");
    err
}

/// Assert a clean failure (no panic) whose message contains every needle.
pub fn fails(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "expected failure: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "error lacks '{n}': {err}");
    }
}

/// The parity fixture folder `config` of `../shared`, or `None` with a SKIP note.
pub fn fixture(config: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/parity")
        .join(config);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: parity fixtures not found at {} (they live in ../shared)",
            dir.display()
        );
        None
    }
}

/// A file of the repository's `models/` folder.
pub fn model(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models")
        .join(name)
        .display()
        .to_string()
}

/// Whether LPIPS is cached or can be fetched; prints SKIP otherwise.
pub fn have_lpips() -> bool {
    let p = stylegan::perceptual::assets::lpips_path();
    if p.is_file() {
        return true;
    }
    match stylegan::perceptual::assets::fetch_lpips(&p) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIP: LPIPS weights unavailable ({e})");
            false
        }
    }
}

/// RGB pixels of a PNG.
pub fn pixels(path: &std::path::Path) -> (u32, u32, Vec<u8>) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    (img.width(), img.height(), img.into_raw())
}

/// The tiny unconditional test network (`crates/pickle/fixtures`).
pub fn tiny() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../pickle/fixtures/tiny-uncond.safetensors")
        .display()
        .to_string()
}

/// Largest absolute difference of two arrays of the same shape.
pub fn max_abs(a: &stylegan::io::npy::Array, b: &stylegan::io::npy::Array) -> f64 {
    assert_eq!(a.shape, b.shape);
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

/// Eight 8×8 PNGs → a data set ZIP `DIR/NAME.zip` via `stylegan dataset` (`shift` varies the
/// pictures): the training tests' data.
pub fn tiny_dataset(dir: &std::path::Path, name: &str, shift: u32) -> PathBuf {
    let src = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    for k in 0..8u32 {
        let img = image::RgbImage::from_fn(8, 8, |x, y| {
            if (x + k + shift) % 4 < 2 && (y + k / 2) % 4 < 3 {
                image::Rgb([200, 60 + 20 * k as u8, 40])
            } else {
                image::Rgb([20, 20, 90])
            }
        });
        img.save(src.join(format!("{k}.png"))).unwrap();
    }
    let zip = dir.join(format!("{name}.zip"));
    ok(&run(&[
        "dataset",
        "--source",
        src.to_str().unwrap(),
        "--dest",
        zip.to_str().unwrap(),
        "--resolution",
        "8",
    ]));
    zip
}

/// The training tests' tiny network and schedule (without --batch and --gamma).
pub const TINY_TRAIN: &[&str] = &[
    "--tick",
    "0.008",
    "--snap",
    "1",
    "--cbase",
    "64",
    "--cmax",
    "16",
    "--map",
    "2",
    "--latent-dim",
    "8",
    "--mbstd-group",
    "2",
    "--grid",
    "2x2",
];

/// The one run directory `stylegan train` made in `outdir`.
pub fn only_run_dir(outdir: &std::path::Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(outdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

/// Whether the FID Inception network is cached or can be fetched (`stylegan assets
/// inception`); prints SKIP otherwise.
pub fn have_inception() -> bool {
    let o = run(&["assets", "inception"]);
    if o.status.success() {
        return true;
    }
    eprintln!(
        "SKIP: FID Inception weights unavailable ({})",
        String::from_utf8_lossy(&o.stderr).trim()
    );
    false
}
