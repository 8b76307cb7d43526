//! Edit directions in latent space (SeFa, GANSpace, InterFaceGAN), applying them, and their file
//! format: a small safetensors file with `directions [K, dim]` (unit rows, strongest first),
//! `values [K]`, and metadata `method`, `layers`, `space`.

pub mod apply;
pub mod ganspace;
pub mod interfacegan;
pub mod sefa;

pub use apply::Edit;

use std::collections::HashMap;
use std::path::Path;

use safetensors::{tensor::TensorView, Dtype, SafeTensors};

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
        let d: Vec<u8> = self
            .directions
            .iter()
            .flatten()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let v: Vec<u8> = self.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let fmt = |e: safetensors::SafeTensorError| Error::format(path, e.to_string());
        let views = vec![
            (
                "directions".to_string(),
                TensorView::new(Dtype::F32, vec![k, dim], &d).map_err(fmt)?,
            ),
            (
                "values".to_string(),
                TensorView::new(Dtype::F32, vec![k], &v).map_err(fmt)?,
            ),
        ];
        let layers: Vec<String> = self.layers.iter().map(|l| l.to_string()).collect();
        let meta: HashMap<String, String> = [
            ("method".to_string(), self.method.clone()),
            ("layers".to_string(), layers.join(",")),
            ("space".to_string(), self.space.clone()),
        ]
        .into_iter()
        .collect();
        let bytes = safetensors::serialize(views, Some(meta)).map_err(fmt)?;
        crate::io::atomic_write(path, &bytes)
    }

    /// Read a directions file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |m: String| Error::format(path, m);
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| bad(format!("not a directions file: {e}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| bad(format!("not a directions file: {e}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let f32s = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
            let t = st
                .tensor(name)
                .map_err(|_| bad(format!("no '{name}' tensor")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!("'{name}' is not float32")));
            }
            Ok((
                t.shape().to_vec(),
                t.data()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
            ))
        };
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
