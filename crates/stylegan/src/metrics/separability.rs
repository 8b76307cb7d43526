//! Linear separability (StyleGAN v1 paper, section 4.2; `metrics/linear_separability.py` of
//! the official code): how well a linear boundary in latent space separates the attributes an
//! image classifier sees in the generated images.
//!
//! Per attribute: generate `num_samples` images from z ~ N(0, I) (w: the last row of the
//! broadcast latents), classify them, keep the `num_keep` most confident ones, fit a linear
//! SVM on the latents (in Z, and in W) to the classifier's labels, and take the conditional
//! entropy H(Y | X) in bits of the classifier's label Y given the SVM's prediction X. The score
//! is 2^(Σ over attributes of H): 1 when every attribute is linearly separable, 2^K when none
//! is. Officially 200,000 samples, 100,000 kept, 40 CelebA-HQ attribute classifiers (not
//! obtainable); here the attribute classifier given (the bundled one is trained on the facesjs
//! faces' labels, [`crate::attributes`]).
//!
//! The SVM is scikit-learn's `LinearSVC()` as the official code calls it: L2-regularised
//! squared hinge loss, C = 1, the intercept as an extra feature of value 1 (regularised too),
//! solved in the dual by coordinate descent with shrinking (liblinear's method, Hsieh et al.
//! 2008), tolerance 1e-4, at most 1000 passes. Written here because no maintained Rust crate
//! offers this solver (linfa-svm solves the kernel SVM by SMO, far slower at 100,000 × 512).

use burn::tensor::Tensor;

use crate::attributes::AttributeClassifier;
use crate::data::Progress;
use crate::error::{Error, Result};
use crate::models::{Generator, NoiseMode};
use crate::rng::RandomState;

/// LS settings (`ls`: 200,000 samples, the most confident 100,000 kept).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LsOptions {
    pub num_samples: usize,
    pub num_keep: usize,
    pub batch: usize,
    pub seed: u32,
}

impl LsOptions {
    pub fn official() -> Self {
        Self::with_samples(200_000)
    }

    /// `n` samples, half of them kept (the official ratio).
    pub fn with_samples(n: usize) -> Self {
        Self {
            num_samples: n,
            num_keep: n / 2,
            batch: 16,
            seed: 0,
        }
    }
}

/// The separability scores and the per-attribute conditional entropies (bits).
#[derive(Clone, Debug, PartialEq)]
pub struct Separability {
    pub z: f64,
    pub w: f64,
    /// `(attribute, H in Z, H in W)`.
    pub entropies: Vec<(String, f64, f64)>,
}

/// A linear decision function `w·x + b` (b: the weight of the constant feature).
#[derive(Clone, Debug)]
pub struct LinearSvm {
    pub w: Vec<f64>,
    pub b: f64,
}

impl LinearSvm {
    pub fn decision(&self, x: &[f32]) -> f64 {
        self.w
            .iter()
            .zip(x)
            .map(|(a, v)| a * *v as f64)
            .sum::<f64>()
            + self.b
    }

    /// Predicted labels of the rows of `x` (`[n, d]`).
    pub fn predict(&self, x: &[f32]) -> Vec<bool> {
        x.chunks_exact(self.w.len())
            .map(|r| self.decision(r) > 0.0)
            .collect()
    }
}

