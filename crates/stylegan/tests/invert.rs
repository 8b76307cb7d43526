//! Inversion: the projector's schedule and noise penalty match the official formulas, targets
//! are prepared or refused with reasons, projection finds images the demo model can make (W+
//! beats W on a style-mixed target, the S prior pulls toward the mean), projection files round
//! trip, and pivotal tuning improves the reconstruction and saves a loadable delta.
//!
//! Tests that need LPIPS fetch it with pip (`stylegan assets lpips`) or print SKIP.

mod common;

use common::lpips;
use std::path::PathBuf;

use burn::tensor::{Tensor, TensorData};
use stylegan::invert::pti::{is_tuned, PtiConfig};
use stylegan::invert::{
    latent_stats, load_target, pivotal_tuning, project, Prior, Projection, ProjectorConfig,
};
use stylegan::io::checkpoint::Checkpoint;
use stylegan::latent::space::s_flatten;
use stylegan::latent::{Latent, Space};
use stylegan::models::{Generator, NoiseMode};

fn demo_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/faces32.safetensors")
}

fn demo() -> Generator {
    Generator::load(demo_path(), &stylegan::backend::cpu()).expect("demo model loads")
}

fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// A target only W+ can reach exactly: seed 11's coarse layers with seed 29's fine layers.
fn mixed_target(g: &Generator) -> Tensor<4> {
    let a = Latent::from_seeds(g, &[11], None)
        .unwrap()
        .wplus(g)
        .unwrap();
    let b = Latent::from_seeds(g, &[29], None)
        .unwrap()
        .wplus(g)
        .unwrap();
    let ws = stylegan::latent::mix(&a, &b, &(3..g.num_ws()).collect::<Vec<_>>()).unwrap();
    g.synthesis.forward(&ws, NoiseMode::Const).unwrap()
}

fn cfg(space: Space, steps: usize) -> ProjectorConfig {
    ProjectorConfig {
        space,
        steps,
        stat_samples: 2000,
        ..ProjectorConfig::default()
    }
}

#[test]
fn schedule_follows_the_official_projector() {
    let c = ProjectorConfig::default();
    // lr ramps up linearly over the first 5 %, is flat, then cosine-decays over the last 25 %.
    assert_eq!(c.lr(0), 0.0);
    assert!((c.lr(25) - 0.05).abs() < 1e-12);
    assert!((c.lr(500) - 0.1).abs() < 1e-12);
    assert!((c.lr(875) - 0.05).abs() < 1e-9);
    assert!(c.lr(999) < 1e-4);
    // Exploration noise: 0.05 · (1 − t/0.75)², zero from 75 % on.
    assert!((c.noise_scale(0) - 0.05).abs() < 1e-12);
    assert!((c.noise_scale(375) - 0.05 * 0.25).abs() < 1e-12);
    assert_eq!(c.noise_scale(750), 0.0);
}

#[test]
fn noise_penalty_measures_autocorrelation_at_every_scale() {
    let dev = stylegan::backend::cpu();
    let map =
        |v: Vec<f32>, r: usize| Tensor::<4>::from_data(TensorData::new(v, [1, 1, r, r]), &dev);
    let value = |t: Tensor<4>| vals(stylegan::invert::projector::noise_penalty(&[t]).unwrap())[0];
    // A constant map correlates perfectly with its shifts: 1² per axis and scale (16 and 8).
    assert!((value(map(vec![1.0; 256], 16)) - 4.0).abs() < 1e-5);
    // A checkerboard anticorrelates (−1)² at 16×16; its 2×2 averages are 0 at 8×8.
    let checker: Vec<f32> = (0..256)
        .map(|k| {
            if (k / 16 + k % 16) % 2 == 0 {
                1.0
            } else {
                -1.0
            }
        })
        .collect();
    assert!((value(map(checker, 16)) - 2.0).abs() < 1e-5);
    // White noise is nearly uncorrelated.
    let mut rng = stylegan::latent::RandomState::new(5);
    let white: Vec<f32> = rng.randn(64 * 64).into_iter().map(|v| v as f32).collect();
    assert!(value(map(white, 64)) < 1e-3);
}

