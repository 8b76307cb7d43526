//! Convolutions of training as implicit GEMMs over shifted kernel taps: the forward pass, the
//! input gradient and the weight gradient all run through the `gemm` crate's micro-kernels
//! (AVX-512 / AVX2+FMA / NEON, chosen by the crate at run time), with no im2col buffer and no
//! col2im scatter.
//!
//! **Stride 1.** The input is laid out channel-major with its zero padding, `[C, N·Hp·Wp +
//! tail]`: one row per channel, the padded planes of the samples one after another. Output
//! position `q = n·Hp·Wp + y·Wp + x` then reads input tap `(ky, kx)` at `q + ky·Wp + kx` for
//! every `q` — a fixed shift — so each tap is one GEMM of the `[O, I]` weight slice with a
//! shifted view of the input rows:
//!
//! * forward: `Y[:, q] = Σₜ Wₜ · X[:, q + dₜ]` (positions outside the valid `Ho × Wo` window of
//!   each plane are computed and dropped);
//! * input gradient: the convolution of `dY` with the flipped, transposed kernel and padding
//!   `k − 1 − pad` (`train_ops` calls [`conv2d`] for it);
//! * weight gradient: `dWₜ = dY · X[:, · + dₜ]ᵀ`, a GEMM whose inner dimension is the batch's
//!   pixels, split between the threads.
//!
//! **Stride 2** (3×3, no padding: the downsampling convolution of `conv2d_resample`, and as its
//! adjoint the transposed upsampling convolution). The input is split into its four phases
//! `X_{py,px}[a, b] = X[2a + py, 2b + px]`, each laid out as above on `⌈H/2⌉ × ⌈W/2⌉` planes;
//! tap `(ky, kx)` reads phase `(ky mod 2, kx mod 2)` shifted by `(⌊ky/2⌋, ⌊kx/2⌋)`. The same
//! GEMMs give the forward pass and the weight gradient, and scattered back into the phases
//! (`dX[:, q + dₜ] += Wₜᵀ · dY[:, q]`) the input gradient — 9 multiply-adds per output, none on
//! inserted zeros.
//!
//! Hand-written because neither burn-flex (im2col + GEMM forward, GEMM + col2im input gradient,
//! 37 % + 24 % of a training step in the last profile) nor the gemm crate has this layout; the
//! arithmetic is the gemm crate's.

use rayon::prelude::*;

use super::direct_conv::Isa;

/// The output side of a layout: `n` planes of `plane` positions, `pw` wide; the valid window
/// of each is `oh × ow` at its origin.
#[derive(Clone, Copy, Debug)]
struct Planes {
    n: usize,
    plane: usize,
    pw: usize,
    oh: usize,
    ow: usize,
}

impl Planes {
    fn len(&self) -> usize {
        self.n * self.plane
    }
}

/// Where one convolution's taps read. The input buffer holds `stride² · C` rows of `row`
/// elements (block `b`, channel `c` at `(b·C + c)·row`, sample `s` at `s·plane` within the
/// row); tap `t` reads the `[C, len]` view at `offsets[t]` (row stride `row`).
struct Taps {
    out: Planes,
    row: usize,
    offsets: Vec<usize>,
    /// The stride (1 or 2; the input has `stride²` phase blocks) and, for stride 1, the
    /// padding (rows, columns): where the input pixels go.
    stride: usize,
    pad: (usize, usize),
}

impl Taps {
    /// The stride-1 layout of a `k×k` convolution of `c` channels with padding `pad`.
    fn stride1(n: usize, h: usize, w: usize, k: usize, pad: usize) -> Self {
        Self::stride1_rect(n, h, w, (k, k), (pad, pad))
    }

    /// The stride-1 layout of a `kh×kw` convolution with padding `(ph, pw)` (rows, columns).
    fn stride1_rect(
        n: usize,
        h: usize,
        w: usize,
        (kh, kw): (usize, usize),
        (ph, pw): (usize, usize),
    ) -> Self {
        let (hp, wp) = (h + 2 * ph, w + 2 * pw);
        assert!(
            hp >= kh && wp >= kw && kh > 0 && kw > 0,
            "tap_gemm: {h}x{w} plane with padding ({ph}, {pw}) is smaller than the {kh}x{kw} \
             kernel"
        );
        let out = Planes {
            n,
            plane: hp * wp,
            pw: wp,
            oh: hp + 1 - kh,
            ow: wp + 1 - kw,
        };
        Self {
            out,
            row: out.len() + (kh - 1) * wp + kw - 1,
            offsets: (0..kh * kw).map(|t| (t / kw) * wp + t % kw).collect(),
            stride: 1,
            pad: (ph, pw),
        }
    }

