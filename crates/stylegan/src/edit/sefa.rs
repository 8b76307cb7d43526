//! SeFa (closed-form factorisation, Shen & Zhou 2021): the directions n that the style
//! affines A of the chosen layers stretch most, i.e. the top eigenvectors of AᵀA (equivalently
//! the right singular vectors of A = cat(affine weights)).
//!
//! Unlike rosinality's `closed_form_factorization.py`, which by accident includes the 4×4 ToRGB
//! affine and leaves out the others (FORMATS.md §8.3), we take exactly the modulated convolution
//! layers: all of them by default, or the conv-layer indices given.

use nalgebra::{DMatrix, SymmetricEigen};

use super::Directions;
use crate::error::{Error, Result};
use crate::models::{Generator, Synthesis};

/// The conv layers' raw affine weights `[in_channels, w_dim]`, in synthesis order: StyleGAN2's
/// b4.conv1, b8.conv0, b8.conv1, …; StyleGAN3's L0 … L{n−1} (its ToRGB is left out, as
/// StyleGAN2's ToRGBs are, and so is the input's 4-d transform affine); StyleGAN v1's layers
/// 0 … num_layers−1, the scale half of each `StyleMod` weight (the part that modulates the
/// features, as SG2's affines do; the shift half adds a bias and is left out).
fn conv_affines(g: &Generator) -> Result<Vec<burn::tensor::Tensor<2>>> {
    Ok(match &g.synthesis {
        Synthesis::StyleGan2(s) => s
            .blocks
            .iter()
            .flat_map(|b| b.conv0.iter().chain(std::iter::once(&b.conv1)))
            .map(|l| l.affine.weight.clone())
            .collect(),
        Synthesis::StyleGan3(s) => s
            .layers
            .iter()
            .filter(|l| !l.design.is_torgb)
            .map(|l| l.affine.weight.clone())
            .collect(),
        // StyleGAN v1: the scale half of each layer's StyleMod (`x · (1 + s) + shift`).
        Synthesis::StyleGan1(s) => s.style_scale_weights()?,
        other => {
            return Err(crate::models::generator::not_in_family(
                other.family(),
                "SeFa (on the StyleGAN2/3 modulation affines)",
            ))
        }
    })
}

/// SeFa directions of `g` over the conv layers `layers` (all when `None`), strongest first.
pub fn sefa(g: &Generator, layers: Option<&[usize]>) -> Result<Directions> {
    let affines = conv_affines(g)?;
    let all: Vec<usize> = (0..affines.len()).collect();
    let layers = layers.map(<[usize]>::to_vec).unwrap_or(all);
    if layers.is_empty() {
        return Err(Error::InvalidArgument(
            "SeFa needs at least one layer".into(),
        ));
    }
    if let Some(&bad) = layers.iter().find(|&&l| l >= affines.len()) {
        return Err(Error::InvalidArgument(format!(
            "layer {bad} is out of range: the network has {} conv layers (0..{})",
            affines.len(),
            affines.len() - 1
        )));
    }
    let d = g.config.w_dim;
    // AᵀA accumulated in f64 over the chosen layers.
    let mut ata = DMatrix::<f64>::zeros(d, d);
    for &l in &layers {
        let w = &affines[l];
        let [rows, cols] = w.dims();
        let v = crate::backend::to_vec(w)?;
        let a = DMatrix::<f64>::from_row_iterator(rows, cols, v.iter().map(|&x| x as f64));
        ata += a.transpose() * &a;
    }
    let eig = SymmetricEigen::new(ata);
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| eig.eigenvalues[j].total_cmp(&eig.eigenvalues[i]));
    let directions = order
        .iter()
        .map(|&i| {
            let col = eig.eigenvectors.column(i);
            let norm = col.norm();
            col.iter().map(|&x| (x / norm) as f32).collect()
        })
        .collect();
    let values = order
        .iter()
        .map(|&i| eig.eigenvalues[i].max(0.0).sqrt() as f32)
        .collect();
    Ok(Directions {
        directions,
        values,
        method: "sefa".into(),
        layers,
        space: "w".into(),
    })
}
