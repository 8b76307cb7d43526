//! Parity of StyleGAN v1 (`G_style`, `D_basic`) and PGGAN (`G_paper`, `D_paper`) with the
//! official TensorFlow code on `../shared/fixtures/parity/{sg1_32,pggan_32}` (every case of
//! `manifest_tf1.json`: z, w with ψ and cutoff, images with const/no noise at every listed
//! `lod`, style mixing, D logits for single images and a batch of 4).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use common::*;
use serde_json::Value;
use stylegan::latent::z_from_seed;
use stylegan::models::pggan::{self, PgganDiscriminator};
use stylegan::models::stylegan1::{self, Sg1Discriminator};
use stylegan::models::{Family, Generator, NoiseMode};
use stylegan::nn::Params;
use stylegan::weights::{NetworkEntry, RawTensor};

fn manifest_tf1() -> Option<Value> {
    let dir = fixture_dir("sg1_32")?;
    let text = std::fs::read_to_string(dir.join("../manifest_tf1.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// The tensors of a fixture file (official TF local names) and its static kwargs. The
/// fixtures store the scalar `lod` as `[1]`; TF pickles (and our files) hold it as `[]`.
fn read_tf_file(path: &Path) -> (BTreeMap<String, RawTensor>, Value) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let mut shape = view.shape().to_vec();
        if name.ends_with("lod") && shape == [1] {
            shape.clear();
        }
        out.insert(name, RawTensor { shape, data });
    }
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let kwargs = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get("static_kwargs"))
        .map(|s| serde_json::from_str(s).unwrap())
        .unwrap_or(Value::Null);
    (out, kwargs)
}

fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn z_tensor(seeds: &[u32], dim: usize) -> Tensor<2> {
    let v: Vec<f32> = seeds
        .iter()
        .flat_map(|&s| z_from_seed(s, dim))
        .map(|v| v as f32)
        .collect();
    Tensor::from_data(
        TensorData::new(v, [seeds.len(), dim]),
        &stylegan::backend::cpu(),
    )
}

fn image_tensor(arrays: &[stylegan::io::npy::Array]) -> Tensor<4> {
    let s = &arrays[0].shape;
    let v: Vec<f32> = arrays
        .iter()
        .flat_map(|a| a.data.iter().map(|&x| x as f32))
        .collect();
    Tensor::from_data(
        TensorData::new(v, [arrays.len(), s[1], s[2], s[3]]),
        &stylegan::backend::cpu(),
    )
}

fn check(name: &str, got: &[f32], want: &stylegan::io::npy::Array, tol: &Value) -> f64 {
    let max_abs = tol["max_abs"].as_f64().unwrap();
    let rel = tol["rel"].as_f64().unwrap_or(0.0);
    assert_eq!(got.len(), want.data.len(), "{name}: length");
    let mut worst = 0f64;
    for (g, w) in got.iter().zip(&want.data) {
        let d = (*g as f64 - w).abs();
        assert!(
            d <= max_abs + rel * w.abs(),
            "{name}: |{g} - {w}| = {d} above the tolerance {max_abs} (+{rel}·|ref|)"
        );
        worst = worst.max(d);
    }
    worst
}

fn seed(c: &Value, key: &str) -> u32 {
    c[key].as_u64().unwrap() as u32
}