    /// The stride-2 layout of a 3×3 convolution of `c` channels without padding: four phase
    /// blocks of `⌈h/2⌉ × ⌈w/2⌉` planes.
    fn stride2(n: usize, c: usize, h: usize, w: usize) -> Self {
        assert!(
            h >= 3 && w >= 3,
            "tap_gemm: {h}x{w} plane is smaller than the 3x3 kernel"
        );
        let (h2, w2) = (h.div_ceil(2), w.div_ceil(2));
        let out = Planes {
            n,
            plane: h2 * w2,
            pw: w2,
            oh: (h - 1) / 2,
            ow: (w - 1) / 2,
        };
        let row = out.len() + w2 + 1;
        let offsets = (0..9)
            .map(|t| {
                let (ky, kx) = (t / 3, t % 3);
                ((ky % 2) * 2 + kx % 2) * c * row + (ky / 2) * w2 + kx / 2
            })
            .collect();
        Self {
            out,
            row,
            offsets,
            stride: 2,
            pad: (0, 0),
        }
    }

    /// Length of the input rows of `c` channels: `stride²` phase blocks of `c` rows.
    fn input_len(&self, c: usize) -> usize {
        self.stride * self.stride * c * self.row
    }

    /// Where input row `y` (`w` pixels) goes: runs `(block, position in the plane, first x,
    /// count)` of every `stride`-th pixel (stride 1: one run; stride 2: one per column phase).
    fn runs(&self, y: usize, w: usize) -> [(usize, usize, usize, usize); 2] {
        let pw = self.out.pw;
        if self.stride == 1 {
            let pos = (y + self.pad.0) * pw + self.pad.1;
            [(0, pos, 0, w), (0, 0, 0, 0)]
        } else {
            let (block, pos) = ((y % 2) * 2, (y / 2) * pw);
            [(block, pos, 0, w.div_ceil(2)), (block + 1, pos, 1, w / 2)]
        }
    }

    /// `x [N, C, H, W]` → the input rows (zeros where no pixel goes).
    fn scatter_in(&self, x: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
        let (row, plane, step) = (self.row, self.out.plane, self.stride);
        let total = self.input_len(c);
        if n == 0 {
            return vec![0.0; total];
        }
        // Not zeroed up front (one thread's pass over the whole buffer): each task zeroes its
        // own planes, in cache, just before filling them.
        let mut out = Vec::<f32>::with_capacity(total);
        let dst = SendPtr(out.as_mut_ptr());
        (0..n * c).into_par_iter().for_each(|sc| {
            let (s, ci) = (sc / c, sc % c);
            for b in 0..step * step {
                let start = (b * c + ci) * row + s * plane;
                // The last sample's task also zeroes the row's tail after the planes.
                let end = if s + 1 == n {
                    start - s * plane + row
                } else {
                    start + plane
                };
                assert!(end <= total);
                // SAFETY: this (block, channel, sample) plane (and the tail for the last
                // sample) belongs to this task alone, inside `out` (checked above).
                unsafe { std::ptr::write_bytes(dst.get().add(start), 0, end - start) };
            }
            let src = &x[sc * h * w..][..h * w];
            for y in 0..h {
                for (b, pos, x0, count) in self.runs(y, w) {
                    let start = (b * c + ci) * row + s * plane + pos;
                    assert!(start + count <= total);
                    // SAFETY: the run's positions of this (block, channel, sample) are written
                    // by this (s, ci) task only, and lie inside `out` (checked above); they
                    // were zeroed above, so initialised.
                    let d = unsafe { std::slice::from_raw_parts_mut(dst.get().add(start), count) };
                    if step == 1 {
                        d.copy_from_slice(&src[y * w + x0..][..count]);
                    } else {
                        for (j, v) in d.iter_mut().enumerate() {
                            *v = src[y * w + x0 + j * step];
                        }
                    }
                }
            }
        });
        // SAFETY: the tasks zeroed every plane of every (block, channel) row and the rows'
        // tails, which together cover 0..total.
        unsafe { out.set_len(total) };
        out
    }