#[test]
fn targets_are_prepared_or_refused_with_reasons() {
    let dev = stylegan::backend::cpu();
    let tmp = tempfile::tempdir().unwrap();
    let save = |name: &str, img: image::DynamicImage| -> PathBuf {
        let p = tmp.path().join(name);
        img.save(&p).unwrap();
        p
    };
    let rgb = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([x as u8, y as u8, 200]));
    let p = save("wide.png", image::DynamicImage::ImageRgb8(rgb));
    let t = load_target(&p, 32, 3, &dev).unwrap();
    assert_eq!(t.tensor.dims(), [1, 3, 32, 32]);
    assert_eq!(t.notes.len(), 2, "{:?}", t.notes);
    assert!(t.notes[0].contains("96x64") && t.notes[1].contains("Lanczos"));
    let v = vals(t.tensor);
    assert!(v.iter().all(|x| (-1.0..=1.0).contains(x)));
    // The blue channel is 200 everywhere: 200/127.5 − 1.
    assert!((v[2 * 1024] - (200.0 / 127.5 - 1.0)).abs() < 0.02);

    let grey = save(
        "grey.png",
        image::DynamicImage::ImageLuma8(image::GrayImage::new(64, 64)),
    );
    let e = load_target(&grey, 32, 3, &dev).unwrap_err().to_string();
    assert!(e.contains("grey.png") && e.contains("grayscale"), "{e}");

    let mut rgba = image::RgbaImage::new(64, 64);
    rgba.get_pixel_mut(3, 3).0[3] = 10;
    let clear = save("clear.png", image::DynamicImage::ImageRgba8(rgba));
    let e = load_target(&clear, 32, 3, &dev).unwrap_err().to_string();
    assert!(e.contains("transparent"), "{e}");

    let tiny = save(
        "tiny.png",
        image::DynamicImage::ImageRgb8(image::RgbImage::new(6, 6)),
    );
    let e = load_target(&tiny, 32, 3, &dev).unwrap_err().to_string();
    assert!(e.contains("6x6") && e.contains("too small"), "{e}");

    let corrupt = tmp.path().join("corrupt.png");
    std::fs::write(&corrupt, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let e = load_target(&corrupt, 32, 3, &dev).unwrap_err().to_string();
    assert!(
        e.contains("corrupt.png") && e.contains("cannot decode"),
        "{e}"
    );
}

#[test]
fn noise_maps_are_set_by_name_with_checked_shapes() {
    let mut g = demo();
    let maps = g.synthesis.noise_maps();
    assert_eq!(maps[0].0, "synthesis.b4.conv1.noise_const");
    assert_eq!(
        maps.len(),
        2 * g.synthesis.sg2("test").unwrap().blocks.len() - 1
    );
    let dev = g.device().clone();
    let bad = vec![(
        "synthesis.b8.conv0.noise_const".to_string(),
        Tensor::zeros([4, 4], &dev),
    )];
    let e = g.synthesis.set_noise_maps(&bad).unwrap_err().to_string();
    assert!(e.contains("[4, 4]") && e.contains("[8, 8]"), "{e}");
    let bad = vec![(
        "synthesis.b8.conv9.noise_const".to_string(),
        Tensor::zeros([8, 8], &dev),
    )];
    assert!(g.synthesis.set_noise_maps(&bad).is_err());
    let zero = vec![(maps[1].0.clone(), Tensor::zeros([8, 8], &dev))];
    g.synthesis.set_noise_maps(&zero).unwrap();
    assert_eq!(vals(g.synthesis.noise_maps()[1].1.clone()), vec![0.0; 64]);
}

