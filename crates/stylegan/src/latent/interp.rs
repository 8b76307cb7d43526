//! Interpolation between latents, for videos like the official `gen_video.py`: keyframes on a
//! loop, slerp in z, linear or cubic in w.

use crate::error::{Error, Result};

/// Spherical interpolation between `a` and `b` (the standard formula; lerp when parallel).
pub fn slerp(a: &[f64], b: &[f64], t: f64) -> Vec<f64> {
    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    let cos =
        (a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>() / (na * nb).max(1e-12)).clamp(-1.0, 1.0);
    let omega = cos.acos();
    if omega.abs() < 1e-6 {
        return a.iter().zip(b).map(|(x, y)| x + (y - x) * t).collect();
    }
    let (sa, sb) = (
        ((1.0 - t) * omega).sin() / omega.sin(),
        (t * omega).sin() / omega.sin(),
    );
    a.iter().zip(b).map(|(x, y)| sa * x + sb * y).collect()
}

/// How to move between keyframes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Linear,
    /// A periodic cubic spline through the keyframes (C² on the loop). The official script
    /// fits scipy's cubic spline to keyframes tiled three times, which is the same curve up to
    /// the tiny influence of the far ends.
    Cubic,
}

impl std::str::FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "linear" => Ok(Self::Linear),
            "cubic" => Ok(Self::Cubic),
            o => Err(Error::InvalidArgument(format!(
                "unknown interpolation '{o}' (expected linear or cubic)"
            ))),
        }
    }
}

/// A closed curve through `keys` (each `dim` values) evaluated at `x ∈ [0, keys.len())`.
pub struct Looped {
    keys: Vec<Vec<f64>>,
    /// Second derivatives at the keys (cubic only).
    m: Option<Vec<Vec<f64>>>,
}

impl Looped {
    pub fn new(keys: Vec<Vec<f64>>, kind: Kind) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::InvalidArgument(
                "interpolation needs at least one keyframe".into(),
            ));
        }
        let n = keys.len();
        let m = (kind == Kind::Cubic && n >= 3).then(|| {
            // Periodic spline with unit spacing: m[i-1] + 4 m[i] + m[i+1] = 6 (y[i+1] − 2y[i] + y[i-1]).
            let a = nalgebra::DMatrix::<f64>::from_fn(n, n, |i, j| {
                if i == j {
                    4.0
                } else if (i + 1) % n == j || (j + 1) % n == i {
                    1.0
                } else {
                    0.0
                }
            });
            let lu = a.lu();
            let dim = keys[0].len();
            let mut m = vec![vec![0.0; dim]; n];
            for d in 0..dim {
                let rhs = nalgebra::DVector::from_fn(n, |i, _| {
                    6.0 * (keys[(i + 1) % n][d] - 2.0 * keys[i][d] + keys[(i + n - 1) % n][d])
                });
                let sol = lu.solve(&rhs).expect("diagonally dominant");
                for i in 0..n {
                    m[i][d] = sol[i];
                }
            }
            m
        });
        Ok(Self { keys, m })
    }

    pub fn at(&self, x: f64) -> Vec<f64> {
        let n = self.keys.len();
        let x = x.rem_euclid(n as f64);
        let i = (x.floor() as usize).min(n - 1);
        let t = x - i as f64;
        let (a, b) = (&self.keys[i], &self.keys[(i + 1) % n]);
        match &self.m {
            None => a.iter().zip(b).map(|(p, q)| p + (q - p) * t).collect(),
            Some(m) => {
                let (ma, mb) = (&m[i], &m[(i + 1) % n]);
                (0..a.len())
                    .map(|d| {
                        (1.0 - t) * a[d]
                            + t * b[d]
                            + ((1.0 - t).powi(3) - (1.0 - t)) * ma[d] / 6.0
                            + (t.powi(3) - t) * mb[d] / 6.0
                    })
                    .collect()
            }
        }
    }
}