    /// The inverse of [`Taps::scatter_in`]: input rows → `[N, C, H, W]`.
    fn gather_in(&self, rows: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
        let (row, plane, step) = (self.row, self.out.plane, self.stride);
        // SAFETY: the runs of each row cover its w pixels (stride 1: one run of w; stride 2:
        // the even and the odd columns).
        unsafe {
            filled(n * c * h * w, h * w, |sc, dst| {
                let (s, ci) = (sc / c, sc % c);
                for y in 0..h {
                    for (b, pos, x0, count) in self.runs(y, w) {
                        let src = &rows[(b * c + ci) * row + s * plane + pos..][..count];
                        for (j, &v) in src.iter().enumerate() {
                            dst[y * w + x0 + j * step].write(v);
                        }
                    }
                }
            })
        }
    }

    /// `dy [N, O, oh, ow]` → `[O, len]`, zero outside each plane's valid window.
    fn scatter_out(&self, dy: &[f32], o: usize) -> Vec<f32> {
        let p = self.out;
        // SAFETY: each chunk (one output channel's row) is zeroed before its windows are
        // copied in.
        unsafe {
            filled(o * p.len(), p.len(), |oi, dst| {
                dst.fill(std::mem::MaybeUninit::new(0.0));
                for s in 0..p.n {
                    let src = &dy[(s * o + oi) * p.oh * p.ow..][..p.oh * p.ow];
                    for y in 0..p.oh {
                        let d = &mut dst[s * p.plane + y * p.pw..][..p.ow];
                        for (d, &v) in d.iter_mut().zip(&src[y * p.ow..][..p.ow]) {
                            d.write(v);
                        }
                    }
                }
            })
        }
    }

    /// `[O, len]` → `[N, O, oh, ow]`, each plane's valid window.
    fn gather_out(&self, rows: &[f32], o: usize) -> Vec<f32> {
        let p = self.out;
        // SAFETY: the oh rows of ow values cover the chunk.
        unsafe {
            filled(p.n * o * p.oh * p.ow, p.oh * p.ow, |so, dst| {
                let (s, oi) = (so / o, so % o);
                let src = &rows[oi * p.len() + s * p.plane..];
                for y in 0..p.oh {
                    let src = &src[y * p.pw..][..p.ow];
                    for (d, &v) in dst[y * p.ow..][..p.ow].iter_mut().zip(src) {
                        d.write(v);
                    }
                }
            })
        }
    }

    /// `Y [O, len] = Σₜ Wₜ · X[:, offsetₜ + ·]` for `wt [O, C, kk]`.
    fn forward(&self, wt: &[f32], [o, c, kk]: [usize; 3], xb: &[f32]) -> Vec<f32> {
        let (len, row) = (self.out.len(), self.row);
        if c == 0 || self.offsets.is_empty() {
            return vec![0.0; o * len];
        }
        // Not zeroed: the first tap's GEMM writes every element without reading it.
        let mut yb = Vec::<f32>::with_capacity(o * len);
        // Blocks of output columns, one thread each; within a block the taps accumulate into
        // an [O, block] tile that stays in cache.
        let dst = SendPtr(yb.spare_capacity_mut().as_mut_ptr().cast());
        // The taps' weights as contiguous matrices: 2–4 % faster than strided views of `wt`.
        let wp = tap_major(wt, [o, c, kk]);
        balanced_blocks(len, block_len(o), threads())
            .into_par_iter()
            .for_each(|(q0, q1)| {
                for (t, &off) in self.offsets.iter().enumerate() {
                    assert!(off + (c - 1) * row + q1 <= xb.len());
                    // SAFETY: the tile (o, q) ↦ yb[o·len + q0 + q], q < q1 − q0, belongs to
                    // this block alone; the weight slice (o, c) ↦ wp[t·O·C + o·C + c] is
                    // inside wp; the input view (c, q) ↦ xb[off + c·row + q0 + q] is inside
                    // xb (checked above).
                    unsafe {
                        mul(
                            [o, q1 - q0, c],
                            (dst.get().add(q0), len),
                            t > 0,
                            View::rows(wp.as_ptr().add(t * o * c), c),
                            View::rows(xb.as_ptr().add(off + q0), row),
                        );
                    }
                }
            });
        // SAFETY: every (o, q) of the o·len elements was written by its block's first GEMM
        // (`read_dst` false for t = 0; the blocks cover 0..len).
        unsafe { yb.set_len(o * len) };
        yb
    }

