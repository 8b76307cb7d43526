//! A direct convolution kernel for the CPU backend, used for inference (no autodiff).
//!
//! Written by hand because no crate does this well: burn-flex's convolutions (im2col + the
//! `gemm` crate) reach ~65 GFLOP/s on the generator's 3×3 layers, and the `gemm` crate itself
//! ~150 GFLOP/s with its AVX-512 kernels, while the 2 Zen 5 cores of the development machine
//! sustain ~420 GFLOP/s (oneDNN's direct convolution measures that under PyTorch). The kernel
//! here is the oneDNN idea in its plainest form:
//!
//! * A convolution is a sum over **taps**: `out[o, p] = Σ_t Σ_i W[o, t, i] · xpad[i, p + off_t]`,
//!   where `xpad` is the zero-padded input with rows of width `wp` laid end to end, `p = y·wp + x`
//!   runs over output positions in that same row pitch, and `off_t = dy·wp + dx`. For a fixed
//!   `(t, i)` the 48 columns of a micro-tile are 48 *contiguous* floats of `xpad`, so the
//!   right-hand matrix is read straight from the input: no im2col buffer, no packing. Columns
//!   `x ≥ out_w` of each row are computed and thrown away (2 of `w + 2` for a 3×3 conv).
//! * The weights are packed once per call into 8-row panels; a micro-kernel keeps an 8×48 tile
//!   of the output in 24 AVX-512 registers (one broadcast weight × three 16-wide input vectors
//!   per FMA group), over blocks of 128 `(t, i)` pairs so that the 48-column input strip stays
//!   in L1 while every 8-row panel of the weights streams past it.
//! * Work is split over output columns between the rayon threads.
//!
//! The transposed stride-2 convolution of the upsampling layers is the same kernel run four
//! times, once per output phase (its polyphase decomposition: 4, 2, 2 and 1 taps of a 3×3
//! kernel), with the phases interleaved afterwards.
//!
//! Machines without AVX-512 use the same blocking with a portable micro-kernel (correct, and
//! auto-vectorised by the compiler, but slower).

use rayon::prelude::*;

/// Output rows per micro-tile (weights broadcast).
const MR: usize = 8;
/// Output columns per micro-tile (three 16-float vectors).
const NR: usize = 48;
/// `(tap, input channel)` pairs per block.
const KC: usize = 128;
/// Micro-tiles of columns per parallel task.
const TILES_PER_TASK: usize = 4;

/// One input sample, zero-padded, rows of pitch `wp`, with a zero tail so that the last
/// micro-tile may read past the end of the last plane.
struct Padded {
    data: Vec<f32>,
    channels: usize,
    /// Padded rows and row pitch.
    hp: usize,
    wp: usize,
}

impl Padded {
    /// Pads one `[C, H, W]` sample by `(top, bottom, left, right)`; `tail` extra zeros follow.
    /// `buf` is reused as the storage (see [`Scratch`]).
    fn new(
        x: &[f32],
        c: usize,
        h: usize,
        w: usize,
        pad: [usize; 4],
        tail: usize,
        buf: Vec<f32>,
    ) -> Self {
        let [top, bottom, left, right] = pad;
        let (hp, wp) = (h + top + bottom, w + left + right);
        let mut data = buf;
        data.clear();
        data.resize(c * hp * wp + tail, 0.0);
        for ci in 0..c {
            for y in 0..h {
                let src = &x[(ci * h + y) * w..][..w];
                let dst = (ci * hp + y + top) * wp + left;
                data[dst..dst + w].copy_from_slice(src);
            }
        }
        Self {
            data,
            channels: c,
            hp,
            wp,
        }
    }
}

