//! `SynthesisInput` (FORMATS.md §5.2): Fourier features at fixed frequencies, rotated and
//! translated per sample by an affine of `ws[0]`, then by the user's `transform` (the inverse of
//! the image-space transform `gen_images.py --translate/--rotate` asks for).

use std::f64::consts::PI;

use burn::tensor::{Tensor, TensorData};

use super::design::InputDesign;
use crate::error::{Error, Result};
use crate::nn::{FullyConnected, Init, Params, StateDict};
use crate::ops::Activation;

#[derive(Clone, Debug)]
pub struct SynthesisInput {
    pub affine: FullyConnected,
    /// `[C, C]`, the trainable channel mixing (scaled by `1/sqrt(C)` at run time).
    pub weight: Tensor<2>,
    /// The user transform, row-major `[3, 3]` (identity unless set).
    pub transform: [f32; 9],
    /// `[C, 2]` frequencies (x, y).
    pub freqs: Tensor<2>,
    /// `[C]` phases.
    pub phases: Tensor<1>,
    pub design: InputDesign,
}

/// The image-space transform `make_transform(translate, angle)` of `gen_images.py`
/// (`[[cos, sin, tx], [-sin, cos, ty], [0, 0, 1]]`, the angle in degrees).
pub fn make_transform(translate: (f64, f64), angle_deg: f64) -> [f64; 9] {
    let (s, c) = (angle_deg / 360.0 * 2.0 * PI).sin_cos();
    [c, s, translate.0, -s, c, translate.1, 0.0, 0.0, 1.0]
}

/// The inverse of a 3×3 matrix (row-major), or None when it is singular.
pub fn invert3(m: &[f64; 9]) -> Option<[f64; 9]> {
    let [a, b, c, d, e, f, g, h, i] = *m;
    let det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
    if det.abs() < 1e-300 || !det.is_finite() {
        return None;
    }
    let inv = [
        e * i - f * h,
        c * h - b * i,
        b * f - c * e,
        f * g - d * i,
        a * i - c * g,
        c * d - a * f,
        d * h - e * g,
        b * g - a * h,
        a * e - b * d,
    ];
    Some(inv.map(|v| v / det))
}

impl SynthesisInput {
    pub fn new(p: &mut Params, w_dim: usize, design: &InputDesign) -> Result<Self> {
        let c = design.channels;
        let dev = p.device().clone();
        let weight = p.tensor("weight", [c, c], Init::Randn(1.0))?;
        let t = p.data(
            "transform",
            &[3, 3],
            Init::Values(vec![1., 0., 0., 0., 1., 0., 0., 0., 1.]),
        )?;
        let t: Vec<f32> = t
            .try_to_vec()
            .map_err(|e| Error::Config(format!("{e:?}")))?;
        let mut transform = [0f32; 9];
        transform.copy_from_slice(&t);
        // A fresh network draws frequencies uniformly from a disc of radius `bandwidth` (the
        // official recipe: randn, divided by r·exp(r²)^¼); loaded ones are used as stored.
        let freqs = p.data("freqs", &[c, 2], Init::Randn(1.0))?;
        let mut freqs: Vec<f32> = freqs
            .try_to_vec()
            .map_err(|e| Error::Config(format!("{e:?}")))?;
        if p.is_random() {
            for xy in freqs.chunks_mut(2) {
                let r = ((xy[0] as f64).powi(2) + (xy[1] as f64).powi(2)).sqrt();
                let k = design.bandwidth / (r * (r * r).exp().powf(0.25));
                xy[0] = (xy[0] as f64 * k) as f32;
                xy[1] = (xy[1] as f64 * k) as f32;
            }
        }
        let freqs = Tensor::from_data(TensorData::new(freqs, [c, 2]), &dev);
        let phases = p.tensor("phases", [c], Init::Uniform(-0.5, 0.5))?;
        let affine = p.scope("affine", |p| {
            FullyConnected::with_init(
                p,
                w_dim,
                4,
                Activation::Linear,
                1.0,
                Init::Const(0.0),
                Some(Init::Values(vec![1.0, 0.0, 0.0, 0.0])),
            )
        })?;
        Ok(Self {
            affine,
            weight,
            transform,
            freqs,
            phases,
            design: design.clone(),
        })
    }

