//! Foreign checkpoint formats, converted to the native entries (official names, `init_kwargs`)
//! that every network is built from: official PyTorch network pickles (`pickle`), TensorFlow
//! pickles (`tf`), rosinality `.pt` files (`rosinality`, both ways). This layer sits *above*
//! `models`: converters take the expected names and shapes from a zero-weight build of the
//! config (`Generator::template`). Here too are the entry points that open *any* supported
//! file — `Checkpoint::open`, `Generator::load`, `Discriminator::load` — so that `models`
//! itself only knows the native format.

pub mod pickle;
pub mod rosinality;
pub mod tf;
pub mod tf1;
pub(crate) mod torch_zip;
pub mod torchscript;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::io::checkpoint::{file_crc32, Checkpoint, DELTA_BASE, DELTA_CRC, DELTA_PREFIX};
use crate::models::{Discriminator, Generator};
use crate::weights::NetworkEntry;

pub(crate) use pickle::{read_any, read_any_bytes};

/// The environment variable naming extra folders (a path list, like `PATH`) where the base
/// network of a delta checkpoint may be found; see [`default_base_dirs`].
pub const MODELS_ENV: &str = "STYLEGAN_MODELS";

/// Where the bundled models (the demo networks) are looked for, in order — also the folders,
/// after the delta's own, where [`Checkpoint::open`] looks for a delta's base:
/// 1. the folders in `$STYLEGAN_MODELS` (a path list), when set;
/// 2. beside the running program: `models/`, `../share/stylegan-rs/models/` (an install
///    prefix: `bin/stylegan` + `share/stylegan-rs/models/`) and `../../models/` (a checkout's
///    `target/{debug,release}/stylegan`);
/// 3. the `models/` folder of the checkout this library was built from (last: a moved or
///    deleted checkout loses only this one).
pub fn default_base_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os(MODELS_ENV)
        .filter(|v| !v.is_empty())
        .map(|v| std::env::split_paths(&v).collect())
        .unwrap_or_default();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.canonicalize().ok())
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        for rel in ["models", "../share/stylegan-rs/models", "../../models"] {
            let d = exe_dir.join(rel);
            dirs.push(d.canonicalize().unwrap_or(d));
        }
    }
    let bundled = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models"));
    dirs.push(
        bundled
            .canonicalize()
            .unwrap_or_else(|_| bundled.to_path_buf()),
    );
    dirs.dedup();
    dirs
}

