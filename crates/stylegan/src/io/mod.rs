//! Files in and out: native checkpoints, images and grids, videos (GIF/MP4), `.npy` arrays. Every write is atomic.
//! Foreign checkpoint formats (pickles, TF, rosinality) are converted in `convert`, above `models`.

pub mod checkpoint;
pub mod image;
pub mod npy;
pub mod video;

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Write `bytes` to `path` atomically: a temporary file beside it, fsync, then rename, so a
/// killed process never leaves a half-written file under the final name.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{}: not a file path", path.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

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
/// the file and the tensor.
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
    Ok((
        t.shape().to_vec(),
        t.data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    ))
}
