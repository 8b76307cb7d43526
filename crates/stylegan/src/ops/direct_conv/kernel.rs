//! The shared machinery of the direct kernels: padded samples, packed weight panels, the
//! tap loop and its AVX-512 and portable micro-kernels (see the module doc of `direct_conv`).

use rayon::prelude::*;

pub(super) use super::epilogue::Epilogue;

/// Output rows per micro-tile (weights broadcast).
pub(super) const MR: usize = 8;
/// Output columns per micro-tile (three 16-float vectors).
pub(super) const NR: usize = 48;
/// `(tap, input channel)` pairs per block.
pub(super) const KC: usize = 128;
/// Micro-tiles of columns per parallel task.
pub(super) const TILES_PER_TASK: usize = 4;

/// One input sample, zero-padded, rows of pitch `wp`, with a zero tail so that the last
/// micro-tile may read past the end of the last plane.
pub(super) struct Padded {
    pub(super) data: Vec<f32>,
    pub(super) channels: usize,
    /// Padded rows and row pitch.
    pub(super) hp: usize,
    pub(super) wp: usize,
}

impl Padded {
    /// Pads one `[C, H, W]` sample by `(top, bottom, left, right)`; `tail` extra zeros follow.
    /// `buf` is reused as the storage (see [`Scratch`]).
    pub(super) fn new(
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

    pub(super) fn view(&self) -> Input<'_> {
        Input {
            data: &self.data,
            channels: self.channels,
            plane: self.hp * self.wp,
            wp: self.wp,
        }
    }
}

/// The right-hand side of [`conv_taps`]: `channels` planes `plane` floats apart, rows of pitch
/// `wp` (a [`Padded`] sample, or Winograd-transformed tiles as one row per channel).
#[derive(Clone, Copy)]
pub(super) struct Input<'a> {
    pub(super) data: &'a [f32],
    pub(super) channels: usize,
    pub(super) plane: usize,
    pub(super) wp: usize,
}

