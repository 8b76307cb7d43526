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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::backend::Device;
use crate::error::{Error, Result};
use crate::io::checkpoint::{file_crc32, Checkpoint, DELTA_BASE, DELTA_CRC, DELTA_PREFIX};
use crate::models::{Discriminator, Generator};
use crate::weights::NetworkEntry;

pub(crate) use pickle::{read_any, read_any_bytes};

impl Checkpoint {
    /// Open any supported network file: a native checkpoint, or an official PyTorch network
    /// pickle (converted in memory, nothing in it executed).
    pub fn open(path: &Path) -> Result<Self> {
        let ckpt = read_any(path)?;
        if ckpt.extra_metadata.contains_key(DELTA_BASE) {
            return ckpt.resolve_delta();
        }
        Ok(ckpt)
    }

    /// A delta checkpoint completed with its base's tensors.
    fn resolve_delta(self) -> Result<Self> {
        let base = PathBuf::from(&self.extra_metadata[DELTA_BASE]);
        // The recorded absolute path, else a file of that name next to the delta.
        let candidates = [
            base.clone(),
            self.path
                .parent()
                .unwrap_or(Path::new("."))
                .join(base.file_name().unwrap_or_default()),
        ];
        let found = candidates.iter().find(|p| p.is_file()).ok_or_else(|| {
            Error::format(
                &self.path,
                format!(
                    "is a delta of {} (e.g. `stylegan pti` output), which is missing — \
                     put the base network back there or next to this file, or save the tuned \
                     network whole instead of as a delta",
                    base.display()
                ),
            )
        })?;
        let want = self
            .extra_metadata
            .get(DELTA_CRC)
            .cloned()
            .unwrap_or_default();
        let have = format!("{:08x}", file_crc32(found)?);
        if want != have {
            return Err(Error::format(
                &self.path,
                format!(
                    "is a delta of {} (CRC-32 {want}), but that file has changed (CRC-32 {have}); \
                     the tuned weights only make sense on the exact base network",
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
        let base_ckpt = read_any(found)?;
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
