//! StyleGAN3-T parity with the official `training/networks_stylegan3.py` on the shared
//! `sg3t_32` fixture (z, w with ψ 1 and 0.7, images, D logits, style mixing, the user transform
//! of `gen_images.py --translate/--rotate`), layer by layer against the recorded trace, and the
//! checks on load (stored filters against the designed ones).

mod common;

use std::collections::HashMap;

use burn::tensor::{Tensor, TensorData};
use common::*;
use stylegan::io::checkpoint::Checkpoint;
use stylegan::latent::z_from_seed;
use stylegan::models::stylegan3::{invert3, make_transform};
use stylegan::models::{Discriminator, Family, Generator, NoiseMode};

const SEEDS: [u32; 5] = [0, 1, 2, 3, 42];

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn load(dir: &std::path::Path) -> Generator {
    Generator::load(dir.join("G_ema.safetensors"), &stylegan::backend::cpu()).unwrap()
}

fn trace(dir: &std::path::Path, name: &str) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.names()
        .into_iter()
        .map(|n| {
            let v = stylegan::io::read_f32(&st, n, &path).unwrap();
            (n.to_string(), v)
        })
        .collect()
}

fn diff(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .fold(0.0, f64::max)
}

#[test]
fn config_and_design_are_the_official_ones() {
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    assert_eq!(g.family(), Family::StyleGan3);
    assert_eq!(g.num_ws(), 16);
    let s = g.synthesis.sg3("test").unwrap();
    let d = &s.input.design;
    assert_eq!(
        (d.channels, d.size, d.sampling_rate, d.bandwidth),
        (64, 36, 16.0, 2.0)
    );
    let names: Vec<_> = s.layers.iter().map(|l| l.design.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "L0_36_64",
            "L1_36_64",
            "L2_36_64",
            "L3_36_64",
            "L4_36_64",
            "L5_52_64",
            "L6_52_64",
            "L7_52_64",
            "L8_52_64",
            "L9_52_54",
            "L10_52_45",
            "L11_52_38",
            "L12_52_32",
            "L13_32_32",
            "L14_32_3"
        ]
    );
    let l5 = &s.layers[5].design;
    assert_eq!(
        (l5.up_factor, l5.down_factor, l5.padding),
        (4, 2, [-6, -9, -6, -9])
    );
    assert_eq!(s.layers[0].design.padding, [9, 8, 9, 8]);
    assert_eq!(s.layers[13].design.padding, [-11, -12, -11, -12]);
    assert!(s.layers[14].design.is_torgb && s.layers[14].up_filter.is_none());
    // The native round trip keeps every tensor under its official name.
    let want = Checkpoint::read(&dir.join("G_ema.safetensors")).unwrap();
    let entry = g.to_entry();
    let (_, orig) = want.generator().unwrap();
    assert_eq!(
        entry.tensors.keys().collect::<Vec<_>>(),
        orig.tensors.keys().collect::<Vec<_>>()
    );
    for (k, t) in &entry.tensors {
        assert_eq!(t, &orig.tensors[k], "{k}");
    }
}

#[test]
fn layer_by_layer_matches_the_official_trace() {
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    let tr = trace(&dir, "trace_0_0.7_const.safetensors");
    let dev = g.device().clone();
    let t = |name: &str, shape: Vec<usize>| -> Tensor<4> {
        let (s, v) = &tr[name];
        assert_eq!(s, &shape, "{name}");
        Tensor::from_data(TensorData::new(v.clone(), shape), &dev)
    };
    let z = g.z_tensor(&[z_from_seed(0, 512)]).unwrap();
    let ws = g.mapping_ws(z, None, 0.7, None).unwrap();
    let dw = diff(&to_vec(ws.clone()), &tr["mapping"].1);
    assert!(dw <= 1e-4, "mapping: {dw}");
    let s = g.synthesis.sg3("test").unwrap();
    let w = |i: usize| ws.clone().narrow(1, i, 1).reshape([1, 512]);
    let x = s.input.forward(w(0));
    let dx = diff(&to_vec(x), &tr["synthesis.input"].1);
    assert!(dx <= 1e-4, "input: {dx}");
    // Each layer from the official input of that layer, so an error is pinned to one layer.
    let mut prev = "synthesis.input".to_string();
    for (i, layer) in s.layers.iter().enumerate() {
        let name = format!("synthesis.{}", layer.design.name);
        let styles = layer.affine.forward(w(i + 1));
        let da = diff(&to_vec(styles), &tr[&format!("{name}.affine")].1);
        assert!(da <= 1e-4, "{name}.affine: {da}");
        let input = t(&prev, tr[&prev].0.clone());
        let out = layer.forward(input, w(i + 1));
        let (shape, want) = &tr[&name];
        assert_eq!(&out.dims().to_vec(), shape, "{name}");
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
        let d = diff(&to_vec(out), want);
        assert!(
            d <= 1e-4 * scale.max(1.0),
            "{name}: max |Δ| {d} (scale {scale})"
        );
        prev = name;
    }
}

