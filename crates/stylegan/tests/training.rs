//! Training on a tiny network: the step runs every phase, snapshots restore everything (N + N
//! steps with a resume in between equal 2N straight), freezing keeps weights, ADA's augment is
//! exact where it should be and lets gradients through.

use stylegan::io::checkpoint::NetworkEntry;
use stylegan::latent::RandomState;
use stylegan::train::augment::{AugmentPipe, Params as AugParams};
use stylegan::train::{AugMode, InMemoryData, NetworkOptions, TrainConfig, TrainOptions, Trainer};

fn tiny_nets(c_dim: usize) -> (NetworkEntry, NetworkEntry) {
    let o = NetworkOptions {
        channel_base: 64,
        channel_max: 16,
        map_layers: 2,
        latent_dim: 8,
        mbstd_group: 2,
        ..NetworkOptions::stylegan2(8, 3, c_dim)
    };
    o.build(5).unwrap()
}

/// A tiny StyleGAN3 (T or R) for 8×8 data, with the SG2 discriminator.
fn tiny_sg3(cfg: TrainConfig) -> (NetworkEntry, NetworkEntry) {
    NetworkOptions {
        channel_base: 64,
        channel_max: 8,
        latent_dim: 8,
        mbstd_group: 2,
        ..NetworkOptions::for_cfg(cfg, 8, 3, 0, 4)
    }
    .build(7)
    .unwrap()
}

/// Eight 8×8 images: coloured squares at different places.
fn tiny_data(labels: bool) -> InMemoryData {
    let mut images = Vec::new();
    for k in 0..8usize {
        let mut img = vec![30u8; 3 * 64];
        for c in 0..3 {
            for y in (k % 4)..(k % 4 + 4) {
                for x in (k / 2)..(k / 2 + 3) {
                    img[(c * 8 + y) * 8 + x] = [220, 120, 40][(c + k) % 3];
                }
            }
        }
        images.push(img);
    }
    InMemoryData {
        resolution: 8,
        channels: 3,
        images,
        labels: labels.then(|| {
            (0..8)
                .map(|k| vec![(k % 2) as f32, 1.0 - (k % 2) as f32])
                .collect()
        }),
    }
}

fn opts() -> TrainOptions {
    TrainOptions {
        batch: 4,
        r1_gamma: 1.0,
        g_reg_interval: Some(2),
        d_reg_interval: Some(2),
        ema_kimg: 0.01,
        mirror: true,
        seed: 3,
        ..TrainOptions::default()
    }
}

fn weights(t: &Trainer) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    for (tag, set) in [("G", &t.g), ("D", &t.d), ("G_ema", &t.g_ema)] {
        for (k, raw) in set.to_entry().unwrap().tensors {
            out.push((format!("{tag}.{k}"), raw.data));
        }
    }
    out
}

#[test]
fn steps_update_all_networks_and_report_every_loss() {
    let dev = stylegan::backend::cpu();
    let (g, d) = tiny_nets(0);
    let data = tiny_data(false);
    let mut t = Trainer::new(opts(), &g, &d, &dev).unwrap();
    let before = weights(&t);
    let st = t.step(&data).unwrap(); // batch 0: every phase, including both regularisers
    for (name, v) in [
        ("loss_g", st.loss_g),
        ("loss_d_real", st.loss_d_real),
        ("loss_d_gen", st.loss_d_gen),
        ("r1", st.r1_penalty),
        ("pl", st.pl_penalty),
    ] {
        assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
    }
    let st = t.step(&data).unwrap(); // batch 1: no regularisers
    assert!(st.r1_penalty.is_nan() && st.pl_penalty.is_nan());
    assert_eq!(t.cur_nimg, 8);
    let after = weights(&t);
    let changed = |prefix: &str| {
        before
            .iter()
            .zip(&after)
            .filter(|((k, _), _)| k.starts_with(prefix))
            .any(|((_, a), (_, b))| a != b)
    };
    assert!(changed("G.synthesis") && changed("G.mapping") && changed("D.") && changed("G_ema."));
    // Buffers: resample filters are untouched, w_avg tracks w.
    for ((k, a), (_, b)) in before.iter().zip(&after) {
        if k.ends_with("resample_filter") {
            assert_eq!(a, b, "{k}");
        }
        if k == "G.mapping.w_avg" {
            assert_ne!(a, b, "w_avg should be updated");
        }
    }
}

