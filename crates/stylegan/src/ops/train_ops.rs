//! Operations of training with their own backward passes, on the CPU:
//!
//! * the convolutions of `conv2d_resample` under autodiff — stride 1, the stride-2
//!   downsampling convolution and the stride-2 transposed upsampling convolution: forward, input
//!   gradient and weight gradient run through [`super::tap_gemm`] instead of burn-flex's im2col
//!   convolutions and their transposed-convolution backward;
//! * `bias_act` with a linear or leaky-ReLU activation: bias, activation, gain and clamp in one
//!   pass, and one pass back for the input and bias gradients (from the output alone: its sign
//!   and whether it reached the clamp), instead of five element-wise operations and their masks.
//!
//! burn 0.22 adds operations through a backend extension: [`TrainOps`] is implemented for the
//! CPU backend (`Flex`, the kernels) and for `Autodiff<B>` (records the op; its backward calls
//! the inner backend's kernels, see [`Conv`]). Other backends (the GPU) keep burn's own
//! operations, which [`conv2d`], [`conv2d_s2`], [`conv_transpose2d_s2`] and [`bias_act`] call
//! for them.

use burn::backend::{
    backend_extension, ops::FloatTensorOps, tensor::FloatTensor, Backend, Flex, TensorMetadata,
};
use burn::tensor::{
    module,
    ops::{ConvOptions, ConvTransposeOptions},
    DType, Device, Shape, Tensor, TensorData,
};
use burn_autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
    Autodiff, NodeId,
};

use std::borrow::Cow;

use rayon::prelude::*;

use super::bias_act::Activation;
use super::tap_gemm;

/// The operations of training as backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait TrainOps: Backend {
    /// `conv2d(x, weight)` with stride 1 and zero padding `pad` on every side.
    fn tap_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, pad: usize)
        -> FloatTensor<Self>;

    /// The weight gradient of [`TrainOps::tap_conv2d`] for output gradient `grad`, kernel
    /// size `k`. Used inside backward passes; not itself differentiable.
    fn tap_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pad: usize,
        k: usize,
    ) -> FloatTensor<Self>;

    /// `conv2d(x, weight)` with stride 2, no padding, a 3×3 kernel.
    fn tap_conv2d_s2(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The stride-2 transposed convolution of `conv2d_resample`'s upsampling path: `weight`
    /// `[O, I, 3, 3]` as given there (not flipped), output `2H + 1 × 2W + 1`.
    fn tap_conv_transpose2d_s2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The input gradient of [`TrainOps::tap_conv2d_s2`] for an `h × w` input. Used inside
    /// backward passes; not itself differentiable.
    fn tap_conv2d_s2_input_grad(
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        h: usize,
        w: usize,
    ) -> FloatTensor<Self>;

    /// The weight gradient of [`TrainOps::tap_conv2d_s2`]. Used inside backward passes; not
    /// itself differentiable.
    fn tap_conv2d_s2_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `x [N, C, H, W] + b [C]` → leaky ReLU (slope 0.2) when `lrelu` → `× gain` → clamp to
    /// `±clamp` (`f32::INFINITY`: none).
    fn fused_bias_act(
        x: FloatTensor<Self>,
        b: FloatTensor<Self>,
        lrelu: bool,
        gain: f32,
        clamp: f32,
    ) -> FloatTensor<Self>;

    /// The input and bias gradients of [`TrainOps::fused_bias_act`] from its output `y` and the
    /// output gradient `grad`. Used inside backward passes; not itself differentiable.
    fn fused_bias_act_grad(
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        lrelu: bool,
        gain: f32,
        clamp: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

fn dims4(t: &FloatTensor<Flex>) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// The f32 values of a Flex tensor in row-major order, borrowed when it is contiguous f32
/// (the usual case: autodiff keeps the tensors it checkpoints shared, and taking them by value
/// would copy them).
fn view(t: &FloatTensor<Flex>) -> Cow<'_, [f32]> {
    // (`as_slice` is `None` for another dtype or a non-contiguous layout.)
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(values(t.clone())),
    }
}

