//! The stride-1 3×3 convolutions as Winograd F(2×2, 3×3) (Lavin & Gray, "Fast Algorithms for
//! Convolutional Neural Networks", 2015): each 2×2 block of outputs comes from a 4×4 tile of
//! the input with 16 multiplications per (input, output) channel pair instead of 36. In
//! transformed space the convolution is 16 independent matrix products `[O, I] × [I, tiles]`,
//! which run through the same packed micro-kernels as the direct convolution (one "tap"). The
//! transforms themselves are additions only, and F(2×2, 3×3)'s have no constants but ½ (in the
//! weight transform), so the results stay within a few float32 roundings of the direct sum.
//!
//! Written by hand for the same reason as the direct kernel: oneDNN (under PyTorch) and
//! burn-flex both run these layers as direct or im2col convolutions; this is 2.25× fewer
//! multiply-adds than either, which is what puts the generator ahead of them.
//!
//! Layouts: transformed input `V [16][I][tp]` (rows padded so that they are not a power of two
//! apart), transformed weights packed for the kernel as 16 matrices (see `pack_transformed`),
//! products `M [16][O rows][pitch]`.

use rayon::prelude::*;

use super::kernel::*;
use crate::ops::tap_gemm::{mul, View};

/// Whether a 3×3 convolution of `ci` channels with `oh × ow` outputs is worth the transforms:
/// not on small planes, where packing 16 weight matrices costs more than the multiplications
/// saved, nor with few channels, where the transforms' memory traffic does (measured with
/// `examples/dcbench.rs`: 32 channels at 1024² ran slower).
pub(super) fn pays(ci: usize, oh: usize, ow: usize) -> bool {
    ci >= 64 && oh.div_ceil(2) * ow.div_ceil(2) >= 64
}

/// `Bᵀ·d` for one column (or row) `d` of a 4×4 input tile.
#[inline(always)]
fn bt(d0: f32, d1: f32, d2: f32, d3: f32) -> [f32; 4] {
    [d0 - d2, d1 + d2, d2 - d1, d1 - d3]
}

/// `G·g` for one column (or row) `g` of a 3×3 kernel.
#[inline(always)]
fn g(g0: f32, g1: f32, g2: f32) -> [f32; 4] {
    [g0, 0.5 * (g0 + g1 + g2), 0.5 * (g0 - g1 + g2), g2]
}

/// `G·k·Gᵀ` of one 3×3 kernel `k` (row-major), component `a·4 + b` at `[a][b]`.
#[inline(always)]
fn transformed_kernel(k: &[f32]) -> [[f32; 4]; 4] {
    let c0 = g(k[0], k[3], k[6]);
    let c1 = g(k[1], k[4], k[7]);
    let c2 = g(k[2], k[5], k[8]);
    std::array::from_fn(|a| g(c0[a], c1[a], c2[a]))
}

/// `Aᵀ·m` for one column (or row) `m` of a 4×4 product tile.
#[inline(always)]
fn at(m0: f32, m1: f32, m2: f32, m3: f32) -> [f32; 2] {
    [m0 + m1 + m2, m1 - m2 - m3]
}

/// The row pitch of the transformed input and of the products: whole micro-tiles plus 16
/// floats, so that the 16·I rows are not a power of two apart (rows 2ⁿ floats apart share
/// cache sets, and the kernel reads 48 columns of 128 such rows at a time).
fn row_pitch(tiles: usize) -> usize {
    tile_pitch(tiles) + 16
}