/// Buffers kept between calls on one thread: the padded input and the raw (row-pitch) output
/// of the micro-kernels. The generator's activations are tens of MB; allocating them afresh for
/// every layer costs page faults and zeroing that showed up as ~14 % of a generation profile.
#[derive(Default)]
pub(super) struct Scratch {
    pub(super) padded: Vec<f32>,
    pub(super) raw: Vec<f32>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch buffers, or fresh ones if they are in use (a rayon worker
/// re-entering while it waits).
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => f(&mut s),
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Frees this thread's scratch buffers (they otherwise stay as large as the largest layer run).
pub fn release_scratch() {
    with_scratch(|s| *s = Scratch::default());
}

/// Weights packed for the micro-kernel, `[k-block][8-row panel][k in block][8]` with zero rows
/// past `O`, where the `k` index runs over `(tap, input channel)` pairs, tap-major.
#[derive(Clone)]
pub(super) struct Packed {
    /// The panels start at `data[offset]` (an offset keeps several packings from sharing cache
    /// sets, see `winograd::pack_transformed`).
    pub(super) data: Vec<f32>,
    pub(super) offset: usize,
    pub(super) outs: usize,
    pub(super) k: usize,
}

impl Packed {
    /// Packs `w [O, I, kk, kk]` for the kernel positions `kidx` (one per tap), optionally
    /// modulated: `w[o, i, t] · cols[i] · rows[o]` (the fused modulated conv's per-sample
    /// weight, made here in the one pass that packs it rather than as a tensor of its own).
    /// The k-blocks are packed in parallel.
    pub(super) fn from_kernel(
        w: &[f32],
        [outs, ci, kk]: [usize; 3],
        kidx: &[(usize, usize)],
        scale: Option<(&[f32], &[f32])>,
    ) -> Self {
        assert_eq!(w.len(), outs * ci * kk * kk, "direct conv: weight size");
        if let Some((cols, rows)) = scale {
            assert!(
                cols.len() == ci && rows.len() == outs,
                "direct conv: scales"
            );
        }
        let k = kidx.len() * ci;
        let panels = outs.div_ceil(MR);
        let mut data = vec![0f32; panels * MR * k];
        data.par_chunks_mut(panels * MR * KC)
            .enumerate()
            .for_each(|(block, chunk)| {
                let k0 = block * KC;
                let kc = KC.min(k - k0);
                for panel in 0..panels {
                    let dst = &mut chunk[panel * kc * MR..][..kc * MR];
                    for r in 0..MR.min(outs - panel * MR) {
                        let o = panel * MR + r;
                        let row = scale.map_or(1.0, |(_, rows)| rows[o]);
                        let wo = &w[o * ci * kk * kk..][..ci * kk * kk];
                        let (mut t, mut i) = (k0 / ci, k0 % ci);
                        for q in 0..kc {
                            let (ky, kx) = kidx[t];
                            let mut v = wo[(i * kk + ky) * kk + kx];
                            if let Some((cols, _)) = scale {
                                v *= cols[i] * row;
                            }
                            dst[q * MR + r] = v;
                            i += 1;
                            if i == ci {
                                (t, i) = (t + 1, 0);
                            }
                        }
                    }
                }
            });
        Self {
            data,
            offset: 0,
            outs,
            k,
        }
    }

    /// The packed panel `panel` of the k-block starting at `k0`.
    pub(super) fn panel(&self, k0: usize, panel: usize) -> &[f32] {
        let kc = KC.min(self.k - k0);
        let panels = self.outs.div_ceil(MR);
        let start = self.offset + k0 * panels * MR + panel * kc * MR;
        &self.data[start..start + kc * MR]
    }
}

/// The weights of a direct convolution, `[O, I, k, k]` as given to `conv2d`.
#[derive(Clone, Copy)]
pub enum Weights<'a> {
    /// One weight for every sample.
    Shared(&'a [f32]),
    /// `[N·O, I, k, k]`: rows `s·O..(s+1)·O` for sample `s` (the official fused modulated conv,
    /// a grouped conv with groups = N).
    PerSample(&'a [f32]),
    /// One `[O, I, k, k]` weight modulated per sample: sample `s` uses
    /// `w[o, i] · styles[s, i] · rows[s, o]` (`styles [N, I]`, `rows [N, O]`: the demodulation
    /// coefficients times the layer's gain) — the per-sample weights of `PerSample` without
    /// making them as a tensor.
    Modulated {
        w: &'a [f32],
        styles: &'a [f32],
        rows: &'a [f32],
    },
}

impl Weights<'_> {
    /// Checks the sizes for `n` samples of `[outs, ci, k, k]`.
    pub(super) fn check(&self, n: usize, [outs, ci, k]: [usize; 3]) {
        let wsize = outs * ci * k * k;
        match *self {
            Weights::Shared(w) => assert_eq!(w.len(), wsize, "direct conv: weight size"),
            Weights::PerSample(w) => assert_eq!(w.len(), n * wsize, "direct conv: weight size"),
            Weights::Modulated { w, styles, rows } => {
                assert_eq!(w.len(), wsize, "direct conv: weight size");
                assert_eq!(styles.len(), n * ci, "direct conv: styles size");
                assert_eq!(rows.len(), n * outs, "direct conv: demodulation size");
            }
        }
    }

    /// Sample `s`'s `[O, I, k, k]` weight and, for modulated weights, its `(styles, rows)`
    /// scales.
    #[allow(clippy::type_complexity)]
    pub(super) fn sample(
        &self,
        s: usize,
        [outs, ci, k]: [usize; 3],
    ) -> (&[f32], Option<(&[f32], &[f32])>) {
        match *self {
            Weights::Shared(w) => (w, None),
            Weights::PerSample(w) => {
                let wsize = outs * ci * k * k;
                (&w[s * wsize..][..wsize], None)
            }
            Weights::Modulated { w, styles, rows } => (
                w,
                Some((&styles[s * ci..][..ci], &rows[s * outs..][..outs])),
            ),
        }
    }

    /// The packing `pack` makes of sample `s`'s weight and scales; `shared` caches it when the
    /// weights are the same for every sample.
    pub(super) fn packed_with<'p, P: Clone>(
        &self,
        s: usize,
        dims: [usize; 3],
        shared: &'p mut Option<P>,
        pack: impl FnOnce(&[f32], Option<(&[f32], &[f32])>) -> P,
    ) -> std::borrow::Cow<'p, P> {
        use std::borrow::Cow;
        let (w, scale) = self.sample(s, dims);
        match self {
            Weights::Shared(_) => Cow::Borrowed(shared.get_or_insert_with(|| pack(w, scale))),
            _ => Cow::Owned(pack(w, scale)),
        }
    }

