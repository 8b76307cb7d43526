//! `filtered_lrelu`: StyleGAN3's alias-free nonlinearity — bias, upsample with a low-pass FIR,
//! leaky ReLU + gain + clamp at the higher rate, low-pass FIR and downsample (FORMATS.md §5.3,
//! the official `_filtered_lrelu_ref`).
//!
//! The filters are either separable (1-D taps applied along x, then y, as `upfirdn2d` does with a
//! 1-D filter) or full 2-D (StyleGAN3-R's radially symmetric down-filters). A missing filter
//! (`None`, an official buffer of `None`) is the identity: only the padding/cropping is applied.

use burn::tensor::{activation, Device, Tensor};

use super::bias_act::{bias_act, Activation};
use super::upfirdn2d::{upfirdn2d, Filter};

/// A low-pass FIR filter as StyleGAN3 stores it (`up_filter` / `down_filter` buffers).
#[derive(Clone, Debug)]
pub enum LowPass {
    /// 1-D taps `[k]`, applied horizontally then vertically.
    Separable {
        taps: Vec<f32>,
        row: Filter,
        col: Filter,
    },
    /// 2-D taps `[k, k]` (radial filters), applied in one pass.
    Full(Filter),
}

impl LowPass {
    /// A separable filter from its 1-D taps.
    pub fn separable(taps: Vec<f32>, device: &Device) -> Self {
        let k = taps.len();
        Self::Separable {
            row: Filter::from_2d(taps.clone(), 1, k, device),
            col: Filter::from_2d(taps.clone(), k, 1, device),
            taps,
        }
    }

    /// A full 2-D filter from row-major `[k, k]` taps.
    pub fn full(taps: Vec<f32>, k: usize, device: &Device) -> Self {
        Self::Full(Filter::from_2d(taps, k, k, device))
    }

    /// Number of taps along one axis.
    pub fn len(&self) -> usize {
        match self {
            Self::Separable { taps, .. } => taps.len(),
            Self::Full(f) => f.w,
        }
    }

    /// The taps in the stored layout (`[k]` or row-major `[k, k]`) and that shape.
    pub fn taps(&self) -> (&[f32], Vec<usize>) {
        match self {
            Self::Separable { taps, .. } => (taps, vec![taps.len()]),
            Self::Full(f) => (&f.taps, vec![f.h, f.w]),
        }
    }

    /// `upfirdn2d(x, f, up, down, padding, gain)` with this filter (`gain` is the total gain:
    /// a separable filter applies `sqrt(gain)` per pass, as `gain ** (f.ndim / 2)`).
    pub fn upfirdn2d(
        &self,
        x: Tensor<4>,
        up: usize,
        down: usize,
        pad: [i64; 4],
        gain: f64,
    ) -> Tensor<4> {
        match self {
            Self::Separable { row, col, taps } => {
                if super::upfirdn2d::matmul_form(&x, up) {
                    if let Some(y) = super::upfirdn2d::upfirdn2d_separable_matmul(
                        x.clone(),
                        taps,
                        taps,
                        up,
                        down,
                        pad,
                        gain,
                    ) {
                        return y;
                    }
                }
                let g = gain.sqrt();
                let x = upfirdn2d(x, row, up, 1, pad, g);
                upfirdn2d(x, col, 1, down, [0; 4], g)
            }
            Self::Full(f) => upfirdn2d(x, f, up, down, pad, gain),
        }
    }
}

/// `upfirdn2d` with an optional filter: `None` is the official `f = [[1]]` (times `gain`).
fn resample(
    x: Tensor<4>,
    f: Option<&LowPass>,
    up: usize,
    down: usize,
    pad: [i64; 4],
    gain: f64,
) -> Tensor<4> {
    match f {
        Some(f) => f.upfirdn2d(x, up, down, pad, gain),
        None if up == 1 && down == 1 && pad == [0; 4] && gain == 1.0 => x,
        None => {
            let one = Filter::from_2d(vec![1.0], 1, 1, &x.device());
            upfirdn2d(x, &one, up, down, pad, gain)
        }
    }
}

/// The options of one `filtered_lrelu` call (the official keyword arguments).
#[derive(Clone, Copy, Debug)]
pub struct FilteredLrelu {
    /// Upsampling factor before the nonlinearity.
    pub up: usize,
    /// Downsampling factor after it.
    pub down: usize,
    /// `[x0, x1, y0, y1]` padding applied after zero-insertion (negative crops).
    pub padding: [i64; 4],
    /// Gain after the activation (`sqrt(2)`, or 1 for `torgb`).
    pub gain: f64,
    /// Leaky ReLU slope (0.2, or 1 = linear for `torgb`).
    pub slope: f64,
    /// Clamp to ±`clamp` after the gain.
    pub clamp: Option<f64>,
}