/// Transforms every 4×4 tile (stride 2) of the zero-padded `[I, H, W]` sample `x` into
/// `v [16][I][tp]` (`tp` = [`row_pitch`]).
fn transform_input(
    x: &[f32],
    [ci, h, w]: [usize; 3],
    pad: usize,
    [th, tw]: [usize; 2],
    v: &mut Vec<f32>,
    isa: Isa,
) {
    let tp = row_pitch(th * tw);
    // Every row's first `tiles` floats are written below; the rest are read by the kernel for
    // columns it throws away, so old contents are fine and the buffer is only grown.
    if v.len() < 16 * ci * tp {
        *v = vec![0.0; 16 * ci * tp]; // not `resize`: the old contents need no copy
    }
    let dst = SendPtr::new(v.as_mut_ptr());
    (0..ci).into_par_iter().for_each(|i| {
        // The padded plane with its even and odd columns apart, `tw + 1` of each per row, so
        // that the tile loops below read contiguous memory.
        let (hp, half) = (2 * th + 2, tw + 1);
        let mut even = vec![0f32; hp * half];
        let mut odd = vec![0f32; hp * half];
        let src = &x[i * h * w..][..h * w];
        for y in 0..h {
            for (xx, &val) in src[y * w..][..w].iter().enumerate() {
                let px = xx + pad;
                if px < 2 * half {
                    let at = (y + pad) * half + px / 2;
                    if px.is_multiple_of(2) {
                        even[at] = val;
                    } else {
                        odd[at] = val;
                    }
                }
            }
        }
        multiversion!(
            isa,
            input_tiles(&even, &odd, half, [th, tw], ci, tp, i, dst)
        );
    });
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn input_tiles(
    even: &[f32],
    odd: &[f32],
    half: usize,
    [th, tw]: [usize; 2],
    ci: usize,
    tp: usize,
    i: usize,
    dst: SendPtr,
) {
    let mut rows = vec![0f32; 16 * tw]; // [r][b][tx]: Bᵀ along the 4 input rows of a tile row
    for ty in 0..th {
        for r in 0..4 {
            let (e, o) = (
                &even[(2 * ty + r) * half..][..half],
                &odd[(2 * ty + r) * half..][..half],
            );
            let (out, rest) = rows[r * 4 * tw..].split_at_mut(tw);
            let (out1, rest) = rest.split_at_mut(tw);
            let (out2, out3) = rest.split_at_mut(tw);
            for tx in 0..tw {
                let t = bt(e[tx], o[tx], e[tx + 1], o[tx + 1]);
                out[tx] = t[0];
                out1[tx] = t[1];
                out2[tx] = t[2];
                out3[tx] = t[3];
            }
        }
        for b in 0..4 {
            let (r0, r1, r2, r3) = (
                &rows[b * tw..][..tw],
                &rows[(4 + b) * tw..][..tw],
                &rows[(8 + b) * tw..][..tw],
                &rows[(12 + b) * tw..][..tw],
            );
            // SAFETY: component rows `(c, i)` are `tp ≥ tiles` floats inside `v` (16·I·tp), and
            // only the task of channel `i` writes them.
            let out: [&mut [f32]; 4] = std::array::from_fn(|a| unsafe {
                std::slice::from_raw_parts_mut(
                    dst.get().add(((a * 4 + b) * ci + i) * tp + ty * tw),
                    tw,
                )
            });
            let [o0, o1, o2, o3] = out;
            for tx in 0..tw {
                let t = bt(r0[tx], r1[tx], r2[tx], r3[tx]);
                o0[tx] = t[0];
                o1[tx] = t[1];
                o2[tx] = t[2];
                o3[tx] = t[3];
            }
        }
    }
}

/// `Aᵀ·m·A` of every tile of output channel `o` (component `c` of `m` at `c·stride + o·pitch`)
/// into the dense `oh × ow` plane.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn output_tiles(
    m: &[f32],
    stride: usize,
    pitch: usize,
    o: usize,
    [th, tw]: [usize; 2],
    [oh, ow]: [usize; 2],
    plane: &mut [f32],
) {
    // The two output rows of a tile row, even and odd columns apart.
    let mut out = vec![0f32; 4 * tw];
    for ty in 0..th {
        let comp: [&[f32]; 16] =
            std::array::from_fn(|c| &m[c * stride + o * pitch + ty * tw..][..tw]);
        {
            let (e0, rest) = out.split_at_mut(tw);
            let (o0, rest) = rest.split_at_mut(tw);
            let (e1, o1) = rest.split_at_mut(tw);
            for tx in 0..tw {
                // Aᵀ down the 4 rows of each column b, then along the two result rows.
                let c0 = at(comp[0][tx], comp[4][tx], comp[8][tx], comp[12][tx]);
                let c1 = at(comp[1][tx], comp[5][tx], comp[9][tx], comp[13][tx]);
                let c2 = at(comp[2][tx], comp[6][tx], comp[10][tx], comp[14][tx]);
                let c3 = at(comp[3][tx], comp[7][tx], comp[11][tx], comp[15][tx]);
                let r0 = at(c0[0], c1[0], c2[0], c3[0]);
                let r1 = at(c0[1], c1[1], c2[1], c3[1]);
                e0[tx] = r0[0];
                o0[tx] = r0[1];
                e1[tx] = r1[0];
                o1[tx] = r1[1];
            }
        }
        for a in 0..2 {
            let y = 2 * ty + a;
            if y >= oh {
                break;
            }
            let (e, od) = (&out[2 * a * tw..][..tw], &out[(2 * a + 1) * tw..][..tw]);
            let row = &mut plane[y * ow..][..ow];
            for (xx, v) in row.iter_mut().enumerate() {
                *v = if xx % 2 == 0 { e[xx / 2] } else { od[xx / 2] };
            }
        }
    }
}

