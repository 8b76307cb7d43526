//! Per-block timing of a config-f generator (profiling aid for `stylegan bench`).
use std::time::Instant;

use serde_json::json;
use stylegan::models::{Generator, GeneratorConfig, NoiseMode};

fn main() {
    let res: usize = std::env::args().nth(1).map_or(1024, |s| s.parse().unwrap());
    let dev = stylegan::backend::cpu();
    let kwargs = json!({"z_dim": 512, "w_dim": 512, "c_dim": 0, "img_resolution": res, "img_channels": 3,
        "mapping_kwargs": {"num_layers": 8}, "channel_base": 32768, "channel_max": 512, "conv_clamp": null});
    let cfg = GeneratorConfig::from_init_kwargs("training.networks_stylegan2.Generator", &kwargs)
        .unwrap();
    let g = Generator::random(&cfg, 0, &dev).unwrap();
    let ws = g
        .mapping_ws(
            g.z_tensor(&[stylegan::latent::z_from_seed(0, 512)])
                .unwrap(),
            None,
            1.0,
            None,
        )
        .unwrap();
    let styles = g.synthesis.styles(&ws).unwrap();
    for rep in 0..2 {
        let mut f = None;
        for (i, b) in g
            .synthesis
            .sg2("blockbench")
            .unwrap()
            .blocks
            .iter()
            .enumerate()
        {
            let t = Instant::now();
            let out = g
                .synthesis
                .run_blocks(&styles, i..i + 1, f, NoiseMode::Const)
                .unwrap();
            let _ = out.x.clone().narrow(0, 0, 1).into_data();
            if rep == 1 {
                println!(
                    "b{:5} {:8.1} ms",
                    b.resolution,
                    t.elapsed().as_secs_f64() * 1000.0
                );
            }
            f = Some(out);
        }
    }
}