    /// The packed weights of sample `s` for the kernel positions `kidx`.
    pub(super) fn packed<'p>(
        &self,
        s: usize,
        dims: [usize; 3],
        kidx: &[(usize, usize)],
        shared: &'p mut Option<Packed>,
    ) -> std::borrow::Cow<'p, Packed> {
        self.packed_with(s, dims, shared, |w, scale| {
            Packed::from_kernel(w, dims, kidx, scale)
        })
    }
}

/// `out[o, y·wp + x] = Σ_t Σ_i w[o, t, i] · x[i, (y + dy_t)·wp + x + dx_t]` for `y < out_h`,
/// `x < wp` (columns `x ≥` the real output width hold garbage), `w` as `packed`. Returns
/// `[O, out_h·wp]` rounded up to whole micro-tiles per row of `O`: row pitch is the returned
/// `usize`.
pub(super) fn conv_taps(
    x: Input,
    packed: &Packed,
    taps: &[(usize, usize)],
    out_h: usize,
    isa: Isa,
    out: &mut Vec<f32>,
) -> usize {
    let pitch = tile_pitch(out_h * x.wp);
    out.resize(packed.outs.div_ceil(MR) * MR * pitch, 0.0);
    conv_taps_into(x, packed, taps, out_h, isa, out);
    pitch
}

/// Columns `cols` rounded up to whole micro-tiles: the row pitch of [`conv_taps`]'s output.
pub(super) fn tile_pitch(cols: usize) -> usize {
    cols.div_ceil(NR) * NR
}

