//! Edit directions in latent space (SeFa, GANSpace, InterFaceGAN), applying them, and their file
//! format: a small safetensors file with `directions [K, dim]` (unit rows, strongest first),
//! `values [K]`, and metadata `method`, `layers`, `space`.

pub mod apply;
pub mod ganspace;
pub mod interfacegan;
pub mod sefa;

pub use apply::{Edit, EditKind};

use std::collections::HashMap;
use std::path::Path;

use safetensors::SafeTensors;

use crate::error::{Error, Result};

/// A set of directions.
#[derive(Clone, Debug, PartialEq)]
pub struct Directions {
    /// `[K][dim]`, unit rows, strongest first.
    pub directions: Vec<Vec<f32>>,
    /// Singular values / scores, `[K]`.
    pub values: Vec<f32>,
    pub method: String,
    /// The synthesis layers they were computed from (conv-layer indices).
    pub layers: Vec<usize>,
    /// The latent space they live in (`w`).
    pub space: String,
}

impl Directions {
    /// Write atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let (k, dim) = (
            self.directions.len(),
            self.directions.first().map_or(0, Vec::len),
        );
        let d: Vec<f32> = self.directions.iter().flatten().copied().collect();
        let layers: Vec<String> = self.layers.iter().map(|l| l.to_string()).collect();
        let meta: HashMap<String, String> = [
            ("method".to_string(), self.method.clone()),
            ("layers".to_string(), layers.join(",")),
            ("space".to_string(), self.space.clone()),
        ]
        .into_iter()
        .collect();
        crate::io::write_safetensors_f32(
            path,
            &[
                ("directions", &[k, dim], &d),
                ("values", &[k], &self.values),
            ],
            meta,
        )
    }

    /// Read a directions file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::files::read_input(path)?;
        let bad = |m: String| Error::format(path, m);
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a directions file: {e}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a directions file: {e}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let f32s = |name: &str| crate::io::read_f32(&st, name, path);
        let (shape, d) = f32s("directions")?;
        let (_, values) = f32s("values")?;
        let [k, dim] = shape[..] else {
            return Err(bad(format!(
                "'directions' has shape {shape:?}, expected [K, dim]"
            )));
        };
        if values.len() != k {
            return Err(bad(format!("{} values for {k} directions", values.len())));
        }
        let layers = meta
            .get("layers")
            .map(|l| {
                l.split(',')
                    .filter(|s| !s.is_empty())
                    .filter_map(|s| s.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            directions: d.chunks(dim.max(1)).take(k).map(<[f32]>::to_vec).collect(),
            values,
            method: meta.get("method").cloned().unwrap_or_default(),
            layers,
            space: meta.get("space").cloned().unwrap_or_else(|| "w".into()),
        })
    }
}
