//! GANSpace (Härkönen et al. 2020): principal components of w (or of StyleSpace S) over sampled
//! latents. The components are unit directions, strongest first; `values` are the standard
//! deviations along them, so that an edit of strength k moves k standard deviations.

use nalgebra::{DMatrix, SymmetricEigen};

use super::Directions;
use crate::error::{Error, Result};
use crate::latent::space::s_flatten;
use crate::latent::{Latent, RandomState, Space};
use crate::models::Generator;

/// PCA of `samples` latents (z drawn from `seed`) in `space` (w or s), top `k` components.
///
/// The top components come from subspace iteration on the covariance (`Xᵀ(XQ)/N`, never formed
/// when the space is large such as S) followed by an exact eigen-decomposition of the small
/// projected matrix; 60 iterations are plenty for the well-separated leading components.
pub fn ganspace(
    g: &Generator,
    space: Space,
    samples: usize,
    k: usize,
    seed: u32,
) -> Result<Directions> {
    ganspace_with_progress(g, space, samples, k, seed, &mut |_, _| {})
}

/// [`ganspace`], calling `progress(sampled, samples)` after each chunk of sampled latents.
pub fn ganspace_with_progress(
    g: &Generator,
    space: Space,
    samples: usize,
    k: usize,
    seed: u32,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Directions> {
    g.require_w("GANSpace")?;
    if !matches!(space, Space::W | Space::S) {
        return Err(Error::InvalidArgument("GANSpace works in w or s".into()));
    }
    if samples < 2 || k == 0 {
        return Err(Error::InvalidArgument(
            "GANSpace needs at least 2 samples and 1 component".into(),
        ));
    }
    if g.config.c_dim > 0 {
        return Err(Error::InvalidArgument(
            "GANSpace on conditional networks is not supported".into(),
        ));
    }
    let mut rng = RandomState::new(seed);
    let mut rows: Vec<Vec<f64>> = Vec::with_capacity(samples);
    let chunk = 256;
    let mut done = 0;
    while done < samples {
        let n = chunk.min(samples - done);
        let zs: Vec<Vec<f64>> = (0..n).map(|_| rng.randn(g.config.z_dim)).collect();
        let latent = Latent::Z {
            z: g.z_tensor(&zs)?,
            c: None,
        };
        let t = match space {
            Space::W => match latent.to_space(g, Space::W)? {
                Latent::W(w) => w,
                _ => unreachable!(),
            },
            _ => s_flatten(&latent.styles(g)?),
        };
        let d = t.dims()[1];
        let v = crate::backend::to_vec(&t)?;
        rows.extend(v.chunks(d).map(|r| r.iter().map(|&x| x as f64).collect()));
        done += n;
        progress(done, samples);
    }
    let dim = rows[0].len();
    let k = k.min(dim).min(samples - 1);
    let n = rows.len();
    let mut x = DMatrix::<f64>::from_fn(n, dim, |i, j| rows[i][j]);
    let mean: Vec<f64> = (0..dim).map(|j| x.column(j).sum() / n as f64).collect();
    for j in 0..dim {
        for i in 0..n {
            x[(i, j)] -= mean[j];
        }
    }
    // Subspace iteration with a few extra vectors for faster convergence.
    let p = (k + 8).min(dim);
    let mut q = DMatrix::<f64>::from_fn(dim, p, |_, _| rng.gauss());
    for _ in 0..60 {
        let y = x.transpose() * (&x * &q);
        q = y.qr().q();
    }
    let xq = &x * &q;
    let small = xq.transpose() * &xq / (n as f64 - 1.0);
    let eig = SymmetricEigen::new(small);
    let mut order: Vec<usize> = (0..p).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    let mut directions = Vec::with_capacity(k);
    let mut values = Vec::with_capacity(k);
    for &i in order.iter().take(k) {
        let v = &q * eig.eigenvectors.column(i);
        let norm = v.norm();
        directions.push(v.iter().map(|&a| (a / norm) as f32).collect());
        values.push(eig.eigenvalues[i].max(0.0).sqrt() as f32);
    }
    Ok(Directions {
        directions,
        values,
        method: "ganspace".into(),
        layers: vec![],
        space: space.name().into(),
    })
}