/// The 16 transformed weight matrices `U_c[o, i] = (G·w[o, i]·Gᵀ)_c · cols[i] · rows[o]`
/// packed for the kernel, in one pass over `w [O, I, 3, 3]` (transform, modulation and packing
/// together; as separate passes over a transformed `[16][O][I]` tensor this took longer than
/// the products at 512 channels). Pack `c` starts `c·16` floats into its buffer, so that the 16
/// streams written together do not fall into the same cache sets.
fn pack_transformed(
    w: &[f32],
    [outs, ci]: [usize; 2],
    scale: Option<(&[f32], &[f32])>,
) -> Vec<Packed> {
    let panels = outs.div_ceil(MR);
    let size = panels * MR * ci;
    let mut bufs: Vec<Vec<f32>> = (0..16).map(|c| vec![0f32; c * 16 + size]).collect();
    let ptrs: Vec<SendPtr> = bufs
        .iter_mut()
        .enumerate()
        .map(|(c, b)| SendPtr::new(b[c * 16..].as_mut_ptr()))
        .collect();
    (0..panels).into_par_iter().for_each(|panel| {
        for r in 0..MR.min(outs - panel * MR) {
            let o = panel * MR + r;
            let row = scale.map_or(1.0, |(_, rows)| rows[o]);
            for i in 0..ci {
                let t = transformed_kernel(&w[(o * ci + i) * 9..][..9]);
                let f = scale.map_or(1.0, |(cols, _)| cols[i] * row);
                // Where (o, i) goes in every pack: k-block of i, this panel, q = i % KC, r.
                let (k0, q) = (i / KC * KC, i % KC);
                let kc = KC.min(ci - k0);
                let at = k0 * panels * MR + panel * kc * MR + q * MR + r;
                for (a, t) in t.iter().enumerate() {
                    for (b, &v) in t.iter().enumerate() {
                        // SAFETY: `at < size` is inside every pack; only the task of `panel`
                        // writes the rows of its panel.
                        unsafe { *ptrs[a * 4 + b].get().add(at) = v * f };
                    }
                }
            }
        }
    });
    bufs.into_iter()
        .enumerate()
        .map(|(c, data)| Packed {
            data,
            offset: c * 16,
            outs,
            k: ci,
        })
        .collect()
}

/// The 16 transformed weight matrices as plain row-major `[16][O][I]` (for the gemm crate,
/// which packs them itself), modulated as in [`pack_transformed`]: one pass over `w`, rows of
/// `O` in parallel.
fn transform_plain(w: &[f32], [outs, ci]: [usize; 2], scale: Option<(&[f32], &[f32])>) -> Vec<f32> {
    let mut u = vec![0f32; 16 * outs * ci];
    let ptr = SendPtr::new(u.as_mut_ptr());
    (0..outs).into_par_iter().for_each(|o| {
        let row = scale.map_or(1.0, |(_, rows)| rows[o]);
        for i in 0..ci {
            let t = transformed_kernel(&w[(o * ci + i) * 9..][..9]);
            let f = scale.map_or(1.0, |(cols, _)| cols[i] * row);
            for (a, t) in t.iter().enumerate() {
                for (b, &v) in t.iter().enumerate() {
                    // SAFETY: inside `u`; only the task of row `o` writes it.
                    unsafe { *ptr.get().add(((a * 4 + b) * outs + o) * ci + i) = v * f };
                }
            }
        }
    });
    u
}

/// Whether the 16 products run through the gemm crate's micro-kernels rather than ours: on
/// AVX2+FMA, where its kernels ran these products 5–18 % faster than our AVX2 micro-kernel
/// (`examples/dcbench.rs`, 2026-12-07, the 512-, 256- and 128-channel layers of config-f);
/// on AVX-512 ours were as fast or faster (and the gemm crate runs its AVX2 kernels there in a
/// default build). `STYLEGAN_WINOGRAD_GEMM=0|1` forces either, to compare.
fn products_by_gemm(isa: Isa) -> bool {
    static FORCED: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    env_switch(&FORCED, "STYLEGAN_WINOGRAD_GEMM").unwrap_or(isa == Isa::Avx2)
}