/// Buffers kept between calls on one thread: the padded input and the raw (row-pitch) output
/// of the micro-kernels. The generator's activations are tens of MB; allocating them afresh for
/// every layer costs page faults and zeroing that showed up as ~14 % of a generation profile.
#[derive(Default)]
struct Scratch {
    padded: Vec<f32>,
    raw: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers, or fresh ones if they are in use (a rayon worker
/// re-entering while it waits).
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Frees this thread's scratch buffers (they otherwise stay as large as the largest layer run).
pub fn release_scratch() {
    with_scratch(|s| *s = Scratch::default());
}

/// Weights `[O, T, I]` (tap-major, then input channel) packed for the micro-kernel:
/// `[k-block][8-row panel][k in block][8]`, zero rows past `O`.
struct Packed {
    data: Vec<f32>,
    outs: usize,
    k: usize,
}

impl Packed {
    fn new(w: &[f32], outs: usize, k: usize) -> Self {
        let panels = outs.div_ceil(MR);
        let mut data = vec![0f32; panels * MR * k];
        let mut at = 0;
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for panel in 0..panels {
                for kk in 0..kc {
                    for r in 0..MR {
                        let o = panel * MR + r;
                        if o < outs {
                            data[at] = w[o * k + k0 + kk];
                        }
                        at += 1;
                    }
                }
            }
        }
        Self { data, outs, k }
    }

    /// The packed panel `panel` of the k-block starting at `k0`.
    fn panel(&self, k0: usize, panel: usize) -> &[f32] {
        let kc = KC.min(self.k - k0);
        let panels = self.outs.div_ceil(MR);
        let start = k0 * panels * MR + panel * kc * MR;
        &self.data[start..start + kc * MR]
    }
}

/// `out[o, y·wp + x] = Σ_t Σ_i w[o, t, i] · x[i, (y + dy_t)·wp + x + dx_t]` for `y < out_h`,
/// `x < wp` (columns `x ≥` the real output width hold garbage). `w` is `[O, T, I]`. Returns
/// `[O, out_h·wp]` rounded up to whole micro-tiles per row of `O`: row pitch is the returned
/// `usize`.
fn conv_taps(
    x: &Padded,
    w: &[f32],
    outs: usize,
    taps: &[(usize, usize)],
    out_h: usize,
    avx512: bool,
    out: &mut Vec<f32>,
) -> usize {
    let (ci, wp) = (x.channels, x.wp);
    let plane = x.hp * wp;
    let k = taps.len() * ci;
    assert_eq!(w.len(), outs * k, "direct conv: weight size");
    let cols = out_h * wp;
    let pitch = cols.div_ceil(NR) * NR;
    // Offsets of every (tap, channel) row, and a check that the furthest read stays in bounds.
    let koff: Vec<usize> = taps
        .iter()
        .flat_map(|&(dy, dx)| (0..ci).map(move |i| i * plane + dy * wp + dx))
        .collect();
    let max_read = koff.iter().max().copied().unwrap_or(0) + pitch;
    assert!(
        max_read <= x.data.len(),
        "direct conv: padded input too short ({max_read} > {})",
        x.data.len()
    );
    let packed = Packed::new(w, outs, k);
    let panels = outs.div_ceil(MR);
    let rows = panels * MR;
    // Every tile is written by the first k-block (no load), so old contents do not matter.
    out.resize(rows * pitch, 0.0);
    // Tasks own disjoint column ranges of every output row; hand each its raw pointer.
    let task_cols = NR * TILES_PER_TASK;
    let tasks = pitch.div_ceil(task_cols);
    let out_ptr = SendPtr(out.as_mut_ptr());
    (0..tasks).into_par_iter().for_each(|task| {
        let c_start = task * task_cols;
        let c_end = (c_start + task_cols).min(pitch);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let offs = &koff[k0..k0 + kc];
            for col in (c_start..c_end).step_by(NR) {
                for panel in 0..panels {
                    let a = packed.panel(k0, panel);
                    // SAFETY: this task alone writes columns [c_start, c_end) of each row; the
                    // tile is MR rows × NR columns inside `out` (rows ≤ panels·MR, col + NR ≤
                    // pitch); every input read is < max_read ≤ x.data.len() (checked above).
                    unsafe {
                        let c = out_ptr.get().add(panel * MR * pitch + col);
                        let b = x.data.as_ptr().add(col);
                        if avx512 {
                            #[cfg(target_arch = "x86_64")]
                            micro_avx512(kc, a.as_ptr(), b, offs.as_ptr(), c, pitch, k0 == 0);
                        } else {
                            micro_portable(kc, a, b, offs, c, pitch, k0 == 0);
                        }
                    }
                }
            }
        }
    });
    pitch
}

