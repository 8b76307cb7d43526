//! Progressive growing (PGGAN, StyleGAN v1) on a tiny data set: the run grows through every
//! resolution with finite losses, the lod variables follow the schedule, and a resumed run
//! continues bit for bit (N + save + resume + N = 2N).

use std::collections::BTreeMap;

use serde_json::json;
use stylegan::io::checkpoint::Checkpoint;
use stylegan::train::progressive::{new_networks, ProgressiveOptions, ProgressiveTrainer, Recipe};
use stylegan::train::InMemoryData;

fn data() -> InMemoryData {
    // 8 images of 16×16: smooth colour gradients with a bright square at a varying place.
    let images = (0..8u32)
        .map(|k| {
            let mut v = vec![0u8; 3 * 16 * 16];
            for c in 0..3 {
                for y in 0..16 {
                    for x in 0..16 {
                        let mut p = (x * 12 + y * 4 + c as u32 * 60 + k * 20) % 256;
                        if (x / 4 == k % 4) && (y / 4 == k / 4) {
                            p = 250;
                        }
                        v[(c * 16 + y as usize) * 16 + x as usize] = p as u8;
                    }
                }
            }
            v
        })
        .collect();
    InMemoryData {
        resolution: 16,
        channels: 3,
        images,
        labels: None,
    }
}

/// A quick schedule: 8 images per stable phase and per fade-in, minibatch 4.
fn options(recipe: Recipe) -> ProgressiveOptions {
    let mut o = ProgressiveOptions::official(recipe);
    o.schedule.lod_training_kimg = 0.008;
    o.schedule.lod_transition_kimg = 0.008;
    o.schedule.minibatch_base = 4;
    o.schedule.minibatch_dict = BTreeMap::new();
    o.minibatch_repeats = 1;
    o
}

fn kwargs(recipe: Recipe) -> serde_json::Value {
    match recipe {
        Recipe::Pggan => {
            json!({"resolution": 16, "num_channels": 3, "fmap_base": 64, "fmap_max": 16})
        }
        Recipe::StyleGan1 => json!({"resolution": 16, "num_channels": 3, "fmap_base": 64,
            "fmap_max": 16, "latent_size": 16, "dlatent_size": 16, "mapping_layers": 2,
            "mapping_fmaps": 16}),
    }
}

#[test]
fn progressive_runs_grow_through_every_resolution() {
    let dev = stylegan::backend::cpu();
    let data = data();
    for recipe in [Recipe::Pggan, Recipe::StyleGan1] {
        let (g, d) = new_networks(recipe, &kwargs(recipe), 0, &dev).unwrap();
        let mut t = ProgressiveTrainer::new(options(recipe), &g, &d, &dev).unwrap();
        let mut seen = Vec::new();
        let mut last_lod = f64::INFINITY;
        while t.cur_nimg < 56 {
            let st = t.round(&data).unwrap();
            assert!(st.lod <= last_lod, "{recipe:?}: lod went up");
            last_lod = st.lod;
            assert!(
                st.loss_d.is_finite() && st.loss_g.is_finite() && st.penalty.is_finite(),
                "{recipe:?}: {st:?}"
            );
            // The diagnostics are what the D step saw.
            assert!(st.fake_rms > 0.0 && st.d_real.is_finite() && st.d_fake.is_finite());
            if recipe == Recipe::Pggan {
                // loss_d = mean(D(fake) − D(real) + ε·D(real)²) ≥ D(fake) − D(real).
                assert!(st.loss_d >= st.d_fake - st.d_real - 1e-4, "{st:?}");
            }
            if !seen.contains(&st.resolution) {
                seen.push(st.resolution);
            }
        }
        let start = if recipe == Recipe::Pggan { 4 } else { 8 };
        let expected: Vec<usize> = [4, 8, 16].into_iter().filter(|&r| r >= start).collect();
        assert_eq!(seen, expected, "{recipe:?}");
        assert_eq!(last_lod, 0.0, "{recipe:?}");
        // Gs renders at the reached lod, and its lod variable says so.
        let gs = t.gs().unwrap();
        assert_eq!(gs.synthesis.lod(), 0.0);
        let img = gs.render(&[0, 1], 1.0, None).unwrap();
        assert_eq!(img[0].width, 16);
    }
}

