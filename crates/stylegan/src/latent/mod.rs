//! Latent spaces: seeds → z, z → w (mapping, in `models`), w → W+ (broadcast), truncation
//! (both part of the official mapping network, defined in `models::mapping` and re-exported
//! here); [`Latent`] is one value over z / w / W+ / S.

pub mod interp;
pub mod space;

/// Seeds → z as `np.random.RandomState(seed).randn` (the generator lives in [`crate::rng`],
/// below the networks, which draw their random initialisation from it).
pub use crate::rng as seed;

use burn::tensor::Tensor;

use crate::error::{Error, Result};

pub use crate::models::mapping::{broadcast, truncate};
pub use crate::rng::{z_from_seed, RandomState};
pub use space::{Latent, Space};

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