    /// `dX[:, offsetₜ + ·] += Wₜᵀ · dY`, the adjoint of [`Taps::forward`], into zeroed input
    /// rows; the input channels are split between the threads.
    fn input_grad(&self, wt: &[f32], [o, c, kk]: [usize; 3], dyb: &[f32]) -> Vec<f32> {
        let (len, row) = (self.out.len(), self.row);
        let total = self.input_len(c);
        // Zeroed by the parts, each its own rows (not by one thread up front).
        let mut dxb = Vec::<f32>::with_capacity(total);
        let dst = SendPtr(dxb.as_mut_ptr());
        let per = c.div_ceil(threads()).max(1);
        let wp = tap_major(wt, [o, c, kk]);
        (0..c.div_ceil(per)).into_par_iter().for_each(|part| {
            let (c0, c1) = (part * per, ((part + 1) * per).min(c));
            for b in 0..self.stride * self.stride {
                assert!((b * c + c1) * row <= total);
                // SAFETY: the rows of channels c0..c1 in phase block b belong to this part
                // alone, inside the buffer (checked above).
                unsafe {
                    std::ptr::write_bytes(dst.get().add((b * c + c0) * row), 0, (c1 - c0) * row)
                };
            }
            for (q0, q1) in blocks(len, block_len(o)) {
                for (t, &off) in self.offsets.iter().enumerate() {
                    assert!(off + (c - 1) * row + q1 <= total);
                    // SAFETY: the rows of channels c0..c1 (c ↦ dxb[off + c·row + q0 + q]) are
                    // written by this part alone: a tap's view of channel c stays within that
                    // channel's row (off mod row + len ≤ row); inside the buffer (checked
                    // above). The transposed weight slice (c, o) ↦ wp[t·O·C + o·C + c] (c < c1)
                    // is inside wp; dY is [o, len].
                    unsafe {
                        mul(
                            [c1 - c0, q1 - q0, o],
                            (dst.get().add(off + c0 * row + q0), row),
                            true,
                            View::columns(wp.as_ptr().add(t * o * c + c0), c),
                            View::rows(dyb.as_ptr().add(q0), len),
                        );
                    }
                }
            }
        });
        // SAFETY: the parts zeroed the rows of every channel in every block: 0..total.
        unsafe { dxb.set_len(total) };
        dxb
    }

    /// `dWₜ = dY · X[:, offsetₜ + ·]ᵀ` → `[O, C, kk]`.
    fn weight_grad(&self, [o, c, kk]: [usize; 3], xb: &[f32], dyb: &[f32]) -> Vec<f32> {
        let (len, row) = (self.out.len(), self.row);
        // The inner dimension (every pixel of the batch) split between the threads; each part
        // gives all taps, `[kk, O, C]`, block by block (the block's columns of dY and X stay in
        // cache across the taps), and the parts are summed.
        let parts = threads().min(len.div_ceil(128)).max(1);
        let chunk = len.div_ceil(parts);
        let partial: Vec<Vec<f32>> = (0..parts)
            .into_par_iter()
            .map(|p| {
                let (c0, c1) = (p * chunk, ((p + 1) * chunk).min(len));
                let mut acc = vec![0.0f32; kk * o * c];
                for (b, (q0, q1)) in blocks(c1 - c0, block_len(o.max(c))).into_iter().enumerate() {
                    let (q0, q1) = (c0 + q0, c0 + q1);
                    for (t, &off) in self.offsets.iter().enumerate() {
                        assert!(off + (c - 1) * row + q1 <= xb.len());
                        // SAFETY: dst [o, c] inside acc; lhs (o, q) ↦ dyb[o·len + q0 + q],
                        // q < q1 − q0; rhs (q, c) ↦ xb[off + c·row + q0 + q] inside xb
                        // (checked above).
                        unsafe {
                            mul(
                                [o, c, q1 - q0],
                                (acc.as_mut_ptr().add(t * o * c), c),
                                b > 0,
                                View::rows(dyb.as_ptr().add(q0), len),
                                View::columns(xb.as_ptr().add(off + q0), row),
                            );
                        }
                    }
                }
                acc
            })
            .collect();
        let mut dw = vec![0.0f32; o * c * kk];
        for (oc, v) in dw.iter_mut().enumerate() {
            let (t, oc) = (oc % kk, oc / kk);
            *v = partial.iter().map(|a| a[t * o * c + oc]).sum::<f32>();
        }
        dw
    }
}

/// The widest instruction set the gemm crate's kernels use here (they are chosen by the crate
/// at run time; `STYLEGAN_CPU_ISA` cannot cap them): AVX-512 only in a build with the
/// `gemm-avx512` feature (off by default), so a default build runs the same GEMMs on every
/// x86-64 CPU with AVX2+FMA.
pub fn gemm_isa() -> Isa {
    let available = Isa::available();
    if cfg!(feature = "gemm-avx512") && available.contains(&Isa::Avx512) {
        Isa::Avx512
    } else if available.contains(&Isa::Avx2) {
        Isa::Avx2
    } else {
        Isa::Portable
    }
}