#[test]
fn stylegan1_matches_official_tf() {
    let Some(m) = manifest_tf1() else { return };
    let Some(dir) = fixture_dir("sg1_32") else {
        return;
    };
    let g = load_g(&dir, stylegan1::G_CLASS);
    assert_eq!((g.family(), g.num_ws()), (Family::StyleGan1, 8));
    let d = load_d(&dir, Sg1Discriminator::new);
    let zd = g.config.z_dim;
    let root = dir.join("..");
    let mut counts = BTreeMap::<String, usize>::new();
    let mut worst = BTreeMap::<String, f64>::new();
    for c in m["configs"]["sg1_32"]["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let kind = c["kind"].as_str().unwrap();
        let want = npy(&root.join(c["ref"].as_str().unwrap()));
        let tol = &c["tolerance"];
        let psi = c["psi"].as_f64().unwrap_or(1.0);
        let cutoff = c["truncation_cutoff"].as_u64().unwrap_or(8) as usize;
        let lod = c["lod"].as_f64().unwrap_or(0.0);
        let got: Vec<f32> = match kind {
            "z" => {
                let z = z_from_seed(seed(c, "seed"), zd);
                assert_eq!(
                    z.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{name}"
                );
                counts
                    .entry(kind.into())
                    .and_modify(|n| *n += 1)
                    .or_insert(1);
                continue;
            }
            "w" if c.get("col_styles").is_some() => to_vec(mixed_ws(&g, c)),
            "w" => {
                let z = z_tensor(&[seed(c, "seed")], zd);
                to_vec(g.mapping_ws(z, None, psi, Some(cutoff)).unwrap())
            }
            "image" => {
                let noise: NoiseMode = c["noise_mode"].as_str().unwrap().parse().unwrap();
                let mut g = g.clone();
                g.set_lod(lod).unwrap();
                // Left out, the cutoff is G_style's 8.
                let cut = (cutoff != 8).then_some(cutoff);
                let z = z_tensor(&[seed(c, "seed")], zd);
                let img = g.generate(z, None, psi, cut, noise).unwrap();
                assert_eq!(img.dims().to_vec(), want.shape, "{name}");
                to_vec(img)
            }
            "mix_image" => {
                let noise: NoiseMode = c["noise_mode"].as_str().unwrap().parse().unwrap();
                let mut g = g.clone();
                g.set_lod(lod).unwrap();
                to_vec(g.synthesis.forward(&mixed_ws(&g, c), noise).unwrap())
            }
            "d_logits" => {
                let imgs = d_inputs(c, &dir);
                to_vec(d.forward(&image_tensor(&imgs), None, lod).unwrap())
            }
            other => panic!("{name}: unknown case kind {other}"),
        };
        let w = check(name, &got, &want, tol);
        counts
            .entry(kind.into())
            .and_modify(|n| *n += 1)
            .or_insert(1);
        let e = worst.entry(kind.into()).or_insert(0.0);
        *e = e.max(w);
    }
    eprintln!("sg1_32 cases {counts:?}, worst |Δ| {worst:?}");
    assert!(counts.values().sum::<usize>() >= 90, "{counts:?}");
}

/// The reference images a D-logits case is evaluated on (one, or the batch of four).
fn d_inputs(c: &Value, dir: &Path) -> Vec<stylegan::io::npy::Array> {
    let names: Vec<&str> = match c.get("inputs") {
        Some(v) => v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect(),
        None => vec![c["input"].as_str().unwrap()],
    };
    names
        .iter()
        .map(|i| npy(&dir.join(format!("{i}.npy"))))
        .collect()
}

/// The discriminator of a fixture folder, built by `build` from its TF-named tensors (every
/// one used).
fn load_d<D>(dir: &Path, build: impl Fn(&mut Params, &Value) -> stylegan::Result<D>) -> D {
    let (tensors, kwargs) = read_tf_file(&dir.join("D.safetensors"));
    let mut p = Params::from_tensors("D.safetensors", tensors, &stylegan::backend::cpu());
    let d = build(&mut p, &kwargs).unwrap();
    p.finish().unwrap();
    d
}

/// The generator of a fixture folder through the family API (`Generator::from_entry`).
fn load_g(dir: &Path, class: &str) -> Generator {
    let (tensors, init_kwargs) = read_tf_file(&dir.join("Gs.safetensors"));
    let entry = NetworkEntry {
        class_name: class.into(),
        init_kwargs,
        tensors,
    };
    Generator::from_entry("Gs.safetensors", &entry, &stylegan::backend::cpu()).unwrap()
}

