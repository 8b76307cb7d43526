//! `conv2d_resample` (FORMATS.md §2.5): a convolution with optional 2× up- or downsampling
//! through the FIR filter, in the official order for each case. Weight `[O, I, k, k]`.

use burn::tensor::{
    module::{conv2d, conv_transpose2d},
    ops::{ConvOptions, ConvTransposeOptions},
    Tensor,
};

use super::direct_conv;
use super::upfirdn2d::{upfirdn2d, Filter};

fn plain(x: Tensor<4>, w: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    let [_, _, kh, kw] = w.dims();
    if stride == 1 && kh == kw && kh > 1 && direct_conv::applies(&x, &w) {
        return direct_conv::conv2d_tensor(x, w, padding);
    }
    conv2d(
        x,
        w,
        None,
        ConvOptions::new([stride, stride], [padding, padding], [1, 1], 1),
    )
}

/// `conv2d_resample(x, w, f, up, down, padding)` with `flip_weight = (up == 1)`.
pub fn conv2d_resample(
    x: Tensor<4>,
    w: Tensor<4>,
    f: &Filter,
    up: usize,
    down: usize,
    padding: usize,
) -> Tensor<4> {
    let [_, _, kh, kw] = w.dims();
    let (fw, fh, p) = (f.w as i64, f.h as i64, padding as i64);
    let (kh, kw) = (kh as i64, kw as i64);
    if up > 1 {
        let u = up as i64;
        let (px0, px1) = (p + (fw + u - 1) / 2, p + (fw - u) / 2);
        let (py0, py1) = (p + (fh + u - 1) / 2, p + (fh - u) / 2);
        if kh == 1 && kw == 1 {
            // 1×1 conv first, then upsample with the filter.
            return upfirdn2d(
                plain(x, w, 1, 0),
                f,
                up,
                1,
                [px0, px1, py0, py1],
                (up * up) as f64,
            );
        }
        // Transposed conv (weight not flipped), then the filter.
        let (px0, px1, py0, py1) = (
            px0 - (kw - 1),
            px1 - (kw - u),
            py0 - (kh - 1),
            py1 - (kh - u),
        );
        let pxt = (-px0).min(-px1).max(0);
        let pyt = (-py0).min(-py1).max(0);
        let y = if up == 2
            && kh == 3
            && kw == 3
            && pxt == 0
            && pyt == 0
            && direct_conv::applies(&x, &w)
        {
            direct_conv::conv_transpose2d_s2_tensor(x, w)
        } else {
            conv_transpose2d(
                x,
                w.swap_dims(0, 1),
                None,
                ConvTransposeOptions::new(
                    [up, up],
                    [pyt as usize, pxt as usize],
                    [0, 0],
                    [1, 1],
                    1,
                ),
            )
        };
        return upfirdn2d(
            y,
            f,
            1,
            1,
            [px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt],
            (up * up) as f64,
        );
    }
    if down > 1 {
        let d = down as i64;
        let pad = [
            p + (fw - d + 1) / 2,
            p + (fw - d) / 2,
            p + (fh - d + 1) / 2,
            p + (fh - d) / 2,
        ];
        if kh == 1 && kw == 1 {
            // Downsample with the filter first, then the 1×1 conv.
            return plain(upfirdn2d(x, f, 1, down, pad, 1.0), w, 1, 0);
        }
        // Filter (padding only), then a strided conv.
        return plain(upfirdn2d(x, f, 1, 1, pad, 1.0), w, down, 0);
    }
    plain(x, w, 1, padding)
}