/// Fit `LinearSVC(C=c)` (squared hinge, L2, intercept as a unit feature) to rows `x`
/// (`[n, d]`) with labels `y`: dual coordinate descent with shrinking, random order per pass
/// (from `seed`), until the projected gradients span ≤ `tol` or `max_iter` passes.
pub fn fit_linear_svc(
    x: &[f32],
    y: &[bool],
    d: usize,
    c: f64,
    tol: f64,
    max_iter: usize,
    seed: u32,
) -> Result<LinearSvm> {
    let n = y.len();
    if d == 0 || x.len() != n * d || n == 0 {
        return Err(Error::InvalidArgument(format!(
            "SVM: {} values are not {n} rows of {d}",
            x.len()
        )));
    }
    if !(c > 0.0 && c.is_finite()) {
        return Err(Error::InvalidArgument(format!(
            "SVM: C must be > 0, got {c}"
        )));
    }
    let row = |i: usize| &x[i * d..(i + 1) * d];
    let sign = |i: usize| if y[i] { 1.0 } else { -1.0 };
    let diag = 0.5 / c;
    // Q̄_ii = x_i·x_i + 1 (the constant feature) + 1/(2C).
    let qd: Vec<f64> = (0..n)
        .map(|i| row(i).iter().map(|v| (*v as f64).powi(2)).sum::<f64>() + 1.0 + diag)
        .collect();
    let mut alpha = vec![0f64; n];
    let mut w = vec![0f64; d];
    let mut b = 0f64;
    let mut index: Vec<usize> = (0..n).collect();
    let mut active = n;
    // Shrinking threshold. (The squared hinge has no upper bound on α, so only the lower
    // bound's threshold exists.)
    let mut pg_max_old = f64::INFINITY;
    let mut rng = RandomState::new(seed);
    for _ in 0..max_iter {
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for s in 0..active {
            let j = s + (rng.random_sample() * (active - s) as f64) as usize;
            index.swap(s, j.min(active - 1));
        }
        let mut s = 0;
        while s < active {
            let i = index[s];
            let yi = sign(i);
            let xi = row(i);
            let dot: f64 = w.iter().zip(xi).map(|(a, v)| a * *v as f64).sum::<f64>() + b;
            let g = yi * dot - 1.0 + alpha[i] * diag;
            let mut pg = 0.0;
            if alpha[i] == 0.0 {
                if g > pg_max_old {
                    // Shrink: this α stays at its bound.
                    active -= 1;
                    index.swap(s, active);
                    continue;
                } else if g < 0.0 {
                    pg = g;
                }
            } else {
                pg = g;
            }
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (old - g / qd[i]).max(0.0);
                let step = (alpha[i] - old) * yi;
                for (a, v) in w.iter_mut().zip(xi) {
                    *a += step * *v as f64;
                }
                b += step;
            }
            s += 1;
        }
        if pg_max - pg_min <= tol {
            if active == n {
                break;
            }
            // Converged on the active set: check every sample once more.
            active = n;
            pg_max_old = f64::INFINITY;
            continue;
        }
        pg_max_old = if pg_max <= 0.0 { f64::INFINITY } else { pg_max };
    }
    Ok(LinearSvm { w, b })
}

fn entropy_bits(p: &[f64]) -> f64 {
    p.iter().filter(|&&v| v > 0.0).map(|&v| -v * v.log2()).sum()
}

/// The official `conditional_entropy(p)`: H(Y | X) in bits of the 2×2 joint counts `p[x][y]`
/// (normalised here), as H(Y) − I(X; Y) clamped at 0.
pub fn conditional_entropy(p: [[f64; 2]; 2]) -> f64 {
    let total: f64 = p.iter().flatten().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let p = p.map(|r| r.map(|v| v / total));
    let px = [p[0][0] + p[0][1], p[1][0] + p[1][1]];
    let py = [p[0][0] + p[1][0], p[0][1] + p[1][1]];
    let mut mi = 0.0;
    for x in 0..2 {
        for y in 0..2 {
            if p[x][y] > 0.0 {
                mi += p[x][y] * (p[x][y] / (px[x] * py[y])).log2();
            }
        }
    }
    (entropy_bits(&py) - mi).max(0.0)
}

/// H(target | SVM prediction) of one attribute in one space: the SVM fitted to `latents`
/// (`[n, d]`) and `targets`; when all targets agree no SVM can be fitted and the official
/// code counts the prediction as perfect.
pub fn attribute_entropy(latents: &[f32], targets: &[bool], d: usize, seed: u32) -> Result<f64> {
    let first = targets.first().copied().unwrap_or(false);
    let predicted = if targets.iter().all(|&t| t == first) {
        targets.to_vec()
    } else {
        fit_linear_svc(latents, targets, d, 1.0, 1e-4, 1000, seed)?.predict(latents)
    };
    let mut p = [[0.0; 2]; 2];
    for (&x, &y) in predicted.iter().zip(targets) {
        p[x as usize][y as usize] += 1.0;
    }
    Ok(conditional_entropy(p))
}

/// Keep the `keep` rows of the most confident probabilities (|p − ½| largest; ties by index,
/// a stable sort as Python's `sorted`); returns their indices and labels (p > ½).
pub fn most_confident(probs: &[f32], keep: usize) -> (Vec<usize>, Vec<bool>) {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| {
        let (ca, cb) = ((probs[a] - 0.5).abs(), (probs[b] - 0.5).abs());
        cb.total_cmp(&ca)
    });
    idx.truncate(keep);
    let labels = idx.iter().map(|&i| probs[i] > 0.5).collect();
    (idx, labels)
}