#[test]
fn progressive_resume_is_exact() {
    let dev = stylegan::backend::cpu();
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    for recipe in [Recipe::Pggan, Recipe::StyleGan1] {
        let (g, d) = new_networks(recipe, &kwargs(recipe), 3, &dev).unwrap();
        // Straight: 6 rounds (through a fade-in).
        let mut a = ProgressiveTrainer::new(options(recipe), &g, &d, &dev).unwrap();
        for _ in 0..6 {
            a.round(&data).unwrap();
        }
        // 3 rounds, snapshot, resume, 3 more.
        let mut b = ProgressiveTrainer::new(options(recipe), &g, &d, &dev).unwrap();
        for _ in 0..3 {
            b.round(&data).unwrap();
        }
        let snap = dir.path().join(format!("{recipe:?}.safetensors"));
        b.save(&snap, &BTreeMap::new()).unwrap();
        let mut c = ProgressiveTrainer::resume(&snap, options(recipe), &dev).unwrap();
        assert_eq!((c.cur_nimg, c.round), (b.cur_nimg, b.round));
        for _ in 0..3 {
            c.round(&data).unwrap();
        }
        let (sa, sc) = (
            dir.path().join("a.safetensors"),
            dir.path().join("c.safetensors"),
        );
        a.save(&sa, &BTreeMap::new()).unwrap();
        c.save(&sc, &BTreeMap::new()).unwrap();
        let (ka, kc) = (
            Checkpoint::read(&sa).unwrap(),
            Checkpoint::read(&sc).unwrap(),
        );
        for net in ["G", "D", "G_ema"] {
            let (x, y) = (&ka.networks[net].tensors, &kc.networks[net].tensors);
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            for (k, t) in x {
                assert!(
                    t.data == y[k].data,
                    "{recipe:?} {net}.{k} differs after resume"
                );
            }
        }
        for (k, t) in &ka.extra_tensors {
            assert!(
                t.data == kc.extra_tensors[k].data,
                "{recipe:?} {k} differs after resume"
            );
        }
        // The recorded options round-trip.
        assert_eq!(
            ProgressiveOptions::of_snapshot(&snap).unwrap(),
            options(recipe)
        );
        // Other options are refused on resume.
        let mut other = options(recipe);
        other.mirror = !other.mirror;
        let e = ProgressiveTrainer::resume(&snap, other, &dev)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("other options"), "{e}");
    }
}