/// §15.4 style mixing: the row seed's w with layers `col_styles` from the column seed.
fn mixed_ws(g: &Generator, c: &Value) -> Tensor<3> {
    let zd = g.config.z_dim;
    let row = g.mapping_ws(z_tensor(&[seed(c, "row_seed")], zd), None, 1.0, None);
    let col = g.mapping_ws(z_tensor(&[seed(c, "col_seed")], zd), None, 1.0, None);
    let (row, col) = (row.unwrap(), col.unwrap());
    let styles: Vec<usize> = c["col_styles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let layers = (0..g.num_ws())
        .map(|i| {
            let src = if styles.contains(&i) { &col } else { &row };
            src.clone().narrow(1, i, 1)
        })
        .collect();
    Tensor::cat(layers, 1)
}

#[test]
fn pggan_matches_official_tf() {
    let Some(m) = manifest_tf1() else { return };
    let Some(dir) = fixture_dir("pggan_32") else {
        return;
    };
    let g = load_g(&dir, pggan::G_CLASS);
    assert_eq!((g.family(), g.num_ws()), (Family::Pggan, 1));
    let d = load_d(&dir, PgganDiscriminator::new);
    let zd = g.config.z_dim;
    assert_eq!(zd, 64, "latent_size defaults to nf(0)");
    let root = dir.join("..");
    let mut counts = BTreeMap::<String, usize>::new();
    for c in m["configs"]["pggan_32"]["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let kind = c["kind"].as_str().unwrap();
        let want = npy(&root.join(c["ref"].as_str().unwrap()));
        let lod = c["lod"].as_f64().unwrap_or(0.0);
        let got: Vec<f32> = match kind {
            "z" => {
                let z = z_from_seed(seed(c, "seed"), zd);
                assert_eq!(
                    z.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    want.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{name}"
                );
                counts
                    .entry(kind.into())
                    .and_modify(|n| *n += 1)
                    .or_insert(1);
                continue;
            }
            "image" => {
                let mut g = g.clone();
                g.set_lod(lod).unwrap();
                let z = z_tensor(&[seed(c, "seed")], zd);
                to_vec(g.generate(z, None, 1.0, None, NoiseMode::Const).unwrap())
            }
            "d_logits" => {
                let imgs = d_inputs(c, &dir);
                to_vec(d.forward(&image_tensor(&imgs), lod).unwrap())
            }
            other => panic!("{name}: unknown case kind {other}"),
        };
        check(name, &got, &want, &c["tolerance"]);
        counts
            .entry(kind.into())
            .and_modify(|n| *n += 1)
            .or_insert(1);
    }
    eprintln!("pggan_32 cases {counts:?}");
    assert!(counts.values().sum::<usize>() >= 40, "{counts:?}");
}

/// Conditional networks of both families (`label_size` > 0; no official fixture): built from
/// the official initialisation, the class changes the image, and a missing class is refused.
#[test]
fn conditional_tf1_generators_use_the_label() {
    let dev = stylegan::backend::cpu();
    for class in [stylegan1::G_CLASS, pggan::G_CLASS] {
        let kwargs = serde_json::json!({"resolution": 16, "num_channels": 3, "label_size": 3,
            "fmap_base": 64, "fmap_max": 16, "latent_size": 16, "dlatent_size": 16,
            "mapping_layers": 2, "mapping_fmaps": 16});
        let kwargs = if class == pggan::G_CLASS {
            serde_json::json!({"resolution": 16, "num_channels": 3, "label_size": 3,
                "fmap_base": 64, "fmap_max": 16, "latent_size": 16})
        } else {
            kwargs
        };
        let mut p = Params::random(1, &dev);
        let g = Generator::new(class, &kwargs, &mut p).unwrap();
        assert_eq!(g.config.c_dim, 3, "{class}");
        let z = z_tensor(&[5], g.config.z_dim);
        let img = |k: usize| {
            let c = g.label(Some(k), 1).unwrap();
            to_vec(
                g.generate(z.clone(), c, 1.0, None, NoiseMode::Const)
                    .unwrap(),
            )
        };
        let (a, b) = (img(0), img(2));
        assert_eq!(a.len(), 3 * 16 * 16);
        assert!(
            a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3),
            "{class}: the label has no effect"
        );
        assert!(
            g.label(None, 1).is_err(),
            "{class}: a conditional network without a class"
        );
    }
}

