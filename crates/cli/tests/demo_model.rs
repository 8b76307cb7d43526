//! The bundled demo model and attribute classifier (`models/`): commands run without
//! `--network`, and an InterFaceGAN direction found on the demo model moves the classifier's
//! prediction the right way for most seeds.

mod common;

use common::{ok, run};
use std::path::{Path, PathBuf};

use stylegan::attributes::AttributeClassifier;
use stylegan::edit::{Directions, Edit};
use stylegan::latent::Latent;
use stylegan::models::{Generator, NoiseMode};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

#[test]
fn generate_without_network_uses_the_demo_model() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    ok(&run(&[
        "generate",
        "--seeds",
        "0-3",
        "--grid",
        "2x2",
        "--outdir",
        out.to_str().unwrap(),
    ]));
    let img = image::open(out.join("seed0000.png")).unwrap();
    assert_eq!((img.width(), img.height()), (32, 32));
    // The same as naming the bundled file explicitly.
    let out2 = tmp.path().join("explicit");
    let net = models().join("faces32.safetensors");
    ok(&run(&[
        "generate",
        "--network",
        net.to_str().unwrap(),
        "--seeds",
        "0",
        "--outdir",
        out2.to_str().unwrap(),
    ]));
    // Batched (--seeds 0-3) and alone: the same image up to float rounding (~3e-6), which may
    // move a quantised value by one step — the parity fixtures' PNG tolerance (max 1, ≤ 2 %).
    let (a, b) = (
        img.to_rgb8().into_raw(),
        image::open(out2.join("seed0000.png"))
            .unwrap()
            .to_rgb8()
            .into_raw(),
    );
    let max = a.iter().zip(&b).map(|(p, q)| p.abs_diff(*q)).max().unwrap();
    let differ = a.iter().zip(&b).filter(|(p, q)| p != q).count();
    assert!(
        max <= 1 && differ * 50 <= a.len(),
        "batched vs alone: max {max}, {differ} values differ"
    );
}

fn prob(c: &AttributeClassifier, g: &Generator, l: Latent, k: usize) -> Vec<f32> {
    c.predict(l.generate(g, NoiseMode::Const).unwrap())
        .unwrap()
        .iter()
        .map(|p| p[k])
        .collect()
}

#[test]
fn interfacegan_direction_changes_the_classifier_prediction() {
    let tmp = tempfile::tempdir().unwrap();
    let clf = models().join("faces32-attributes.safetensors");
    let samples = tmp.path().join("samples.safetensors");
    ok(&run(&[
        "classifier",
        "label",
        "--classifier",
        clf.to_str().unwrap(),
        "--seeds",
        "0-599",
        "--out",
        samples.to_str().unwrap(),
    ]));
    let dir = tmp.path().join("male.safetensors");
    let err = ok(&run(&[
        "directions",
        "interfacegan",
        "--samples",
        samples.to_str().unwrap(),
        "--attribute",
        "male",
        "--out",
        dir.to_str().unwrap(),
    ]));
    assert!(err.contains("validation accuracy"), "{err}");

    let dev = stylegan::backend::cpu();
    let g = Generator::load(models().join("faces32.safetensors"), &dev).unwrap();
    let c = AttributeClassifier::load(Path::new(&clf), &dev).unwrap();
    let k = c.label_names.iter().position(|n| n == "male").unwrap();
    let d = Directions::load(&dir).unwrap();
    let edit = Edit::from_directions(&d, 0, None).unwrap();
    // Held-out seeds, not used to find the direction.
    let seeds: Vec<u32> = (10_000..10_024).collect();
    let base = Latent::from_seeds(&g, &seeds, None).unwrap();
    let minus = prob(&c, &g, edit.apply(&g, base.clone(), -4.0).unwrap(), k);
    let plus = prob(&c, &g, edit.apply(&g, base, 4.0).unwrap(), k);
    let moved = minus.iter().zip(&plus).filter(|(m, p)| p > m).count();
    println!("male probability rises for {moved}/{} seeds", seeds.len());
    assert!(
        moved * 10 >= seeds.len() * 8,
        "only {moved}/{} seeds moved toward 'male'",
        seeds.len()
    );
}

/// The bundled StyleGAN3-T demo (`models/faces32-sg3t.safetensors`): a StyleGAN3 network that
/// generates varied faces, translates with `--translate`, and makes a Fourier-input panorama.
#[test]
fn the_stylegan3_demo_generates_translates_and_pans() {
    let net = models().join("faces32-sg3t.safetensors");
    let dev = stylegan::backend::cpu();
    let g = Generator::load(&net, &dev).unwrap();
    assert_eq!(g.family(), stylegan::models::Family::StyleGan3);
    // Varied images: different seeds differ clearly, and no image is flat.
    let imgs = g.render(&[0, 1, 2, 3], 0.7, None).unwrap();
    let px =
        |i: &stylegan::io::image::Image8| i.pixels.iter().map(|&p| p as f64).collect::<Vec<_>>();
    let spread = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / v.len() as f64;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
    };
    for i in &imgs {
        assert!(spread(&px(i)) > 10.0, "a flat image");
    }
    let d01: f64 = px(&imgs[0])
        .iter()
        .zip(px(&imgs[1]))
        .map(|(a, b)| (a - b).abs())
        .sum::<f64>()
        / imgs[0].pixels.len() as f64;
    assert!(d01 > 5.0, "seeds 0 and 1 look the same ({d01})");
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().to_str().unwrap();
    let net_s = net.to_str().unwrap();
    ok(&run(&[
        "generate",
        "--network",
        net_s,
        "--seeds",
        "0",
        "--translate",
        "0.2,0",
        "--outdir",
        o,
    ]));
    let pano = format!("{o}/pano.png");
    ok(&run(&[
        "panorama",
        "--network",
        net_s,
        "--seeds",
        "1-3",
        "--output",
        &pano,
    ]));
    assert_eq!(image::open(&pano).unwrap().width(), 64);
}
