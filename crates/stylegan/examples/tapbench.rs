//! Times the training convolutions' tap-GEMMs (forward, weight gradient) on the
//! `stylegan bench --what train` layer shapes, in GFLOP/s (profiling aid).
use std::time::Instant;

use stylegan::ops::tap_gemm;

fn main() {
    let n = 16;
    for &(c, hw) in &[(32usize, 32usize), (64, 16), (64, 8), (64, 4)] {
        let xs = [n, c, hw, hw];
        let ws = [c, c, 3, 3];
        let x: Vec<f32> = (0..n * c * hw * hw).map(|i| (i % 7) as f32 * 0.1).collect();
        let wt: Vec<f32> = (0..c * c * 9).map(|i| (i % 5) as f32 * 0.1).collect();
        let flops = 2.0 * (n * c * c * 9 * hw * hw) as f64;
        let reps = (2_000_000_000.0 / flops).max(3.0) as usize;
        let t = Instant::now();
        let mut dy = Vec::new();
        for _ in 0..reps {
            dy = tap_gemm::conv2d(&x, xs, &wt, ws, 1).0;
        }
        let fwd = t.elapsed().as_secs_f64() / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(tap_gemm::conv2d_weight_grad(
                &x,
                xs,
                &dy,
                [n, c, hw, hw],
                3,
                1,
            ));
        }
        let wg = t.elapsed().as_secs_f64() / reps as f64;
        let d = stylegan::backend::cpu();
        let xt =
            burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(x.clone(), xs), &d);
        let wtt =
            burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(wt.clone(), ws), &d);
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(
                burn::tensor::module::conv2d(
                    xt.clone(),
                    wtt.clone(),
                    None,
                    burn::tensor::ops::ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
                )
                .into_data(),
            );
        }
        let bf = t.elapsed().as_secs_f64() / reps as f64;
        println!(
            "   burn-flex conv2d {:7.3} ms {:6.1} GFLOP/s",
            bf * 1e3,
            flops / bf / 1e9
        );
        println!(
            "{c}ch {hw:3}²  forward {:7.3} ms {:6.1} GFLOP/s   weight grad {:7.3} ms {:6.1} GFLOP/s",
            fwd * 1e3,
            flops / fwd / 1e9,
            wg * 1e3,
            flops / wg / 1e9
        );
    }
}
