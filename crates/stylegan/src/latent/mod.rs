//! Latent spaces: seeds → z, z → w (mapping, in `models`), w → W+ (broadcast), truncation;
//! [`Latent`] is one value over z / w / W+ / S.

pub mod interp;
pub mod seed;
pub mod space;

use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::ops::lerp;

pub use seed::{z_from_seed, RandomState};
pub use space::{Latent, Space};

/// w `[N, w_dim]` → ws `[N, num_ws, w_dim]` (the same w for every layer).
pub fn broadcast(w: Tensor<2>, num_ws: usize) -> Tensor<3> {
    let [n, d] = w.dims();
    w.reshape([n, 1, d]).repeat_dim(1, num_ws)
}

/// Truncation toward `w_avg` on the first `cutoff` layers (all when `None`), with the official
/// `w_avg.lerp(w, psi)` formula.
pub fn truncate(
    ws: Tensor<3>,
    w_avg: &Tensor<1>,
    psi: f64,
    cutoff: Option<usize>,
) -> Result<Tensor<3>> {
    if !psi.is_finite() {
        return Err(Error::InvalidArgument(format!(
            "truncation psi must be finite, got {psi}"
        )));
    }
    let [n, num_ws, d] = ws.dims();
    let k = cutoff.unwrap_or(num_ws).min(num_ws);
    if k == 0 || psi == 1.0 {
        return Ok(ws);
    }
    let avg = w_avg
        .clone()
        .reshape([1, 1, d])
        .repeat_dim(0, n)
        .repeat_dim(1, k);
    let head = lerp(avg, ws.clone().narrow(1, 0, k), psi);
    if k == num_ws {
        Ok(head)
    } else {
        Ok(Tensor::cat(vec![head, ws.narrow(1, k, num_ws - k)], 1))
    }
}

/// Style mixing: `ws` of the row latent with the layers in `layers` taken from `col`
/// (as the official `style_mixing.py` does: `w[col_styles] = w_col[col_styles]`).
pub fn mix(row: &Tensor<3>, col: &Tensor<3>, layers: &[usize]) -> Result<Tensor<3>> {
    let [n, num_ws, d] = row.dims();
    if col.dims() != [n, num_ws, d] {
        return Err(Error::InvalidArgument(format!(
            "cannot mix ws of shapes {:?} and {:?}",
            row.dims(),
            col.dims()
        )));
    }
    if let Some(&bad) = layers.iter().find(|&&l| l >= num_ws) {
        return Err(Error::InvalidArgument(format!(
            "style layer {bad} is out of range 0..{}",
            num_ws - 1
        )));
    }
    let parts: Vec<Tensor<3>> = (0..num_ws)
        .map(|l| {
            if layers.contains(&l) {
                col.clone()
            } else {
                row.clone()
            }
            .narrow(1, l, 1)
        })
        .collect();
    Ok(Tensor::cat(parts, 1))
}
