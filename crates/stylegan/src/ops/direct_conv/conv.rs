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
    let w = if per_sample {
        Weights::PerSample(w)
    } else {
        Weights::Shared(w)
    };
    conv2d_with(x, shape, w, outs, k, pad, None, isa())
}

/// Whether the 3×3 convolutions of `ci` channels with `oh × ow` outputs run as Winograd F(2×2, 3×3)
/// (`STYLEGAN_WINOGRAD=0` turns it off, to compare).
fn winograd(ci: usize, oh: usize, ow: usize) -> bool {
    static ON: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    env_switch(&ON, "STYLEGAN_WINOGRAD").unwrap_or(true) && super::winograd::pays(ci, oh, ow)
}

/// [`conv2d`] with any [`Weights`], an optional [`Epilogue`] on the output, on a given
/// instruction set.
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d_with(
    x: &[f32],
    shape: [usize; 4],
    w: Weights,
    outs: usize,
    k: usize,
    pad: usize,
    post: Option<&Epilogue>,
    isa: Isa,
) -> (Vec<f32>, [usize; 4]) {
    let [_, _, h, wd] = shape;
    if k == 3
        && h + 2 * pad >= k
        && wd + 2 * pad >= k
        && winograd(shape[1], h + 2 * pad - 2, wd + 2 * pad - 2)
    {
        return super::winograd::conv3x3(x, shape, w, outs, pad, post, isa);
    }
    conv2d_direct(x, shape, w, outs, k, pad, post, isa)
}

/// [`conv2d_with`] as a sum over the kernel's taps (no Winograd).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d_direct(
    x: &[f32],
    shape: [usize; 4],
    w: Weights,
    outs: usize,
    k: usize,
    pad: usize,
    post: Option<&Epilogue>,
    isa: Isa,
) -> (Vec<f32>, [usize; 4]) {
    let [n, ci, h, wd] = shape;
    w.check(n, [outs, ci, k]);
    assert!(
        h + 2 * pad >= k && wd + 2 * pad >= k,
        "direct conv: kernel larger than the padded input"
    );
    let (oh, ow) = (h + 2 * pad - k + 1, wd + 2 * pad - k + 1);
    let taps: Vec<(usize, usize)> = (0..k)
        .flat_map(|ky| (0..k).map(move |kx| (ky, kx)))
        .collect();
    let mut shared = None;
    let wp = wd + 2 * pad;
    let tail = oh * wp + 2 * NR + k * wp;
    let mut y = vec![0f32; n * outs * oh * ow];
    for (s, ys) in y.chunks_mut(outs * oh * ow).enumerate() {
        let packed = w.packed(s, [outs, ci, k], &taps, &mut shared);
        with_padded_sample(x, s, [ci, h, wd], [pad; 4], tail, |xp, raw| {
            let pitch = conv_taps(xp.view(), &packed, &taps, oh, isa, raw);
            compact(raw, outs, pitch, wp, oh, ow, ys, s, post, isa);
        });
    }
    (y, [n, outs, oh, ow])
}
