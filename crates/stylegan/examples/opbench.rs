//! Times the synthesis building blocks in isolation (profiling aid for `stylegan bench`).
use std::time::Instant;

use burn::tensor::{
    module::{conv2d, conv_transpose2d},
    ops::{ConvOptions, ConvTransposeOptions},
    Distribution, Tensor,
};
use stylegan::ops::{upfirdn2d, Filter};

fn time(name: &str, f: impl Fn() -> Tensor<4>) {
    let _ = f().into_data();
    let t = Instant::now();
    let n = 3;
    for _ in 0..n {
        let _ = f().into_data();
    }
    println!(
        "{name:40} {:8.1} ms",
        t.elapsed().as_secs_f64() * 1000.0 / n as f64
    );
}

fn main() {
    let d = stylegan::backend::cpu();
    let n: usize = std::env::args().nth(1).map_or(1, |s| s.parse().unwrap());
    let f = Filter::from_taps_1d(&[1.0, 3.0, 3.0, 1.0], &d).unwrap();
    let x = Tensor::<4>::random([n, 256, 128, 128], Distribution::Normal(0.0, 1.0), &d);
    let w = Tensor::<4>::random([128, 256, 3, 3], Distribution::Normal(0.0, 1.0), &d);
    let y = Tensor::<4>::random([n, 128, 257, 257], Distribution::Normal(0.0, 1.0), &d);
    let z = Tensor::<4>::random([n, 128, 256, 256], Distribution::Normal(0.0, 1.0), &d);
    let w2 = Tensor::<4>::random([128, 128, 3, 3], Distribution::Normal(0.0, 1.0), &d);
    time("conv_transpose2d 256->128 @128 s2", || {
        conv_transpose2d(
            x.clone(),
            w.clone().swap_dims(0, 1),
            None,
            ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1),
        )
    });
    time("upfirdn2d fir 128ch @257", || {
        upfirdn2d(y.clone(), &f, 1, 1, [1, 1, 1, 1], 4.0)
    });
    time("conv2d 3x3 128->128 @256", || {
        conv2d(
            z.clone(),
            w2.clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
    });
    let kd = Tensor::<4>::random([128, 1, 4, 4], Distribution::Normal(0.0, 1.0), &d);
    time("depthwise groups=C 4x4 @257", || {
        conv2d(
            y.clone(),
            kd.clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 128),
        )
    });
    let kr = Tensor::<4>::random([1, 1, 1, 4], Distribution::Normal(0.0, 1.0), &d);
    let kc = Tensor::<4>::random([1, 1, 4, 1], Distribution::Normal(0.0, 1.0), &d);
    time("separable 1x4 + 4x1 on N*C planes", || {
        let p = y.clone().reshape([128, 1, 257, 257]);
        let p = conv2d(
            p,
            kr.clone(),
            None,
            ConvOptions::new([1, 1], [0, 1], [1, 1], 1),
        );
        conv2d(
            p,
            kc.clone(),
            None,
            ConvOptions::new([1, 1], [1, 0], [1, 1], 1),
        )
    });
    let x32 = Tensor::<4>::random([1, 32, 1024, 1024], Distribution::Normal(0.0, 1.0), &d);
    let w32 = Tensor::<4>::random([32, 32, 3, 3], Distribution::Normal(0.0, 1.0), &d);
    time("conv2d 3x3 32->32 @1024 (19.3 GFLOP)", || {
        conv2d(
            x32.clone(),
            w32.clone(),
            None,
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        )
    });
    time("mul scalar @1024x32", || x32.clone().mul_scalar(2.0));
    let x64 = Tensor::<4>::random([1, 64, 512, 512], Distribution::Normal(0.0, 1.0), &d);
    let w64 = Tensor::<4>::random([32, 64, 3, 3], Distribution::Normal(0.0, 1.0), &d);
    time("convT 64->32 @512 s2 (9.7 GFLOP)", || {
        conv_transpose2d(
            x64.clone(),
            w64.clone().swap_dims(0, 1),
            None,
            ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1),
        )
    });
    time("host round trip @257", || {
        let v = y.clone().into_data();
        Tensor::from_data(v, &d)
    });
    time("mul scale (elementwise) @256", || z.clone().mul_scalar(2.0));
    time("leaky_relu @256", || {
        burn::tensor::activation::leaky_relu(z.clone(), 0.2)
    });
    // A large product, where the gemm crate's AVX-512 kernels (the `avx512` feature) would pay
    // off if anywhere (4.3 GFLOP).
    let a = Tensor::<2>::random([2048, 1024], Distribution::Normal(0.0, 1.0), &d);
    let b = Tensor::<2>::random([1024, 1024], Distribution::Normal(0.0, 1.0), &d);
    time("matmul 2048x1024 * 1024x1024", || {
        a.clone().matmul(b.clone()).reshape([1, 1, 2048, 1024])
    });
}
