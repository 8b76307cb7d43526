//! InterFaceGAN (Shen et al. 2020): the normal of a linear boundary in w that separates
//! generated samples with and without an attribute, optionally made orthogonal to other
//! attributes' boundaries (conditional manipulation).
//!
//! As in the paper, only the most confident samples are used (the `ratio` highest and lowest
//! scores), split 70/30 into train and validation; the boundary is an L2-regularised logistic
//! regression fitted by Newton's method (the paper uses a linear SVM; both give a separating
//! hyperplane, and logistic regression needs no extra crate).

use nalgebra::{DMatrix, DVector};

use super::Directions;
use crate::attributes::LabelledSamples;
use crate::error::{Error, Result};

/// The unit normal (positive = more of the attribute) and validation accuracy of one attribute.
fn boundary(samples: &LabelledSamples, attr: usize, ratio: f64) -> Result<(Vec<f64>, f64)> {
    let n = samples.w.len();
    let k = ((n as f64 * ratio).floor() as usize).min(n / 2);
    if k < 5 {
        return Err(Error::InvalidArgument(format!(
            "InterFaceGAN needs more samples: {n} samples × ratio {ratio} leaves {k} per side (need ≥ 5)"
        )));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| samples.scores[b][attr].total_cmp(&samples.scores[a][attr]));
    // (index, label) pairs: top k positive, bottom k negative, interleaved so the split is fair.
    let mut picked: Vec<(usize, f64)> = Vec::with_capacity(2 * k);
    for i in 0..k {
        picked.push((order[i], 1.0));
        picked.push((order[n - 1 - i], 0.0));
    }
    let n_train = (picked.len() as f64 * 0.7).round() as usize;
    let (train, val) = picked.split_at(n_train);
    let d = samples.w[0].len();
    // Standardise for conditioning; the direction is mapped back at the end.
    let mean: Vec<f64> = (0..d)
        .map(|j| {
            train
                .iter()
                .map(|&(i, _)| samples.w[i][j] as f64)
                .sum::<f64>()
                / train.len() as f64
        })
        .collect();
    let sd: Vec<f64> = (0..d)
        .map(|j| {
            let v = train
                .iter()
                .map(|&(i, _)| (samples.w[i][j] as f64 - mean[j]).powi(2))
                .sum::<f64>()
                / train.len() as f64;
            v.sqrt().max(1e-8)
        })
        .collect();
    let row = |i: usize| -> Vec<f64> {
        let mut r: Vec<f64> = (0..d)
            .map(|j| (samples.w[i][j] as f64 - mean[j]) / sd[j])
            .collect();
        r.push(1.0);
        r
    };
    let x = DMatrix::<f64>::from_fn(train.len(), d + 1, |r, c| row(train[r].0)[c]);
    let y = DVector::<f64>::from_fn(train.len(), |r, _| train[r].1);
    let lambda = 1.0;
    let mut beta = DVector::<f64>::zeros(d + 1);
    for _ in 0..25 {
        let p = (&x * &beta).map(|t| 1.0 / (1.0 + (-t).exp()));
        let wdiag = p.map(|v| (v * (1.0 - v)).max(1e-9));
        let mut reg = DVector::<f64>::from_element(d + 1, lambda);
        reg[d] = 0.0; // no penalty on the bias
        let grad = x.transpose() * (&p - &y) + reg.component_mul(&beta);
        let mut h = x.transpose() * DMatrix::from_diagonal(&wdiag) * &x;
        for i in 0..=d {
            h[(i, i)] += reg[i];
        }
        let step = h
            .lu()
            .solve(&grad)
            .ok_or_else(|| Error::Config("InterFaceGAN: singular Hessian".into()))?;
        beta -= &step;
        if step.norm() < 1e-10 {
            break;
        }
    }
    let correct = val
        .iter()
        .filter(|&&(i, l)| {
            let t: f64 = row(i).iter().zip(beta.iter()).map(|(a, b)| a * b).sum();
            (t > 0.0) == (l > 0.5)
        })
        .count();
    // Back to w coordinates: the boundary is Σ β_j (w_j − μ_j)/σ_j, so the normal is β_j/σ_j.
    let mut dir: Vec<f64> = (0..d).map(|j| beta[j] / sd[j]).collect();
    let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
    if norm == 0.0 {
        return Err(Error::Config(
            "InterFaceGAN: the attribute is not linearly related to w".into(),
        ));
    }
    dir.iter_mut().for_each(|v| *v /= norm);
    Ok((dir, correct as f64 / val.len().max(1) as f64))
}

/// The InterFaceGAN direction for `attribute`, made orthogonal to the boundaries of
/// `conditions` (so that moving along it leaves those attributes unchanged, to first order).
/// `values` holds the boundary's validation accuracy.
pub fn interfacegan(
    samples: &LabelledSamples,
    attribute: &str,
    conditions: &[String],
    ratio: f64,
) -> Result<Directions> {
    let idx = |name: &str| {
        samples
            .label_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "unknown attribute '{name}' (the samples have: {})",
                    samples.label_names.join(", ")
                ))
            })
    };
    if samples.w.is_empty() {
        return Err(Error::InvalidArgument("no samples".into()));
    }
    let (mut n, acc) = boundary(samples, idx(attribute)?, ratio)?;
    // Gram–Schmidt over the condition normals, then remove their span from n.
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for c in conditions {
        if c == attribute {
            return Err(Error::InvalidArgument(format!(
                "'{c}' cannot be both the attribute and a condition"
            )));
        }
        let (mut v, _) = boundary(samples, idx(c)?, ratio)?;
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
            v.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
        }
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 1e-8 {
            basis.push(v.into_iter().map(|x| x / norm).collect());
        }
    }
    for b in &basis {
        let dot: f64 = n.iter().zip(b).map(|(x, y)| x * y).sum();
        n.iter_mut().zip(b).for_each(|(x, y)| *x -= dot * y);
    }
    let norm = n.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm < 1e-8 {
        return Err(Error::InvalidArgument(format!(
            "'{attribute}' lies in the span of the conditions"
        )));
    }
    Ok(Directions {
        directions: vec![n.iter().map(|x| (x / norm) as f32).collect()],
        values: vec![acc as f32],
        method: "interfacegan".into(),
        layers: vec![],
        space: "w".into(),
    })
}