#[test]
fn resume_continues_bit_for_bit() {
    let dev = stylegan::backend::cpu();
    let (g, d) = tiny_nets(2);
    let data = tiny_data(true);
    let o = TrainOptions {
        cond: true,
        aug: AugMode::Ada { target: 0.6 },
        ada_interval: 1,
        ada_kimg: 0.1,
        ..opts()
    };

    let mut straight = Trainer::new(o.clone(), &g, &d, &dev).unwrap();
    for _ in 0..6 {
        straight.step(&data).unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap.safetensors");
    let mut first = Trainer::new(o.clone(), &g, &d, &dev).unwrap();
    for _ in 0..3 {
        first.step(&data).unwrap();
    }
    assert!(first.ada_p >= 0.0);
    first.save(&snap, &Default::default()).unwrap();
    drop(first);
    let mut resumed = Trainer::resume(&snap, o, &dev).unwrap();
    assert_eq!(resumed.cur_nimg, 12);
    for _ in 0..3 {
        resumed.step(&data).unwrap();
    }
    assert_eq!(resumed.cur_nimg, straight.cur_nimg);
    assert_eq!(resumed.ada_p, straight.ada_p);
    assert_eq!(resumed.pl_mean, straight.pl_mean);
    let (a, b) = (weights(&straight), weights(&resumed));
    assert_eq!(a.len(), b.len());
    for ((k, x), (_, y)) in a.iter().zip(&b) {
        assert_eq!(x, y, "{k} differs after resume");
    }
}

#[test]
fn frozen_parts_keep_the_parent_weights() {
    let dev = stylegan::backend::cpu();
    let (g, d) = tiny_nets(0);
    let data = tiny_data(false);
    let o = TrainOptions {
        freeze_mapping: true,
        freeze_affine: true,
        freeze_d: 1,
        ..opts()
    };
    let mut t = Trainer::new(o, &g, &d, &dev).unwrap();
    let before = weights(&t);
    for _ in 0..2 {
        t.step(&data).unwrap();
    }
    let after = weights(&t);
    let mut trained = 0;
    for ((k, a), (_, b)) in before.iter().zip(&after) {
        let frozen = (k.starts_with("G.mapping.") && !k.ends_with("w_avg"))
            || (k.starts_with("G.") && k.contains(".affine."))
            || k.starts_with("D.b8.");
        if frozen {
            assert_eq!(a, b, "{k} is frozen but changed");
        } else if k.starts_with("G.synthesis") && k.ends_with(".weight") || k.starts_with("D.b4.") {
            trained += usize::from(a != b);
        }
    }
    assert!(trained > 0, "the unfrozen layers should train");
}

#[test]
fn resume_rejects_files_that_are_not_snapshots() {
    let dev = stylegan::backend::cpu();
    let (g, _) = tiny_nets(0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("g.safetensors");
    stylegan::io::checkpoint::Checkpoint::write(&p, &[("", &g)], &Default::default()).unwrap();
    let err = Trainer::resume(&p, opts(), &dev)
        .err()
        .expect("not a snapshot")
        .to_string();
    assert!(
        err.contains("g.safetensors") && err.contains("not a training snapshot"),
        "{err}"
    );
}

#[test]
fn augment_is_identity_at_p0_and_exact_for_flips_and_quarter_turns() {
    let dev = stylegan::backend::cpu();
    let mut rng = RandomState::new(1);
    let p0 = AugParams::sample(4, 8, 0.0, &mut rng);
    assert!(p0.geometric.is_none() && p0.color.is_none());

    // A hand-made x-flip + 90° turn: bilinear sampling at pixel centres must be exact.
    let vals: Vec<f32> = (0..2 * 3 * 64).map(|i| (i as f32 * 0.37).sin()).collect();
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(vals.clone(), [2, 3, 8, 8]),
        &dev,
    );
    let flip = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
    let quarter = [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0]];
    let p = AugParams {
        geometric: Some(vec![flip, quarter]),
        color: None,
    };
    let y = AugmentPipe::apply(x, &p)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    for c in 0..3 {
        for r in 0..8 {
            for q in 0..8 {
                let at = |n: usize, rr: usize, qq: usize| vals[((n * 3 + c) * 8 + rr) * 8 + qq];
                assert!((y[((c) * 8 + r) * 8 + q] - at(0, r, 7 - q)).abs() < 1e-5);
                // output (r, q) samples input at (x', y') = (−y, x) in centred coordinates
                assert!((y[((3 + c) * 8 + r) * 8 + q] - at(1, q, 7 - r)).abs() < 1e-5);
            }
        }
    }

    // Sampled augmentations at p = 1 change the images but keep them finite and in range-ish,
    // and let gradients through.
    let mut rng = RandomState::new(2);
    let p1 = AugParams::sample(2, 8, 1.0, &mut rng);
    assert!(p1.geometric.is_some() && p1.color.is_some());
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(vals, [2, 3, 8, 8]),
        &dev,
    )
    .autodiff()
    .require_grad();
    let y = AugmentPipe::apply(x.clone(), &p1);
    let grads = y.square().sum().backward();
    let g = x
        .grad(&grads)
        .expect("gradient through augment")
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|v| *v != 0.0));
}

