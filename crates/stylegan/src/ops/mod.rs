//! Numerical kernels with the semantics of NVIDIA's `torch_utils/ops` reference paths
//! (FORMATS.md §2). Architecture code lives in `models/`; these know nothing of StyleGAN layers.

/// Run an `#[inline(always)]` loop body compiled for the kernels' instruction set: the
/// function is inlined into a `#[target_feature]` wrapper per ISA, so the compiler vectorises
/// it with AVX2+FMA or AVX-512 instead of the build's baseline SSE2 (the same loop, a wider
/// machine; `Isa` is chosen once at run time).
macro_rules! multiversion {
    ($isa:expr, $f:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,fma")]
            unsafe fn on_avx512<A: FnOnce()>(f: A) { f() }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn on_avx2<A: FnOnce()>(f: A) { f() }
            match $isa {
                // SAFETY: `isa()` reports only instruction sets the CPU has.
                Isa::Avx512 => unsafe { on_avx512(|| $f($($arg),*)) },
                Isa::Avx2 => unsafe { on_avx2(|| $f($($arg),*)) },
                Isa::Portable => $f($($arg),*),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            let _ = $isa;
            $f($($arg),*)
        }
    }};
}

pub mod bias_act;
pub mod conv2d_resample;
// Public only for `examples/dcbench.rs` (the kernel micro-benchmark); not a stable API.
#[doc(hidden)]
pub mod direct_conv;
pub mod filtered_lrelu;
pub mod modulated_conv;
pub(crate) mod polyphase;
#[doc(hidden)] // public for `examples/dcbench.rs`, which times it against the direct kernels
pub mod tap_gemm;
pub mod train_ops;
pub mod upfirdn2d;

pub use bias_act::{bias_act, Activation};
pub use conv2d_resample::conv2d_resample;
pub use modulated_conv::{modulated_conv2d, modulated_conv2d_bias_act, ConvTail};
pub use tap_gemm::gemm_isa;
pub use upfirdn2d::{downsample2d, upfirdn2d, upsample2d, Filter};

use burn::tensor::Tensor;

/// `x * rsqrt(mean(x², dim=1) + 1e-8)`.
pub fn normalize_2nd_moment(x: Tensor<2>) -> Tensor<2> {
    let inv = x
        .clone()
        .square()
        .mean_dim(1)
        .add_scalar(1e-8)
        .sqrt()
        .recip();
    x * inv
}

/// `torch.lerp(a, b, t)` as ATen computes it: `a + t·(b−a)` when |t| < 0.5, else `b − (b−a)·(1−t)`.
pub fn lerp<const D: usize>(a: Tensor<D>, b: Tensor<D>, t: f64) -> Tensor<D> {
    let diff = b.clone() - a.clone();
    if t.abs() < 0.5 {
        a + diff.mul_scalar(t as f32)
    } else {
        b - diff.mul_scalar((1.0 - t) as f32)
    }
}

/// Build an `[N, …]`-broadcastable shape that puts `c` on axis 1.
pub(crate) fn channel_shape<const D: usize>(c: usize) -> [usize; D] {
    let mut s = [1usize; D];
    s[1] = c;
    s
}