/// The f32 values of a Flex tensor in row-major order, taken (copied only when it is shared,
/// not contiguous or not f32). A shared tensor is copied once from its borrowed slice:
/// burn-flex's `into_data` would copy it to bytes and then again to realign them.
fn values(t: FloatTensor<Flex>) -> Vec<f32> {
    if !t.is_unique() {
        if let Some(s) = t.as_slice::<f32>() {
            return s.to_vec();
        }
    }
    let d = t.into_data();
    let d = if d.dtype() == DType::F32 {
        d
    } else {
        d.convert::<f32>()
    };
    d.try_into_vec::<f32>()
        .expect("train_ops: f32 data after conversion")
}

/// `t` after `f` has overwritten its values: in place when `t` is the only handle to a
/// contiguous f32 buffer (the usual case for a fresh sum; no copy), else on a copy.
fn update(mut t: FloatTensor<Flex>, f: impl FnOnce(&mut [f32])) -> FloatTensor<Flex> {
    if t.dtype() == DType::F32 && t.is_unique() {
        if let Some((start, end)) = t.layout().contiguous_offsets() {
            if let Some(s) = t.try_storage_mut::<f32>() {
                f(&mut s[start..end]);
                return t;
            }
        }
    }
    let shape = t.shape();
    let mut v = values(t);
    f(&mut v);
    burn_flex::FlexTensor::from_data(TensorData::new(v, shape))
}

/// Elements per parallel task of the element-wise kernels over `[N, C, plane]`: whole planes,
/// about 16 Ki elements (one plane per task would be 1–16 elements for the small layers and
/// the fully connected ones), and whole rows of `c` planes for 1-element planes.
fn chunk_len(plane: usize, c: usize) -> usize {
    let plane = plane.max(1);
    let planes = (16 * 1024 / plane).max(1);
    if plane == 1 {
        planes.div_ceil(c.max(1)) * c.max(1)
    } else {
        planes * plane
    }
}

fn flex(v: Vec<f32>, shape: [usize; 4]) -> FloatTensor<Flex> {
    burn_flex::FlexTensor::from_data(TensorData::new(v, Shape::from(shape.to_vec())))
}

