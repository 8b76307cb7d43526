//! Feature statistics and the metric formulas of the official `metrics/` (FORMATS.md §19.7):
//! FID from means and population covariances, KID from subsets of features, precision/recall
//! from k-nearest-neighbour balls. Pure arithmetic on feature rows; the features come from
//! [`super::inception`].

use nalgebra::{DMatrix, DVector};

use crate::error::{Error, Result};
use crate::rng::RandomState;

/// `FeatureStats`: running Σx and XᵀX in float64 (and the rows themselves when KID or
/// precision/recall need them).
#[derive(Clone, Debug)]
pub struct FeatureStats {
    pub dim: usize,
    pub count: usize,
    raw_mean: DVector<f64>,
    raw_cov: DMatrix<f64>,
    /// All rows appended, when kept.
    pub features: Option<Vec<f32>>,
}

impl FeatureStats {
    pub fn new(dim: usize, keep_features: bool) -> Self {
        Self {
            dim,
            count: 0,
            raw_mean: DVector::zeros(dim),
            raw_cov: DMatrix::zeros(dim, dim),
            features: keep_features.then(Vec::new),
        }
    }

    /// Statistics from their running sums (a cache file).
    pub fn from_raw(
        dim: usize,
        count: usize,
        raw_mean: DVector<f64>,
        raw_cov: DMatrix<f64>,
        features: Option<Vec<f32>>,
    ) -> Self {
        Self {
            dim,
            count,
            raw_mean,
            raw_cov,
            features,
        }
    }

    /// The running Σx and XᵀX.
    pub fn raw(&self) -> (&DVector<f64>, &DMatrix<f64>) {
        (&self.raw_mean, &self.raw_cov)
    }

    /// Append feature rows (`rows.len()` a multiple of `dim`).
    pub fn append(&mut self, rows: &[f32]) -> Result<()> {
        if !rows.len().is_multiple_of(self.dim) {
            return Err(Error::InvalidArgument(format!(
                "{} feature values are not rows of {}",
                rows.len(),
                self.dim
            )));
        }
        let n = rows.len() / self.dim;
        if n == 0 {
            return Ok(());
        }
        // Row-major rows = column-major [dim, n]: X as columns.
        let x = DMatrix::from_iterator(self.dim, n, rows.iter().map(|&v| v as f64));
        self.raw_mean += x.column_sum();
        // raw_cov += X·Xᵀ (features as columns), the official XᵀX of row features.
        self.raw_cov.gemm(1.0, &x, &x.transpose(), 1.0);
        self.count += n;
        if let Some(f) = &mut self.features {
            f.extend_from_slice(rows);
        }
        Ok(())
    }

    /// Mean and population covariance (÷N), as `get_mean_cov`.
    pub fn mean_cov(&self) -> Result<(DVector<f64>, DMatrix<f64>)> {
        if self.count == 0 {
            return Err(Error::InvalidArgument(
                "no features to take statistics of".into(),
            ));
        }
        let n = self.count as f64;
        let mu = &self.raw_mean / n;
        let cov = &self.raw_cov / n - &mu * mu.transpose();
        Ok((mu, cov))
    }
}

