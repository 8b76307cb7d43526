//! Stride-1 k×k convolutions as an implicit GEMM over shifted kernel taps, for training: the
//! forward pass, the input gradient and the weight gradient all run through the `gemm` crate's
//! micro-kernels (AVX-512 / AVX2+FMA / NEON, chosen by the crate at run time), with no im2col
//! buffer and no col2im scatter.
//!
//! The input is laid out channel-major with its zero padding, `[C, N·Hp·Wp + tail]`: one row per
//! channel, the padded planes of the samples one after another. Output position `q = n·Hp·Wp +
//! y·Wp + x` then reads input tap `(ky, kx)` at `q + ky·Wp + kx` for every `q` — a fixed shift —
//! so each tap is one GEMM of the `[O, I]` weight slice with a shifted view of the input rows:
//!
//! * forward: `Y[:, q] = Σₜ Wₜ · X[:, q + dₜ]` (positions outside the valid `Ho × Wo` window of
//!   each plane are computed and dropped);
//! * input gradient: the convolution of `dY` with the flipped, transposed kernel and padding
//!   `k − 1 − pad` (`train_ops` calls [`conv2d`] for it);
//! * weight gradient: `dWₜ = dY · X[:, · + dₜ]ᵀ`, a GEMM whose inner dimension is the batch's
//!   pixels, split between the threads.
//!
//! Hand-written because neither burn-flex (im2col + GEMM forward, GEMM + col2im input gradient,
//! 37 % + 24 % of a training step in the last profile) nor the gemm crate has this layout; the
//! arithmetic is the gemm crate's.

use rayon::prelude::*;

/// The padded channel-major layout of one convolution.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    h: usize,
    w: usize,
    k: usize,
    pad: usize,
    /// Padded plane width and height.
    wp: usize,
    hp: usize,
    /// Output height and width.
    ho: usize,
    wo: usize,
}

impl Geometry {
    fn new(n: usize, h: usize, w: usize, k: usize, pad: usize) -> Self {
        let (hp, wp) = (h + 2 * pad, w + 2 * pad);
        assert!(
            hp >= k && wp >= k,
            "tap_gemm: {h}x{w} plane with padding {pad} is smaller than the {k}x{k} kernel"
        );
        Self {
            n,
            h,
            w,
            k,
            pad,
            wp,
            hp,
            ho: hp + 1 - k,
            wo: wp + 1 - k,
        }
    }
    /// Elements of one padded plane.
    fn plane(&self) -> usize {
        self.hp * self.wp
    }
    /// Output positions computed per channel (every position of every padded plane).
    fn len(&self) -> usize {
        self.n * self.plane()
    }
    /// Row length of the padded input: the shifted reads of the last plane stay inside.
    fn row(&self) -> usize {
        self.len() + (self.k - 1) * self.wp + self.k - 1
    }
    /// Shift of tap `t` (row-major over the kernel).
    fn shift(&self, t: usize) -> usize {
        (t / self.k) * self.wp + t % self.k
    }
}

/// `x [N, C, H, W]` → `[C, row]` with the zero padding of `g`.
fn to_padded_rows(x: &[f32], c: usize, g: &Geometry) -> Vec<f32> {
    let row = g.row();
    let mut out = vec![0.0f32; c * row];
    out.par_chunks_mut(row).enumerate().for_each(|(ci, dst)| {
        for s in 0..g.n {
            let src = &x[(s * c + ci) * g.h * g.w..][..g.h * g.w];
            let base = s * g.plane() + g.pad * g.wp + g.pad;
            for y in 0..g.h {
                dst[base + y * g.wp..][..g.w].copy_from_slice(&src[y * g.w..][..g.w]);
            }
        }
    });
    out
}

/// `dy [N, O, Ho, Wo]` → `[O, len]`, zero outside each plane's valid window.
fn to_output_rows(dy: &[f32], o: usize, g: &Geometry) -> Vec<f32> {
    let len = g.len();
    let mut out = vec![0.0f32; o * len];
    out.par_chunks_mut(len).enumerate().for_each(|(oi, dst)| {
        for s in 0..g.n {
            let src = &dy[(s * o + oi) * g.ho * g.wo..][..g.ho * g.wo];
            for y in 0..g.ho {
                dst[s * g.plane() + y * g.wp..][..g.wo].copy_from_slice(&src[y * g.wo..][..g.wo]);
            }
        }
    });
    out
}