/// Box-average `[N, C, R, R]` down to `r` (R a multiple of r), as the official code
/// downsamples to the classifiers' 256 px.
fn downsample(img: Tensor<4>, r: usize) -> Result<Tensor<4>> {
    let [n, c, h, w] = img.dims();
    if h == r && w == r {
        return Ok(img);
    }
    if h != w || h < r || !h.is_multiple_of(r) {
        return Err(Error::InvalidArgument(format!(
            "linear separability: the classifier takes {r}×{r} images and the generator makes \
             {h}×{w}; give a classifier of the generator's resolution (or of a divisor of it)"
        )));
    }
    let f = h / r;
    Ok(img
        .reshape([n, c, r, f, r, f])
        .mean_dim(5)
        .mean_dim(3)
        .reshape([n, c, r, r]))
}

/// Linear separability of a generator judged by `classifier` (StyleGAN2/3 and v1; PGGAN has
/// no W and gets an error).
pub fn separability(
    g: &Generator,
    classifier: &AttributeClassifier,
    opts: &LsOptions,
    progress: &dyn Progress,
) -> Result<Separability> {
    g.require_w("linear separability (it fits an SVM in W)")?;
    if g.config.c_dim > 0 {
        return Err(Error::InvalidArgument(
            "linear separability of conditional networks is not supported yet".into(),
        ));
    }
    if g.config.img_channels != classifier.channels {
        return Err(Error::InvalidArgument(format!(
            "linear separability: the classifier takes {} channel(s), the generator makes {}",
            classifier.channels, g.config.img_channels
        )));
    }
    if opts.num_keep < 2 || opts.num_keep > opts.num_samples || opts.batch == 0 {
        return Err(Error::InvalidArgument(format!(
            "linear separability: keep {} of {} samples (need 2 ≤ keep ≤ samples) in batches \
             of {}",
            opts.num_keep, opts.num_samples, opts.batch
        )));
    }
    let (zd, wd) = (g.config.z_dim, g.config.w_dim);
    let k = classifier.label_names.len();
    let mut rng = RandomState::new(opts.seed);
    let mut zs = Vec::with_capacity(opts.num_samples * zd);
    let mut ws = Vec::with_capacity(opts.num_samples * wd);
    let mut probs: Vec<Vec<f32>> = vec![Vec::with_capacity(opts.num_samples); k];
    progress.start("separability samples", opts.num_samples);
    let mut done = 0;
    while done < opts.num_samples {
        let b = opts.batch.min(opts.num_samples - done);
        let z: Vec<Vec<f64>> = (0..b).map(|_| rng.randn(zd)).collect();
        let lat = g.mapping_ws(g.z_tensor(&z)?, None, 1.0, None)?;
        let num_ws = lat.dims()[1];
        let last = lat.clone().narrow(1, num_ws - 1, 1).reshape([b, wd]);
        ws.extend(crate::backend::to_vec(&last)?);
        zs.extend(z.iter().flatten().map(|&v| v as f32));
        // Fresh noise per image (the official randomize_noise), repeatable from the seed.
        let noise = NoiseMode::Seeded(((opts.seed as u64) << 32) | done as u64);
        let img = g.synthesis.forward(&lat, noise)?;
        let p = classifier.predict(downsample(img, classifier.resolution)?)?;
        for row in p {
            for (a, v) in row.into_iter().enumerate() {
                probs[a].push(v);
            }
        }
        done += b;
        progress.advance(b);
    }
    let mut entropies = Vec::with_capacity(k);
    progress.start("separability SVMs", 2 * k);
    for (a, name) in classifier.label_names.iter().enumerate() {
        let (kept, targets) = most_confident(&probs[a], opts.num_keep);
        let rows = |src: &[f32], d: usize| -> Vec<f32> {
            kept.iter()
                .flat_map(|&i| src[i * d..(i + 1) * d].iter().copied())
                .collect()
        };
        let hz = attribute_entropy(&rows(&zs, zd), &targets, zd, opts.seed)?;
        progress.advance(1);
        let hw = attribute_entropy(&rows(&ws, wd), &targets, wd, opts.seed)?;
        progress.advance(1);
        entropies.push((name.clone(), hz, hw));
    }
    let z = 2f64.powf(entropies.iter().map(|e| e.1).sum());
    let w = 2f64.powf(entropies.iter().map(|e| e.2).sum());
    Ok(Separability { z, w, entropies })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditional_entropy_of_perfect_and_useless_predictions() {
        assert_eq!(conditional_entropy([[50.0, 0.0], [0.0, 50.0]]), 0.0);
        // Predictions independent of balanced targets: a whole bit.
        assert!((conditional_entropy([[25.0, 25.0], [25.0, 25.0]]) - 1.0).abs() < 1e-12);
        // H(Y|X) by its definition for an uneven table.
        let p = [[30.0, 10.0], [5.0, 55.0]];
        let h = |a: f64, b: f64| {
            let t = a + b;
            -(a / t) * (a / t).log2() - (b / t) * (b / t).log2()
        };
        let want = 0.4 * h(30.0, 10.0) + 0.6 * h(5.0, 55.0);
        assert!((conditional_entropy(p) - want).abs() < 1e-12);
    }

    #[test]
    fn svm_finds_a_known_linear_boundary() {
        // Labels from a hyperplane with a margin: the SVM reproduces them all.
        let mut rng = RandomState::new(3);
        let d = 16;
        let normal: Vec<f64> = rng.randn(d);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        while y.len() < 600 {
            let v = rng.randn(d);
            let s: f64 = v.iter().zip(&normal).map(|(a, b)| a * b).sum::<f64>() + 0.7;
            if s.abs() < 0.3 {
                continue;
            }
            x.extend(v.iter().map(|&a| a as f32));
            y.push(s > 0.0);
        }
        let svm = fit_linear_svc(&x, &y, d, 1.0, 1e-4, 1000, 0).unwrap();
        assert_eq!(svm.predict(&x), y);
        assert_eq!(attribute_entropy(&x, &y, d, 0).unwrap(), 0.0);
        // Labels independent of the latents: the entropy stays near a whole bit.
        let random: Vec<bool> = (0..y.len()).map(|_| rng.random_sample() < 0.5).collect();
        let h = attribute_entropy(&x, &random, d, 0).unwrap();
        assert!(h > 0.85, "{h}");
        // One class only: counted as perfect, as the official code does.
        assert_eq!(
            attribute_entropy(&x, &vec![true; y.len()], d, 0).unwrap(),
            0.0
        );
    }

    /// The weights, intercept and predictions of scikit-learn's LinearSVC on noisy labels
    /// (`tools/reference/linear_svc_ref.py`: numpy's RandomState(5) latents, redrawn here).
    #[test]
    fn svm_matches_scikit_learn() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/linear_svc.json");
        let fx: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let (n, d) = (
            fx["n"].as_u64().unwrap() as usize,
            fx["d"].as_u64().unwrap() as usize,
        );
        let mut rng = RandomState::new(5);
        let x: Vec<f32> = rng.randn(n * d).into_iter().map(|v| v as f32).collect();
        let labels: Vec<bool> = fx["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64() == Some(1))
            .collect();
        let svm = fit_linear_svc(&x, &labels, d, 1.0, 1e-4, 1000, 0).unwrap();
        let coef: Vec<f64> = fx["coef"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let scale = coef.iter().fold(0.0f64, |a, b| a.max(b.abs()));
        let worst = svm
            .w
            .iter()
            .zip(&coef)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < 2e-3 * scale,
            "weights differ by {worst} (scale {scale})"
        );
        let b = fx["intercept"].as_f64().unwrap();
        assert!((svm.b - b).abs() < 2e-3 * scale, "{} vs {b}", svm.b);
        let theirs: Vec<bool> = fx["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64() == Some(1))
            .collect();
        let agree = svm
            .predict(&x)
            .iter()
            .zip(&theirs)
            .filter(|(a, b)| a == b)
            .count();
        assert!(agree >= n - 2, "{agree} of {n} predictions agree");
    }

    #[test]
    fn the_most_confident_are_kept() {
        let p = [0.5, 0.98, 0.2, 0.01, 0.6];
        let (idx, labels) = most_confident(&p, 3);
        assert_eq!(idx, vec![3, 1, 2]);
        assert_eq!(labels, vec![false, true, false]);
    }
}