/// Fréchet distance of two Gaussians: ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2·sqrtm(Σ₁Σ₂)). The trace of
/// the square root is Σ√λ over the eigenvalues of the symmetric PSD √Σ₂·Σ₁·√Σ₂ (the same
/// spectrum as Σ₁Σ₂), which stays real when the covariances are rank-deficient (fewer images
/// than features), where scipy's `sqrtm` turns complex and the official code keeps the real
/// part.
pub fn frechet_distance(
    mu1: &DVector<f64>,
    sigma1: &DMatrix<f64>,
    mu2: &DVector<f64>,
    sigma2: &DMatrix<f64>,
) -> Result<f64> {
    let d = mu1.len();
    if mu2.len() != d || sigma1.shape() != (d, d) || sigma2.shape() != (d, d) {
        return Err(Error::InvalidArgument(format!(
            "FID: statistics of different sizes ({d} and {})",
            mu2.len()
        )));
    }
    let m = (mu1 - mu2).norm_squared();
    let to_faer = |a: &DMatrix<f64>| faer::Mat::from_fn(d, d, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]));
    let evd_err = |e: faer::linalg::evd::EvdError| {
        Error::InvalidArgument(format!(
            "FID: the eigendecomposition did not converge ({e:?})"
        ))
    };
    // √Σ₂ = U·diag(√max(λ, 0))·Uᵀ (negative rounding-level eigenvalues clipped).
    let e = to_faer(sigma2)
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(evd_err)?;
    let (u, s) = (e.U(), e.S().column_vector());
    let scaled = faer::Mat::from_fn(d, d, |i, j| u[(i, j)] * s[j].max(0.0).sqrt());
    let root2 = &scaled * u.transpose();
    let s1 = faer::Mat::from_fn(d, d, |i, j| sigma1[(i, j)]);
    let inner = &root2 * &s1 * &root2;
    let inner = faer::Mat::from_fn(d, d, |i, j| 0.5 * (inner[(i, j)] + inner[(j, i)]));
    let tr_sqrt: f64 = inner
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(evd_err)?
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    Ok(m + sigma1.trace() + sigma2.trace() - 2.0 * tr_sqrt)
}

/// KID (`compute_kid`): over `num_subsets` subsets of m = min(N_gen, N_real,
/// `max_subset_size`) rows drawn without replacement (generated rows first, then real rows,
/// from `rng` as numpy's global generator), the unbiased MMD² with the kernel
/// k(a, b) = (a·b/d + 1)³; the mean over subsets, divided by m. May be negative.
pub fn kid(
    gen: &[f32],
    real: &[f32],
    dim: usize,
    num_subsets: usize,
    max_subset_size: usize,
    rng: &mut RandomState,
) -> Result<f64> {
    let (ng, nr) = (gen.len() / dim, real.len() / dim);
    let m = ng.min(nr).min(max_subset_size);
    if m < 2 || num_subsets == 0 {
        return Err(Error::InvalidArgument(format!(
            "KID needs at least 2 images in each set ({ng} generated, {nr} real)"
        )));
    }
    let rows = |f: &[f32], idx: &[usize]| {
        DMatrix::from_iterator(
            dim,
            idx.len(),
            idx.iter()
                .flat_map(|&i| f[i * dim..(i + 1) * dim].iter().map(|&v| v as f64)),
        )
    };
    let kernel = |a: &DMatrix<f64>, b: &DMatrix<f64>| {
        (a.transpose() * b).map(|v| (v / dim as f64 + 1.0).powi(3))
    };
    let mut t = 0.0;
    for _ in 0..num_subsets {
        let x = rows(gen, &rng.choice_without_replacement(ng, m));
        let y = rows(real, &rng.choice_without_replacement(nr, m));
        let a = kernel(&x, &x) + kernel(&y, &y);
        let b = kernel(&x, &y);
        t += (a.sum() - a.trace()) / (m - 1) as f64 - b.sum() * 2.0 / m as f64;
    }
    Ok(t / num_subsets as f64 / m as f64)
}

/// Precision and recall (`compute_pr`, k = `nhood_size`): features rounded to float16; a
/// probe is covered when it lies within the k-th-neighbour radius (the (k+1)-th smallest
/// distance, self included) of some manifold point. Precision: generated probes against the
/// real manifold; recall: real probes against the generated manifold.
pub fn precision_recall(
    gen: &[f32],
    real: &[f32],
    dim: usize,
    nhood_size: usize,
) -> Result<(f64, f64)> {
    let half =
        |f: &[f32]| -> Vec<f32> { f.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect() };
    let (g, r) = (half(gen), half(real));
    Ok((
        coverage(&g, &r, dim, nhood_size)?,
        coverage(&r, &g, dim, nhood_size)?,
    ))
}