    /// Set the user transform (row-major 3×3), as `G.synthesis.input.transform.copy_(m)`.
    pub fn set_transform(&mut self, m: &[f64; 9]) -> Result<()> {
        if m.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "the input transform {m:?} is not finite"
            )));
        }
        self.transform = m.map(|v| v as f32);
        Ok(())
    }

    /// Fourier features `[N, C, size, size]` for `w [N, w_dim]` (= ws[0]).
    pub fn forward(&self, w: Tensor<2>) -> Tensor<4> {
        let size = self.design.size;
        self.forward_sized(w, [size, size])
    }

    /// Fourier features on a `[height, width]` grid centred on the usual one, with the same
    /// sample spacing: a larger grid sees more of the (infinite) Fourier-feature plane.
    pub fn forward_sized(&self, w: Tensor<2>, size: [usize; 2]) -> Tensor<4> {
        self.forward_view(w, size, [0.0, 0.0])
    }

    /// [`Self::forward_sized`] with the grid centred on `centre = [x, y]` of the feature plane
    /// (in image widths: the image spans ±0.5): a translated view, whose content appears
    /// `centre` to the left/top of where it is in the plain image.
    pub fn forward_view(
        &self,
        w: Tensor<2>,
        [height, width]: [usize; 2],
        centre: [f64; 2],
    ) -> Tensor<4> {
        let n = w.dims()[0];
        let d = &self.design;
        let c = d.channels;
        let dev = w.device();
        // t = (cos, sin, tx, ty), normalised by the length of its rotation part.
        let t = self.affine.forward(w);
        let norm = t.clone().narrow(1, 0, 2).square().sum_dim(1).sqrt();
        let t = t / norm;
        let col = |i: usize| t.clone().narrow(1, i, 1); // [N, 1]
        let (rc, rs, tx, ty) = (col(0), col(1), col(2), col(3));
        // m = m_r @ m_t: [[c, -s, -c·tx + s·ty], [s, c, -s·tx - c·ty], [0, 0, 1]].
        let m = [
            [
                rc.clone(),
                rs.clone().neg(),
                rs.clone() * ty.clone() - rc.clone() * tx.clone(),
            ],
            [rs.clone(), rc.clone(), (rs * tx + rc * ty).neg()],
        ];
        // M = m @ transform (rows 0 and 1; the third row of m is [0, 0, 1]).
        let u = &self.transform;
        let entry = |i: usize, j: usize| {
            m[i][0].clone().mul_scalar(u[j])
                + m[i][1].clone().mul_scalar(u[3 + j])
                + m[i][2].clone().mul_scalar(u[6 + j])
        };
        let fx = self.freqs.clone().narrow(1, 0, 1).reshape([1, c]);
        let fy = self.freqs.clone().narrow(1, 1, 1).reshape([1, c]);
        // freqs @ M[:2, :2] and phases + freqs @ M[:2, 2]: [N, C].
        let fx2 = fx.clone() * entry(0, 0) + fy.clone() * entry(1, 0);
        let fy2 = fx.clone() * entry(0, 1) + fy.clone() * entry(1, 1);
        let phases = self.phases.clone().reshape([1, c]) + fx * entry(0, 2) + fy * entry(1, 2);
        let (sr, bw) = (d.sampling_rate, d.bandwidth);
        let amp = (fx2.clone().square() + fy2.clone().square())
            .sqrt()
            .sub_scalar(bw as f32)
            .div_scalar((sr / 2.0 - bw) as f32)
            .neg()
            .add_scalar(1.0)
            .clamp(0.0, 1.0);
        // affine_grid(align_corners=False): g[k] = ((2k + 1)/size − 1) · size/(2·sr).
        let grid = |size: usize, centre: f64| -> Vec<f32> {
            let scale = (0.5 * size as f64 / sr) as f32;
            (0..size)
                .map(|k| ((2 * k + 1) as f32 / size as f32 - 1.0) * scale + centre as f32)
                .collect()
        };
        let gx = Tensor::<1>::from_data(TensorData::new(grid(width, centre[0]), [width]), &dev)
            .reshape([1, 1, width, 1]);
        let gy = Tensor::<1>::from_data(TensorData::new(grid(height, centre[1]), [height]), &dev)
            .reshape([1, height, 1, 1]);
        let x = gx * fx2.reshape([n, 1, 1, c])
            + gy * fy2.reshape([n, 1, 1, c])
            + phases.reshape([n, 1, 1, c]);
        let x = x.mul_scalar((2.0 * PI) as f32).sin() * amp.reshape([n, 1, 1, c]);
        // Trainable channel mixing: x @ (weight / sqrt(C)).T, then NHWC → NCHW.
        let wt = self
            .weight
            .clone()
            .mul_scalar((1.0 / (c as f64).sqrt()) as f32)
            .transpose();
        x.reshape([n * height * width, c])
            .matmul(wt)
            .reshape([n, height, width, c])
            .permute([0, 3, 1, 2])
    }

    pub fn state_dict(&self, sd: &mut StateDict) {
        sd.add("weight", &self.weight);
        sd.add_data("transform", vec![3, 3], self.transform.to_vec());
        sd.add("freqs", &self.freqs);
        sd.add("phases", &self.phases);
        sd.scope("affine", |sd| self.affine.state_dict(sd));
    }
}
