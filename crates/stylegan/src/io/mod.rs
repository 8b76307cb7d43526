//! Files in and out: native checkpoints, images and grids, videos (GIF/MP4), `.npy` arrays.
//! Every write goes through [`crate::files::atomic_write`] (atomic, never replaces a link or
//! device).
//! Foreign checkpoint formats (pickles, TF, rosinality) are converted in `convert`, above `models`.

pub mod checkpoint;
pub mod image;
pub mod npy;
pub mod plot;
pub mod video;

pub use crate::files::{
    atomic_write, check_output, prepare_dir, remove_stale_temporaries, OutputKind,
};

use std::path::Path;

use crate::error::{Error, Result};

/// Write float32 tensors `(name, shape, values)` and string metadata as one safetensors file,
/// atomically (checkpoints, direction files, projections all go through here).
pub fn write_safetensors_f32(
    path: &Path,
    tensors: &[(&str, &[usize], &[f32])],
    metadata: std::collections::HashMap<String, String>,
) -> Result<()> {
    use safetensors::tensor::{Dtype, TensorView};
    let fmt = |e: safetensors::SafeTensorError| Error::format(path, e.to_string());
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            Ok((
                name.to_string(),
                TensorView::new(Dtype::F32, shape.to_vec(), b).map_err(fmt)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let out = safetensors::serialize(views, Some(metadata)).map_err(fmt)?;
    atomic_write(path, &out)
}

/// One float32 tensor of a safetensors file `path`: its shape and values, or an error naming
/// the file and the tensor. Every value must be finite (directions, projections, labelled
/// samples and classifiers all read through here).
pub fn read_f32(
    st: &safetensors::SafeTensors,
    name: &str,
    path: &Path,
) -> Result<(Vec<usize>, Vec<f32>)> {
    let t = st
        .tensor(name)
        .map_err(|_| Error::format(path, format!("no '{name}' tensor")))?;
    if t.dtype() != safetensors::tensor::Dtype::F32 {
        return Err(Error::format(path, format!("'{name}' is not float32")));
    }
    let values: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    crate::weights::check_finite(path, name, &values)?;
    Ok((t.shape().to_vec(), values))
}
