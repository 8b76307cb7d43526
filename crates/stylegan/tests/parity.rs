//! Parity with the official StyleGAN2 code on the shared fixtures (FORMATS.md §1: images ≤ 1e-3,
//! w ≤ 1e-4, D logits ≤ 1e-3 + 1e-3·|ref|, z bit-exact).

mod common;

use burn::tensor::Tensor;
use common::*;
use stylegan::latent::z_from_seed;
use stylegan::models::{Discriminator, Generator, NoiseMode};

const CONFIGS: [&str; 2] = ["sg2_32", "sg2c_32"];
const SEEDS: [u32; 5] = [0, 1, 2, 3, 42];

fn class_of(config: &str) -> Option<usize> {
    manifest()?["configs"][config]["class_idx"]
        .as_u64()
        .map(|v| v as usize)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn z_is_bit_exact() {
    for cfg in CONFIGS {
        let Some(dir) = fixture_dir(cfg) else { return };
        for seed in SEEDS {
            let want = npy(&dir.join(format!("z_{seed}.npy")));
            let got = z_from_seed(seed, want.shape[1]);
            assert_eq!(
                got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                want.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{cfg} seed {seed}"
            );
        }
    }
}

#[test]
fn w_images_and_d_logits_match_official() {
    let device = stylegan::backend::cpu();
    for cfg in CONFIGS {
        let Some(dir) = fixture_dir(cfg) else { return };
        let g = Generator::load(dir.join("G_ema.safetensors"), &device).unwrap();
        let d = Discriminator::load(dir.join("D.safetensors"), &device).unwrap();
        let class = class_of(cfg);
        let mut worst_img = 0f64;
        for psi in [1.0, 0.7] {
            let mut batch_imgs = Vec::new();
            for seed in SEEDS {
                let z = g.z_tensor(&[z_from_seed(seed, g.config.z_dim)]).unwrap();
                let c = g.label(class, 1).unwrap();
                let ws = g.mapping_ws(z, c.clone(), psi, None).unwrap();
                let want_w = npy(&dir.join(format!("w_{seed}_{}.npy", psi_str(psi))));
                let dw = max_abs_diff(&to_vec(ws.clone()), &want_w.data);
                assert!(dw <= 1e-4, "{cfg} w seed {seed} psi {psi}: max |Δ| {dw}");
                for noise in ["const", "none"] {
                    let img = g
                        .synthesis
                        .forward(&ws, noise.parse::<NoiseMode>().unwrap())
                        .unwrap();
                    let want = npy(&dir.join(format!("{seed}_{}_{noise}.npy", psi_str(psi))));
                    assert_eq!(img.dims().to_vec(), want.shape);
                    let di = max_abs_diff(&to_vec(img.clone()), &want.data);
                    worst_img = worst_img.max(di);
                    assert!(
                        di <= 1e-3,
                        "{cfg} image seed {seed} psi {psi} noise {noise}: max |Δ| {di}"
                    );
                    let logits = d.forward(img.clone(), c.clone()).unwrap();
                    let want_d = npy(&dir.join(format!("d_{seed}_{}_{noise}.npy", psi_str(psi))));
                    let dd = to_vec(logits)[0] as f64 - want_d.data[0];
                    assert!(
                        dd.abs() <= 1e-3 + 1e-3 * want_d.data[0].abs(),
                        "{cfg} D seed {seed} psi {psi} {noise}: Δ {dd}"
                    );
                    if seed <= 3 {
                        batch_imgs.push((noise, img));
                    }
                }
            }
            // D on the batch of seeds 0..3 (minibatch-std groups depend on the batch).
            for noise in ["const", "none"] {
                let imgs: Vec<_> = batch_imgs
                    .iter()
                    .filter(|(n, _)| *n == noise)
                    .map(|(_, i)| i.clone())
                    .collect();
                let batch = Tensor::cat(imgs, 0);
                let logits = to_vec(d.forward(batch, g.label(class, 4).unwrap()).unwrap());
                let want = npy(&dir.join(format!("dbatch_0-1-2-3_{}_{noise}.npy", psi_str(psi))));
                for (a, b) in logits.iter().zip(&want.data) {
                    assert!(
                        (*a as f64 - b).abs() <= 1e-3 + 1e-3 * b.abs(),
                        "{cfg} D batch psi {psi} {noise}: {a} vs {b}"
                    );
                }
            }
        }
        eprintln!("{cfg}: worst image max |Δ| = {worst_img:.2e}");
    }
}

#[test]
fn batch_equals_single() {
    let device = stylegan::backend::cpu();
    for cfg in CONFIGS {
        let Some(dir) = fixture_dir(cfg) else { return };
        let g = Generator::load(dir.join("G_ema.safetensors"), &device).unwrap();
        let class = class_of(cfg);
        let zs: Vec<Vec<f64>> = SEEDS
            .iter()
            .map(|&s| z_from_seed(s, g.config.z_dim))
            .collect();
        let batch = to_vec(
            g.generate(
                g.z_tensor(&zs).unwrap(),
                g.label(class, zs.len()).unwrap(),
                0.7,
                None,
                NoiseMode::Const,
            )
            .unwrap(),
        );
        // CPU inference runs a batch sample by sample; layer by layer (the whole batch through
        // each block, as on the GPU) gives the same images.
        let ws = g
            .mapping_ws(
                g.z_tensor(&zs).unwrap(),
                g.label(class, zs.len()).unwrap(),
                0.7,
                None,
            )
            .unwrap();
        let styles = g.synthesis.styles(&ws).unwrap();
        let blocks = g.synthesis.num_blocks("test").unwrap();
        let layer_major = g
            .synthesis
            .run_blocks(&styles, 0..blocks, None, NoiseMode::Const)
            .unwrap()
            .img
            .unwrap();
        assert_eq!(layer_major.dims()[0], zs.len());
        let d = to_vec(layer_major)
            .iter()
            .zip(&batch)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(d <= 1e-5, "{cfg} layer-major vs sample-major batch: {d}");
        let per = batch.len() / zs.len();
        for (i, z) in zs.iter().enumerate() {
            let single = to_vec(
                g.generate(
                    g.z_tensor(std::slice::from_ref(z)).unwrap(),
                    g.label(class, 1).unwrap(),
                    0.7,
                    None,
                    NoiseMode::Const,
                )
                .unwrap(),
            );
            let d = single
                .iter()
                .zip(&batch[i * per..(i + 1) * per])
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(d <= 1e-5, "{cfg} seed {} batch vs single: {d}", SEEDS[i]);
        }
    }
}

#[test]
fn style_mixing_matches_official() {
    let device = stylegan::backend::cpu();
    for cfg in CONFIGS {
        let Some(dir) = fixture_dir(cfg) else { return };
        let g = Generator::load(dir.join("G_ema.safetensors"), &device).unwrap();
        let class = class_of(cfg);
        let ws = |seed| {
            g.mapping_ws(
                g.z_tensor(&[z_from_seed(seed, g.config.z_dim)]).unwrap(),
                g.label(class, 1).unwrap(),
                0.7,
                None,
            )
            .unwrap()
        };
        let (row, col) = (ws(0), ws(1));
        let k = g.num_ws() / 2;
        let mixed = Tensor::cat(
            vec![row.narrow(1, 0, k), col.narrow(1, k, g.num_ws() - k)],
            1,
        );
        let want_w = npy(&dir.join("wmix_0-1_0.7.npy"));
        assert!(max_abs_diff(&to_vec(mixed.clone()), &want_w.data) <= 1e-4);
        let img = g.synthesis.forward(&mixed, NoiseMode::Const).unwrap();
        let want = npy(&dir.join("mix_0-1_0.7_const.npy"));
        let d = max_abs_diff(&to_vec(img), &want.data);
        assert!(d <= 1e-3, "{cfg} mix: {d}");
    }
}

#[test]
fn state_dict_round_trips_with_official_names() {
    let device = stylegan::backend::cpu();
    for cfg in CONFIGS {
        let Some(dir) = fixture_dir(cfg) else { return };
        let ckpt =
            stylegan::io::checkpoint::Checkpoint::read(&dir.join("G_ema.safetensors")).unwrap();
        let (_, entry) = ckpt.generator().unwrap();
        let g = Generator::from_entry("G_ema", entry, &device).unwrap();
        let out = g.to_entry();
        assert_eq!(
            out.tensors.keys().collect::<Vec<_>>(),
            entry.tensors.keys().collect::<Vec<_>>()
        );
        for (k, t) in &entry.tensors {
            assert_eq!(&out.tensors[k], t, "{cfg} tensor {k}");
        }
        let dck = stylegan::io::checkpoint::Checkpoint::read(&dir.join("D.safetensors")).unwrap();
        let (_, dentry) = dck.discriminator().unwrap();
        let d = Discriminator::from_entry("D", dentry, &device).unwrap();
        assert_eq!(d.to_entry().tensors, dentry.tensors, "{cfg} D");
    }
}