/// `filtered_lrelu(x, fu, fd, b, up, down, padding, gain, slope, clamp)`. CPU inference with
/// separable filters runs the fused polyphase kernel ([`super::polyphase`]); everything else
/// (training under autodiff, other devices, radial filters) the reference formulation.
pub fn filtered_lrelu(
    x: Tensor<4>,
    fu: Option<&LowPass>,
    fd: Option<&LowPass>,
    bias: Option<&Tensor<1>>,
    o: &FilteredLrelu,
) -> Tensor<4> {
    let taps = |f: Option<&LowPass>| match f {
        None => Some(None),
        Some(LowPass::Separable { taps, .. }) => Some(Some(taps.clone())),
        Some(LowPass::Full(_)) => None,
    };
    let bias_ok = bias.is_none_or(|b| !b.is_autodiff());
    if let (true, true, Some(up_taps), Some(down_taps)) = (
        super::direct_conv::applies_to(&x),
        bias_ok,
        taps(fu),
        taps(fd),
    ) {
        let device = x.device();
        let dims = x.dims();
        let data = x.into_data().convert::<f32>();
        let bias: Vec<f32> = match bias {
            Some(b) => b
                .clone()
                .into_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap_or_default(),
            None => vec![0.0; dims[1]],
        };
        let (y, [oh, ow]) = super::polyphase::filtered_lrelu_separable(
            data.as_slice::<f32>().expect("f32 data"),
            dims,
            &super::polyphase::Fused {
                bias: &bias,
                up_taps: up_taps.as_deref(),
                up: o.up,
                padding: o.padding,
                down_taps: down_taps.as_deref(),
                down: o.down,
                gain: o.gain as f32,
                slope: o.slope as f32,
                clamp: o.clamp.map(|c| c as f32),
            },
        );
        return Tensor::from_data(
            burn::tensor::TensorData::new(y, [dims[0], dims[1], oh, ow]),
            &device,
        );
    }
    filtered_lrelu_reference(x, fu, fd, bias, o)
}

/// `filtered_lrelu` exactly as the official `_filtered_lrelu_ref` composes it from
/// `bias_act` and `upfirdn2d` (any device, differentiable).
pub fn filtered_lrelu_reference(
    x: Tensor<4>,
    fu: Option<&LowPass>,
    fd: Option<&LowPass>,
    bias: Option<&Tensor<1>>,
    o: &FilteredLrelu,
) -> Tensor<4> {
    let x = bias_act(x, bias, Activation::Linear, 1.0, None);
    let up2 = (o.up * o.up) as f64;
    let mut x = resample(x, fu, o.up, 1, o.padding, up2);
    if o.slope != 1.0 {
        x = activation::leaky_relu(x, o.slope);
    }
    let x = bias_act(x, None, Activation::Linear, o.gain, o.clamp);
    resample(x, fd, 1, o.down, [0; 4], 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    fn max_diff(a: Tensor<4>, b: Tensor<4>) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let (a, b) = (
            a.into_data().try_to_vec::<f32>().unwrap(),
            b.into_data().try_to_vec::<f32>().unwrap(),
        );
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// The fused CPU kernel equals the reference composition on the StyleGAN3 layer shapes
    /// (up 2 / 4, crops, identity filters of ToRGB), odd sizes and a clamp that bites.
    #[test]
    fn fused_kernel_equals_reference() {
        let dev = crate::backend::cpu();
        let taps = |k: usize| -> Vec<f32> {
            let v: Vec<f32> = (0..k).map(|i| 1.0 + ((i as f32) * 0.9).cos()).collect();
            let s: f32 = v.iter().sum();
            v.into_iter().map(|x| x / s).collect()
        };
        let cases: [(usize, usize, [i64; 4], usize, usize, bool); 4] = [
            (2, 2, [9, 8, 9, 8], 12, 12, true),
            (4, 2, [-6, -9, -6, -9], 24, 12, true),
            (2, 2, [-11, -12, -11, -12], 12, 12, true),
            (1, 1, [0, 0, 0, 0], 1, 1, false),
        ];
        for (up, down, padding, ut, dt, filt) in cases {
            let (fu, fd) = if filt {
                (
                    Some(LowPass::separable(taps(ut), &dev)),
                    Some(LowPass::separable(taps(dt), &dev)),
                )
            } else {
                (None, None)
            };
            let x = Tensor::<4>::random([2, 3, 29, 29], Distribution::Normal(0.0, 2.0), &dev);
            let b = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, -0.2, 0.1], [3]), &dev);
            let o = FilteredLrelu {
                up,
                down,
                padding,
                gain: std::f64::consts::SQRT_2,
                slope: 0.2,
                clamp: Some(1.5),
            };
            let fast = filtered_lrelu(x.clone(), fu.as_ref(), fd.as_ref(), Some(&b), &o);
            let slow = filtered_lrelu_reference(x, fu.as_ref(), fd.as_ref(), Some(&b), &o);
            let d = max_diff(fast, slow);
            assert!(d < 1e-5, "up {up} down {down} pad {padding:?}: {d}");
        }
    }
}
