//! The depthwise FIR filter of `upfirdn2d` after an up-convolution.

use rayon::prelude::*;

use super::kernel::*;

/// Correlation of every `[H, W]` plane with one `kh × kw` kernel (row-major), zero padding
/// `[left, right, top, bottom]`, stride 1 → planes of `[H + top + bottom − kh + 1, W + left +
/// right − kw + 1]`. The FIR step of `upfirdn2d` after an up-convolution; burn-flex's depthwise
/// convolution ran it at ~5 GFLOP/s, a quarter of a 256² generator's time.
pub fn fir2d(
    x: &[f32],
    planes: usize,
    hw: [usize; 2],
    k: &[f32],
    kshape: [usize; 2],
    pad: [usize; 4],
) -> (Vec<f32>, [usize; 2]) {
    fir2d_with(x, planes, hw, k, kshape, pad, None, isa())
}

/// [`fir2d`] on a given instruction set, with an optional [`Epilogue`] on the output: `post`
/// also gives the channels per sample (plane `p` is channel `p % C` of sample `p / C`).
#[allow(clippy::too_many_arguments)]
pub(super) fn fir2d_with(
    x: &[f32],
    planes: usize,
    [h, w]: [usize; 2],
    k: &[f32],
    [kh, kw]: [usize; 2],
    pad: [usize; 4],
    post: Option<(&Epilogue, usize)>,
    isa: Isa,
) -> (Vec<f32>, [usize; 2]) {
    let [left, right, top, bottom] = pad;
    let (hp, wp) = (h + top + bottom, w + left + right);
    assert!(
        hp >= kh && wp >= kw,
        "fir2d: kernel larger than the padded plane"
    );
    assert_eq!(k.len(), kh * kw, "fir2d: kernel size");
    let (oh, ow) = (hp - kh + 1, wp - kw + 1);
    let mut out = vec![0f32; planes * oh * ow];
    out.par_chunks_mut(oh * ow)
        .enumerate()
        .for_each(|(p, dst)| {
            let padded = Padded::new(
                &x[p * h * w..][..h * w],
                1,
                h,
                w,
                [top, bottom, left, right],
                0,
                Vec::new(),
            )
            .data;
            multiversion!(isa, fir_plane(&padded, wp, k, kh, kw, dst, oh, ow));
            if let Some((post, c)) = post {
                post.apply(p / c, p % c, dst, isa);
            }
        });
    (out, [oh, ow])
}

/// One plane; the `x` loop is left to the compiler's vectoriser.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn fir_plane(
    src: &[f32],
    wp: usize,
    k: &[f32],
    kh: usize,
    kw: usize,
    dst: &mut [f32],
    oh: usize,
    ow: usize,
) {
    for y in 0..oh {
        let row = &mut dst[y * ow..][..ow];
        for i in 0..kh {
            let s = &src[(y + i) * wp..];
            for j in 0..kw {
                let kv = k[i * kw + j];
                for (o, &v) in row.iter_mut().zip(&s[j..j + ow]) {
                    *o += kv * v;
                }
            }
        }
    }
}