#[test]
fn w_images_and_d_logits_match_official() {
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    let d = Discriminator::load(dir.join("D.safetensors"), g.device()).unwrap();
    let mut worst = 0f64;
    for psi in [1.0, 0.7] {
        for seed in SEEDS {
            let z = g.z_tensor(&[z_from_seed(seed, 512)]).unwrap();
            let ws = g.mapping_ws(z, None, psi, None).unwrap();
            let want_w = npy(&dir.join(format!("w_{seed}_{}.npy", psi_str(psi))));
            let dw = max_abs_diff(&to_vec(ws.clone()), &want_w.data);
            assert!(dw <= 1e-4, "w seed {seed} psi {psi}: {dw}");
            for noise in ["const", "none"] {
                let img = g
                    .synthesis
                    .forward(&ws, noise.parse::<NoiseMode>().unwrap())
                    .unwrap();
                let want = npy(&dir.join(format!("{seed}_{}_{noise}.npy", psi_str(psi))));
                assert_eq!(img.dims().to_vec(), want.shape);
                let di = max_abs_diff(&to_vec(img.clone()), &want.data);
                worst = worst.max(di);
                assert!(di <= 1e-3, "image seed {seed} psi {psi} {noise}: {di}");
                let logit = to_vec(d.forward(img, None).unwrap())[0] as f64;
                let want_d = npy(&dir.join(format!("d_{seed}_{}_{noise}.npy", psi_str(psi))));
                let dd = (logit - want_d.data[0]).abs();
                assert!(
                    dd <= 1e-3 + 1e-3 * want_d.data[0].abs(),
                    "D seed {seed}: {dd}"
                );
            }
        }
    }
    eprintln!("sg3t_32: worst image max |Δ| = {worst:.2e}");
    // A batch gives its seeds' images.
    let zs: Vec<_> = SEEDS.iter().map(|&s| z_from_seed(s, 512)).collect();
    let batch = g
        .generate(g.z_tensor(&zs).unwrap(), None, 0.7, None, NoiseMode::Const)
        .unwrap();
    for (i, seed) in SEEDS.iter().enumerate() {
        let want = npy(&dir.join(format!("{seed}_0.7_const.npy")));
        let got = to_vec(batch.clone().narrow(0, i, 1));
        let di = max_abs_diff(&got, &want.data);
        assert!(di <= 1e-3, "batched seed {seed}: {di}");
    }
}

#[test]
fn style_mixing_matches_official() {
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    let ws = |seed| {
        g.mapping_ws(
            g.z_tensor(&[z_from_seed(seed, 512)]).unwrap(),
            None,
            0.7,
            None,
        )
        .unwrap()
    };
    let k = g.num_ws() / 2;
    let (a, b) = (ws(0), ws(1));
    let mixed = Tensor::cat(vec![a.narrow(1, 0, k), b.narrow(1, k, g.num_ws() - k)], 1);
    let want = npy(&dir.join("wmix_0-1_0.7.npy"));
    assert!(max_abs_diff(&to_vec(mixed.clone()), &want.data) <= 1e-4);
    let img = g.synthesis.forward(&mixed, NoiseMode::Const).unwrap();
    let want = npy(&dir.join("mix_0-1_0.7_const.npy"));
    let di = max_abs_diff(&to_vec(img), &want.data);
    assert!(di <= 1e-3, "mix: {di}");
}

#[test]
fn translate_and_rotate_match_gen_images() {
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let mut g = load(&dir);
    // gen_images.py: transform = inv(make_transform(translate, rotate)).
    let m = invert3(&make_transform((0.15, -0.1), 12.0)).unwrap();
    let want = npy(&dir.join("xf_matrix.npy"));
    for (a, b) in m.iter().zip(&want.data) {
        assert!((a - b).abs() < 1e-6, "{m:?} vs {:?}", want.data);
    }
    g.synthesis
        .sg3_mut("test")
        .unwrap()
        .input
        .set_transform(&m)
        .unwrap();
    for seed in [0u32, 1] {
        let z = g.z_tensor(&[z_from_seed(seed, 512)]).unwrap();
        let img = g.generate(z, None, 1.0, None, NoiseMode::Const).unwrap();
        let want = npy(&dir.join(format!("xf_{seed}_1_const.npy")));
        let di = max_abs_diff(&to_vec(img), &want.data);
        assert!(di <= 1e-3, "xf seed {seed}: {di}");
    }
}

