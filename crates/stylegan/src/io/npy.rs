//! `.npy` arrays (numpy's format) through the `npyz` crate.

use std::path::Path;

use npyz::WriterBuilder;

use crate::error::{Error, Result};

/// An n-d array read from a `.npy` file, converted to f64.
#[derive(Clone, Debug)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f64>,
}

/// Read a float32 or float64 `.npy` file.
pub fn read(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| Error::format(path, format!("not a .npy file: {e}")))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&s| s as usize).collect();
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let data: Vec<f64> = match descr.as_str() {
        "<f8" => npy
            .into_vec::<f64>()
            .map_err(|e| Error::format(path, e.to_string()))?,
        "<f4" => npy
            .into_vec::<f32>()
            .map_err(|e| Error::format(path, e.to_string()))?
            .into_iter()
            .map(f64::from)
            .collect(),
        other => {
            return Err(Error::format(
                path,
                format!("unsupported .npy dtype {other} (expected <f4 or <f8)"),
            ))
        }
    };
    Ok(Array { shape, data })
}

fn encode<T: npyz::AutoSerialize + Clone>(
    path: &Path,
    shape: &[usize],
    data: &[T],
) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&s| s as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut buf)
        .begin_nd()
        .map_err(|e| Error::io(path, e))?;
    w.extend(data.iter().cloned())
        .map_err(|e| Error::io(path, e))?;
    w.finish().map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Write a float32 array atomically.
pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    super::atomic_write(path, &encode(path, shape, data)?)
}

/// Write a float64 array atomically.
pub fn write_f64(path: &Path, shape: &[usize], data: &[f64]) -> Result<()> {
    super::atomic_write(path, &encode(path, shape, data)?)
}