#[test]
fn wplus_reaches_a_style_mixed_target_better_than_w_and_files_round_trip() {
    let Some(lp) = lpips() else { return };
    let g = demo();
    let target = mixed_target(&g);
    let stats = latent_stats(&g, 2000, 123, None).unwrap();
    let run = |space| {
        project(
            &g,
            &lp,
            &target,
            &cfg(space, 150),
            Some(&stats),
            &mut |_| {},
        )
        .unwrap()
    };
    let w = run(Space::W);
    let wp = run(Space::WPlus);
    let (d_w, d_wp) = (
        w.history.last().unwrap().dist,
        wp.history.last().unwrap().dist,
    );
    let d0 = w.history[0].dist;
    eprintln!("LPIPS start {d0:.4}, w {d_w:.4}, wplus {d_wp:.4}");
    assert!(
        d_w < 0.6 * d0,
        "projection into w barely moved: {d0} → {d_w}"
    );
    assert!(
        d_wp < d_w,
        "W+ ({d_wp}) should fit a style-mixed target better than w ({d_w})"
    );
    assert!(matches!(wp.latent, Latent::WPlus(_)));

    // The file holds the latent and the noise maps: the image comes back exactly.
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("projected.safetensors");
    wp.save(&f, &g, &Default::default()).unwrap();
    let back = Projection::load(&f, &g).unwrap();
    assert_eq!(back.space(), Space::WPlus);
    assert_eq!(
        max_abs(&vals(wp.image(&g).unwrap()), &vals(back.image(&g).unwrap())),
        0.0
    );
    // The final distance was measured on the image the file reproduces (no exploration noise
    // at the end of the schedule).
    let d_file = vals(
        lp.distance(back.image(&g).unwrap(), target.clone())
            .unwrap(),
    )[0] as f64;
    assert!(
        (d_file - d_wp).abs() < 0.02,
        "file image LPIPS {d_file} vs last step {d_wp}"
    );
}

#[test]
fn projection_files_are_checked_against_the_network() {
    let g = demo();
    let tmp = tempfile::tempdir().unwrap();
    let not = tmp.path().join("not.safetensors");
    let e = Projection::load(&demo_path(), &g).unwrap_err().to_string();
    assert!(e.contains("not a projection file"), "{e}");
    std::fs::write(&not, b"garbage").unwrap();
    assert!(Projection::load(&not, &g).is_err());
    // A projection made for another network (different w_dim) is refused by shape.
    let o = stylegan::train::NetworkOptions {
        resolution: 32,
        channels: 3,
        c_dim: 0,
        channel_base: 128,
        channel_max: 16,
        map_layers: 2,
        latent_dim: 12,
        mbstd_group: 2,
        ..stylegan::train::NetworkOptions::stylegan2(32, 3, 0)
    };
    let (e2, _) = o.build(4).unwrap();
    let other = Generator::from_entry("other", &e2, &stylegan::backend::cpu()).unwrap();
    let p = Projection {
        latent: Latent::from_seeds(&other, &[1], None)
            .unwrap()
            .to_space(&other, Space::W)
            .unwrap(),
        noise: other.synthesis.noise_maps(),
        history: vec![],
        frames: vec![],
    };
    let f = tmp.path().join("other.safetensors");
    p.save(&f, &other, &Default::default()).unwrap();
    let e = Projection::load(&f, &g).unwrap_err().to_string();
    assert!(
        e.contains("other.safetensors") && e.contains("another network"),
        "{e}"
    );
}