/// The 16 products `M_c [O rows][pitch] = U_c [O, I] · V_c [I, tiles]` through the gemm crate:
/// `u` as [`transform_plain`], `v` as [`transform_input`] (rows `tp` apart), `m` with component
/// `c` at `c·stride` and rows `pitch` apart. One single-threaded GEMM per component and block
/// of at most 4096 columns, spread over the threads (16 components are already enough tasks
/// for a few threads).
fn products_gemm(
    u: &[f32],
    v: &[f32],
    [outs, ci, tiles]: [usize; 3],
    [tp, stride, pitch]: [usize; 3],
    m: &mut [f32],
) {
    assert!(
        u.len() >= 16 * outs * ci && v.len() >= 16 * ci * tp && tp >= tiles,
        "winograd: transformed operands too short"
    );
    assert!(
        pitch >= tiles && stride >= outs * pitch && m.len() >= 16 * stride,
        "winograd: product buffer too short"
    );
    let blocks = tiles.div_ceil(4096).max(1);
    let each = tiles.div_ceil(blocks);
    let dst = SendPtr::new(m.as_mut_ptr());
    (0..16 * blocks).into_par_iter().for_each(|unit| {
        let (c, b) = (unit / blocks, unit % blocks);
        let (j0, j1) = (b * each, ((b + 1) * each).min(tiles));
        if j0 >= j1 {
            return;
        }
        // SAFETY: the three operands lie inside `u`, `v` and `m` (checked above); task
        // (c, b) alone writes columns j0..j1 of component c's `outs` rows.
        unsafe {
            mul(
                [outs, j1 - j0, ci],
                (dst.get().add(c * stride + j0), pitch),
                false,
                View::rows(u.as_ptr().add(c * outs * ci), ci),
                View::rows(v.as_ptr().add(c * ci * tp + j0), tp),
            );
        }
    });
}

/// The 3×3 stride-1 convolution with zero padding `pad` (as [`super::conv::conv2d_with`] with
/// `k = 3`), by Winograd F(2×2, 3×3).
#[allow(clippy::too_many_arguments)]
pub(super) fn conv3x3(
    x: &[f32],
    [n, ci, h, wd]: [usize; 4],
    w: Weights,
    outs: usize,
    pad: usize,
    post: Option<&Epilogue>,
    isa: Isa,
) -> (Vec<f32>, [usize; 4]) {
    w.check(n, [outs, ci, 3]);
    assert!(
        h + 2 * pad >= 3 && wd + 2 * pad >= 3,
        "direct conv: kernel larger than the padded input"
    );
    let (oh, ow) = (h + 2 * pad - 2, wd + 2 * pad - 2);
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let (tiles, tp) = (th * tw, row_pitch(th * tw));
    let (rows, pitch) = (outs.div_ceil(MR) * MR, tile_pitch(th * tw));
    let mut shared = None;
    let mut y = vec![0f32; n * outs * oh * ow];
    // This thread's scratch buffers hold the transformed input and the products (at 256² they
    // are ~130 MB each; fresh pages for every layer would cost page faults and zeroing).
    with_scratch(|scratch| {
        let (v, m) = (&mut scratch.padded, &mut scratch.raw);
        if m.len() < 16 * rows * pitch {
            *m = vec![0.0; 16 * rows * pitch]; // (no copy of the old contents)
        }
        let mut shared_plain = None;
        let by_gemm = products_by_gemm(isa);
        for (s, ys) in y.chunks_mut(outs * oh * ow).enumerate() {
            transform_input(
                &x[s * ci * h * wd..][..ci * h * wd],
                [ci, h, wd],
                pad,
                [th, tw],
                v,
                isa,
            );
            if by_gemm {
                let u = w.packed_with(s, [outs, ci, 3], &mut shared_plain, |w, scale| {
                    transform_plain(w, [outs, ci], scale)
                });
                products_gemm(&u, v, [outs, ci, tiles], [tp, rows * pitch, pitch], m);
            } else {
                let packed = w.packed_with(s, [outs, ci, 3], &mut shared, |w, scale| {
                    pack_transformed(w, [outs, ci], scale)
                });
                for (c, mc) in m[..16 * rows * pitch].chunks_mut(rows * pitch).enumerate() {
                    // Component c: I rows `tp` apart, of which the kernel reads `pitch ≤ tp`
                    // columns.
                    let input = Input {
                        data: &v[c * ci * tp..][..ci * tp],
                        channels: ci,
                        plane: tp,
                        wp: tiles,
                    };
                    conv_taps_into(input, &packed[c], &[(0, 0)], 1, isa, mc);
                }
            }
            let m = &*m;
            ys.par_chunks_mut(oh * ow)
                .enumerate()
                .for_each(|(o, plane)| {
                    multiversion!(
                        isa,
                        output_tiles(m, rows * pitch, pitch, o, [th, tw], [oh, ow], plane)
                    );
                    if let Some(post) = post {
                        post.apply(s, o, plane, isa);
                    }
                });
        }
    });
    (y, [n, outs, oh, ow])
}
