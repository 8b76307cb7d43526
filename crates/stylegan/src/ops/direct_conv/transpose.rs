//! The stride-2 transposed convolution of the upsampling layers, as four phase convolutions.

use rayon::prelude::*;

use super::kernel::*;
use crate::ops::tap_gemm::{mul, View};

/// The transposed convolution `conv_transpose2d(x, w.swap_dims(0, 1), stride 2, padding 0)` of
/// the upsampling layers: `x [N, I, H, W]`, `w [O, I, 3, 3]` (not flipped) → `[N, O, 2H + 1,
/// 2W + 1]`, `y[o, 2a + ky, 2b + kx] += w[o, i, ky, kx] · x[i, a, b]`. `per_sample` as in
/// [`conv2d`].
pub fn conv_transpose2d_s2(
    x: &[f32],
    shape: [usize; 4],
    w: &[f32],
    outs: usize,
    per_sample: bool,
) -> (Vec<f32>, [usize; 4]) {
    let w = if per_sample {
        Weights::PerSample(w)
    } else {
        Weights::Shared(w)
    };
    conv_transpose2d_s2_with(x, shape, w, outs, isa())
}

/// Whether the phase convolutions of `ci → outs` channels run through the gemm crate's
/// micro-kernels (one GEMM per tap, straight from the `[O, I, 3, 3]` weight) rather than ours:
/// on AVX2+FMA with ≥ 256 channels, where they were ~20 % faster than our AVX2 micro-kernel
/// (`examples/dcbench.rs`, 2026-12-07: 512 channels from 32², 256 from 64²; level at 128
/// channels, slower with 32). On AVX-512 ours were as fast or faster.
/// `STYLEGAN_TRANSPOSE_GEMM=0|1` forces either, to compare.
fn by_gemm(isa: Isa, ci: usize, outs: usize) -> bool {
    static FORCED: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    env_switch(&FORCED, "STYLEGAN_TRANSPOSE_GEMM")
        .unwrap_or(isa == Isa::Avx2 && ci.min(outs) >= 256)
}

/// A phase: `(py, px, taps (padded offsets), kernel positions)`.
type Phase = (usize, usize, Vec<(usize, usize)>, Vec<(usize, usize)>);

/// [`conv_transpose2d_s2_with`] through the gemm crate. Modulated weights are applied as the
/// official non-fused path does — input channels scaled by the styles before the convolution,
/// output channels by the demodulation after it — so that the GEMMs read the one shared
/// weight tensor in place (no per-sample weight packing).
pub(super) fn transpose_gemm(
    x: &[f32],
    [n, ci, h, wd]: [usize; 4],
    w: Weights,
    outs: usize,
) -> (Vec<f32>, [usize; 4]) {
    w.check(n, [outs, ci, 3]);
    let phases = &phases();
    let (oh, ow) = (2 * h + 1, 2 * wd + 1);
    let (hp, wp) = (h + 2, wd + 2);
    let plane = hp * wp;
    let mut y = vec![0f32; n * outs * oh * ow];
    let mut xp = vec![0f32; ci * plane + 2 * wp];
    // Per phase, its grid rows × the padded row pitch (columns past the phase grid's width are
    // computed and dropped).
    let cols = (h + 1) * wp;
    let mut raw = vec![0f32; 4 * outs * cols];
    for (s, ys) in y.chunks_mut(outs * oh * ow).enumerate() {
        let (wt, scale) = w.sample(s, [outs, ci, 3]);
        let xs = &x[s * ci * h * wd..][..ci * h * wd];
        xp.par_chunks_mut(plane)
            .take(ci)
            .enumerate()
            .for_each(|(i, p)| {
                let f = scale.map_or(1.0, |(styles, _)| styles[i]);
                for yy in 0..h {
                    let src = &xs[(i * h + yy) * wd..][..wd];
                    for (d, &v) in p[(yy + 1) * wp + 1..][..wd].iter_mut().zip(src) {
                        *d = v * f;
                    }
                }
            });
        let block = 1024usize;
        let blocks = cols.div_ceil(block);
        let dst = SendPtr::new(raw.as_mut_ptr());
        let (xp, wt) = (&xp, wt);
        (0..4 * blocks).into_par_iter().for_each(|unit| {
            let (p, b) = (unit / blocks, unit % blocks);
            let (py, _, taps, kidx) = &phases[p];
            let gh = h + 1 - py;
            let n_cols = gh * wp;
            let (j0, j1) = (b * block, ((b + 1) * block).min(n_cols));
            if j0 >= j1 {
                return;
            }
            for (t, (&(dy, dx), &(ky, kx))) in taps.iter().zip(kidx).enumerate() {
                // SAFETY: rows of `outs` × columns j0..j1 of phase p's block of `raw` belong to
                // this task alone; input reads end before (ci − 1)·plane + (gh + 1)·wp + 1 ≤
                // ci·plane + wp; weight reads inside `wt`.
                unsafe {
                    mul(
                        [outs, j1 - j0, ci],
                        (dst.get().add(p * outs * cols + j0), cols),
                        t > 0,
                        View {
                            ptr: wt.as_ptr().add(ky * 3 + kx),
                            rs: ci * 9,
                            cs: 9,
                        },
                        View::rows(xp.as_ptr().add(dy * wp + dx + j0), plane),
                    );
                }
            }
        });
        let raw = &raw;
        ys.par_chunks_mut(oh * ow).enumerate().for_each(|(o, out)| {
            let f = scale.map_or(1.0, |(_, rows)| rows[o]);
            for (p, (py, px, _, _)) in phases.iter().enumerate() {
                let (gh, gw) = (h + 1 - py, wd + 1 - px);
                for a in 0..gh {
                    let src = &raw[(p * outs + o) * cols + a * wp..][..gw];
                    let row = &mut out[(2 * a + py) * ow..][..ow];
                    for (bb, &v) in src.iter().enumerate() {
                        row[2 * bb + px] = v * f;
                    }
                }
            }
        });
    }
    (y, [n, outs, oh, ow])
}

