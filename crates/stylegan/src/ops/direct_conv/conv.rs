//! The stride-1 convolution.

use super::kernel::*;

/// Stride-1 `k×k` convolution with zero padding `pad`: `x [N, I, H, W]` (dense, row-major),
/// `w [O, I, k, k]` → `[N, O, H + 2·pad − k + 1, W + 2·pad − k + 1]`. With `per_sample`, `w` is
/// `[N·O, I, k, k]` and sample `s` uses rows `s·O..(s+1)·O` (the official fused modulated conv:
/// a grouped conv with groups = N).
#[allow(clippy::too_many_arguments)]
pub fn conv2d(
    x: &[f32],
    shape: [usize; 4],
    w: &[f32],
    outs: usize,
    k: usize,
    pad: usize,
    per_sample: bool,
) -> (Vec<f32>, [usize; 4]) {
    conv2d_with(x, shape, w, outs, k, pad, per_sample, isa())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d_with(
    x: &[f32],
    shape: [usize; 4],
    w: &[f32],
    outs: usize,
    k: usize,
    pad: usize,
    per_sample: bool,
    isa: Isa,
) -> (Vec<f32>, [usize; 4]) {
    let [n, ci, h, wd] = shape;
    let wsize = outs * ci * k * k;
    assert_eq!(
        w.len(),
        if per_sample { n * wsize } else { wsize },
        "direct conv: weight size"
    );
    assert!(
        h + 2 * pad >= k && wd + 2 * pad >= k,
        "direct conv: kernel larger than the padded input"
    );
    let (oh, ow) = (h + 2 * pad - k + 1, wd + 2 * pad - k + 1);
    let taps: Vec<(usize, usize)> = (0..k)
        .flat_map(|ky| (0..k).map(move |kx| (ky, kx)))
        .collect();
    let shared = (!per_sample).then(|| tap_weights(w, outs, ci, k, &taps));
    let wp = wd + 2 * pad;
    let tail = oh * wp + 2 * NR + k * wp;
    let mut y = vec![0f32; n * outs * oh * ow];
    for (s, ys) in y.chunks_mut(outs * oh * ow).enumerate() {
        let own;
        let wt = match &shared {
            Some(wt) => wt,
            None => {
                own = tap_weights(&w[s * wsize..][..wsize], outs, ci, k, &taps);
                &own
            }
        };
        with_padded_sample(x, s, [ci, h, wd], [pad; 4], tail, |xp, raw| {
            let pitch = conv_taps(xp, wt, outs, &taps, oh, isa, raw);
            compact(raw, outs, pitch, wp, oh, ow, ys);
        });
    }
    (y, [n, outs, oh, ow])
}