/// `rows [C, stride]` → `[N, C, rh, rw]`, taking each plane's window at `(off, off)`.
fn from_rows(
    rows: &[f32],
    stride: usize,
    c: usize,
    g: &Geometry,
    (rh, rw): (usize, usize),
    off: usize,
) -> Vec<f32> {
    let mut out = vec![0.0f32; g.n * c * rh * rw];
    out.par_chunks_mut(rh * rw)
        .enumerate()
        .for_each(|(nc, dst)| {
            let (s, ci) = (nc / c, nc % c);
            let src = &rows[ci * stride + s * g.plane() + off * g.wp + off..];
            for y in 0..rh {
                dst[y * rw..][..rw].copy_from_slice(&src[y * g.wp..][..rw]);
            }
        });
    out
}

fn threads() -> usize {
    rayon::current_num_threads().max(1)
}

/// Columns per block for `rows` matrix rows: a `[rows, block]` f32 tile of about 128 KiB (in
/// L2), a multiple of 16.
fn block_len(rows: usize) -> usize {
    ((32 * 1024 / rows.max(1)).max(64) / 16) * 16
}

/// `0..len` in blocks of `block`.
fn blocks(len: usize, block: usize) -> Vec<(usize, usize)> {
    (0..len.div_ceil(block))
        .map(|b| (b * block, ((b + 1) * block).min(len)))
        .collect()
}