impl TrainOps for Flex {
    fn tap_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        let (xs, ws) = (dims4(&x), dims4(&weight));
        let (y, shape) = tap_gemm::conv2d(&view(&x), xs, &view(&weight), ws, pad);
        flex(y, shape)
    }

    fn tap_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pad: usize,
        k: usize,
    ) -> FloatTensor<Self> {
        let (xs, gs) = (dims4(&x), dims4(&grad));
        let dw = tap_gemm::conv2d_weight_grad(&view(&x), xs, &view(&grad), gs, k, pad);
        flex(dw, [gs[1], xs[1], k, k])
    }

    fn tap_conv2d_s2(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        let (xs, ws) = (dims4(&x), dims4(&weight));
        let (y, shape) = tap_gemm::conv2d_s2(&view(&x), xs, &view(&weight), ws);
        flex(y, shape)
    }

    fn tap_conv_transpose2d_s2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        // The adjoint of the stride-2 convolution whose weight is `weightᵀ` [I, O, 3, 3].
        let [n, _, h, w] = dims4(&x);
        let v = Self::float_swap_dims(weight, 0, 1);
        let vs = dims4(&v);
        let y = tap_gemm::conv2d_s2_input_grad(
            &view(&x),
            [n, vs[0], h, w],
            &view(&v),
            vs,
            [2 * h + 1, 2 * w + 1],
        );
        flex(y, [n, vs[1], 2 * h + 1, 2 * w + 1])
    }

    fn tap_conv2d_s2_input_grad(
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        h: usize,
        w: usize,
    ) -> FloatTensor<Self> {
        let (gs, ws) = (dims4(&grad), dims4(&weight));
        let dx = tap_gemm::conv2d_s2_input_grad(&view(&grad), gs, &view(&weight), ws, [h, w]);
        flex(dx, [gs[0], ws[1], h, w])
    }

    fn tap_conv2d_s2_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (xs, gs) = (dims4(&x), dims4(&grad));
        let dw = tap_gemm::conv2d_s2_weight_grad(&view(&x), xs, &view(&grad), gs);
        flex(dw, [gs[1], xs[1], 3, 3])
    }

    fn fused_bias_act(
        x: FloatTensor<Self>,
        b: FloatTensor<Self>,
        lrelu: bool,
        gain: f32,
        clamp: f32,
    ) -> FloatTensor<Self> {
        let [_, c, h, w] = dims4(&x);
        let (plane, chunk) = (h * w, chunk_len(h * w, c));
        // In place: the input is usually a fresh sum (conv + noise) that nothing else holds.
        let b = view(&b);
        update(x, |v| {
            v.par_chunks_mut(chunk).enumerate().for_each(|(k, vk)| {
                let first = k * chunk / plane;
                for (j, p) in vk.chunks_mut(plane).enumerate() {
                    let bias = b[(first + j) % c];
                    for e in p.iter_mut() {
                        let t = *e + bias;
                        let t = if lrelu && t < 0.0 { t * 0.2 } else { t };
                        *e = (t * gain).clamp(-clamp, clamp);
                    }
                }
            })
        })
    }

    fn fused_bias_act_grad(
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        lrelu: bool,
        gain: f32,
        clamp: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [_, c, h, w] = dims4(&y);
        let (plane, chunk) = (h * w, chunk_len(h * w, c));
        let y = view(&y);
        // d/dt of clamp(gain·lrelu(t)): gain (× 0.2 where the output is not positive), 0 where
        // the clamp holds it (|y| = clamp; the same up to ties as the official reference ops).
        let grad_of = |gv: f32, yv: f32| {
            let slope = if lrelu && yv <= 0.0 { 0.2 * gain } else { gain };
            if yv.abs() < clamp {
                gv * slope
            } else {
                0.0
            }
        };
        let mut db = vec![0.0f32; c];
        let g = update(grad, |g| {
            // Each chunk of whole planes gives its per-channel sums; the chunks' sums are added.
            let parts: Vec<Vec<f32>> = g
                .par_chunks_mut(chunk)
                .zip(y.par_chunks(chunk))
                .enumerate()
                .map(|(k, (gk, yk))| {
                    let first = k * chunk / plane;
                    let mut sums = vec![0.0f32; c];
                    for (j, (gp, yp)) in gk.chunks_mut(plane).zip(yk.chunks(plane)).enumerate() {
                        // Sixteen running sums, so that the loop vectorises (one sum would be a
                        // chain of dependent additions).
                        let mut s16 = [0.0f32; 16];
                        let mut gc = gp.chunks_exact_mut(16);
                        let mut yc = yp.chunks_exact(16);
                        for (g16, y16) in (&mut gc).zip(&mut yc) {
                            for ((gv, &yv), s) in g16.iter_mut().zip(y16).zip(s16.iter_mut()) {
                                *gv = grad_of(*gv, yv);
                                *s += *gv;
                            }
                        }
                        for (gv, &yv) in gc.into_remainder().iter_mut().zip(yc.remainder()) {
                            *gv = grad_of(*gv, yv);
                            s16[0] += *gv;
                        }
                        sums[(first + j) % c] += s16.iter().sum::<f32>();
                    }
                    sums
                })
                .collect();
            for part in parts {
                for (d, s) in db.iter_mut().zip(part) {
                    *d += s;
                }
            }
        });
        (
            g,
            burn_flex::FlexTensor::from_data(TensorData::new(db, Shape::from(vec![c]))),
        )
    }
}

/// The three convolutions of training, as one recorded autodiff operation.
#[derive(Clone, Copy, Debug)]
enum Conv {
    /// Stride 1, zero padding `pad`.
    Stride1 { pad: usize },
    /// Stride 2, 3×3, no padding.
    Stride2,
    /// The stride-2 transposed convolution of `conv2d_resample` (3×3, weight not flipped).
    Transposed2,
}

impl Conv {
    fn forward<B: TrainOps>(self, x: FloatTensor<B>, w: FloatTensor<B>) -> FloatTensor<B> {
        match self {
            Conv::Stride1 { pad } => B::tap_conv2d(x, w, pad),
            Conv::Stride2 => B::tap_conv2d_s2(x, w),
            Conv::Transposed2 => B::tap_conv_transpose2d_s2(x, w),
        }
    }