#[test]
fn a_filter_that_disagrees_with_init_kwargs_is_refused() {
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let mut ckpt = Checkpoint::read(&dir.join("G_ema.safetensors")).unwrap();
    let entry = ckpt.networks.values_mut().next().unwrap();
    let f = entry
        .tensors
        .get_mut("synthesis.L3_36_64.down_filter")
        .unwrap();
    f.data[0] += 0.01;
    let e = Generator::from_entry("tampered.safetensors", entry, &stylegan::backend::cpu())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("synthesis.L3_36_64.down_filter") && e.contains("init_kwargs"),
        "{e}"
    );
    // A changed design keyword: the layer names no longer match the stored tensors.
    let mut ckpt = Checkpoint::read(&dir.join("G_ema.safetensors")).unwrap();
    let entry = ckpt.networks.values_mut().next().unwrap();
    entry.init_kwargs["first_cutoff"] = serde_json::json!(3.0);
    assert!(Generator::from_entry("x", entry, &stylegan::backend::cpu()).is_err());
    // An unknown keyword is named.
    let mut ckpt = Checkpoint::read(&dir.join("G_ema.safetensors")).unwrap();
    let entry = ckpt.networks.values_mut().next().unwrap();
    entry.init_kwargs["magic"] = serde_json::json!(1);
    let e = Generator::from_entry("x", entry, &stylegan::backend::cpu())
        .unwrap_err()
        .to_string();
    assert!(e.contains("'magic'"), "{e}");
}

/// StyleGAN3 expansion: no extra input samples is the plain image; extra samples widen the
/// image by img_resolution / sampling_rate pixels each, and the centre stays the same picture.
#[test]
fn extending_the_fourier_input_widens_the_view() {
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    let s = g.synthesis.sg3("test").unwrap();
    let ws = g
        .mapping_ws(g.z_tensor(&[z_from_seed(1, 512)]).unwrap(), None, 0.7, None)
        .unwrap();
    let plain = s.forward(&ws).unwrap();
    let same = s.forward_extended(&ws, [0, 0]).unwrap();
    assert_eq!(to_vec(plain.clone()), to_vec(same));
    // 32 px from 16 input samples per unit: 2 px per sample, 8 samples a side for twice the width.
    assert_eq!(s.extra_for_factor(2.0, 32).unwrap(), 8);
    assert!(s.extra_for_factor(0.5, 32).is_err());
    let wide = s.forward_extended(&ws, [8, 0]).unwrap();
    assert_eq!(wide.dims(), [1, 3, 32, 64]);
    // The centre 32 columns show the same image (within the reach of the margins).
    let centre = to_vec(wide.narrow(3, 16, 32));
    let plain = to_vec(plain);
    let mean = centre
        .iter()
        .zip(&plain)
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / plain.len() as f32;
    let scale = plain.iter().map(|v| v.abs()).sum::<f32>() / plain.len() as f32;
    eprintln!("expanded centre: mean |Δ| {mean:.2e}, image mean |x| {scale:.2e}");
    assert!(
        mean < 1e-2 * scale,
        "centre moved: mean |Δ| {mean} (image mean |x| {scale})"
    );
}

/// The StyleGAN3 panorama: one source is the plain image; two sources make an image of
/// `w + step` columns whose ends are each source's own image (equivariance to translation),
/// with a seam only in the overlap; a StyleGAN2 network is refused for it by name.
#[test]
fn fourier_input_panorama_places_each_source() {
    use stylegan::features::{panorama_stylegan3, Direction};
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    let s = g.synthesis.sg3("test").unwrap();
    let ws: Vec<Tensor<3>> = [1u32, 2]
        .iter()
        .map(|&seed| {
            g.mapping_ws(
                g.z_tensor(&[z_from_seed(seed, 512)]).unwrap(),
                None,
                0.7,
                None,
            )
            .unwrap()
        })
        .collect();
    let plain: Vec<Vec<f32>> = ws.iter().map(|w| to_vec(s.forward(w).unwrap())).collect();
    let one = panorama_stylegan3(&g, &ws[..1], 0.5, Direction::Horizontal).unwrap();
    assert!(diff(&to_vec(one), &plain[0]) < 1e-5);
    let pano = panorama_stylegan3(&g, &ws, 0.5, Direction::Horizontal).unwrap();
    assert_eq!(pano.dims(), [1, 3, 32, 48]);
    // Columns [0, 8) come from source 0's columns [0, 8), columns [40, 48) from source 1's
    // columns [24, 32): compare with the own and with the other source.
    let cols = |img: Tensor<4>, from: usize| to_vec(img.narrow(3, from, 8));
    let as_img = |v: &[f32]| {
        Tensor::<4>::from_data(
            TensorData::new(v.to_vec(), [1, 3, 32, 32]),
            &g.device().clone(),
        )
    };
    let mean = |a: &[f32], b: &[f32]| {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    };
    let (left, right) = (cols(pano.clone(), 0), cols(pano.clone(), 40));
    let (own_l, other_l) = (cols(as_img(&plain[0]), 0), cols(as_img(&plain[1]), 0));
    let (own_r, other_r) = (cols(as_img(&plain[1]), 24), cols(as_img(&plain[0]), 24));
    let (dl, xl) = (mean(&left, &own_l), mean(&left, &other_l));
    let (dr, xr) = (mean(&right, &own_r), mean(&right, &other_r));
    eprintln!("left: own {dl:.3e} other {xl:.3e}; right: own {dr:.3e} other {xr:.3e}");
    assert!(
        dl < 0.02 * xl && dr < 0.02 * xr,
        "the ends are not the sources' images"
    );
    let vertical = panorama_stylegan3(&g, &ws, 0.25, Direction::Vertical).unwrap();
    assert_eq!(vertical.dims(), [1, 3, 32 + 24, 32]);
    assert!(panorama_stylegan3(&g, &ws, 1.0, Direction::Horizontal).is_err());
    assert!(panorama_stylegan3(&g, &[], 0.5, Direction::Horizontal).is_err());
}