#[test]
fn gaussian_prior_in_s_keeps_the_projection_near_the_mean() {
    let Some(lp) = lpips() else { return };
    let g = demo();
    let target = mixed_target(&g);
    let stats = latent_stats(&g, 2000, 123, None).unwrap();
    let whitened = |p: &Projection| {
        let Latent::S(s) = &p.latent else {
            panic!("an S latent")
        };
        let s = vals(s_flatten(s));
        let (mean, std) = stats.s().unwrap();
        let (m, sd) = (vals(mean.clone()), vals(std.clone()));
        s.iter()
            .zip(m.iter().zip(&sd))
            .map(|(v, (m, sd))| ((v - m) / sd).powi(2) as f64)
            .sum::<f64>()
            / s.len() as f64
    };
    let run = |prior| {
        let c = ProjectorConfig {
            prior,
            ..cfg(Space::S, 100)
        };
        project(&g, &lp, &target, &c, Some(&stats), &mut |_| {}).unwrap()
    };
    let free = run(Prior::None);
    let held = run(Prior::GaussianS { weight: 1.0 });
    let (u_free, u_held) = (whitened(&free), whitened(&held));
    eprintln!("mean squared whitened S: free {u_free:.3}, prior {u_held:.3}");
    assert!(
        u_held < 0.7 * u_free,
        "the prior did not pull S toward its mean"
    );
    // The prior is refused outside S.
    let c = ProjectorConfig {
        prior: Prior::GaussianS { weight: 1.0 },
        ..cfg(Space::W, 10)
    };
    let e = project(&g, &lp, &target, &c, Some(&stats), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("StyleSpace") && e.contains("project in S"),
        "{e}"
    );
}

#[test]
fn pivotal_tuning_improves_the_pivot_and_saves_a_delta() {
    let Some(lp) = lpips() else { return };
    let g = demo();
    let target = mixed_target(&g);
    let stats = latent_stats(&g, 2000, 123, None).unwrap();
    let pivot = project(
        &g,
        &lp,
        &target,
        &cfg(Space::W, 60),
        Some(&stats),
        &mut |_| {},
    )
    .unwrap();
    let before = vals(
        lp.distance(pivot.image(&g).unwrap(), target.clone())
            .unwrap(),
    )[0];
    let c = PtiConfig {
        steps: 40,
        ..PtiConfig::default()
    };
    let (tuned, hist) = pivotal_tuning(&g, &lp, &target, &pivot, &stats, &c, &mut |_| {}).unwrap();
    assert_eq!(hist.len(), 40);
    let after_img = pivot
        .latent
        .clone()
        .generate(&tuned, NoiseMode::Const)
        .unwrap();
    let after = vals(lp.distance(after_img.clone(), target.clone()).unwrap())[0];
    eprintln!("PTI: LPIPS {before:.4} → {after:.4}");
    assert!(
        after < 0.8 * before,
        "tuning did not improve the pivot: {before} → {after}"
    );

    // Only synthesis weights are tuned; the mapping is untouched.
    let (e0, e1) = (g.to_entry(), tuned.to_entry());
    for (k, t) in &e1.tensors {
        if k.starts_with("mapping.") {
            assert_eq!(&e0.tensors[k], t, "{k} changed");
        }
    }
    assert!(e1
        .tensors
        .iter()
        .any(|(k, t)| is_tuned(k) && &e0.tensors[k] != t));

    // The delta holds what changed and loads back to the same network.
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base.safetensors");
    std::fs::copy(demo_path(), &base).unwrap();
    let delta = tmp.path().join("tuned.safetensors");
    let n = Checkpoint::write_delta(&delta, "G_ema", &e1, &base, &e0).unwrap();
    assert!(n > 0 && n < e1.tensors.len(), "{n} of {}", e1.tensors.len());
    assert!(std::fs::metadata(&delta).unwrap().len() < std::fs::metadata(&base).unwrap().len());
    let loaded = Generator::load(&delta, &stylegan::backend::cpu()).unwrap();
    let again = pivot
        .latent
        .clone()
        .generate(&loaded, NoiseMode::Const)
        .unwrap();
    assert_eq!(max_abs(&vals(after_img), &vals(again)), 0.0);

    // A changed or missing base is refused, naming it.
    let mut bytes = std::fs::read(&base).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&base, &bytes).unwrap();
    let e = Generator::load(&delta, &stylegan::backend::cpu())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("has changed") && e.contains("base.safetensors"),
        "{e}"
    );
    std::fs::remove_file(&base).unwrap();
    let e = Generator::load(&delta, &stylegan::backend::cpu())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("missing") && e.contains("base.safetensors"),
        "{e}"
    );
}