    /// The gradient with respect to the input.
    fn input_grad<B: TrainOps>(
        self,
        x: &FloatTensor<B>,
        w: FloatTensor<B>,
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        match self {
            // The convolution of dY with flip(W)ᵀ and padding k − 1 − pad: a stride-1
            // convolution of the same kind, through the same kernels.
            Conv::Stride1 { pad } => {
                let k = w.shape()[2];
                let wt = B::float_flip(B::float_swap_dims(w, 0, 1), &[2, 3]);
                B::tap_conv2d(grad, wt, k - 1 - pad)
            }
            Conv::Stride2 => B::tap_conv2d_s2_input_grad(grad, w, x.shape()[2], x.shape()[3]),
            // y is the input gradient of the stride-2 convolution with weight wᵀ, so its own
            // input gradient is that convolution of dY.
            Conv::Transposed2 => B::tap_conv2d_s2(grad, B::float_swap_dims(w, 0, 1)),
        }
    }

    /// The gradient with respect to the weight.
    fn weight_grad<B: TrainOps>(
        self,
        x: FloatTensor<B>,
        w: &FloatTensor<B>,
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        match self {
            Conv::Stride1 { pad } => B::tap_conv2d_weight_grad(x, grad, pad, w.shape()[2]),
            Conv::Stride2 => B::tap_conv2d_s2_weight_grad(x, grad),
            // The transposed weight gradient of that stride-2 convolution, with dY as its
            // input and x as its output gradient.
            Conv::Transposed2 => B::float_swap_dims(B::tap_conv2d_s2_weight_grad(grad, x), 0, 1),
        }
    }
}

#[derive(Debug)]
struct ConvOp;

impl<B: Backend + TrainOps> Backward<B, 2> for ConvOp {
    type State = (NodeId, NodeId, Conv);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_w] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, w_state, conv) = ops.state;
        let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x_state);
        let w = checkpointer.retrieve_node_output::<FloatTensor<B>>(w_state);
        match (node_x, node_w) {
            // Both gradients: computed at the same time. Each GEMM already splits its columns
            // between the threads, but the small layers (4²–16², few columns) leave a core idle
            // for much of each; two independent ones fill it.
            (Some(nx), Some(nw)) => {
                let (dx, dw) = rayon::join(
                    || conv.input_grad::<B>(&x, w.clone(), grad.clone()),
                    || conv.weight_grad::<B>(x.clone(), &w, grad.clone()),
                );
                grads.register::<B>(nx.id, dx);
                grads.register::<B>(nw.id, dw);
            }
            (Some(nx), None) => {
                grads.register::<B>(nx.id, conv.input_grad::<B>(&x, w, grad));
            }
            (None, Some(nw)) => {
                grads.register::<B>(nw.id, conv.weight_grad::<B>(x, &w, grad));
            }
            (None, None) => {}
        }
    }
}

/// Runs `conv` on the inner backend and records it (inputs checkpointed) where either input is
/// tracked.
fn record<B: Backend + TrainOps, C: CheckpointStrategy>(
    conv: Conv,
    x: FloatTensor<Autodiff<B, C>>,
    w: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    match ConvOp
        .prepare::<C>([x.node(), w.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let w_state = prep.checkpoint(&w);
            prep.finish(
                (x_state, w_state, conv),
                conv.forward::<B>(x.into_primitive(), w.into_primitive()),
            )
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(conv.forward::<B>(x.into_primitive(), w.into_primitive()))
        }
    }
}

