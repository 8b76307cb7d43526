//! The stride-1 convolution of training (`conv2d_resample`'s plain case under autodiff) as one
//! burn operation with its own backward pass: forward, input gradient and weight gradient run
//! through [`super::tap_gemm`] on the CPU instead of burn-flex's im2col convolution and its
//! transposed-convolution backward.
//!
//! burn 0.22 adds operations through a backend extension: [`TapConvOps`] is implemented for the
//! CPU backend (`Flex`, the kernels) and for `Autodiff<B>` (records the op; its backward calls
//! the inner backend's kernels: the input gradient is the convolution of the output gradient
//! with the flipped, transposed kernel, the weight gradient a correlation). Other backends (the
//! GPU) keep burn's own `conv2d`, which [`conv2d`] calls for them.

use burn::backend::{backend_extension, tensor::FloatTensor, Backend, Flex, TensorMetadata};
use burn::tensor::{module, ops::ConvOptions, DType, Device, Shape, Tensor, TensorData};
use burn_autodiff::{
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
    Autodiff, NodeId,
};

use super::tap_gemm;

/// The training convolution as a backend operation.
#[backend_extension(Flex, Autodiff)]
pub trait TapConvOps: Backend {
    /// `conv2d(x, weight)` with stride 1 and zero padding `pad` on every side.
    fn tap_conv2d(x: FloatTensor<Self>, weight: FloatTensor<Self>, pad: usize)
        -> FloatTensor<Self>;

    /// The weight gradient of [`TapConvOps::tap_conv2d`] for output gradient `grad`, kernel
    /// size `k`. Used inside backward passes; not itself differentiable.
    fn tap_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pad: usize,
        k: usize,
    ) -> FloatTensor<Self>;
}

fn dims4(t: &FloatTensor<Flex>) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

/// The f32 values of a Flex tensor in row-major order (copied only when it is not contiguous
/// f32 already).
fn values(t: FloatTensor<Flex>) -> Vec<f32> {
    let d = t.into_data();
    let d = if d.dtype() == DType::F32 {
        d
    } else {
        d.convert::<f32>()
    };
    d.try_into_vec::<f32>()
        .expect("train_conv: f32 data after conversion")
}

fn flex(v: Vec<f32>, shape: [usize; 4]) -> FloatTensor<Flex> {
    burn_flex::FlexTensor::from_data(TensorData::new(v, Shape::from(shape.to_vec())))
}

impl TapConvOps for Flex {
    fn tap_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        let (xs, ws) = (dims4(&x), dims4(&weight));
        let (y, shape) = tap_gemm::conv2d(&values(x), xs, &values(weight), ws, pad);
        flex(y, shape)
    }

    fn tap_conv2d_weight_grad(
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pad: usize,
        k: usize,
    ) -> FloatTensor<Self> {
        let (xs, gs) = (dims4(&x), dims4(&grad));
        let dw = tap_gemm::conv2d_weight_grad(&values(x), xs, &values(grad), gs, k, pad);
        flex(dw, [gs[1], xs[1], k, k])
    }
}

impl<B: Backend + TapConvOps, C: CheckpointStrategy> TapConvOps for Autodiff<B, C> {
    fn tap_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        pad: usize,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct TapConv;

        impl<B: Backend + TapConvOps> Backward<B, 2> for TapConv {
            type State = (NodeId, NodeId, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let [node_x, node_w] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (x_state, w_state, pad) = ops.state;
                let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
                let w = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(w_state);
                let k = w.shape()[2];
                if let Some(node) = node_x {
                    // dX = conv(dY, flip(W)ᵀ) with padding k − 1 − pad: a stride-1 convolution
                    // of the same kind, through the same kernels.
                    let wt = B::float_flip(B::float_swap_dims(w.clone(), 0, 1), &[2, 3]);
                    let dx = B::tap_conv2d(grad.clone(), wt, k - 1 - pad);
                    grads.register::<B>(node.id, dx);
                }
                if let Some(node) = node_w {
                    grads.register::<B>(node.id, B::tap_conv2d_weight_grad(x, grad, pad, k));
                }
            }
        }

        match TapConv
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let w_state = prep.checkpoint(&weight);
                prep.finish(
                    (x_state, w_state, pad),
                    B::tap_conv2d(x.into_primitive(), weight.into_primitive(), pad),
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::tap_conv2d(
                x.into_primitive(),
                weight.into_primitive(),
                pad,
            )),
        }
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
}

/// Whether [`conv2d`] runs the tap-GEMM kernels for these tensors: on the CPU backend, with or
/// without autodiff, for a square kernel and padding below its size (the input gradient is then
/// a convolution of the same kind).
pub fn applies(x: &Tensor<4>, w: &Tensor<4>, pad: usize) -> bool {
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
    let y = <burn::backend::Dispatch as TapConvOps>::tap_conv2d(
        x.into_dispatch(),
        w.into_dispatch(),
        pad,
    );
    Tensor::from_dispatch(y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_abs<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
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
}