/// StyleGAN v1's synthesis at 32 px (lod 0, the level whose training misbehaves on facesjs):
/// the autodiff gradient of `Σ G(z)·R` with respect to every parameter tensor matches a central
/// finite difference along a random direction in that tensor, at one of two step sizes (the
/// instance norms make f32 differences noisy at some points; a wrong layer gradient fails both).
#[test]
fn stylegan1_generator_gradients_match_finite_differences() {
    use burn::tensor::{Tensor, TensorData};
    use stylegan::models::NoiseMode;
    use stylegan::optim::ParamSet;
    use stylegan::rng::RandomState;
    let dev = stylegan::backend::cpu();
    let kw = json!({"resolution": 32, "num_channels": 3, "fmap_base": 64, "fmap_max": 16,
        "latent_size": 16, "dlatent_size": 16, "mapping_layers": 2, "mapping_fmaps": 16});
    let (ge, _) = new_networks(Recipe::StyleGan1, &kw, 3, &dev).unwrap();
    let mut g = ParamSet::from_entry(&ge, &dev);
    let mut rng = RandomState::new(5);
    let flat = |v: Vec<f32>| {
        let len = v.len();
        Tensor::<1>::from_data(TensorData::new(v, [len]), &dev)
    };
    // The official start (a constant input of ones, zero noise strengths) puts the 4×4 planes
    // exactly at the instance norm's singularity (zero variance: derivatives of 1/√ε), where
    // differences are meaningless; move the point off it.
    for name in g.param_names() {
        if name.ends_with("/const") || name.ends_with("Noise/weight") {
            let len = stylegan::backend::to_vec(g.get(&name).unwrap())
                .unwrap()
                .len();
            let v = rng
                .randn(len)
                .into_iter()
                .map(|x| (0.5 * x) as f32)
                .collect();
            g.set(&name, flat(v));
        }
    }
    let n = 2;
    let z: Vec<f32> = rng.randn(n * 16).into_iter().map(|v| v as f32).collect();
    let proj: Vec<f32> = rng
        .randn(n * 3 * 32 * 32)
        .into_iter()
        .map(|v| v as f32)
        .collect();
    let loss = |set: &ParamSet, leaves| -> Tensor<1> {
        let mut gen = set.generator(leaves).unwrap();
        gen.set_lod(0.0).unwrap();
        let zt = Tensor::<2>::from_data(TensorData::new(z.clone(), [n, 16]), &dev);
        let ws = gen.mapping_ws(zt, None, 1.0, None).unwrap();
        let img = gen.synthesis.forward(&ws, NoiseMode::Seeded(9)).unwrap();
        let r = Tensor::<4>::from_data(TensorData::new(proj.clone(), [n, 3, 32, 32]), &dev);
        (img * r).sum()
    };
    let leaves = g.leaves(&|_| true);
    let grads = loss(&g, leaves.clone()).backward();
    let value = |t: Tensor<1>| stylegan::backend::to_vec(&t).unwrap()[0] as f64;
    // (name, autodiff, finite differences at the two steps)
    let mut rows = Vec::new();
    for name in g.param_names() {
        let Some(grad) = leaves[&name].1.grad(&grads) else {
            continue;
        };
        let grad = stylegan::backend::to_vec(&grad).unwrap();
        let base = stylegan::backend::to_vec(g.get(&name).unwrap()).unwrap();
        let dir: Vec<f64> = rng.randn(base.len());
        let norm = dir.iter().map(|v| v * v).sum::<f64>().sqrt();
        let scale = base
            .iter()
            .map(|v| (*v as f64).abs())
            .fold(0.0, f64::max)
            .max(1.0);
        let analytic: f64 = grad
            .iter()
            .zip(&dir)
            .map(|(a, d)| *a as f64 * d / norm)
            .sum();
        let mut numeric = [0.0; 2];
        for (slot, rel) in numeric.iter_mut().zip([1e-3, 3e-4]) {
            let eps = rel * scale;
            let mut at = |sign: f64| {
                let moved = base
                    .iter()
                    .zip(&dir)
                    .map(|(b, d)| (*b as f64 + sign * eps * d / norm) as f32)
                    .collect();
                g.set(&name, flat(moved));
                value(loss(&g, g.leaves(&|_| false)))
            };
            *slot = (at(1.0) - at(-1.0)) / (2.0 * eps);
        }
        g.set(&name, flat(base));
        rows.push((name, analytic, numeric));
    }
    assert!(rows.len() > 40, "{} parameter tensors checked", rows.len());
    // Relative error with a floor of 5 % of the median gradient (directions that nearly cancel).
    let mut mags: Vec<f64> = rows.iter().map(|r| r.1.abs()).collect();
    mags.sort_by(f64::total_cmp);
    let floor = 0.05 * mags[mags.len() / 2];
    for (name, a, num) in &rows {
        let err = |n: f64| (a - n).abs() / (floor + a.abs().max(n.abs()));
        let best = err(num[0]).min(err(num[1]));
        eprintln!(
            "{name}: autodiff {a:.5}, differences {:.5} / {:.5} ({best:.1e})",
            num[0], num[1]
        );
        assert!(
            best < 0.1,
            "{name}: autodiff {a} against differences {num:?}"
        );
    }
}