impl<B: Backend + TrainOps, C: CheckpointStrategy> TrainOps for Autodiff<B, C> {
    fn tap_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        record::<B, C>(Conv::Stride1 { pad }, x, weight)
    }

    fn tap_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pad: usize,
        k: usize,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::tap_conv2d_weight_grad(
            x.into_primitive(),
            grad.into_primitive(),
            pad,
            k,
        ))
    }

    fn tap_conv2d_s2(x: FloatTensor<Self>, weight: FloatTensor<Self>) -> FloatTensor<Self> {
        record::<B, C>(Conv::Stride2, x, weight)
    }

    fn tap_conv_transpose2d_s2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        record::<B, C>(Conv::Transposed2, x, weight)
    }

    fn tap_conv2d_s2_input_grad(
        grad: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        h: usize,
        w: usize,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::tap_conv2d_s2_input_grad(
            grad.into_primitive(),
            weight.into_primitive(),
            h,
            w,
        ))
    }

    fn tap_conv2d_s2_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        FloatTensor::<Self>::new(B::tap_conv2d_s2_weight_grad(
            x.into_primitive(),
            grad.into_primitive(),
        ))
    }

    fn fused_bias_act(
        x: FloatTensor<Self>,
        b: FloatTensor<Self>,
        lrelu: bool,
        gain: f32,
        clamp: f32,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct BiasAct;

        impl<B: Backend + TrainOps> Backward<B, 2> for BiasAct {
            type State = (FloatTensor<B>, bool, f32, f32);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_b] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (y, lrelu, gain, clamp) = ops.state;
                let (dx, db) = B::fused_bias_act_grad(y, grad, lrelu, gain, clamp);
                if let Some(node) = node_x {
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_b {
                    grads.register::<B>(node.id, db);
                }
            }
        }

        let prep = BiasAct
            .prepare::<C>([x.node(), b.node()])
            .compute_bound()
            .stateful();
        let y = B::fused_bias_act(x.into_primitive(), b.into_primitive(), lrelu, gain, clamp);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((y.clone(), lrelu, gain, clamp), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_bias_act_grad(
        y: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        lrelu: bool,
        gain: f32,
        clamp: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, db) = B::fused_bias_act_grad(
            y.into_primitive(),
            grad.into_primitive(),
            lrelu,
            gain,
            clamp,
        );
        (FloatTensor::<Self>::new(dx), FloatTensor::<Self>::new(db))
    }
}

/// Whether the convolutions here run the tap-GEMM kernels for these tensors: on the CPU
/// backend, with or without autodiff, for a square kernel and padding below its size (the
/// stride-1 input gradient is then a convolution of the same kind).
fn applies(x: &Tensor<4>, w: &Tensor<4>, pad: usize) -> bool {
    let [_, _, kh, kw] = w.dims();
    x.device().inner() == Device::flex()
        && kh == kw
        && pad < kh
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
}

/// `conv2d(x, w, stride 1, padding pad)`, differentiable; the tap-GEMM kernels where
/// [`applies`], burn's `conv2d` elsewhere.
pub fn conv2d(x: Tensor<4>, w: Tensor<4>, pad: usize) -> Tensor<4> {
    if !applies(&x, &w, pad) {
        return module::conv2d(x, w, None, ConvOptions::new([1, 1], [pad, pad], [1, 1], 1));
    }
    let y = <burn::backend::Dispatch as TrainOps>::tap_conv2d(
        x.into_dispatch(),
        w.into_dispatch(),
        pad,
    );
    Tensor::from_dispatch(y)
}

/// `conv2d(x, w, stride 2, no padding)` for a 3×3 `w [O, I, 3, 3]` (the downsampling
/// convolution of `conv2d_resample`, after its filter), differentiable; the tap-GEMM kernels
/// on the CPU (four input phases, see `tap_gemm`), burn's `conv2d` elsewhere.
pub fn conv2d_s2(x: Tensor<4>, w: Tensor<4>) -> Tensor<4> {
    let [_, _, h, wd] = x.dims();
    if !applies(&x, &w, 0) || w.dims()[2] != 3 || h < 3 || wd < 3 {
        return module::conv2d(x, w, None, ConvOptions::new([2, 2], [0, 0], [1, 1], 1));
    }
    let y =
        <burn::backend::Dispatch as TrainOps>::tap_conv2d_s2(x.into_dispatch(), w.into_dispatch());
    Tensor::from_dispatch(y)
}