#[test]
fn ada_moves_p_toward_the_target() {
    let dev = stylegan::backend::cpu();
    let (g, d) = tiny_nets(0);
    let data = tiny_data(false);
    // r_t = E[sign D(real)] ∈ [-1, 1]: a target below it raises p, above it keeps p at 0.
    let up = TrainOptions {
        aug: AugMode::Ada { target: -1.5 },
        ada_interval: 1,
        ada_kimg: 0.1,
        ..opts()
    };
    let mut t = Trainer::new(up, &g, &d, &dev).unwrap();
    let mut last = 0.0;
    for _ in 0..3 {
        let st = t.step(&data).unwrap();
        assert!(st.ada_p > last, "p should grow: {} -> {}", last, st.ada_p);
        // each adjustment is batch·interval / (ada_kimg·1000) = 4 / 100
        assert!((st.ada_p - last - 0.04).abs() < 1e-12);
        last = st.ada_p;
    }
    let down = TrainOptions {
        aug: AugMode::Ada { target: 1.5 },
        ada_interval: 1,
        ada_kimg: 0.1,
        ..opts()
    };
    let mut t = Trainer::new(down, &g, &d, &dev).unwrap();
    for _ in 0..2 {
        assert_eq!(t.step(&data).unwrap().ada_p, 0.0);
    }
}

/// StyleGAN3's recipe: no path length or style mixing; the layers' input-magnitude EMAs move
/// (G_ema copies them); config R blurs what D sees; a resumed run continues bit for bit.
#[test]
fn stylegan3_trains_with_its_recipe_and_resumes_exactly() {
    let dev = stylegan::backend::cpu();
    let data = tiny_data(false);
    for cfg in [TrainConfig::StyleGan3T, TrainConfig::StyleGan3R] {
        let (g, d) = tiny_sg3(cfg);
        assert_eq!(g.class_name, "training.networks_stylegan3.Generator");
        let o = TrainOptions {
            r1_gamma: 1.0,
            d_reg_interval: Some(2),
            ema_kimg: 0.01,
            seed: 3,
            ..TrainOptions::for_cfg(cfg, 4)
        };
        assert_eq!((o.style_mixing_prob, o.g_reg_interval), (0.0, None));
        assert_eq!(
            o.blur_init_sigma,
            if cfg == TrainConfig::StyleGan3R {
                10.0
            } else {
                0.0
            }
        );
        let mut t = Trainer::new(o.clone(), &g, &d, &dev).unwrap();
        let before = weights(&t);
        let st = t.step(&data).unwrap();
        assert!(st.loss_g.is_finite() && st.loss_d_real.is_finite() && st.r1_penalty.is_finite());
        assert!(
            st.pl_penalty.is_nan(),
            "no path length in the StyleGAN3 recipe"
        );
        let after = weights(&t);
        let mut moved = 0;
        for ((k, a), (_, b)) in before.iter().zip(&after) {
            if k.starts_with("G.") && k.ends_with("magnitude_ema") {
                assert_ne!(a, b, "{k} did not move");
                let ema = &after
                    .iter()
                    .find(|(n, _)| n == &format!("G_ema.{}", &k[2..]))
                    .unwrap()
                    .1;
                assert_eq!(ema, b, "G_ema copies {k}");
                moved += 1;
            }
            if k.ends_with("_filter") || k.ends_with("freqs") || k.ends_with("phases") {
                assert_eq!(a, b, "{k} is a buffer");
            }
        }
        assert!(moved > 0);
        // Resume: 2 + 1 steps equal 3 straight.
        let dir = tempfile::tempdir().unwrap();
        let snap = dir.path().join("snap.safetensors");
        t.step(&data).unwrap();
        t.save(&snap, &Default::default()).unwrap();
        t.step(&data).unwrap();
        let mut resumed = Trainer::resume(&snap, o, &dev).unwrap();
        resumed.step(&data).unwrap();
        for ((k, x), (_, y)) in weights(&t).iter().zip(&weights(&resumed)) {
            assert_eq!(x, y, "{cfg:?}: {k} differs after resume");
        }
        // The trained G_ema generates.
        let g = resumed.g_ema().unwrap();
        assert_eq!(g.render(&[0], 1.0, None).unwrap()[0].width, 8);
    }
}

