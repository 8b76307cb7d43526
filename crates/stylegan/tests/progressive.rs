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
