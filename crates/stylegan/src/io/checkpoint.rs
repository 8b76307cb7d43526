//! The native checkpoint: one `.safetensors` file, tensors under the official `state_dict()`
//! names, several networks under prefixes (`G_ema.`, `G.`, `D.`), and per network the metadata
//! keys `class_name` and `init_kwargs` (JSON) — prefixed the same way when a file holds several
//! networks, unprefixed when it holds one (as the parity fixtures do).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::{tensor::TensorView, Dtype, SafeTensors};

use crate::error::{Error, Result};

pub use crate::weights::{NetworkEntry, RawTensor};

/// A checkpoint file's networks, by prefix (`""` for a single unprefixed network).
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub path: PathBuf,
    pub networks: BTreeMap<String, NetworkEntry>,
    /// Metadata keys that belong to no network (kept on re-save).
    pub extra_metadata: BTreeMap<String, String>,
    /// Tensors under a [`STATE_PREFIXES`] prefix (training state: optimiser moments, ...), by
    /// full name.
    pub extra_tensors: BTreeMap<String, RawTensor>,
}

/// Prefixes that name networks.
pub const NETWORK_PREFIXES: [&str; 3] = ["G_ema", "G", "D"];

/// Metadata of delta checkpoints ([`Checkpoint::write_delta`]): the base network's *file name*
/// (no folder: a delta is resolved only against trusted folders, see
/// [`Checkpoint::open_with_base_dirs`]; deltas written before recorded an absolute path, of
/// which only the file name is used), its CRC-32, and the prefix of the delta network.
pub const DELTA_BASE: &str = "delta.base";
pub const DELTA_CRC: &str = "delta.base_crc32";
pub const DELTA_PREFIX: &str = "delta.prefix";

pub(crate) fn file_crc32(path: &Path) -> Result<u32> {
    let bytes = crate::files::read_input(path)?;
    Ok(crc32fast::hash(&bytes))
}

/// Prefixes of tensors that are not network weights but training state (snapshots).
pub const STATE_PREFIXES: [&str; 3] = ["G_opt", "D_opt", "train"];

impl Checkpoint {
    /// Write `entry` under `prefix` as a *delta* of the network file `base`: only the tensors
    /// whose values differ from `base_entry` are stored, with the base's path and CRC-32.
    /// [`Checkpoint::open`] puts the two back together.
    pub fn write_delta(
        path: &Path,
        prefix: &str,
        entry: &NetworkEntry,
        base: &Path,
        base_entry: &NetworkEntry,
    ) -> Result<usize> {
        let base_abs = std::fs::canonicalize(base).map_err(|e| Error::io(base, e))?;
        let crc = file_crc32(&base_abs)?;
        let base_name = base_abs
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .ok_or_else(|| Error::format(base, "has no file name"))?;
        let changed: BTreeMap<String, RawTensor> = entry
            .tensors
            .iter()
            .filter(|(k, t)| base_entry.tensors.get(*k) != Some(*t))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        let n = changed.len();
        let delta = NetworkEntry {
            class_name: entry.class_name.clone(),
            init_kwargs: entry.init_kwargs.clone(),
            tensors: changed,
        };
        let mut meta = BTreeMap::new();
        meta.insert(DELTA_BASE.to_string(), base_name);
        meta.insert(DELTA_CRC.to_string(), format!("{crc:08x}"));
        meta.insert(DELTA_PREFIX.to_string(), prefix.to_string());
        Self::write(path, &[(prefix, &delta)], &meta)?;
        Ok(n)
    }

    /// The first network whose class name is `class` (files holding one helper network:
    /// LPIPS, Inception, classifiers, labelled samples).
    pub fn entry_of_class(&self, class: &str) -> Option<&NetworkEntry> {
        self.networks.values().find(|e| e.class_name == class)
    }