/// StyleGAN v1 block by block (what the All-Trades feature operations run on): every block
/// in one range, or in two ranges joined by the features, is the plain forward pass at lod 0
/// with the same noise, and another lod is refused by name.
#[test]
fn stylegan1_block_by_block_is_the_forward_pass() {
    let dev = stylegan::backend::cpu();
    let kwargs = serde_json::json!({"resolution": 32, "num_channels": 3, "fmap_base": 128,
        "fmap_max": 16, "latent_size": 16, "dlatent_size": 16, "mapping_layers": 2});
    let g = Generator::new(stylegan1::G_CLASS, &kwargs, &mut Params::random(3, &dev)).unwrap();
    // Nonzero noise strengths (the initial ones are 0), so the noise maps take part.
    let mut entry = g.to_entry();
    let mut n = 0;
    for (k, t) in entry.tensors.iter_mut() {
        if k.ends_with("/Noise/weight") {
            t.data.iter_mut().for_each(|v| *v = 0.3);
            n += 1;
        }
    }
    assert_eq!(n, 8);
    let mut g = Generator::from_entry("test", &entry, &dev).unwrap();
    let ws = g
        .mapping_ws(z_tensor(&[1, 2], g.config.z_dim), None, 0.7, None)
        .unwrap();
    let want = to_vec(g.synthesis.forward(&ws, NoiseMode::Const).unwrap());
    let styles = g.synthesis.styles(&ws).unwrap();
    assert_eq!(g.synthesis.num_blocks("test").unwrap(), 4);
    assert_eq!(styles.len(), 4);
    // StyleMod outputs: scale and shift of every channel.
    assert_eq!(styles[3].conv1.dims(), [2, 2 * 8]);
    let whole = to_vec(
        g.synthesis
            .forward_styles(&styles, NoiseMode::Const)
            .unwrap(),
    );
    assert_eq!(whole, want);
    let f = g
        .synthesis
        .run_blocks(&styles, 0..2, None, NoiseMode::Const)
        .unwrap();
    assert_eq!(f.x.dims(), [2, 16, 8, 8]);
    assert!(f.img.is_none());
    let f = g
        .synthesis
        .run_blocks(&styles, 2..4, Some(f), NoiseMode::Const)
        .unwrap();
    assert_eq!(to_vec(f.img.unwrap()), want);
    // Seeded noise: the same per-layer maps in both paths.
    let a = to_vec(g.synthesis.forward(&ws, NoiseMode::Seeded(7)).unwrap());
    let b = to_vec(
        g.synthesis
            .forward_styles(&styles, NoiseMode::Seeded(7))
            .unwrap(),
    );
    assert_eq!(a, b);
    let err = g
        .synthesis
        .run_blocks(&styles, 2..4, None, NoiseMode::Const)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("block 2 needs the features of block 1"),
        "{err}"
    );
    g.set_lod(1.5).unwrap();
    let err = g
        .synthesis
        .run_blocks(&styles, 0..4, None, NoiseMode::Const)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lod 0") && err.contains("1.5"), "{err}");
}

/// Conditional discriminators (no official fixture): D_basic's `LabelSwitch` picks the
/// label's output column (a one-hot label gives that column, a mixed one the weighted sum),
/// a wrong label shape or a missing label is refused; D_paper gives the score and one output
/// per label.
#[test]
fn conditional_tf1_discriminators() {
    let dev = stylegan::backend::cpu();
    let kwargs = serde_json::json!({"resolution": 16, "num_channels": 3, "label_size": 3,
        "fmap_base": 64, "fmap_max": 16});
    let imgs = Tensor::<4>::random(
        [2, 3, 16, 16],
        burn::tensor::Distribution::Normal(0.0, 1.0),
        &dev,
    );
    let d = Sg1Discriminator::new(&mut Params::random(2, &dev), &kwargs).unwrap();
    let onehot = |k: usize| {
        let mut v = vec![0f32; 6];
        v[k] = 1.0;
        v[3 + k] = 1.0;
        Tensor::<2>::from_data(TensorData::new(v, [2, 3]), &dev)
    };
    let cols: Vec<Vec<f32>> = (0..3)
        .map(|k| to_vec(d.forward(&imgs, Some(onehot(k)), 0.0).unwrap()))
        .collect();
    assert_eq!(cols[0].len(), 2);
    assert!(cols[0]
        .iter()
        .zip(&cols[2])
        .any(|(a, b)| (a - b).abs() > 1e-4));
    let half = Tensor::<2>::from_data(
        TensorData::new(vec![0.5f32, 0.0, 0.5, 0.5, 0.0, 0.5], [2, 3]),
        &dev,
    );
    let mixed = to_vec(d.forward(&imgs, Some(half), 0.0).unwrap());
    for i in 0..2 {
        let want = 0.5 * (cols[0][i] + cols[2][i]);
        assert!((mixed[i] - want).abs() < 1e-5, "{} vs {want}", mixed[i]);
    }
    let bad = Tensor::<2>::zeros([2, 2], &dev);
    let err = d.forward(&imgs, Some(bad), 0.0).unwrap_err().to_string();
    assert!(err.contains("labels [2, 2], expected [2, 3]"), "{err}");
    let err = d.forward(&imgs, None, 0.0).unwrap_err().to_string();
    assert!(err.contains("conditional"), "{err}");

    let d = PgganDiscriminator::new(&mut Params::random(2, &dev), &kwargs).unwrap();
    let all = d.forward_all(&imgs, 0.0).unwrap();
    assert_eq!(all.dims(), [2, 4]);
    let scores = to_vec(d.forward(&imgs, 0.0).unwrap());
    let all = to_vec(all);
    assert_eq!(scores, vec![all[0], all[4]]);
}