/// The four phases of the stride-2 transposed convolution.
fn phases() -> Vec<Phase> {
    // Output row 2a + py takes kernel rows ky ≡ py (mod 2) from input row a − ky/2; with one
    // row/column of zero padding that is padded row a + 1 − ky/2, i.e. tap offset 1 − ky/2.
    let axis = |p: usize| -> Vec<(usize, usize)> {
        if p == 0 {
            vec![(0, 1), (2, 0)] // (kernel index, padded offset)
        } else {
            vec![(1, 1)]
        }
    };
    // Per phase (py, px): the tap offsets and their kernel positions.
    (0..4)
        .map(|p| {
            let (py, px) = (p / 2, p % 2);
            let (mut taps, mut kidx) = (Vec::new(), Vec::new());
            for &(ky, dy) in &axis(py) {
                for &(kx, dx) in &axis(px) {
                    taps.push((dy, dx));
                    kidx.push((ky, kx));
                }
            }
            (py, px, taps, kidx)
        })
        .collect()
}

/// [`conv_transpose2d_s2`] with any [`Weights`], on a given instruction set.
pub(super) fn conv_transpose2d_s2_with(
    x: &[f32],
    shape: [usize; 4],
    w: Weights,
    outs: usize,
    isa: Isa,
) -> (Vec<f32>, [usize; 4]) {
    let [n, ci, h, wd] = shape;
    if by_gemm(isa, ci, outs) {
        return transpose_gemm(x, shape, w, outs);
    }
    w.check(n, [outs, ci, 3]);
    let (oh, ow) = (2 * h + 1, 2 * wd + 1);
    let phases = phases();
    let mut shared: Vec<Option<Packed>> = vec![None; 4];
    let wp = wd + 2;
    let tail = (h + 1) * wp + 2 * NR + 2 * wp;
    let mut y = vec![0f32; n * outs * oh * ow];
    for (s, ys) in y.chunks_mut(outs * oh * ow).enumerate() {
        let weights: Vec<_> = phases
            .iter()
            .zip(shared.iter_mut())
            .map(|((_, _, _, kidx), cache)| w.packed(s, [outs, ci, 3], kidx, cache))
            .collect();
        with_padded_sample(x, s, [ci, h, wd], [1; 4], tail, |xp, raw| {
            for ((py, px, taps, _), wt) in phases.iter().zip(weights) {
                let (py, px) = (*py, *px);
                // Phase grid: rows a with 2a + py < 2H + 1, columns b likewise.
                let (gh, gw) = (h + 1 - py, wd + 1 - px);
                let pitch = conv_taps(xp.view(), &wt, taps, gh, isa, raw);
                let raw = &*raw;
                ys.par_chunks_mut(oh * ow)
                    .enumerate()
                    .for_each(|(o, plane)| {
                        for a in 0..gh {
                            let src = &raw[o * pitch + a * wp..][..gw];
                            let row = &mut plane[(2 * a + py) * ow..][..ow];
                            for (b, &v) in src.iter().enumerate() {
                                row[2 * b + px] = v;
                            }
                        }
                    });
            }
        });
    }
    (y, [n, outs, oh, ow])
}