impl Checkpoint {
    /// Open any supported network file: a native checkpoint, or an official PyTorch network
    /// pickle (converted in memory, nothing in it executed). A delta checkpoint is completed
    /// with its base, looked up in its own folder and then in [`default_base_dirs`].
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_base_dirs(path, &default_base_dirs())
    }

    /// [`Checkpoint::open`], looking for a delta's base in the delta's own folder and then in
    /// `base_dirs`, in that order. The base is found by the *file name* the delta records and
    /// nothing else: a path in the delta's metadata is never opened, so a crafted delta cannot
    /// read (or reveal the checksum of) any other file.
    pub fn open_with_base_dirs(path: &Path, base_dirs: &[PathBuf]) -> Result<Self> {
        let ckpt = read_any(path)?;
        if ckpt.extra_metadata.contains_key(DELTA_BASE) {
            return ckpt.resolve_delta(base_dirs);
        }
        Ok(ckpt)
    }

    /// A delta checkpoint completed with its base's tensors.
    fn resolve_delta(self, base_dirs: &[PathBuf]) -> Result<Self> {
        let recorded = self.extra_metadata[DELTA_BASE].clone();
        // Only the last component: older deltas recorded an absolute path.
        let name = Path::new(&recorded)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .filter(|n| !n.is_empty() && n != "." && n != "..")
            .ok_or_else(|| {
                Error::format(
                    &self.path,
                    format!("is a delta whose base name '{recorded}' is not a file name"),
                )
            })?;
        let own_dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dirs: Vec<PathBuf> = std::iter::once(own_dir)
            .chain(base_dirs.iter().cloned())
            .collect();
        let found = dirs
            .iter()
            .map(|d| d.join(&name))
            .find(|p| p.is_file() && p != &self.path)
            .ok_or_else(|| {
                Error::format(
                    &self.path,
                    format!(
                        "is a delta of the network '{name}' (e.g. `stylegan pti` output), \
                         which is missing: put that file next to this one (searched: {}), or \
                         save the tuned network whole instead of as a delta",
                        dirs.iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        let want = self
            .extra_metadata
            .get(DELTA_CRC)
            .cloned()
            .unwrap_or_default();
        let have = format!("{:08x}", file_crc32(&found)?);
        if want != have {
            // Only whether it matches: the checksum of a file found by name is never printed.
            return Err(Error::format(
                &self.path,
                format!(
                    "is a delta of the network '{name}', but {} is not the file it was made \
                     from (it has changed, or is another network of that name); the tuned \
                     weights only make sense on the exact base network",
                    found.display()
                ),
            ));
        }
        let prefix = self
            .extra_metadata
            .get(DELTA_PREFIX)
            .cloned()
            .unwrap_or_default();
        let delta = self.networks.get(&prefix).ok_or_else(|| {
            Error::format(&self.path, format!("delta network '{prefix}' is missing"))
        })?;
        let base_ckpt = read_any(&found)?;
        if base_ckpt.extra_metadata.contains_key(DELTA_BASE) {
            return Err(Error::format(
                &self.path,
                format!(
                    "is a delta of {}, which is itself a delta: save the base whole",
                    found.display()
                ),
            ));
        }
        let (_, base_entry) =
            base_ckpt.pick(&[&prefix, "G_ema", "G", "", "D"], delta.short_class())?;
        if base_entry.class_name != delta.class_name {
            return Err(Error::format(
                &self.path,
                format!(
                    "delta of a {} but its base holds a {}",
                    delta.class_name, base_entry.class_name
                ),
            ));
        }
        let mut tensors = base_entry.tensors.clone();
        for (k, t) in &delta.tensors {
            match tensors.get(k) {
                Some(b) if b.shape != t.shape => {
                    return Err(Error::ShapeMismatch {
                        file: self.path.display().to_string(),
                        name: k.clone(),
                        expected: b.shape.clone(),
                        found: t.shape.clone(),
                    })
                }
                None => {
                    return Err(Error::format(
                        &self.path,
                        format!(
                            "tensor '{k}' is not in the base network {}",
                            found.display()
                        ),
                    ))
                }
                _ => {}
            }
            tensors.insert(k.clone(), t.clone());
        }
        let mut networks = BTreeMap::new();
        networks.insert(
            prefix,
            NetworkEntry {
                class_name: base_entry.class_name.clone(),
                init_kwargs: base_entry.init_kwargs.clone(),
                tensors,
            },
        );
        Ok(Self {
            path: self.path,
            networks,
            extra_metadata: BTreeMap::new(),
            extra_tensors: BTreeMap::new(),
        })
    }

    /// Read any supported network file as it is, without completing a delta with its base
    /// (see [`Checkpoint::delta_base`]): what `inspect` shows.
    pub fn open_unresolved(path: &Path) -> Result<Self> {
        read_any(path)
    }

    /// [`Checkpoint::open`] on bytes in memory; `path` only names the source in errors.
    pub fn open_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        read_any_bytes(path, bytes)
    }
}

impl Generator {
    /// Load the generator of any supported network file (`G_ema`, else `G`, else the only
    /// Generator).
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let ckpt = Checkpoint::open(path)?;
        let (_, entry) = ckpt.generator()?;
        Self::from_entry(&path.display().to_string(), entry, device)
    }
}

impl Discriminator {
    /// Load the discriminator (`D`) of any supported network file.
    pub fn load(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let path = path.as_ref();
        let ckpt = Checkpoint::open(path)?;
        let (_, entry) = ckpt.discriminator()?;
        Self::from_entry(&path.display().to_string(), entry, device)
    }
}
