//! The direct convolution kernels (`ops::direct_conv`) against burn-flex's convolutions on the
//! generator's layer shapes, measured in the same run: `cargo run --example dcbench`.
use std::time::Instant;

use burn::tensor::{
    module::{conv2d, conv_transpose2d},
    ops::{ConvOptions, ConvTransposeOptions},
    Tensor, TensorData,
};
use stylegan::ops::{direct_conv, tap_gemm};

/// Median seconds of `iters` runs after one warm-up.
fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..iters)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[iters / 2]
}

fn main() {
    let d = stylegan::backend::cpu();
    println!(
        "| layer | GFLOP | burn-flex ms | tap-GEMM ms | direct ms | direct GFLOP/s | speed-up vs burn-flex |"
    );
    println!("|---|---|---|---|---|---|---|");
    for &(c, o, r) in &[
        (512usize, 512usize, 64usize),
        (256, 256, 128),
        (128, 128, 256),
        (32, 32, 1024),
    ] {
        let x: Vec<f32> = (0..c * r * r)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let w: Vec<f32> = (0..o * c * 9)
            .map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let xt = Tensor::<4>::from_data(TensorData::new(x.clone(), [1, c, r, r]), &d);
        let wt = Tensor::<4>::from_data(TensorData::new(w.clone(), [o, c, 3, 3]), &d);
        let gflop = 2.0 * 9.0 * (c * o * r * r) as f64 / 1e9;
        let burn = time(3, || {
            let _ = conv2d(
                xt.clone(),
                wt.clone(),
                None,
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            )
            .into_data();
        });
        // The gemm crate's micro-kernels over shifted taps (what training runs).
        let taps = time(3, || {
            let _ = tap_gemm::conv2d(&x, [1, c, r, r], &w, [o, c, 3, 3], 1);
        });
        let direct = time(3, || {
            let _ = direct_conv::conv2d(&x, [1, c, r, r], &w, o, 3, 1, false);
        });
        println!(
            "| conv 3x3 {c}->{o} @{r} | {gflop:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2}x |",
            burn * 1e3,
            taps * 1e3,
            direct * 1e3,
            gflop / direct,
            burn / direct
        );
        // The up-conv of the next-lower resolution: stride-2 transposed conv from r/2.
        let h = r / 2;
        let xs = &x[..c * h * h];
        let xst = Tensor::<4>::from_data(TensorData::new(xs.to_vec(), [1, c, h, h]), &d);
        let gflop = gflop / 4.0;
        let burn = time(3, || {
            let _ = conv_transpose2d(
                xst.clone(),
                wt.clone().swap_dims(0, 1),
                None,
                ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1),
            )
            .into_data();
        });
        // The transposed conv as the adjoint of the stride-2 conv with the weight `[O, I]`
        // read as `[I, O]` (as training's `tap_conv_transpose2d_s2`).
        let wio: Vec<f32> = (0..c * o * 9)
            .map(|j| {
                let (i, rest) = (j / (o * 9), j % (o * 9));
                let (oo, t) = (rest / 9, rest % 9);
                w[(oo * c + i) * 9 + t]
            })
            .collect();
        let taps = time(3, || {
            let _ = tap_gemm::conv2d_s2_input_grad(
                xs,
                [1, c, h, h],
                &wio,
                [c, o, 3, 3],
                [2 * h + 1, 2 * h + 1],
            );
        });
        let direct = time(3, || {
            let _ = direct_conv::conv_transpose2d_s2(xs, [1, c, h, h], &w, o, false);
        });
        println!(
            "| transposed 3x3 s2 {c}->{o} @{h} | {gflop:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.2}x |",
            burn * 1e3,
            taps * 1e3,
            direct * 1e3,
            gflop / direct,
            burn / direct
        );
    }
}
