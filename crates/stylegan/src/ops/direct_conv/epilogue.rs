//! What follows a synthesis convolution — per-pixel noise, then `bias_act` (bias, activation,
//! gain, clamp) — done on each output plane by the pass that writes it, while the plane is in
//! cache. As separate tensor operations these were three to five more passes over every
//! activation (at 256² a 128-channel layer's output is 32 MB).

use super::kernel::Isa;
use crate::ops::Activation;

/// The element-wise tail of a layer: `clamp((x + noise + bias[o]) ⋅act⋅ · gain, ±clamp)`, in
/// `bias_act`'s order.
#[derive(Clone, Copy, Debug)]
pub struct Epilogue<'a> {
    /// Added to every plane first: `[H·W]` for every sample, or `[N·H·W]` one plane per
    /// sample (the per-pixel noise, already times its strength).
    pub noise: Option<&'a [f32]>,
    /// One value per output channel.
    pub bias: Option<&'a [f32]>,
    /// Linear, ReLU or leaky ReLU (see [`Epilogue::supports`]).
    pub act: Activation,
    pub gain: f32,
    pub clamp: Option<f32>,
}

impl Epilogue<'_> {
    /// The activations the fused pass knows (the piecewise-linear ones).
    pub fn supports(act: Activation) -> bool {
        matches!(
            act,
            Activation::Linear | Activation::Relu | Activation::Lrelu
        )
    }

    /// Applies the epilogue to plane `o` (output channel) of sample `sample`.
    pub(super) fn apply(&self, sample: usize, o: usize, plane: &mut [f32], isa: Isa) {
        let hw = plane.len();
        let noise = self.noise.map(|n| {
            let at = if n.len() == hw { 0 } else { sample * hw };
            &n[at..at + hw]
        });
        let slope = match self.act {
            Activation::Linear => 1.0,
            Activation::Relu => 0.0,
            Activation::Lrelu => 0.2,
            other => panic!("epilogue: activation {} is not fused", other.name()),
        };
        let bias = self.bias.map_or(0.0, |b| b[o]);
        let (lo, hi) = self
            .clamp
            .map_or((f32::NEG_INFINITY, f32::INFINITY), |c| (-c, c));
        let gain = self.gain;
        multiversion!(isa, apply_plane(plane, noise, bias, slope, gain, lo, hi));
    }
}

/// One plane; the loops are left to the compiler's vectoriser.
#[inline(always)]
fn apply_plane(
    plane: &mut [f32],
    noise: Option<&[f32]>,
    bias: f32,
    slope: f32,
    gain: f32,
    lo: f32,
    hi: f32,
) {
    let finish = |v: f32| {
        let v = if v < 0.0 { v * slope } else { v };
        (v * gain).max(lo).min(hi)
    };
    match noise {
        Some(n) => {
            for (v, &z) in plane.iter_mut().zip(n) {
                *v = finish(*v + z + bias);
            }
        }
        None => {
            for v in plane.iter_mut() {
                *v = finish(*v + bias);
            }
        }
    }
}