/// A strided view of an f32 matrix for the gemm crate: element `(r, c)` at `ptr + r·rs + c·cs`.
#[derive(Clone, Copy)]
pub(crate) struct View {
    pub(crate) ptr: *const f32,
    pub(crate) rs: usize,
    pub(crate) cs: usize,
}

impl View {
    /// Rows `stride` apart, each contiguous.
    pub(crate) fn rows(ptr: *const f32, stride: usize) -> Self {
        Self {
            ptr,
            rs: stride,
            cs: 1,
        }
    }

    /// Columns `stride` apart, each contiguous.
    fn columns(ptr: *const f32, stride: usize) -> Self {
        Self {
            ptr,
            rs: 1,
            cs: stride,
        }
    }
}

/// `dst = lhs · rhs` for `[m, k] · [k, n]` (`accumulate`: `dst += lhs · rhs`) on this thread,
/// through the gemm crate's micro-kernels; `dst` is `(pointer, row stride)` with contiguous
/// rows. Without `accumulate` the destination is written without being read.
///
/// # Safety
/// The `m × k`, `k × n` and `m × n` elements of `lhs`, `rhs` and `dst` lie in memory valid for
/// reads (and writes, for `dst`), and no other thread accesses those of `dst` meanwhile.
pub(crate) unsafe fn mul(
    [m, n, k]: [usize; 3],
    dst: (*mut f32, usize),
    accumulate: bool,
    lhs: View,
    rhs: View,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.0,
            1,
            dst.1 as isize,
            accumulate,
            lhs.ptr,
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.ptr,
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `wt [O, C, kk]` → `[kk, O, C]`: each tap's weights one contiguous row-major matrix.
fn tap_major(wt: &[f32], [o, c, kk]: [usize; 3]) -> Vec<f32> {
    let mut out = vec![0.0f32; wt.len()];
    for (oc, taps) in wt.chunks_exact(kk).enumerate() {
        for (t, &v) in taps.iter().enumerate() {
            out[t * o * c + oc] = v;
        }
    }
    out
}

/// A vector of `len` values written by `fill(i, chunk)` for each `chunk`-long chunk `i`, in
/// parallel, without zeroing it first.
///
/// # Safety
/// `fill` must write every element of the chunk it is given (or panic).
unsafe fn filled(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [std::mem::MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let mut out = Vec::<f32>::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, c)| fill(i, c));
    // SAFETY: `fill` wrote every element of every chunk, and the chunks cover 0..len.
    unsafe { out.set_len(len) };
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

/// `0..len` in blocks of at most `block` (a multiple of 16), as many as a multiple of
/// `threads` and of about equal length (multiples of 16), so that no thread waits on another
/// for a short last block.
fn balanced_blocks(len: usize, block: usize, threads: usize) -> Vec<(usize, usize)> {
    let t = threads.max(1);
    let count = len.div_ceil(block.max(1)).div_ceil(t) * t;
    let each = (len.div_ceil(count.max(1)).div_ceil(16) * 16).max(16);
    blocks(len, each)
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
// SAFETY: only used for writes to disjoint parts of one buffer (see each use).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

fn check_weight(what: &str, x: [usize; 4], wt: &[f32], w: [usize; 4]) {
    let [o, wi, k, k2] = w;
    assert!(
        wi == x[1] && k == k2,
        "tap_gemm::{what}: weight [{o}, {wi}, {k}, {k2}] for {} input channels",
        x[1]
    );
    assert_eq!(wt.len(), o * wi * k * k, "tap_gemm::{what}: weight length");
}

/// `conv2d(x, w, stride 1, padding pad)`: `x [N, I, H, W]`, `w [O, I, k, k]` → `[N, O, Ho, Wo]`.
pub fn conv2d(
    x: &[f32],
    xs: [usize; 4],
    wt: &[f32],
    ws: [usize; 4],
    pad: usize,
) -> (Vec<f32>, [usize; 4]) {
    check_weight("conv2d", xs, wt, ws);
    let ([n, i, h, w], [o, _, k, _]) = (xs, ws);
    assert_eq!(x.len(), n * i * h * w, "tap_gemm::conv2d: input length");
    let taps = Taps::stride1(n, h, w, k, pad);
    let yb = taps.forward(wt, [o, i, k * k], &taps.scatter_in(x, xs));
    let p = taps.out;
    (taps.gather_out(&yb, o), [n, o, p.oh, p.ow])
}

/// `conv2d(x, w, stride 1, padding (ph, pw))` for a rectangular kernel `w [O, I, kh, kw]`
/// (Inception's 1×7 / 7×1 convolutions) → `[N, O, Ho, Wo]`.
pub fn conv2d_rect(
    x: &[f32],
    xs: [usize; 4],
    wt: &[f32],
    ws: [usize; 4],
    pad: (usize, usize),
) -> (Vec<f32>, [usize; 4]) {
    let ([n, i, h, w], [o, wi, kh, kw]) = (xs, ws);
    assert!(
        wi == i,
        "tap_gemm::conv2d_rect: weight [{o}, {wi}, {kh}, {kw}] for {i} input channels"
    );
    assert_eq!(
        wt.len(),
        o * i * kh * kw,
        "tap_gemm::conv2d_rect: weight length"
    );
    assert_eq!(
        x.len(),
        n * i * h * w,
        "tap_gemm::conv2d_rect: input length"
    );
    let taps = Taps::stride1_rect(n, h, w, (kh, kw), pad);
    let yb = taps.forward(wt, [o, i, kh * kw], &taps.scatter_in(x, xs));
    let p = taps.out;
    (taps.gather_out(&yb, o), [n, o, p.oh, p.ow])
}

/// The gradient of [`conv2d`] with respect to its weight: `[O, I, k, k]`.
pub fn conv2d_weight_grad(
    x: &[f32],
    xs: [usize; 4],
    dy: &[f32],
    [_, o, ho, wo]: [usize; 4],
    k: usize,
    pad: usize,
) -> Vec<f32> {
    let [n, i, h, w] = xs;
    let taps = Taps::stride1(n, h, w, k, pad);
    let p = taps.out;
    assert!(
        (ho, wo) == (p.oh, p.ow),
        "tap_gemm::conv2d_weight_grad: gradient {ho}x{wo}, expected {}x{}",
        p.oh,
        p.ow
    );
    let dyb = taps.scatter_out(dy, o);
    taps.weight_grad([o, i, k * k], &taps.scatter_in(x, xs), &dyb)
}

/// `conv2d(x, w, stride 2, no padding)` for `w [O, I, 3, 3]` → `[N, O, ⌊(H−1)/2⌋, ⌊(W−1)/2⌋]`.
pub fn conv2d_s2(x: &[f32], xs: [usize; 4], wt: &[f32], ws: [usize; 4]) -> (Vec<f32>, [usize; 4]) {
    check_weight("conv2d_s2", xs, wt, ws);
    let ([n, i, h, w], [o, _, k, _]) = (xs, ws);
    assert!(k == 3, "tap_gemm::conv2d_s2 takes 3x3 kernels, not {k}x{k}");
    assert_eq!(x.len(), n * i * h * w, "tap_gemm::conv2d_s2: input length");
    let taps = Taps::stride2(n, i, h, w);
    let yb = taps.forward(wt, [o, i, 9], &taps.scatter_in(x, xs));
    let p = taps.out;
    (taps.gather_out(&yb, o), [n, o, p.oh, p.ow])
}

/// The gradient of [`conv2d_s2`] with respect to its input, for an `[h, w]` input: also the
/// stride-2 transposed convolution of `dy` with `w` (`[N, O, a, b]` → `[N, I, 2a + 1, 2b + 1]`
/// for odd sizes).
pub fn conv2d_s2_input_grad(
    dy: &[f32],
    [n, o, ho, wo]: [usize; 4],
    wt: &[f32],
    [wo_, i, k, _]: [usize; 4],
    [h, w]: [usize; 2],
) -> Vec<f32> {
    assert!(
        wo_ == o && k == 3,
        "tap_gemm::conv2d_s2_input_grad: weight [{wo_}, {i}, {k}, {k}] for {o} gradient channels"
    );
    assert_eq!(
        dy.len(),
        n * o * ho * wo,
        "tap_gemm::conv2d_s2_input_grad: gradient length"
    );
    let taps = Taps::stride2(n, i, h, w);
    let p = taps.out;
    assert!(
        (ho, wo) == (p.oh, p.ow),
        "tap_gemm::conv2d_s2_input_grad: gradient {ho}x{wo}, expected {}x{} for a {h}x{w} input",
        p.oh,
        p.ow
    );
    let dxb = taps.input_grad(wt, [o, i, 9], &taps.scatter_out(dy, o));
    taps.gather_in(&dxb, [n, i, h, w])
}

/// The gradient of [`conv2d_s2`] with respect to its weight: `[O, I, 3, 3]`.
pub fn conv2d_s2_weight_grad(
    x: &[f32],
    xs: [usize; 4],
    dy: &[f32],
    [_, o, ho, wo]: [usize; 4],
) -> Vec<f32> {
    let [n, i, h, w] = xs;
    let taps = Taps::stride2(n, i, h, w);
    let p = taps.out;
    assert!(
        (ho, wo) == (p.oh, p.ow),
        "tap_gemm::conv2d_s2_weight_grad: gradient {ho}x{wo}, expected {}x{}",
        p.oh,
        p.ow
    );
    let dyb = taps.scatter_out(dy, o);
    taps.weight_grad([o, i, 9], &taps.scatter_in(x, xs), &dyb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::direct_conv::tests::{reference_conv, reference_conv_strided, values};

    #[test]
    fn balanced_blocks_cover_the_range_in_even_shares() {
        for (len, block, threads) in [
            (576, 512, 2),
            (18496, 512, 2),
            (1600, 512, 2),
            (5184, 512, 3),
            (7, 512, 2),
            (100, 16, 1),
        ] {
            let b = balanced_blocks(len, block, threads);
            assert_eq!(b.first().map(|r| r.0), Some(0), "{len}: starts at 0");
            assert_eq!(b.last().map(|r| r.1), Some(len), "{len}: ends at len");
            assert!(b.windows(2).all(|w| w[0].1 == w[1].0), "{len}: contiguous");
            assert!(
                b.iter().all(|r| r.1 > r.0 && r.1 - r.0 <= block),
                "{len}: {b:?}"
            );
            if len >= 16 * threads {
                // Every thread gets a share within one block of the others'.
                let mut share = vec![0; threads];
                for (i, r) in b.iter().enumerate() {
                    share[i % threads] += r.1 - r.0;
                }
                let (lo, hi) = (share.iter().min().unwrap(), share.iter().max().unwrap());
                assert!(hi - lo <= b[0].1 - b[0].0, "{len}: shares {share:?}");
                assert_eq!(b.len() % threads, 0, "{len}: {} blocks", b.len());
            }
        }
    }

    /// Rectangular kernels with their own row / column padding (Inception's 1×7, 7×1, 5×5,
    /// 1×1) against the definition.
    #[test]
    fn rectangular_convolutions_match_the_definition() {
        let (n, i, h, w, o) = (2, 3, 9, 7, 5);
        let x = values(n * i * h * w, 1);
        for ((kh, kw), (ph, pw)) in [
            ((1, 7), (0, 3)),
            ((7, 1), (3, 0)),
            ((3, 3), (1, 1)),
            ((1, 1), (0, 0)),
            ((5, 5), (2, 2)),
            ((3, 3), (0, 0)),
            ((3, 2), (2, 0)),
        ] {
            let wt = values(o * i * kh * kw, 2);
            let (y, ys) = conv2d_rect(&x, [n, i, h, w], &wt, [o, i, kh, kw], (ph, pw));
            let (oh, ow) = (h + 2 * ph + 1 - kh, w + 2 * pw + 1 - kw);
            assert_eq!(ys, [n, o, oh, ow]);
            let mut worst = 0f64;
            for s in 0..n {
                for oc in 0..o {
                    for yy in 0..oh {
                        for xx in 0..ow {
                            let mut acc = 0f64;
                            for ic in 0..i {
                                for ky in 0..kh {
                                    for kx in 0..kw {
                                        let (sy, sx) = (yy + ky, xx + kx);
                                        if sy < ph || sx < pw || sy - ph >= h || sx - pw >= w {
                                            continue;
                                        }
                                        acc += x[((s * i + ic) * h + sy - ph) * w + sx - pw] as f64
                                            * wt[((oc * i + ic) * kh + ky) * kw + kx] as f64;
                                    }
                                }
                            }
                            let got = y[((s * o + oc) * oh + yy) * ow + xx] as f64;
                            worst = worst.max((got - acc).abs());
                        }
                    }
                }
            }
            assert!(worst < 1e-4, "{kh}x{kw} pad ({ph}, {pw}): {worst}");
        }
    }

    /// A convolution by the definition: `(x, w) ↦ y`.
    type Reference<'a> = &'a dyn Fn(&[f32], &[f32]) -> Vec<f32>;

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&a, &b)| a as f64 * b as f64).sum()
    }

    /// Checks a convolution `y = conv(x, wt)` and its gradients `dx`, `dw` for the output
    /// gradient `g` against `reference` (the definition): the forward pass element-wise; the
    /// gradients by the adjoint identities ⟨conv(x, w), g⟩ = ⟨x, dX(g)⟩ = ⟨w, dW(x, g)⟩ and,
    /// entry by entry, by the definition applied to one-hot inputs.
    #[allow(clippy::too_many_arguments)]
    fn check(
        what: &str,
        reference: Reference,
        x: &[f32],
        wt: &[f32],
        y: &[f32],
        g: &[f32],
        dx: &[f32],
        dw: &[f32],
    ) {
        let want = reference(x, wt);
        assert_eq!(y.len(), want.len(), "{what}: output size");
        let d = y
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(d < 1e-4, "{what}: forward max diff {d}");
        assert_eq!(
            (dx.len(), dw.len()),
            (x.len(), wt.len()),
            "{what}: gradient sizes"
        );
        let yg = dot(&want, g);
        for (name, got) in [("input", dot(x, dx)), ("weight", dot(wt, dw))] {
            assert!(
                (yg - got).abs() < 1e-3 * (1.0 + yg.abs()),
                "{what}: {name} gradient {got} vs {yg}"
            );
        }
        let probes = |len: usize| [0, 1.min(len - 1), len / 2, len - 1];
        for probe in probes(x.len()) {
            let mut e = vec![0.0f32; x.len()];
            e[probe] = 1.0;
            let want = dot(&reference(&e, wt), g);
            assert!(
                (dx[probe] as f64 - want).abs() < 1e-4,
                "{what}: dx[{probe}] {} vs {want}",
                dx[probe]
            );
        }
        for probe in probes(wt.len()) {
            let mut e = vec![0.0f32; wt.len()];
            e[probe] = 1.0;
            let want = dot(&reference(x, &e), g);
            assert!(
                (dw[probe] as f64 - want).abs() < 1e-4,
                "{what}: dw[{probe}] {} vs {want}",
                dw[probe]
            );
        }
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

    /// Stride 1 on awkward shapes: 1×1 and 3×3 kernels, padding 0, 1 and 2 (= k − 1), odd
    /// sizes, a 1×1 plane, one sample.
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
            let (x, wt) = (values(n * i * h * w, 1), values(o * i * k * k, 2));
            let (y, shape) = conv2d(&x, [n, i, h, w], &wt, [o, i, k, k], p);
            assert_eq!(shape, [n, o, h + 2 * p + 1 - k, w + 2 * p + 1 - k]);
            let g = values(y.len(), 3);
            let dx = input_grad(&g, shape, &wt, [o, i, k, k], p);
            let dw = conv2d_weight_grad(&x, [n, i, h, w], &g, shape, k, p);
            let reference = |x: &[f32], wt: &[f32]| reference_conv(x, [n, i, h, w], wt, o, k, p);
            check(
                &format!("stride 1 {:?}", (n, i, o, h, w, k, p)),
                &reference,
                &x,
                &wt,
                &y,
                &g,
                &dx,
                &dw,
            );
        }
    }

    /// Stride 2 on odd and even sizes (the phases then differ in size) and the smallest plane.
    #[test]
    fn stride2_forward_and_gradients_match_the_definition() {
        for &(n, i, o, h, w) in &[
            (2, 3, 4, 9, 7),
            (1, 2, 5, 8, 8),
            (3, 4, 2, 5, 6),
            (1, 1, 1, 3, 3),
        ] {
            let (x, wt) = (values(n * i * h * w, 4), values(o * i * 9, 5));
            let (y, shape) = conv2d_s2(&x, [n, i, h, w], &wt, [o, i, 3, 3]);
            assert_eq!(shape, [n, o, (h - 1) / 2, (w - 1) / 2]);
            let g = values(y.len(), 6);
            let dx = conv2d_s2_input_grad(&g, shape, &wt, [o, i, 3, 3], [h, w]);
            let dw = conv2d_s2_weight_grad(&x, [n, i, h, w], &g, shape);
            let reference =
                |x: &[f32], wt: &[f32]| reference_conv_strided(x, [n, i, h, w], wt, o, 3, 0, 2);
            check(
                &format!("stride 2 {:?}", (n, i, o, h, w)),
                &reference,
                &x,
                &wt,
                &y,
                &g,
                &dx,
                &dw,
            );
        }
    }
}