/// A raw pointer that threads writing disjoint parts of one buffer may share.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: only used for writes to disjoint column blocks (`conv2d`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// `conv2d(x, w, stride 1, padding pad)`: `x [N, I, H, W]`, `w [O, I, k, k]` → `[N, O, Ho, Wo]`.
pub fn conv2d(
    x: &[f32],
    [n, i, h, w]: [usize; 4],
    wt: &[f32],
    [o, wi, k, k2]: [usize; 4],
    pad: usize,
) -> (Vec<f32>, [usize; 4]) {
    assert!(
        wi == i && k == k2,
        "tap_gemm::conv2d: weight [{o}, {wi}, {k}, {k2}] for {i} input channels"
    );
    assert_eq!(x.len(), n * i * h * w, "tap_gemm::conv2d: input length");
    assert_eq!(wt.len(), o * i * k * k, "tap_gemm::conv2d: weight length");
    let g = Geometry::new(n, h, w, k, pad);
    let xb = to_padded_rows(x, i, &g);
    let (len, row, kk) = (g.len(), g.row(), k * k);
    let mut yb = vec![0.0f32; o * len];
    // Blocks of output columns, one thread each; within a block the taps accumulate into an
    // [O, block] tile that stays in cache.
    let dst = SendPtr(yb.as_mut_ptr());
    blocks(len, block_len(o))
        .into_par_iter()
        .for_each(|(q0, q1)| {
            for t in 0..kk {
                // SAFETY: the tile (o, q) ↦ yb[o·len + q0 + q], q < q1 − q0 ≤ len − q0, belongs to
                // this block alone; the weight slice (o, i) ↦ wt[o·i·kk + i·kk + t] is inside wt;
                // the input view (i, q) ↦ xb[i·row + shift + q0 + q] has shift + q1 ≤ row.
                unsafe {
                    gemm::gemm(
                        o,
                        q1 - q0,
                        i,
                        dst.get().add(q0),
                        1,
                        len as isize,
                        t > 0,
                        wt.as_ptr().add(t),
                        kk as isize,
                        (i * kk) as isize,
                        xb.as_ptr().add(g.shift(t) + q0),
                        1,
                        row as isize,
                        1.0,
                        1.0,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            }
        });
    (
        from_rows(&yb, len, o, &g, (g.ho, g.wo), 0),
        [n, o, g.ho, g.wo],
    )
}

/// The gradient of [`conv2d`] with respect to its weight: `[O, I, k, k]`.
pub fn conv2d_weight_grad(
    x: &[f32],
    [n, i, h, w]: [usize; 4],
    dy: &[f32],
    [_, o, ho, wo]: [usize; 4],
    k: usize,
    pad: usize,
) -> Vec<f32> {
    let g = Geometry::new(n, h, w, k, pad);
    assert!(
        (ho, wo) == (g.ho, g.wo),
        "tap_gemm::conv2d_weight_grad: gradient {ho}x{wo}, expected {}x{}",
        g.ho,
        g.wo
    );
    let xb = to_padded_rows(x, i, &g);
    let dyb = to_output_rows(dy, o, &g);
    let (len, row, kk) = (g.len(), g.row(), k * k);
    // The inner dimension (every pixel of the batch) split between the threads; each part
    // gives all taps, `[kk, O, I]`, block by block (the block's columns of dY and X stay in
    // cache across the taps), and the parts are summed.
    let parts = threads().min(len.div_ceil(1024)).max(1);
    let chunk = len.div_ceil(parts);
    let partial: Vec<Vec<f32>> = (0..parts)
        .into_par_iter()
        .map(|p| {
            let (c0, c1) = (p * chunk, ((p + 1) * chunk).min(len));
            let mut acc = vec![0.0f32; kk * o * i];
            for (b, (q0, q1)) in blocks(c1 - c0, block_len(o.max(i))).into_iter().enumerate() {
                let (q0, q1) = (c0 + q0, c0 + q1);
                for t in 0..kk {
                    // SAFETY: dst [o, i] inside acc; lhs (o, q) ↦ dyb[o·len + q0 + q],
                    // q < q1 − q0; rhs (q, i) ↦ xb[i·row + shift + q0 + q], shift + q1 ≤ row.
                    unsafe {
                        gemm::gemm(
                            o,
                            i,
                            q1 - q0,
                            acc.as_mut_ptr().add(t * o * i),
                            1,
                            i as isize,
                            b > 0,
                            dyb.as_ptr().add(q0),
                            1,
                            len as isize,
                            xb.as_ptr().add(g.shift(t) + q0),
                            row as isize,
                            1,
                            1.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
            }
            acc
        })
        .collect();
    let mut dw = vec![0.0f32; o * i * kk];
    for (oi, v) in dw.iter_mut().enumerate() {
        let (t, oi) = (oi % kk, oi / kk);
        *v = partial.iter().map(|a| a[t * o * i + oi]).sum();
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: u64, len: usize) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// The definition: `y[n,o,y,x] = Σ_{i,ky,kx} w[o,i,ky,kx] · x[n,i,y+ky−p,x+kx−p]`, in f64.
    fn reference(
        x: &[f32],
        [n, i, h, w]: [usize; 4],
        wt: &[f32],
        o: usize,
        k: usize,
        p: usize,
    ) -> Vec<f64> {
        let (ho, wo) = (h + 2 * p + 1 - k, w + 2 * p + 1 - k);
        let mut y = vec![0.0f64; n * o * ho * wo];
        for s in 0..n {
            for oc in 0..o {
                for yy in 0..ho {
                    for xx in 0..wo {
                        let mut acc = 0.0f64;
                        for ic in 0..i {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (sy, sx) = (yy + ky, xx + kx);
                                    if sy < p || sx < p || sy - p >= h || sx - p >= w {
                                        continue;
                                    }
                                    acc += wt[((oc * i + ic) * k + ky) * k + kx] as f64
                                        * x[((s * i + ic) * h + sy - p) * w + sx - p] as f64;
                                }
                            }
                        }
                        y[((s * o + oc) * ho + yy) * wo + xx] = acc;
                    }
                }
            }
        }
        y
    }

    fn max_diff(a: &[f32], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(&a, &b)| (a as f64 - b).abs())
            .fold(0.0, f64::max)
    }

    /// The input gradient as `train_ops`'s backward computes it: [`conv2d`] of `g` with the
    /// flipped, transposed kernel and padding `k − 1 − p`.
    fn input_grad(
        g: &[f32],
        shape: [usize; 4],
        wt: &[f32],
        [o, i, k, _]: [usize; 4],
        p: usize,
    ) -> Vec<f32> {
        let mut flipped = vec![0.0f32; wt.len()];
        for oc in 0..o {
            for ic in 0..i {
                for t in 0..k * k {
                    flipped[(ic * o + oc) * k * k + (k * k - 1 - t)] =
                        wt[(oc * i + ic) * k * k + t];
                }
            }
        }
        conv2d(g, shape, &flipped, [i, o, k, k], k - 1 - p).0
    }

    /// Forward against the definition; the input and weight gradients against the adjoint
    /// identities ⟨conv(x, w), g⟩ = ⟨x, dX(g)⟩ = ⟨w, dW(x, g)⟩ and, entry by entry, against the
    /// definition applied to one-hot inputs; on awkward shapes: 1×1 and 3×3 kernels, padding 0,
    /// 1 and 2 (= k − 1), odd sizes, a 1×1 plane, one sample.
    #[test]
    fn forward_and_gradients_match_the_definition() {
        for &(n, i, o, h, w, k, p) in &[
            (2, 3, 5, 7, 6, 3, 1),
            (1, 4, 2, 4, 4, 3, 1),
            (3, 5, 4, 5, 9, 3, 0),
            (2, 3, 2, 4, 5, 3, 2),
            (2, 6, 7, 5, 3, 1, 0),
            (1, 2, 3, 1, 1, 3, 1),
        ] {
            let x = lcg(1, n * i * h * w);
            let wt = lcg(2, o * i * k * k);
            let (y, shape) = conv2d(&x, [n, i, h, w], &wt, [o, i, k, k], p);
            let want = reference(&x, [n, i, h, w], &wt, o, k, p);
            assert_eq!(shape, [n, o, h + 2 * p + 1 - k, w + 2 * p + 1 - k]);
            let d = max_diff(&y, &want);
            assert!(
                d < 1e-4,
                "forward {:?}: max diff {d}",
                (n, i, o, h, w, k, p)
            );

            let g = lcg(3, y.len());
            let dx = input_grad(&g, shape, &wt, [o, i, k, k], p);
            let dw = conv2d_weight_grad(&x, [n, i, h, w], &g, shape, k, p);
            assert_eq!((dx.len(), dw.len()), (x.len(), wt.len()));
            // ⟨conv(x, w), g⟩ computed three ways.
            let yg: f64 = want.iter().zip(&g).map(|(a, &b)| a * b as f64).sum();
            let xdx: f64 = x.iter().zip(&dx).map(|(&a, &b)| a as f64 * b as f64).sum();
            let wdw: f64 = wt.iter().zip(&dw).map(|(&a, &b)| a as f64 * b as f64).sum();
            assert!(
                (yg - xdx).abs() < 1e-3 * (1.0 + yg.abs()),
                "input grad {:?}: {yg} vs {xdx}",
                (n, i, o, h, w, k, p)
            );
            assert!(
                (yg - wdw).abs() < 1e-3 * (1.0 + yg.abs()),
                "weight grad {:?}: {yg} vs {wdw}",
                (n, i, o, h, w, k, p)
            );
            // And element by element: each dx entry is ∂⟨y, g⟩/∂x, the reference applied to a
            // one-hot input.
            for probe in [0, x.len() / 2, x.len() - 1] {
                let mut e = vec![0.0f32; x.len()];
                e[probe] = 1.0;
                let ye = reference(&e, [n, i, h, w], &wt, o, k, p);
                let want: f64 = ye.iter().zip(&g).map(|(a, &b)| a * b as f64).sum();
                assert!(
                    (dx[probe] as f64 - want).abs() < 1e-4,
                    "dx[{probe}] {:?}",
                    (n, i, o, h, w, k, p)
                );
            }
            for probe in [0, wt.len() / 2, wt.len() - 1] {
                let mut e = vec![0.0f32; wt.len()];
                e[probe] = 1.0;
                let ye = reference(&x, [n, i, h, w], &e, o, k, p);
                let want: f64 = ye.iter().zip(&g).map(|(a, &b)| a * b as f64).sum();
                assert!(
                    (dw[probe] as f64 - want).abs() < 1e-4,
                    "dw[{probe}] {:?}",
                    (n, i, o, h, w, k, p)
                );
            }
        }
    }
}