/// How a run begins: a new network in a new run directory; a snapshot inside a run directory
/// resumed in place at its image count (given as the directory or the file); a network file
/// with G and D fine-tuned in a new directory; a recipe of the wrong family refused by name.
#[test]
fn start_run_resumes_fine_tunes_or_starts_new() {
    use stylegan::train::{start_run, Begun, Start};
    let dev = stylegan::backend::cpu();
    let data = tiny_data(false);
    let out = tempfile::tempdir().unwrap();
    let net = NetworkOptions {
        channel_base: 64,
        channel_max: 16,
        map_layers: 2,
        latent_dim: 8,
        mbstd_group: 2,
        ..NetworkOptions::stylegan2(8, 3, 0)
    };
    let cfg = TrainConfig::StyleGan2;
    let new = start_run(
        Start::New {
            network: &net,
            seed: 5,
        },
        cfg,
        opts(),
        &data,
        out.path(),
        "tiny",
        &dev,
    )
    .unwrap();
    assert_eq!(new.begun, Begun::New);
    assert!(new.dir.ends_with("00000-tiny"));
    // A snapshot in a run directory (one with training_options.json).
    let mut t = new.trainer;
    t.step(&data).unwrap();
    std::fs::write(new.dir.join("training_options.json"), "{}").unwrap();
    let snap = new.dir.join("network-snapshot-000000.safetensors");
    t.save(&snap, &Default::default()).unwrap();
    for from in [new.dir.clone(), snap.clone()] {
        let r = start_run(
            Start::From(&from),
            cfg,
            opts(),
            &data,
            out.path(),
            "x",
            &dev,
        )
        .unwrap();
        assert_eq!(
            r.begun,
            Begun::Resumed {
                snapshot: snap.clone()
            }
        );
        assert_eq!(
            (r.dir.as_path(), r.trainer.cur_nimg),
            (new.dir.as_path(), 4)
        );
    }
    // A network file (G and D, no optimiser state): fine-tuned in the next run directory.
    let (g, d) = tiny_nets(0);
    let file = out.path().join("net.safetensors");
    stylegan::io::checkpoint::Checkpoint::write(
        &file,
        &[("G", &g), ("D", &d)],
        &Default::default(),
    )
    .unwrap();
    let f = start_run(
        Start::From(&file),
        cfg,
        opts(),
        &data,
        out.path(),
        "ft",
        &dev,
    )
    .unwrap();
    assert_eq!(
        f.begun,
        Begun::FineTuned {
            network: file.clone()
        }
    );
    assert!(f.dir.ends_with("00001-ft"));
    assert_eq!(f.trainer.cur_nimg, 0);
    // The StyleGAN3 recipe on a StyleGAN2 snapshot.
    let e = start_run(
        Start::From(&snap),
        TrainConfig::StyleGan3T,
        opts(),
        &data,
        out.path(),
        "x",
        &dev,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("stylegan3-t") && e.contains("StyleGAN2"), "{e}");
}