/// The fraction of `probes` inside the k-NN balls of `manifold`.
fn coverage(probes: &[f32], manifold: &[f32], dim: usize, k: usize) -> Result<f64> {
    use rayon::prelude::*;
    let (np, nm) = (probes.len() / dim, manifold.len() / dim);
    if nm <= k || np == 0 {
        return Err(Error::InvalidArgument(format!(
            "precision/recall with k = {k} needs more than {k} images per set ({nm} given)"
        )));
    }
    let to_mat = |f: &[f32], n: usize| DMatrix::from_iterator(dim, n, f.iter().map(|&v| v as f64));
    let (p, m) = (to_mat(probes, np), to_mat(manifold, nm));
    let norms =
        |x: &DMatrix<f64>| -> Vec<f64> { x.column_iter().map(|c| c.norm_squared()).collect() };
    let (pn, mn) = (norms(&p), norms(&m));
    // Distances as float16 values (the official cdist runs on float16 features).
    let dist =
        |a2: f64, b2: f64, ab: f64| half::f16::from_f64((a2 + b2 - 2.0 * ab).max(0.0).sqrt());
    let mm = m.transpose() * &m;
    let radii: Vec<half::f16> = (0..nm)
        .into_par_iter()
        .map(|j| {
            let mut d: Vec<f32> = (0..nm)
                .map(|i| dist(mn[j], mn[i], mm[(j, i)]).to_f32())
                .collect();
            d.select_nth_unstable_by(k, |a, b| a.total_cmp(b));
            half::f16::from_f32(d[k])
        })
        .collect();
    let pm = p.transpose() * &m;
    let covered = (0..np)
        .into_par_iter()
        .filter(|&i| (0..nm).any(|j| dist(pn[i], mn[j], pm[(i, j)]) <= radii[j]))
        .count();
    Ok(covered as f64 / np as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_permutation_and_choice() {
        // np.random.RandomState(0).permutation(10) and .choice(10, 3, replace=False).
        let mut r = RandomState::new(0);
        assert_eq!(r.permutation(10), vec![2, 8, 4, 9, 1, 6, 7, 3, 0, 5]);
        let mut r = RandomState::new(0);
        assert_eq!(r.choice_without_replacement(10, 3), vec![2, 8, 4]);
    }

    #[test]
    fn fid_of_known_gaussians() {
        // Diagonal covariances: FID = ‖Δμ‖² + Σ (√a − √b)².
        let mu1 = DVector::from_vec(vec![0.0, 1.0, 2.0]);
        let mu2 = DVector::from_vec(vec![1.0, 1.0, 0.0]);
        let s1 = DMatrix::from_diagonal(&DVector::from_vec(vec![1.0, 4.0, 9.0]));
        let s2 = DMatrix::from_diagonal(&DVector::from_vec(vec![4.0, 4.0, 1.0]));
        let want = 5.0 + 1.0 + 0.0 + 4.0;
        let got = frechet_distance(&mu1, &s1, &mu2, &s2).unwrap();
        assert!((got - want).abs() < 1e-9, "{got}");
        // Against itself: 0.
        assert!(frechet_distance(&mu1, &s1, &mu1, &s1).unwrap().abs() < 1e-9);
    }

    #[test]
    fn population_covariance() {
        let mut s = FeatureStats::new(2, false);
        s.append(&[1.0, 0.0, 3.0, 2.0]).unwrap();
        let (mu, cov) = s.mean_cov().unwrap();
        assert_eq!(mu.as_slice(), &[2.0, 1.0]);
        // ÷N: var 1 and 1, cov 1.
        assert_eq!(cov.as_slice(), &[1.0, 1.0, 1.0, 1.0]);
        assert!(s.append(&[1.0]).is_err());
    }
}