/// StyleGAN3 feature blending: α = 0 is A, α = 1 at every layer is B, a left-to-right ramp
/// keeps A on the left and B on the right; transfer goes through it too.
#[test]
fn stylegan3_blending_mixes_layer_by_layer() {
    use stylegan::features::{blend_stylegan3, transfer, Mask};
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    let s = g.synthesis.sg3("test").unwrap();
    let ws = |seed: u32| {
        g.mapping_ws(
            g.z_tensor(&[z_from_seed(seed, 512)]).unwrap(),
            None,
            0.7,
            None,
        )
        .unwrap()
    };
    let (a, b) = (ws(1), ws(2));
    let (ia, ib) = (
        to_vec(s.forward(&a).unwrap()),
        to_vec(s.forward(&b).unwrap()),
    );
    let zero = blend_stylegan3(&g, &a, &b, &Mask::Constant(0.0), None).unwrap();
    assert!(diff(&to_vec(zero), &ia) < 1e-5);
    let one = blend_stylegan3(&g, &a, &b, &Mask::Constant(1.0), None).unwrap();
    assert!(diff(&to_vec(one), &ib) < 1e-5);
    let ramp = blend_stylegan3(&g, &a, &b, &Mask::Horizontal, None).unwrap();
    let cols = |v: &[f32], from: usize| -> Vec<f32> {
        (0..3 * 32)
            .flat_map(|row| v[row * 32 + from..row * 32 + from + 4].to_vec())
            .collect()
    };
    let mean = |x: &[f32], y: &[f32]| {
        x.iter().zip(y).map(|(p, q)| (p - q).abs()).sum::<f32>() / x.len() as f32
    };
    let r = to_vec(ramp);
    let (left, right) = (cols(&r, 0), cols(&r, 28));
    assert!(mean(&left, &cols(&ia, 0)) < 0.5 * mean(&left, &cols(&ib, 0)));
    assert!(mean(&right, &cols(&ib, 28)) < 0.5 * mean(&right, &cols(&ia, 28)));
    assert!(blend_stylegan3(&g, &a, &b, &Mask::Constant(0.5), Some(&[99])).is_err());
    // Transfer with an all-covering box and no pose alignment is B's image.
    let all = Mask::from_box(0.0, 0.0, 1.0, 1.0).unwrap();
    let t = transfer(&g, &a, &b, &all, 0, None, NoiseMode::Const).unwrap();
    assert!(diff(&to_vec(t), &ib) < 1e-5);
}

/// StyleGAN3 translation between a parent and its child mixes the two passes layer by layer:
/// a network with itself is its own image at any α; a StyleGAN2 child is refused.
#[test]
fn stylegan3_translate_mixes_parent_and_child() {
    use stylegan::features::{translate, Mask};
    let Some(dir) = fixture_dir("sg3t_32") else {
        return;
    };
    let g = load(&dir);
    let ws = g
        .mapping_ws(g.z_tensor(&[z_from_seed(3, 512)]).unwrap(), None, 0.7, None)
        .unwrap();
    let plain = to_vec(g.synthesis.sg3("test").unwrap().forward(&ws).unwrap());
    let t = translate(&g, &g, &ws, &Mask::Constant(0.6), None, NoiseMode::Const).unwrap();
    assert!(diff(&to_vec(t), &plain) < 1e-5);
    let sg2 = Generator::load(
        fixture_dir("sg2_32").unwrap().join("G_ema.safetensors"),
        &stylegan::backend::cpu(),
    )
    .unwrap();
    let e = translate(&g, &sg2, &ws, &Mask::Constant(0.6), None, NoiseMode::Const)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("same architecture"), "{e}");
}