    /// Read a native checkpoint.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = crate::files::read_input(path)?;
        Self::from_bytes(path, &bytes)
    }

    /// Parse checkpoint bytes; `path` names the file in errors. Every tensor must be finite
    /// ([`Checkpoint::check_finite`]).
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self> {
        let not_ckpt = |e: safetensors::SafeTensorError| {
            Error::format(path, safetensors_problem(bytes, &e.to_string()))
        };
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(not_ckpt)?;
        let st = SafeTensors::deserialize(bytes).map_err(not_ckpt)?;
        let metadata: HashMap<String, String> = meta.metadata().clone().unwrap_or_default();

        // Which networks does the metadata describe?
        let mut networks = BTreeMap::new();
        let mut extra_metadata = BTreeMap::new();
        let prefixes: Vec<String> = if metadata.contains_key("class_name") {
            vec![String::new()]
        } else {
            NETWORK_PREFIXES
                .iter()
                .filter(|p| metadata.contains_key(&format!("{p}.class_name")))
                .map(|p| p.to_string())
                .collect()
        };
        if prefixes.is_empty() {
            return Err(Error::format(
                path,
                "the safetensors file has no 'class_name' metadata, so it is not a stylegan-rs/official-names checkpoint \
                 (convert other formats with `stylegan convert`)",
            ));
        }
        for (k, v) in &metadata {
            let owned = prefixes.iter().any(|p| {
                let key = if p.is_empty() {
                    k.clone()
                } else {
                    k.strip_prefix(&format!("{p}.")).unwrap_or("").to_string()
                };
                key == "class_name" || key == "init_kwargs"
            });
            if !owned {
                extra_metadata.insert(k.clone(), v.clone());
            }
        }
        for prefix in &prefixes {
            let key = |k: &str| {
                if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                }
            };
            let class_name = metadata[&key("class_name")].clone();
            let kwargs_text = metadata.get(&key("init_kwargs")).ok_or_else(|| {
                Error::format(
                    path,
                    format!(
                        "metadata has '{}' but no '{}'",
                        key("class_name"),
                        key("init_kwargs")
                    ),
                )
            })?;
            let init_kwargs: serde_json::Value =
                serde_json::from_str(kwargs_text).map_err(|e| {
                    Error::format(
                        path,
                        format!("metadata '{}' is not valid JSON: {e}", key("init_kwargs")),
                    )
                })?;
            networks.insert(
                prefix.clone(),
                NetworkEntry {
                    class_name,
                    init_kwargs,
                    tensors: BTreeMap::new(),
                },
            );
        }
        let mut extra_tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if STATE_PREFIXES
                .iter()
                .any(|p| name.starts_with(&format!("{p}.")))
            {
                let data = to_f32(&view)
                    .map_err(|msg| Error::format(path, format!("tensor '{name}': {msg}")))?;
                let shape = view.shape().to_vec();
                extra_tensors.insert(name.clone(), RawTensor { shape, data });
                continue;
            }
            let (prefix, short) = match prefixes
                .iter()
                .find(|p| !p.is_empty() && name.starts_with(&format!("{p}.")))
            {
                Some(p) => (p.clone(), name[p.len() + 1..].to_string()),
                None if prefixes.len() == 1 && prefixes[0].is_empty() => {
                    (String::new(), name.clone())
                }
                None => {
                    return Err(Error::format(
                        path,
                        format!("tensor '{name}' belongs to none of the networks {prefixes:?}"),
                    ))
                }
            };
            let data = to_f32(&view)
                .map_err(|msg| Error::format(path, format!("tensor '{name}': {msg}")))?;
            let entry = networks.get_mut(&prefix).expect("prefix registered");
            entry.tensors.insert(
                short,
                RawTensor {
                    shape: view.shape().to_vec(),
                    data,
                },
            );
        }
        let ckpt = Self {
            path: path.to_path_buf(),
            networks,
            extra_metadata,
            extra_tensors,
        };
        ckpt.check_finite()?;
        Ok(ckpt)
    }

    /// Refuse NaN / ±inf in any tensor (network weights and buffers such as `mapping.w_avg`,
    /// and training state), naming the file and the tensor. Every reader of every format goes
    /// through this: [`Checkpoint::from_bytes`] for native files and `Checkpoint::open` for
    /// the converted ones.
    pub fn check_finite(&self) -> Result<()> {
        for (prefix, entry) in &self.networks {
            entry.check_finite(&self.path, prefix)?;
        }
        for (name, t) in &self.extra_tensors {
            crate::weights::check_finite(&self.path, name, &t.data)?;
        }
        Ok(())
    }

    /// Whether this is a delta checkpoint ([`Checkpoint::write_delta`]) as read from its file,
    /// and then the base file name it records.
    pub fn delta_base(&self) -> Option<&str> {
        self.extra_metadata.get(DELTA_BASE).map(String::as_str)
    }

    /// The network to generate with: `G_ema`, else `G`, else the single unprefixed Generator.
    pub fn generator(&self) -> Result<(&str, &NetworkEntry)> {
        self.pick(&["G_ema", "G", ""], "Generator")
    }

    /// The discriminator: `D`, else the single unprefixed Discriminator.
    pub fn discriminator(&self) -> Result<(&str, &NetworkEntry)> {
        self.pick(&["D", ""], "Discriminator")
    }

    pub(crate) fn pick(&self, order: &[&str], class: &str) -> Result<(&str, &NetworkEntry)> {
        for p in order {
            if let Some((k, e)) = self.networks.get_key_value(*p) {
                if e.role() == class {
                    return Ok((k.as_str(), e));
                }
            }
        }
        let found: Vec<String> = self
            .networks
            .iter()
            .map(|(k, e)| {
                if k.is_empty() {
                    e.class_name.clone()
                } else {
                    format!("{k} ({})", e.class_name)
                }
            })
            .collect();
        Err(Error::format(
            &self.path,
            format!("holds no {class} network (found: {})", found.join(", ")),
        ))
    }

    /// Write networks to `path` atomically. With one network and prefix `""` the file is
    /// unprefixed; otherwise tensor names and metadata keys get `prefix.`.
    pub fn write(
        path: &Path,
        networks: &[(&str, &NetworkEntry)],
        extra_metadata: &BTreeMap<String, String>,
    ) -> Result<()> {
        Self::write_with_state(path, networks, extra_metadata, &BTreeMap::new())
    }

    /// [`Checkpoint::write`] plus training-state tensors (names must start with one of
    /// [`STATE_PREFIXES`]).
    pub fn write_with_state(
        path: &Path,
        networks: &[(&str, &NetworkEntry)],
        extra_metadata: &BTreeMap<String, String>,
        extra_tensors: &BTreeMap<String, RawTensor>,
    ) -> Result<()> {
        let mut metadata: HashMap<String, String> = extra_metadata.clone().into_iter().collect();
        let mut names: Vec<String> = Vec::new();
        let mut raw: Vec<&RawTensor> = Vec::new();
        for (prefix, entry) in networks {
            let key = |k: &str| {
                if prefix.is_empty() {
                    k.to_string()
                } else {
                    format!("{prefix}.{k}")
                }
            };
            metadata.insert(key("class_name"), entry.class_name.clone());
            metadata.insert(key("init_kwargs"), entry.init_kwargs.to_string());
            for (name, t) in &entry.tensors {
                names.push(key(name));
                raw.push(t);
            }
        }
        for (name, t) in extra_tensors {
            if !STATE_PREFIXES
                .iter()
                .any(|p| name.starts_with(&format!("{p}.")))
            {
                return Err(Error::format(
                    path,
                    format!("state tensor '{name}' must start with one of {STATE_PREFIXES:?}"),
                ));
            }
            names.push(name.clone());
            raw.push(t);
        }
        let tensors: Vec<(&str, &[usize], &[f32])> = names
            .iter()
            .zip(&raw)
            .map(|(n, t)| (n.as_str(), t.shape.as_slice(), t.data.as_slice()))
            .collect();
        super::write_safetensors_f32(path, &tensors, metadata)
    }
}