/// [`conv_taps`] into `out`, which holds at least `⌈O/8⌉·8` rows of [`tile_pitch`]`(out_h·wp)`.
pub(super) fn conv_taps_into(
    x: Input,
    packed: &Packed,
    taps: &[(usize, usize)],
    out_h: usize,
    isa: Isa,
    out: &mut [f32],
) {
    let (ci, wp, plane) = (x.channels, x.wp, x.plane);
    let (outs, k) = (packed.outs, packed.k);
    assert_eq!(
        k,
        taps.len() * ci,
        "direct conv: packed weights for other taps"
    );
    let pitch = tile_pitch(out_h * wp);
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
    let panels = outs.div_ceil(MR);
    // Every tile is written by the first k-block (no load), so old contents do not matter.
    assert!(
        out.len() >= panels * MR * pitch,
        "direct conv: output too short"
    );
    // Tasks own disjoint column ranges of every output row, and on small planes (the
    // generator's 4²–16² layers, one or two column ranges) also disjoint ranges of the 8-row
    // panels, so that every thread has work; hand each its raw pointer.
    let task_cols = NR * TILES_PER_TASK;
    let tasks = pitch.div_ceil(task_cols);
    let want = 2 * rayon::current_num_threads();
    let groups = if tasks >= want {
        1
    } else {
        panels.min(want.div_ceil(tasks))
    };
    let out_ptr = SendPtr(out.as_mut_ptr());
    (0..tasks * groups).into_par_iter().for_each(|unit| {
        let (task, g) = (unit / groups, unit % groups);
        let c_start = task * task_cols;
        let c_end = (c_start + task_cols).min(pitch);
        let (p_start, p_end) = (g * panels / groups, (g + 1) * panels / groups);
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            let offs = &koff[k0..k0 + kc];
            for col in (c_start..c_end).step_by(NR) {
                for panel in p_start..p_end {
                    let a = packed.panel(k0, panel);
                    // SAFETY: this unit alone writes columns [c_start, c_end) of the rows of
                    // panels [p_start, p_end); the tile is MR rows × NR columns inside `out`
                    // (rows ≤ panels·MR, col + NR ≤ pitch); every input read is < max_read ≤
                    // x.data.len() (checked above).
                    unsafe {
                        let c = out_ptr.get().add(panel * MR * pitch + col);
                        let b = x.data.as_ptr().add(col);
                        match isa {
                            #[cfg(target_arch = "x86_64")]
                            Isa::Avx512 => {
                                micro_avx512(kc, a.as_ptr(), b, offs.as_ptr(), c, pitch, k0 == 0)
                            }
                            #[cfg(target_arch = "x86_64")]
                            Isa::Avx2 => {
                                micro_avx2(kc, a.as_ptr(), b, offs.as_ptr(), c, pitch, k0 == 0)
                            }
                            _ => micro_portable(kc, a, b, offs, c, pitch, k0 == 0),
                        }
                    }
                }
            }
        }
    });
}

#[derive(Clone, Copy)]
pub(super) struct SendPtr(*mut f32);
// SAFETY: the tasks write disjoint parts (see `conv_taps` and `winograd::transform_weights`).
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    pub(super) fn new(p: *mut f32) -> Self {
        Self(p)
    }

    pub(super) fn get(self) -> *mut f32 {
        self.0
    }
}

/// The instruction set a kernel runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: the 8×48 tile in 24 zmm registers.
    Avx512,
    /// AVX2 + FMA: the tile as four 4×24 sub-tiles in 12 ymm registers each.
    Avx2,
    /// Portable Rust (auto-vectorised by the compiler for the build's target).
    Portable,
}

impl Isa {
    /// What this CPU can run, best first (for tests that compare every path with the
    /// definition).
    pub fn available() -> Vec<Isa> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                v.push(Isa::Avx2);
            }
        }
        v.push(Isa::Portable);
        v
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2+FMA",
            Isa::Portable => "portable",
        }
    }
}

/// The kernels' instruction set, chosen once from the CPU's features: the best of
/// [`Isa::available`], capped by `STYLEGAN_CPU_ISA=avx512|avx2|portable` (to measure on one
/// machine what CPUs without the wider units run; `STYLEGAN_NO_AVX512` / `STYLEGAN_NO_AVX2`
/// are the older spellings of `avx2` and `portable`).
pub fn isa() -> Isa {
    static ON: std::sync::OnceLock<Isa> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        let env = |v: &str| std::env::var(v).ok();
        let cap = match env("STYLEGAN_CPU_ISA").as_deref() {
            Some("avx512") | None => Isa::Avx512,
            Some("avx2") => Isa::Avx2,
            Some("portable") => Isa::Portable,
            Some(other) => {
                eprintln!(
                    "STYLEGAN_CPU_ISA={other} is not one of avx512, avx2, portable; not capping"
                );
                Isa::Avx512
            }
        };
        let cap = if env("STYLEGAN_NO_AVX2").is_some() {
            Isa::Portable
        } else if env("STYLEGAN_NO_AVX512").is_some() && cap == Isa::Avx512 {
            Isa::Avx2
        } else {
            cap
        };
        // `Isa` is ordered best first; take the best available at or below the cap.
        let rank = |i: Isa| match i {
            Isa::Avx512 => 0,
            Isa::Avx2 => 1,
            Isa::Portable => 2,
        };
        Isa::available()
            .into_iter()
            .find(|&i| rank(i) >= rank(cap))
            .unwrap_or(Isa::Portable)
    })
}

