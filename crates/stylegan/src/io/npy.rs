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

/// Read a float32 or float64 `.npy` file. The shape its header declares must match the data
/// present (checked before decoding), and every value must be finite: latents read from files
/// feed generation directly.
pub fn read(path: &Path) -> Result<Array> {
    let bytes = crate::files::read_input(path)?;
    let npy = npyz::NpyFile::new(&bytes[..])
        .map_err(|e| Error::format(path, format!("not a .npy file: {e}")))?;
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&s| usize::try_from(s).ok())
        .collect::<Option<_>>()
        .ok_or_else(|| Error::format(path, "the .npy shape overflows"))?;
    let descr = npy.dtype().descr().trim_matches('\'').to_string();
    let esize = match descr.as_str() {
        "<f8" => 8u64,
        _ => 4,
    };
    let need = shape
        .iter()
        .try_fold(esize, |a, &d| a.checked_mul(d as u64));
    // The data follows the header: magic (6), version (2), header length (u16 in v1, u32
    // after), the header.
    let data_start = match bytes.get(6) {
        Some(1) => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as u64,
        _ => bytes
            .get(8..12)
            .map_or(0, |b| 12 + u32::from_le_bytes(b.try_into().unwrap()) as u64),
    };
    let have = (bytes.len() as u64).saturating_sub(data_start);
    if need != Some(have) {
        return Err(Error::format(
            path,
            format!(
                "the .npy header declares shape {shape:?} ({descr}, {} data bytes) but the file \
                 holds {have} (truncated or damaged)",
                need.map_or("too many".to_string(), |n| n.to_string())
            ),
        ));
    }
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
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(
            path,
            format!(
                "holds non-finite values (element {i} of shape {shape:?} is {})",
                data[i]
            ),
        ));
    }
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
