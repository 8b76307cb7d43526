//! Times the synthesis building blocks in isolation (profiling aid for `stylegan bench`).
use std::time::Instant;

use burn::tensor::{module::{conv2d, conv_transpose2d}, ops::{ConvOptions, ConvTransposeOptions}, Distribution, Tensor};
use stylegan::ops::{upfirdn2d, Filter};

fn time(name: &str, f: impl Fn() -> Tensor<4>) {
    let _ = f().into_data();
    let t = Instant::now();
    let n = 3;
    for _ in 0..n {
        let _ = f().into_data();
    }
    println!("{name:40} {:8.1} ms", t.elapsed().as_secs_f64() * 1000.0 / n as f64);
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
    time("conv_transpose2d 256->128 @128 s2", || conv_transpose2d(x.clone(), w.clone().swap_dims(0, 1), None, ConvTransposeOptions::new([2, 2], [0, 0], [0, 0], [1, 1], 1)));
    time("upfirdn2d fir 128ch @257", || upfirdn2d(y.clone(), &f, 1, 1, [1, 1, 1, 1], 4.0));
    time("conv2d 3x3 128->128 @256", || conv2d(z.clone(), w2.clone(), None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1)));
    time("mul scale (elementwise) @256", || z.clone().mul_scalar(2.0));
    time("leaky_relu @256", || burn::tensor::activation::leaky_relu(z.clone(), 0.2));
}