#[derive(Clone, Copy)]
struct SendPtr(*mut f32);
// SAFETY: the tasks write disjoint column ranges (see `conv_taps`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

/// Whether the AVX-512 micro-kernel runs: the CPU has AVX-512F and `STYLEGAN_NO_AVX512` is not
/// set (set it to measure the portable kernel on an AVX-512 machine, as most users' CPUs run it).
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *ON.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::env::var_os("STYLEGAN_NO_AVX512").is_none()
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The 8×48 micro-kernel: `C[r, j] (+)= Σ_k a[k·8 + r] · b[off_k + j]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn micro_avx512(
    kc: usize,
    a: *const f32,
    b: *const f32,
    offs: *const usize,
    c: *mut f32,
    ldc: usize,
    first: bool,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 3]; MR];
    if !first {
        for (r, row) in acc.iter_mut().enumerate() {
            for (j, v) in row.iter_mut().enumerate() {
                *v = _mm512_loadu_ps(c.add(r * ldc + 16 * j));
            }
        }
    }
    for kk in 0..kc {
        let bp = b.add(*offs.add(kk));
        let b0 = _mm512_loadu_ps(bp);
        let b1 = _mm512_loadu_ps(bp.add(16));
        let b2 = _mm512_loadu_ps(bp.add(32));
        let ap = a.add(kk * MR);
        for (r, row) in acc.iter_mut().enumerate() {
            let av = _mm512_set1_ps(*ap.add(r));
            row[0] = _mm512_fmadd_ps(av, b0, row[0]);
            row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            row[2] = _mm512_fmadd_ps(av, b2, row[2]);
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (j, v) in row.iter().enumerate() {
            _mm512_storeu_ps(c.add(r * ldc + 16 * j), *v);
        }
    }
}

/// The same micro-kernel in portable Rust.
///
/// # Safety
/// `b + off_k + NR` must stay inside the input and the `MR × NR` tile at `c` (row pitch `ldc`)
/// inside the output.
unsafe fn micro_portable(
    kc: usize,
    a: &[f32],
    b: *const f32,
    offs: &[usize],
    c: *mut f32,
    ldc: usize,
    first: bool,
) {
    let mut acc = [[0f32; NR]; MR];
    if !first {
        for (r, row) in acc.iter_mut().enumerate() {
            row.copy_from_slice(std::slice::from_raw_parts(c.add(r * ldc), NR));
        }
    }
    for kk in 0..kc {
        let bv = std::slice::from_raw_parts(b.add(offs[kk]), NR);
        for (r, row) in acc.iter_mut().enumerate() {
            let av = a[kk * MR + r];
            for (o, &bj) in row.iter_mut().zip(bv) {
                *o += av * bj;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        std::slice::from_raw_parts_mut(c.add(r * ldc), NR).copy_from_slice(row);
    }
}

/// Copies the valid `out_w` columns of each of `outs · out_h` rows (row pitch `wp`, channel
/// pitch `pitch`) into a dense `[O, out_h, out_w]` block.
fn compact(
    src: &[f32],
    outs: usize,
    pitch: usize,
    wp: usize,
    out_h: usize,
    out_w: usize,
    dst: &mut [f32],
) {
    dst.par_chunks_mut(out_h * out_w)
        .enumerate()
        .take(outs)
        .for_each(|(o, plane)| {
            for y in 0..out_h {
                plane[y * out_w..][..out_w].copy_from_slice(&src[o * pitch + y * wp..][..out_w]);
            }
        });
}

/// Weights `[O, I, k, k]` → `[O, T, I]` for the kernel positions `kidx` (one per tap).
fn tap_weights(w: &[f32], outs: usize, ci: usize, k: usize, kidx: &[(usize, usize)]) -> Vec<f32> {
    let t_n = kidx.len();
    let mut wt = vec![0f32; outs * t_n * ci];
    for o in 0..outs {
        for i in 0..ci {
            for (t, &(ky, kx)) in kidx.iter().enumerate() {
                wt[(o * t_n + t) * ci + i] = w[((o * ci + i) * k + ky) * k + kx];
            }
        }
    }
    wt
}

/// Runs `f` on sample `s` of `x [N, C, H, W]`, zero-padded into this thread's scratch, with the
/// scratch's raw output buffer.
fn with_padded_sample<R>(
    x: &[f32],
    s: usize,
    [c, h, w]: [usize; 3],
    pad: [usize; 4],
    tail: usize,
    f: impl FnOnce(&Padded, &mut Vec<f32>) -> R,
) -> R {
    with_scratch(|scratch| {
        let xp = Padded::new(
            &x[s * c * h * w..][..c * h * w],
            c,
            h,
            w,
            pad,
            tail,
            std::mem::take(&mut scratch.padded),
        );
        let r = f(&xp, &mut scratch.raw);
        scratch.padded = xp.data;
        r
    })
}

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
    conv2d_with(x, shape, w, outs, k, pad, per_sample, has_avx512())
}

#[allow(clippy::too_many_arguments)]
fn conv2d_with(
    x: &[f32],
    shape: [usize; 4],
    w: &[f32],
    outs: usize,
    k: usize,
    pad: usize,
    per_sample: bool,
    avx512: bool,
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
            let pitch = conv_taps(xp, wt, outs, &taps, oh, avx512, raw);
            compact(raw, outs, pitch, wp, oh, ow, ys);
        });
    }
    (y, [n, outs, oh, ow])
}

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
    conv_transpose2d_s2_with(x, shape, w, outs, per_sample, has_avx512())
}

fn conv_transpose2d_s2_with(
    x: &[f32],
    shape: [usize; 4],
    w: &[f32],
    outs: usize,
    per_sample: bool,
    avx512: bool,
) -> (Vec<f32>, [usize; 4]) {
    let [n, ci, h, wd] = shape;
    let wsize = outs * ci * 9;
    assert_eq!(
        w.len(),
        if per_sample { n * wsize } else { wsize },
        "direct conv: weight size"
    );
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
    let phase_weights = |w: &[f32]| -> Vec<Vec<f32>> {
        phases
            .iter()
            .map(|(_, _, _, kidx)| tap_weights(w, outs, ci, 3, kidx))
            .collect()
    };
    let shared = (!per_sample).then(|| phase_weights(w));
    let wp = wd + 2;
    let tail = (h + 1) * wp + 2 * NR + 2 * wp;
    let mut y = vec![0f32; n * outs * oh * ow];
    for (s, ys) in y.chunks_mut(outs * oh * ow).enumerate() {
        let own;
        let weights = match &shared {
            Some(wt) => wt,
            None => {
                own = phase_weights(&w[s * wsize..][..wsize]);
                &own
            }
        };
        with_padded_sample(x, s, [ci, h, wd], [1; 4], tail, |xp, raw| {
            for ((py, px, taps, _), wt) in phases.iter().zip(weights) {
                let (py, px) = (*py, *px);
                // Phase grid: rows a with 2a + py < 2H + 1, columns b likewise.
                let (gh, gw) = (h + 1 - py, wd + 1 - px);
                let pitch = conv_taps(xp, wt, outs, taps, gh, avx512, raw);
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

// ---------------------------------------------------------------------------------------------
// Tensor entry points

use burn::tensor::{DType, Device, Tensor, TensorData};

/// Whether the direct kernels apply: both tensors on the CPU (burn-flex) device and outside
/// autodiff (training keeps burn's differentiable convolutions).
pub fn applies(x: &Tensor<4>, w: &Tensor<4>) -> bool {
    applies_to(x) && !w.is_autodiff()
}

/// [`applies`] for an operation on one tensor (the FIR filter).
pub fn applies_to(x: &Tensor<4>) -> bool {
    !x.is_autodiff() && x.device() == Device::flex()
}

fn host(t: Tensor<4>) -> TensorData {
    let d = t.into_data();
    if d.dtype() == DType::F32 {
        d
    } else {
        d.convert::<f32>()
    }
}

fn slice(d: &TensorData) -> &[f32] {
    d.as_slice::<f32>()
        .expect("direct conv: f32 data after conversion")
}

/// [`conv2d`] on tensors: stride 1, square kernel; `w` is `[N·O, I, k, k]` with `per_sample`.
pub fn conv2d_tensor(x: Tensor<4>, w: Tensor<4>, pad: usize, per_sample: bool) -> Tensor<4> {
    let device = x.device();
    let shape = x.dims();
    let [rows, _, k, _] = w.dims();
    let outs = if per_sample { rows / shape[0] } else { rows };
    let (xd, wd) = (host(x), host(w));
    let (y, yshape) = conv2d(slice(&xd), shape, slice(&wd), outs, k, pad, per_sample);
    Tensor::from_data(TensorData::new(y, yshape), &device)
}

/// [`conv_transpose2d_s2`] on tensors: `w [O, I, 3, 3]` as given to `conv2d_resample`
/// (`[N·O, I, 3, 3]` with `per_sample`).
pub fn conv_transpose2d_s2_tensor(x: Tensor<4>, w: Tensor<4>, per_sample: bool) -> Tensor<4> {
    let device = x.device();
    let shape = x.dims();
    let [rows, _, _, _] = w.dims();
    let outs = if per_sample { rows / shape[0] } else { rows };
    let (xd, wd) = (host(x), host(w));
    let (y, yshape) = conv_transpose2d_s2(slice(&xd), shape, slice(&wd), outs, per_sample);
    Tensor::from_data(TensorData::new(y, yshape), &device)
}

/// [`fir2d`] on every plane of `x [N, C, H, W]`: `k` row-major `[kh, kw]`, padding
/// `[left, right, top, bottom]`.
pub fn fir2d_tensor(x: Tensor<4>, k: &[f32], kshape: [usize; 2], pad: [usize; 4]) -> Tensor<4> {
    let device = x.device();
    let [n, c, h, w] = x.dims();
    let xd = host(x);
    let (y, [oh, ow]) = fir2d(slice(&xd), n * c, [h, w], k, kshape, pad);
    Tensor::from_data(TensorData::new(y, [n, c, oh, ow]), &device)
}

// ---------------------------------------------------------------------------------------------
// Depthwise FIR filter

/// Correlation of every `[H, W]` plane with one `kh × kw` kernel (row-major), zero padding
/// `[left, right, top, bottom]`, stride 1 → planes of `[H + top + bottom − kh + 1, W + left +
/// right − kw + 1]`. The FIR step of `upfirdn2d` after an up-convolution; burn-flex's depthwise
/// convolution ran it at ~5 GFLOP/s, a quarter of a 256² generator's time.
pub fn fir2d(
    x: &[f32],
    planes: usize,
    [h, w]: [usize; 2],
    k: &[f32],
    [kh, kw]: [usize; 2],
    pad: [usize; 4],
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
    let avx512 = has_avx512();
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
            #[cfg(target_arch = "x86_64")]
            if avx512 {
                // SAFETY: the CPU has AVX-512 (checked at run time).
                unsafe { fir_plane_avx512(&padded, wp, k, kh, kw, dst, oh, ow) };
                return;
            }
            let _ = avx512;
            fir_plane(&padded, wp, k, kh, kw, dst, oh, ow);
        });
    (out, [oh, ow])
}