/// The stride-2 transposed convolution of `conv2d_resample`'s upsampling path (`w [O, I, 3, 3]`
/// as it is given there, not flipped; output `2H + 1`), differentiable; the tap-GEMM kernels
/// on the CPU (the adjoint of the stride-2 convolution), burn's `conv_transpose2d` elsewhere.
pub fn conv_transpose2d_s2(x: Tensor<4>, w: Tensor<4>) -> Tensor<4> {
    if !applies(&x, &w, 0) || w.dims()[2] != 3 {
        return module::conv_transpose2d(
            x,
            w.swap_dims(0, 1),
            None,
            ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1),
        );
    }
    let y = <burn::backend::Dispatch as TrainOps>::tap_conv_transpose2d_s2(
        x.into_dispatch(),
        w.into_dispatch(),
    );
    Tensor::from_dispatch(y)
}

/// `bias_act` for a linear or leaky-ReLU activation in training: one operation with its own
/// backward on the CPU backend (`None` elsewhere, and for other activations, so that the
/// caller composes burn's operations). `x` is `[N, C, …]` with the bias on axis 1.
pub fn bias_act<const D: usize>(
    x: &Tensor<D>,
    bias: Option<&Tensor<1>>,
    act: Activation,
    gain: f64,
    clamp: Option<f64>,
) -> Option<Tensor<D>> {
    let dims = x.dims();
    let lrelu = match act {
        Activation::Lrelu => true,
        Activation::Linear => false,
        _ => return None,
    };
    if D < 2
        || x.device().inner() != Device::flex()
        || x.dtype() != DType::F32
        || bias.is_some_and(|b| b.dims() != [dims[1]] || b.dtype() != DType::F32)
    {
        return None;
    }
    let rest: usize = dims[2..].iter().product();
    let x4 = x.clone().reshape([dims[0], dims[1], rest, 1]);
    let b = match bias {
        Some(b) => b.clone(),
        None => Tensor::zeros([dims[1]], &x.device().inner()),
    };
    let clamp = clamp.map_or(f32::INFINITY, |c| c as f32);
    let y = <burn::backend::Dispatch as TrainOps>::fused_bias_act(
        x4.into_dispatch(),
        b.into_dispatch(),
        lrelu,
        gain as f32,
        clamp,
    );
    Some(Tensor::<4>::from_dispatch(y).reshape(dims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_abs<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// `update` writes in place only into a buffer nothing else holds: a shared tensor's other
    /// handle keeps its values, a sole handle is updated without a copy.
    #[test]
    fn update_never_writes_through_a_shared_buffer() {
        let t = flex(vec![1.0, 2.0, 3.0, 4.0], [1, 1, 2, 2]);
        let other = t.clone();
        let u = update(t, |v| v.iter_mut().for_each(|e| *e *= 10.0));
        assert_eq!(view(&other).as_ref(), &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(view(&u).as_ref(), &[10.0, 20.0, 30.0, 40.0]);
        drop(other);
        let before = view(&u).as_ptr();
        let u = update(u, |v| v.iter_mut().for_each(|e| *e += 1.0));
        assert_eq!(view(&u).as_ref(), &[11.0, 21.0, 31.0, 41.0]);
        assert_eq!(
            view(&u).as_ptr(),
            before,
            "a sole handle is updated in place"
        );
    }

    /// Under autodiff, the op's output and the gradients of x and w match burn's own conv2d
    /// (x and w both tracked, and each alone), for 3×3 with padding 1 and 0 and for 1×1.
    #[test]
    fn gradients_match_burns_conv2d() {
        let dev = Device::flex().autodiff();
        for &(n, i, o, h, w, k, pad) in &[
            (2, 3, 4, 6, 5, 3, 1),
            (3, 2, 5, 5, 7, 3, 0),
            (2, 4, 3, 4, 4, 1, 0),
        ] {
            let x0 = Tensor::<4>::random([n, i, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let w0 = Tensor::<4>::random([o, i, k, k], Distribution::Normal(0.0, 1.0), &dev);
            let (ho, wo) = (h + 2 * pad + 1 - k, w + 2 * pad + 1 - k);
            let g = Tensor::<4>::random([n, o, ho, wo], Distribution::Normal(0.0, 1.0), &dev);
            for (track_x, track_w) in [(true, true), (true, false), (false, true)] {
                let leaf = |t: &Tensor<4>, on: bool| {
                    if on {
                        t.clone().require_grad()
                    } else {
                        t.clone()
                    }
                };
                let (xa, wa) = (leaf(&x0, track_x), leaf(&w0, track_w));
                let (xb, wb) = (leaf(&x0, track_x), leaf(&w0, track_w));
                assert!(applies(&xa, &wa, pad));
                let ya = conv2d(xa.clone(), wa.clone(), pad);
                let yb = module::conv2d(
                    xb.clone(),
                    wb.clone(),
                    None,
                    ConvOptions::new([1, 1], [pad, pad], [1, 1], 1),
                );
                assert_eq!(ya.dims(), [n, o, ho, wo]);
                let d = max_abs(ya.clone().inner(), yb.clone().inner());
                assert!(d < 1e-4, "forward {:?}: {d}", (n, i, o, h, w, k, pad));
                let ga = (ya * g.clone()).sum().backward();
                let gb = (yb * g.clone()).sum().backward();
                if track_x {
                    let d = max_abs(xa.grad(&ga).unwrap(), xb.grad(&gb).unwrap());
                    assert!(d < 1e-4, "dx {:?}: {d}", (n, i, o, h, w, k, pad));
                }
                if track_w {
                    let d = max_abs(wa.grad(&ga).unwrap(), wb.grad(&gb).unwrap());
                    assert!(d < 1e-3, "dw {:?}: {d}", (n, i, o, h, w, k, pad));
                }
            }
        }
    }

    /// The fused `bias_act` under autodiff gives the values and the input and bias gradients of
    /// the composed operations, for leaky ReLU and linear, with and without clamp (values
    /// beyond it included), gain 1 and √2, 4-D and 2-D inputs.
    #[test]
    fn fused_bias_act_matches_the_composed_operations() {
        let dev = Device::flex().autodiff();
        let composed =
            |x: Tensor<4>, b: Tensor<1>, act: Activation, gain: f64, clamp: Option<f64>| {
                let c = b.dims()[0];
                let mut y = act.apply(x + b.reshape([1, c, 1, 1]));
                if gain != 1.0 {
                    y = y.mul_scalar(gain as f32);
                }
                match clamp {
                    Some(c) => y.clamp(-c as f32, c as f32),
                    None => y,
                }
            };
        for (act, gain, clamp) in [
            (Activation::Lrelu, std::f64::consts::SQRT_2, Some(1.5)),
            (Activation::Lrelu, std::f64::consts::SQRT_2, None),
            (Activation::Linear, 1.0, Some(0.7)),
            (Activation::Linear, 1.0, None),
        ] {
            // One task; several tasks of whole planes with a short last one; 1-element planes
            // (rows of c) over several tasks.
            for shape in [[3, 5, 4, 6], [3, 5, 64, 64], [3000, 7, 1, 1]] {
                let x0 = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.5), &dev);
                let b0 = Tensor::<1>::random([shape[1]], Distribution::Normal(0.0, 1.0), &dev);
                let g = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &dev);
                let (xa, ba) = (x0.clone().require_grad(), b0.clone().require_grad());
                let (xb, bb) = (x0.clone().require_grad(), b0.clone().require_grad());
                let ya = bias_act(&xa, Some(&ba), act, gain, clamp).expect("applies on the CPU");
                let yb = composed(xb.clone(), bb.clone(), act, gain, clamp);
                let d = max_abs(ya.clone().inner(), yb.clone().inner());
                assert!(
                    d < 1e-6,
                    "{act:?} {clamp:?} {shape:?}: values differ by {d}"
                );
                let ga = (ya * g.clone()).sum().backward();
                let gb = (yb * g.clone()).sum().backward();
                let dx = max_abs(xa.grad(&ga).unwrap(), xb.grad(&gb).unwrap());
                let db = max_abs(ba.grad(&ga).unwrap(), bb.grad(&gb).unwrap());
                assert!(
                    dx < 1e-5 && db < 1e-4 * (shape[0] * shape[2] * shape[3]) as f32 / 24.0,
                    "{act:?} {clamp:?} {shape:?}: dx {dx}, db {db}"
                );
            }
        }
        // 2-D (fully connected layers), no bias.
        let x0 = Tensor::<2>::random([4, 7], Distribution::Normal(0.0, 1.0), &dev).require_grad();
        let y = bias_act(&x0, None, Activation::Lrelu, 2.0, None).unwrap();
        assert_eq!(y.dims(), [4, 7]);
        let want = burn::tensor::activation::leaky_relu(x0.clone().inner(), 0.2).mul_scalar(2.0);
        assert!(max_abs(y.clone().inner(), want) < 1e-6);
        let gr = y.sum().backward();
        let dx: Vec<f32> = crate::backend::to_vec(&x0.grad(&gr).unwrap()).unwrap();
        let xv = crate::backend::to_vec(&x0.clone().inner()).unwrap();
        for (d, x) in dx.iter().zip(xv) {
            assert_eq!(*d, if x > 0.0 { 2.0 } else { 0.4 });
        }
        // Other activations are left to the composed operations.
        assert!(bias_act(&x0, None, Activation::Tanh, 1.0, None).is_none());
    }

    /// The stride-2 convolution and transposed convolution give what burn's give, values and
    /// gradients, on odd and even sizes.
    #[test]
    fn strided_forms_match_burns_convolutions() {
        let dev = Device::flex().autodiff();
        for &(n, i, o, h, w) in &[(2, 3, 4, 9, 7), (1, 2, 3, 8, 8), (3, 4, 2, 5, 6)] {
            let x0 = Tensor::<4>::random([n, i, h, w], Distribution::Normal(0.0, 1.0), &dev);
            let w0 = Tensor::<4>::random([o, i, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
            let (xa, wa) = (x0.clone().require_grad(), w0.clone().require_grad());
            let (xb, wb) = (x0.clone().require_grad(), w0.clone().require_grad());
            let ya = conv2d_s2(xa.clone(), wa.clone());
            let yb = module::conv2d(
                xb.clone(),
                wb.clone(),
                None,
                ConvOptions::new([2, 2], [0, 0], [1, 1], 1),
            );
            assert_eq!(ya.dims(), yb.dims());
            assert!(max_abs(ya.clone().inner(), yb.clone().inner()) < 1e-4);
            let g = Tensor::<4>::random(ya.dims(), Distribution::Normal(0.0, 1.0), &dev);
            let (ga, gb) = ((ya * g.clone()).sum().backward(), (yb * g).sum().backward());
            assert!(
                max_abs(xa.grad(&ga).unwrap(), xb.grad(&gb).unwrap()) < 1e-4,
                "conv s2 dx {h}x{w}"
            );
            assert!(
                max_abs(wa.grad(&ga).unwrap(), wb.grad(&gb).unwrap()) < 1e-3,
                "conv s2 dw {h}x{w}"
            );

            let (xa, wa) = (x0.clone().require_grad(), w0.clone().require_grad());
            let (xb, wb) = (x0.clone().require_grad(), w0.clone().require_grad());
            let ya = conv_transpose2d_s2(xa.clone(), wa.clone());
            let yb = module::conv_transpose2d(
                xb.clone(),
                wb.clone().swap_dims(0, 1),
                None,
                ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1),
            );
            assert_eq!(ya.dims(), [n, o, 2 * h + 1, 2 * w + 1]);
            assert_eq!(ya.dims(), yb.dims());
            assert!(max_abs(ya.clone().inner(), yb.clone().inner()) < 1e-4);
            let g = Tensor::<4>::random(ya.dims(), Distribution::Normal(0.0, 1.0), &dev);
            let (ga, gb) = ((ya * g.clone()).sum().backward(), (yb * g).sum().backward());
            assert!(
                max_abs(xa.grad(&ga).unwrap(), xb.grad(&gb).unwrap()) < 1e-4,
                "transposed dx {h}x{w}"
            );
            assert!(
                max_abs(wa.grad(&ga).unwrap(), wb.grad(&gb).unwrap()) < 1e-3,
                "transposed dw {h}x{w}"
            );
        }
    }
}