/// Hostile options are refused by name before any work (no panic on `freeze_d` 65, no NaN or
/// absurd learning rate, no batch beyond the maximum).
#[test]
fn options_out_of_range_are_refused() {
    let dev = stylegan::backend::cpu();
    let (g, d) = tiny_nets(0);
    let cases: Vec<(TrainOptions, &str)> = vec![
        (
            TrainOptions {
                freeze_d: 65,
                ..opts()
            },
            "cannot freeze 65",
        ),
        (
            TrainOptions {
                freeze_d: 3,
                ..opts()
            },
            "has 2",
        ),
        (
            TrainOptions {
                glr: f64::NAN,
                ..opts()
            },
            "G learning rate",
        ),
        (
            TrainOptions {
                dlr: 1e30,
                ..opts()
            },
            "D learning rate",
        ),
        (
            TrainOptions {
                r1_gamma: f64::INFINITY,
                ..opts()
            },
            "gamma",
        ),
        (
            TrainOptions {
                aug: AugMode::Ada { target: f64::NAN },
                ..opts()
            },
            "ADA target",
        ),
        (
            TrainOptions {
                ada_kimg: 0.0,
                ..opts()
            },
            "ADA speed",
        ),
        (
            TrainOptions {
                batch: stylegan::train::MAX_BATCH + 1,
                ..opts()
            },
            "batch size",
        ),
        (TrainOptions { batch: 0, ..opts() }, "batch size"),
    ];
    for (o, needle) in cases {
        let e = Trainer::new(o.clone(), &g, &d, &dev)
            .err()
            .map(|e| e.to_string());
        assert!(
            e.as_deref().is_some_and(|e| e.contains(needle)),
            "{o:?}: {e:?}"
        );
    }
    // Every D block frozen is allowed (8x8: b8 and b4).
    Trainer::new(
        TrainOptions {
            freeze_d: 2,
            ..opts()
        },
        &g,
        &d,
        &dev,
    )
    .unwrap();
}

/// A NaN weight makes the next loss NaN: the step fails with an error naming it, and a
/// snapshot of non-finite weights is refused (the last good one on disk stays the last).
#[test]
fn divergence_stops_training_and_is_never_snapshotted() {
    let dev = stylegan::backend::cpu();
    let (g, d) = tiny_nets(0);
    let data = tiny_data(false);
    let mut t = Trainer::new(opts(), &g, &d, &dev).unwrap();
    t.step(&data).unwrap();
    let name = "synthesis.b8.conv1.weight";
    let w = t.g.get(name).unwrap().clone();
    let n = w.dims()[0];
    let mut v = stylegan::backend::to_vec(&w).unwrap();
    v[0] = f32::NAN;
    t.g.set(
        name,
        burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(v, [n]), &dev),
    );
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("network-snapshot-000000.008.safetensors");
    let e = t.save(&snap, &Default::default()).unwrap_err().to_string();
    assert!(e.contains("NaN or infinite") && e.contains(name), "{e}");
    assert!(!snap.exists());
    let e = t.step(&data).unwrap_err().to_string();
    assert!(e.contains("diverged") && e.contains("NaN"), "{e}");
    assert_eq!(t.cur_nimg, 4, "the failed step is not counted");
}

/// Snapshot names are unique per image count, sort by it, and the log is trimmed to the
/// snapshot a run resumes from.
#[test]
fn snapshot_names_and_log_trimming() {
    use stylegan::train::{latest_snapshot, snapshot_nimg, snapshot_tag, trim_log};
    for n in [0u64, 16, 999, 1000, 1016, 25_000_000] {
        let name = format!("network-snapshot-{}.safetensors", snapshot_tag(n));
        assert_eq!(snapshot_nimg(&name), Some(n), "{name}");
    }
    assert_eq!(snapshot_tag(16), "000000.016");
    assert_eq!(snapshot_tag(4000), "000004");
    assert_eq!(snapshot_nimg("network-snapshot-x.safetensors"), None);
    let dir = tempfile::tempdir().unwrap();
    for n in [8u64, 16, 1000, 1008] {
        let p = dir
            .path()
            .join(format!("network-snapshot-{}.safetensors", snapshot_tag(n)));
        std::fs::write(p, b"").unwrap();
    }
    let latest = latest_snapshot(dir.path()).unwrap();
    assert!(
        latest.ends_with("network-snapshot-000001.008.safetensors"),
        "{latest:?}"
    );
    let log = dir.path().join("log.jsonl");
    std::fs::write(
        &log,
        "{\"tick\":1,\"kimg\":0.008}\n{\"tick\":2,\"kimg\":0.016}\n{\"tick\":3,\"kimg\":0.024}\n{\"tick\":",
    )
    .unwrap();
    assert_eq!(trim_log(dir.path(), 16).unwrap(), 2);
    let kept = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        kept,
        "{\"tick\":1,\"kimg\":0.008}\n{\"tick\":2,\"kimg\":0.016}\n"
    );
}