/// Why `bytes` are not a readable safetensors file, for the error message: truncated (the
/// header or the tensor data it describes runs past the end), trailing bytes, or not a
/// safetensors file at all; `err` is the safetensors crate's own message.
fn safetensors_problem(bytes: &[u8], err: &str) -> String {
    let len = bytes.len() as u64;
    if bytes.is_empty() {
        return "not a safetensors checkpoint: the file is empty".into();
    }
    let header_len = bytes
        .get(..8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    // A safetensors header is a JSON object right after its 8-byte length.
    let looks_like = bytes.get(8) == Some(&b'{');
    match header_len {
        Some(n) if looks_like && n.saturating_add(8) > len => format!(
            "truncated safetensors file: its header alone needs {} bytes, the file has {len}",
            n.saturating_add(8)
        ),
        Some(n) if looks_like => {
            // The end of the tensor data the header describes.
            let end = std::str::from_utf8(&bytes[8..8 + n as usize])
                .ok()
                .and_then(|h| serde_json::from_str::<serde_json::Value>(h).ok())
                .and_then(|h| {
                    h.as_object()?
                        .values()
                        .filter_map(|t| t.get("data_offsets")?.get(1)?.as_u64())
                        .max()
                })
                .map(|end| 8 + n + end);
            match end {
                Some(end) if end > len => format!(
                    "truncated safetensors file: its header describes {end} bytes, the file \
                     has {len} ({} missing)",
                    end - len
                ),
                Some(end) if end < len => format!(
                    "damaged safetensors file: {} bytes follow the tensor data its header \
                     describes",
                    len - end
                ),
                _ => format!("damaged safetensors file ({err})"),
            }
        }
        None => format!("not a safetensors checkpoint: the file has only {len} bytes (truncated?)"),
        Some(_) => format!(
            "not a network file in a supported format (safetensors, official .pkl, \
             rosinality .pt) ({err})"
        ),
    }
}

fn to_f32(view: &TensorView) -> std::result::Result<Vec<f32>, String> {
    let b = view.data();
    Ok(match view.dtype() {
        Dtype::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect(),
        Dtype::F64 => b
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        other => return Err(format!("dtype {other:?} is not a float type")),
    })
}