/// One plane; the `x` loop is left to the compiler's vectoriser.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fir_plane(
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

/// [`fir_plane`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn fir_plane_avx512(
    src: &[f32],
    wp: usize,
    k: &[f32],
    kh: usize,
    kw: usize,
    dst: &mut [f32],
    oh: usize,
    ow: usize,
) {
    fir_plane(src, wp, k, kh, kw, dst, oh, ow)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i + seed) * 2654435761) % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// The definition, in f64.
    fn reference_conv(
        x: &[f32],
        [n, ci, h, w]: [usize; 4],
        wt: &[f32],
        outs: usize,
        k: usize,
        pad: usize,
    ) -> Vec<f32> {
        let (oh, ow) = (h + 2 * pad - k + 1, w + 2 * pad - k + 1);
        let mut y = vec![0f32; n * outs * oh * ow];
        for s in 0..n {
            for o in 0..outs {
                for yy in 0..oh {
                    for xx in 0..ow {
                        let mut acc = 0f64;
                        for i in 0..ci {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let (iy, ix) = (
                                        (yy + ky) as isize - pad as isize,
                                        (xx + kx) as isize - pad as isize,
                                    );
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        acc += wt[((o * ci + i) * k + ky) * k + kx] as f64
                                            * x[((s * ci + i) * h + iy as usize) * w + ix as usize]
                                                as f64;
                                    }
                                }
                            }
                        }
                        y[((s * outs + o) * oh + yy) * ow + xx] = acc as f32;
                    }
                }
            }
        }
        y
    }

    fn reference_transpose(
        x: &[f32],
        [n, ci, h, w]: [usize; 4],
        wt: &[f32],
        outs: usize,
    ) -> Vec<f32> {
        let (oh, ow) = (2 * h + 1, 2 * w + 1);
        let mut y = vec![0f64; n * outs * oh * ow];
        for s in 0..n {
            for o in 0..outs {
                for i in 0..ci {
                    for a in 0..h {
                        for b in 0..w {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    y[((s * outs + o) * oh + 2 * a + ky) * ow + 2 * b + kx] +=
                                        wt[((o * ci + i) * 3 + ky) * 3 + kx] as f64
                                            * x[((s * ci + i) * h + a) * w + b] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
    }

    /// Per-sample weights give each sample the result of its own weight alone.
    #[test]
    fn per_sample_weights_match_samples_alone() {
        let (n, ci, co, h, w) = (3, 5, 6, 7, 9);
        let x = values(n * ci * h * w, 4);
        for (k, pad) in [(3, 1), (1, 0)] {
            let wt = values(n * co * ci * k * k, 9);
            let (all, _) = conv2d_with(&x, [n, ci, h, w], &wt, co, k, pad, true, has_avx512());
            let per = all.len() / n;
            for s in 0..n {
                let ws = &wt[s * co * ci * k * k..][..co * ci * k * k];
                let (one, _) = conv2d_with(
                    &x[s * ci * h * w..][..ci * h * w],
                    [1, ci, h, w],
                    ws,
                    co,
                    k,
                    pad,
                    false,
                    has_avx512(),
                );
                assert_eq!(&all[s * per..][..per], &one[..], "conv k={k} sample {s}");
            }
        }
        let wt = values(n * co * ci * 9, 8);
        let (all, _) = conv_transpose2d_s2_with(&x, [n, ci, h, w], &wt, co, true, has_avx512());
        let per = all.len() / n;
        for s in 0..n {
            let ws = &wt[s * co * ci * 9..][..co * ci * 9];
            let (one, _) = conv_transpose2d_s2_with(
                &x[s * ci * h * w..][..ci * h * w],
                [1, ci, h, w],
                ws,
                co,
                false,
                has_avx512(),
            );
            assert_eq!(&all[s * per..][..per], &one[..], "transposed sample {s}");
        }
    }

    /// The FIR filter against the definition, with uneven padding and a non-square kernel.
    #[test]
    fn fir_matches_the_definition() {
        for &(planes, h, w, kh, kw, pad) in &[
            (3, 9, 70, 4, 4, [2, 1, 2, 1]),
            (2, 5, 6, 3, 2, [0, 1, 1, 0]),
            (1, 1, 1, 1, 1, [0, 0, 0, 0]),
        ] {
            let x = values(planes * h * w, 11);
            let k = values(kh * kw, 2);
            let (got, [oh, ow]) = fir2d(&x, planes, [h, w], &k, [kh, kw], pad);
            let [l, r, t, b] = pad;
            assert_eq!([oh, ow], [h + t + b - kh + 1, w + l + r - kw + 1]);
            let mut want = vec![0f32; planes * oh * ow];
            for p in 0..planes {
                for y in 0..oh {
                    for xx in 0..ow {
                        let mut acc = 0f64;
                        for i in 0..kh {
                            for j in 0..kw {
                                let (iy, ix) = (
                                    (y + i) as isize - t as isize,
                                    (xx + j) as isize - l as isize,
                                );
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w {
                                    acc += k[i * kw + j] as f64
                                        * x[(p * h + iy as usize) * w + ix as usize] as f64;
                                }
                            }
                        }
                        want[(p * oh + y) * ow + xx] = acc as f32;
                    }
                }
            }
            let d = max_diff(&got, &want);
            assert!(
                d < 1e-5,
                "fir {:?}: max diff {d}",
                (planes, h, w, kh, kw, pad)
            );
        }
    }

    /// Both micro-kernels (AVX-512 where the machine has it) against the definition, over
    /// channel counts that are not multiples of the 8-row panels, more (tap, channel) pairs
    /// than one 128-block, odd and non-square planes, and planes wider than one 48-column tile.
    #[test]
    fn direct_kernels_match_the_definition() {
        let kernels: Vec<bool> = if has_avx512() {
            vec![false, true]
        } else {
            vec![false]
        };
        let cases = [
            // (n, ci, co, h, w, k, pad)
            (1, 1, 1, 1, 1, 3, 1),
            (2, 3, 5, 4, 4, 3, 1),
            (1, 20, 9, 7, 5, 3, 1),
            (1, 17, 13, 33, 70, 3, 1),
            (2, 6, 10, 9, 11, 3, 0),
            (1, 4, 3, 6, 6, 5, 2),
        ];
        for avx512 in kernels {
            for &(n, ci, co, h, w, k, pad) in &cases {
                let x = values(n * ci * h * w, 1);
                let wt = values(co * ci * k * k, 7);
                let (got, shape) = conv2d_with(&x, [n, ci, h, w], &wt, co, k, pad, false, avx512);
                assert_eq!(shape, [n, co, h + 2 * pad - k + 1, w + 2 * pad - k + 1]);
                let want = reference_conv(&x, [n, ci, h, w], &wt, co, k, pad);
                let d = max_diff(&got, &want);
                assert!(
                    d < 1e-4,
                    "conv {:?} avx512={avx512}: max diff {d}",
                    (n, ci, co, h, w, k, pad)
                );
            }
            for &(n, ci, co, h, w) in &[
                (1, 1, 1, 1, 1),
                (2, 5, 11, 4, 4),
                (1, 19, 9, 9, 30),
                (1, 3, 2, 25, 7),
            ] {
                let x = values(n * ci * h * w, 3);
                let wt = values(co * ci * 9, 5);
                let (got, shape) =
                    conv_transpose2d_s2_with(&x, [n, ci, h, w], &wt, co, false, avx512);
                assert_eq!(shape, [n, co, 2 * h + 1, 2 * w + 1]);
                let want = reference_transpose(&x, [n, ci, h, w], &wt, co);
                let d = max_diff(&got, &want);
                assert!(
                    d < 1e-4,
                    "transpose {:?} avx512={avx512}: max diff {d}",
                    (n, ci, co, h, w)
                );
            }
        }
    }
}