/// A kernel choice forced from the environment (to compare kernels), read once into `cell`:
/// `Some(value != "0")` where `var` is set, `None` otherwise.
pub(super) fn env_switch(
    cell: &'static std::sync::OnceLock<Option<bool>>,
    var: &str,
) -> Option<bool> {
    *cell.get_or_init(|| std::env::var(var).ok().map(|v| v != "0"))
}

/// The 8×48 micro-kernel: `C[r, j] (+)= Σ_k a[k·8 + r] · b[off_k + j]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn micro_avx512(
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

/// The 8×48 micro-kernel with AVX2 + FMA: 16 ymm registers hold one 4-row × 24-column
/// sub-tile (12 accumulators, 3 input vectors, 1 broadcast weight), so the tile is four passes
/// over the `kc` pairs (the input strip and weights stay in L1 between them).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn micro_avx2(
    kc: usize,
    a: *const f32,
    b: *const f32,
    offs: *const usize,
    c: *mut f32,
    ldc: usize,
    first: bool,
) {
    use std::arch::x86_64::*;
    for rh in 0..2 {
        for ch in 0..2 {
            let (r0, c0) = (rh * 4, ch * 24);
            let mut acc = [[_mm256_setzero_ps(); 3]; 4];
            if !first {
                for (r, row) in acc.iter_mut().enumerate() {
                    for (j, v) in row.iter_mut().enumerate() {
                        *v = _mm256_loadu_ps(c.add((r0 + r) * ldc + c0 + 8 * j));
                    }
                }
            }
            for kk in 0..kc {
                let bp = b.add(*offs.add(kk) + c0);
                let b0 = _mm256_loadu_ps(bp);
                let b1 = _mm256_loadu_ps(bp.add(8));
                let b2 = _mm256_loadu_ps(bp.add(16));
                let ap = a.add(kk * MR + r0);
                for (r, row) in acc.iter_mut().enumerate() {
                    let av = _mm256_set1_ps(*ap.add(r));
                    row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(av, b1, row[1]);
                    row[2] = _mm256_fmadd_ps(av, b2, row[2]);
                }
            }
            for (r, row) in acc.iter().enumerate() {
                for (j, v) in row.iter().enumerate() {
                    _mm256_storeu_ps(c.add((r0 + r) * ldc + c0 + 8 * j), *v);
                }
            }
        }
    }
}

/// The same micro-kernel in portable Rust.
///
/// # Safety
/// `b + off_k + NR` must stay inside the input and the `MR × NR` tile at `c` (row pitch `ldc`)
/// inside the output.
pub(super) unsafe fn micro_portable(
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
/// pitch `pitch`) into a dense `[O, out_h, out_w]` block of sample `sample`, applying `post` to
/// each plane while it is in cache.
#[allow(clippy::too_many_arguments)]
pub(super) fn compact(
    src: &[f32],
    outs: usize,
    pitch: usize,
    wp: usize,
    out_h: usize,
    out_w: usize,
    dst: &mut [f32],
    sample: usize,
    post: Option<&Epilogue>,
    isa: Isa,
) {
    dst.par_chunks_mut(out_h * out_w)
        .enumerate()
        .take(outs)
        .for_each(|(o, plane)| {
            for y in 0..out_h {
                plane[y * out_w..][..out_w].copy_from_slice(&src[o * pitch + y * wp..][..out_w]);
            }
            if let Some(post) = post {
                post.apply(sample, o, plane, isa);
            }
        });
}

/// Runs `f` on sample `s` of `x [N, C, H, W]`, zero-padded into this thread's scratch, with the
/// scratch's raw output buffer.
pub(super) fn with_padded_sample<R>(
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
