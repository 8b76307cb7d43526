use std::time::Instant;
use stylegan::ops::direct_conv;
fn main() {
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
        let _ = direct_conv::conv2d(&x, [1, c, r, r], &w, o, 3, 1);
        let t = Instant::now();
        let it = 3;
        for _ in 0..it {
            let _ = direct_conv::conv2d(&x, [1, c, r, r], &w, o, 3, 1);
        }
        let s = t.elapsed().as_secs_f64() / it as f64;
        let fl = 2.0 * 9.0 * (c * o * r * r) as f64;
        println!(
            "conv {c}->{o} @{r}: {:.1} ms {:.0} GFLOP/s",
            s * 1e3,
            fl / s / 1e9
        );
        let _ = direct_conv::conv_transpose2d_s2(&x, [1, c, r / 2, r / 2], &w, o);
        let t = Instant::now();
        for _ in 0..it {
            let _ = direct_conv::conv_transpose2d_s2(&x, [1, c, r / 2, r / 2], &w, o);
        }
        let s = t.elapsed().as_secs_f64() / it as f64;
        println!(
            "convT {c}->{o} @{}: {:.1} ms {:.0} GFLOP/s",
            r / 2,
            s * 1e3,
            fl / 4.0 / s / 1e9
        );
    }
}
