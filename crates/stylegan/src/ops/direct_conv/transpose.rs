//! The stride-2 transposed convolution of the upsampling layers, as four phase convolutions.

use rayon::prelude::*;

use super::kernel::*;

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

/// [`conv_transpose2d_s2`] with any [`Weights`], on a given instruction set.
pub(super) fn conv_transpose2d_s2_with(
    x: &[f32],
    shape: [usize; 4],
    w: Weights,
    outs: usize,
    isa: Isa,
) -> (Vec<f32>, [usize; 4]) {
    let [n, ci, h, wd] = shape;
    w.check(n, [outs, ci, 3]);
    let (oh, ow) = (2 * h + 1, 2 * wd + 1);
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
    let phases: Vec<(usize, usize, Vec<(usize, usize)>, Vec<(usize, usize)>)> = (0..4)
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
        .collect();
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
