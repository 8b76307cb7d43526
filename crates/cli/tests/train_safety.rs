//! `stylegan train` (and `dataset`, `classifier train`, `init`) against hostile inputs: every
//! numeric flag checked before any directory is made, sizes bounded, divergence stopped with an
//! error, resumes that never overwrite, trim the log, tidy killed writes and refuse options
//! that differ from the snapshot's.

mod common;

use common::{fails, ok, only_run_dir, run};
use std::path::Path;

use stylegan::io::checkpoint::Checkpoint;

use common::{tiny_dataset as dataset, TINY_TRAIN as TINY};

fn train(data: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    // TINY's flags the caller did not give itself.
    for pair in TINY.chunks(2) {
        if !extra.contains(&pair[0]) {
            args.extend_from_slice(pair);
        }
    }
    run(&args)
}

fn log_kimg(dir: &Path) -> Vec<f64> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["kimg"]
                .as_f64()
                .unwrap()
        })
        .collect()
}

fn mem_available_gib() -> f64 {
    stylegan::train::available_memory().unwrap_or(u64::MAX) as f64 / (1u64 << 30) as f64
}

/// Every bad value fails with the flag's name, without a panic and before the output
/// directory exists.
#[test]
fn every_numeric_flag_is_checked_before_any_directory_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path(), "data", 0);
    let mut cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["--freeze-d", "65"], vec!["--freeze-d 65", "2 blocks"]),
        (vec!["--freeze-d", "3"], vec!["--freeze-d 3"]),
        (
            vec!["--batch", "100000"],
            vec!["--batch", "1..=4096", "100000"],
        ),
        (vec!["--batch", "0"], vec!["--batch"]),
        (vec!["--grid", "1000x1000"], vec!["--grid", "1000x1000"]),
        (vec!["--grid", "40x40"], vec!["--grid 40x40", "1024 images"]),
        (vec!["--glr", "nan"], vec!["--glr", "NaN"]),
        (vec!["--glr", "1e30"], vec!["--glr", "(0, 1]"]),
        (vec!["--dlr", "-1"], vec!["--dlr", "-1"]),
        (vec!["--gamma", "nan"], vec!["--gamma", "NaN"]),
        (vec!["--gamma", "-1"], vec!["--gamma"]),
        (vec!["--target", "nan"], vec!["--target", "NaN"]),
        (vec!["--target", "1.5"], vec!["--target", "[0, 1]"]),
        (vec!["--aug", "fixed", "--p", "2"], vec!["--p", "[0, 1]"]),
        (vec!["--ada-kimg", "0"], vec!["--ada-kimg", "got 0"]),
        (
            vec!["--aug", "noaug", "--p", "0.5"],
            vec!["--p", "--aug fixed"],
        ),
        (vec!["--kimg", "inf"], vec!["--kimg", "inf"]),
        (vec!["--tick", "0"], vec!["--tick"]),
        (vec!["--snap", "0"], vec!["--snap"]),
        (
            vec!["--mbstd-group", "3"],
            vec!["--batch 4", "minibatch-std group size 3"],
        ),
        (vec!["--cbase", "0"], vec!["--cbase"]),
        (vec!["--latent-dim", "100000"], vec!["--latent-dim", "4096"]),
        (vec!["--desc", "../../x"], vec!["--desc", "path separators"]),
        (vec!["--desc", ".."], vec!["--desc"]),
        (vec!["--desc", "a/b"], vec!["--desc"]),
        (vec!["--force"], vec!["--force", "--resume"]),
    ];
    // A batch within the maximum that cannot fit in memory: the widest network at 8x8 needs
    // ~10 MiB per image, so 4096 images need ~40 GiB (checked where less is available).
    if mem_available_gib() < 38.0 {
        cases.push((
            vec!["--batch", "4096", "--cbase", "16777216", "--cmax", "4096"],
            vec!["--batch 4096", "GiB", "available"],
        ));
    } else {
        eprintln!(
            "SKIP the memory estimate case: {:.0} GiB available",
            mem_available_gib()
        );
    }
    for (i, (bad, needles)) in cases.iter().enumerate() {
        let out = tmp.path().join(format!("runs{i}"));
        let mut args: Vec<&str> = Vec::new();
        // The case's own value of a flag wins over the defaults below.
        for (flag, default) in [("--batch", "4"), ("--gamma", "1"), ("--kimg", "0.008")] {
            if !bad.contains(&flag) {
                args.extend([flag, default]);
            }
        }
        args.extend(bad.iter().copied());
        let o = train(&data, &out, &args);
        fails(&o, needles);
        assert!(!out.exists(), "{bad:?} created {}", out.display());
    }
}

/// `classifier train`, `init` and `dataset` sizes are bounded up front.
#[test]
fn other_sizes_are_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let clf = tmp.path().join("c.safetensors");
    let missing = tmp.path().join("none.zip");
    for (flag, v, needle) in [
        ("--batch", "100000", "1..=4096"),
        ("--width", "100000", "1..=1024"),
    ] {
        fails(
            &run(&[
                "classifier",
                "train",
                "--data",
                missing.to_str().unwrap(),
                "--out",
                clf.to_str().unwrap(),
                flag,
                v,
            ]),
            &[flag, needle],
        );
    }
    let cfg = tmp.path().join("big.json");
    std::fs::write(
        &cfg,
        r#"{"G": {"z_dim": 8, "w_dim": 8, "c_dim": 0, "img_resolution": 65536, "img_channels": 3, "channel_base": 1073741824}}"#,
    )
    .unwrap();
    let net = tmp.path().join("big.safetensors");
    fails(
        &run(&[
            "init",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            net.to_str().unwrap(),
        ]),
        &["65536", "maximum 4096"],
    );
    assert!(!net.exists());
    // Within the resolution limit but far too wide to hold: refused before allocating.
    std::fs::write(
        &cfg,
        r#"{"G": {"z_dim": 8, "w_dim": 8, "c_dim": 0, "img_resolution": 1024, "img_channels": 3, "channel_base": 1073741824, "channel_max": 1048576}}"#,
    )
    .unwrap();
    fails(
        &run(&[
            "init",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            net.to_str().unwrap(),
        ]),
        &["parameters", "GiB", "channel_max"],
    );
    assert!(!net.exists());
    let zip = tmp.path().join("d.zip");
    fails(
        &run(&[
            "dataset",
            "faces",
            "--count",
            "4",
            "--resolution",
            "100000",
            "--dest",
            zip.to_str().unwrap(),
        ]),
        &["--resolution", "4096"],
    );
    fails(
        &run(&[
            "dataset",
            "faces",
            "--count",
            "0",
            "--resolution",
            "8",
            "--dest",
            zip.to_str().unwrap(),
        ]),
        &["--count"],
    );
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    fails(
        &run(&[
            "dataset",
            "--source",
            src.to_str().unwrap(),
            "--dest",
            zip.to_str().unwrap(),
            "--resolution",
            "100000",
        ]),
        &["--resolution 100000", "4096"],
    );
    // A killed earlier build's temporary is removed by the next build of that data set.
    let stale = tmp.path().join(".d2.zip.tmp4000000000");
    std::fs::write(&stale, vec![0u8; 1024]).unwrap();
    dataset(tmp.path(), "d2", 0);
    assert!(!stale.exists(), "the stale temporary should be gone");
}

/// A network that goes NaN stops the run with an error (exit status non-zero) and the last
/// good snapshot stays as it was; no snapshot of the broken state is written.
#[test]
fn divergence_stops_the_run_and_keeps_the_last_good_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path(), "data", 0);
    let out = tmp.path().join("runs");
    ok(&train(
        &data,
        &out,
        &["--batch", "4", "--gamma", "1", "--kimg", "0.008"],
    ));
    let dir = only_run_dir(&out);
    let good = dir.join("network-snapshot-000000.008.safetensors");
    let good_bytes = std::fs::read(&good).unwrap();
    // The same state with a NaN weight in G, as the run's latest snapshot.
    let mut ck = Checkpoint::read(&good).unwrap();
    for net in ["G", "G_ema"] {
        let t = ck.networks.get_mut(net).unwrap();
        t.tensors.get_mut("synthesis.b8.conv1.weight").unwrap().data[0] = f32::NAN;
    }
    let bad = dir.join("network-snapshot-000000.009.safetensors");
    let nets: Vec<(&str, &stylegan::io::checkpoint::NetworkEntry)> =
        ck.networks.iter().map(|(k, v)| (k.as_str(), v)).collect();
    Checkpoint::write_with_state(&bad, &nets, &ck.extra_metadata, &ck.extra_tensors).unwrap();
    let o = train(
        &data,
        &out,
        &["--kimg", "0.016", "--resume", dir.to_str().unwrap()],
    );
    fails(&o, &["diverged", "NaN"]);
    assert_eq!(std::fs::read(&good).unwrap(), good_bytes);
    let snaps: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with("network-snapshot-"))
        .collect();
    assert_eq!(snaps.len(), 2, "{snaps:?}");
}

/// Resuming never overwrites a snapshot, a fakes grid or the run's options; drops log lines
/// written after the snapshot (a killed run's); removes dead processes' temporaries; and
/// refuses options or data that differ from the snapshot's unless --force (recorded).
#[test]
fn resume_keeps_results_trims_the_log_and_refuses_other_options() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path(), "data", 0);
    let other = dataset(tmp.path(), "other", 1);
    let out = tmp.path().join("runs");
    ok(&train(
        &data,
        &out,
        &[
            "--batch", "4", "--gamma", "1", "--kimg", "0.008", "--mirror", "--desc", "a-b_c.1",
        ],
    ));
    let dir = only_run_dir(&out);
    assert!(dir.to_string_lossy().ends_with("-a-b_c.1"));
    let first = dir.join("network-snapshot-000000.008.safetensors");
    let first_bytes = std::fs::read(&first).unwrap();
    let first_fakes = std::fs::read(dir.join("fakes000000.008.png")).unwrap();
    let options = std::fs::read_to_string(dir.join("training_options.json")).unwrap();
    // What a run killed after its snapshot leaves: later log lines (one cut short) and
    // temporaries of a dead process; a live process's temporary stays.
    let mut log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    log.push_str("{\"tick\":2,\"kimg\":0.012}\n{\"tick\":3,\"kim");
    std::fs::write(dir.join("log.jsonl"), log).unwrap();
    let dead = dir.join(".network-snapshot-000000.012.safetensors.tmp4000000000");
    let live = dir.join(format!(".fakes000000.012.png.tmp{}", std::process::id()));
    std::fs::write(&dead, vec![0u8; 4096]).unwrap();
    std::fs::write(&live, b"x").unwrap();

    // Options that differ from the snapshot's are refused by flag, before anything changes.
    for (extra, needle) in [
        (vec!["--gamma", "2"], "--gamma"),
        (vec!["--batch", "2"], "--batch"),
        (vec!["--glr", "0.001"], "--glr"),
        (vec!["--aug", "noaug"], "--aug"),
    ] {
        let mut args = vec!["--kimg", "0.016", "--resume", dir.to_str().unwrap()];
        args.extend(extra);
        fails(&train(&data, &out, &args), &[needle, "--force", "differ"]);
    }
    fails(
        &train(
            &other,
            &out,
            &["--kimg", "0.016", "--resume", dir.to_str().unwrap()],
        ),
        &["--data", "--force"],
    );
    fails(
        &train(
            &data,
            &out,
            &[
                "--kimg",
                "0.016",
                "--resume",
                dir.to_str().unwrap(),
                "--cbase",
                "128",
            ],
        ),
        &["--cbase 128", "channel_base is 64"],
    );
    fails(
        &train(
            &data,
            &out,
            &[
                "--kimg",
                "0.016",
                "--resume",
                dir.to_str().unwrap(),
                "--seed",
                "9",
            ],
        ),
        &["--seed"],
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("training_options.json")).unwrap(),
        options
    );

    // Resume with the snapshot's options (--batch, --gamma, --mirror taken from it).
    let err = ok(&train(
        &data,
        &out,
        &["--kimg", "0.016", "--resume", dir.to_str().unwrap()],
    ));
    assert!(err.contains("dropped 2 log.jsonl line"), "{err}");
    assert!(!dead.exists() && live.exists());
    assert_eq!(only_run_dir(&out), dir);
    assert_eq!(
        std::fs::read(&first).unwrap(),
        first_bytes,
        "snapshot overwritten"
    );
    assert_eq!(
        std::fs::read(dir.join("fakes000000.008.png")).unwrap(),
        first_fakes
    );
    for f in [
        "network-snapshot-000000.016.safetensors",
        "fakes000000.016.png",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    assert_eq!(log_kimg(&dir), vec![0.008, 0.016]);
    let opts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("training_options.json")).unwrap())
            .unwrap();
    assert_eq!(opts["mirror"], true);
    assert_eq!(opts["resumes"].as_array().unwrap().len(), 1);
    let ck = Checkpoint::read(&dir.join("network-snapshot-000000.016.safetensors")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&ck.extra_metadata["train.state"]).unwrap();
    assert_eq!(state["options"]["mirror"], true);
    assert_eq!(state["options"]["batch"], 4);

    // --force continues with another γ and records it.
    ok(&train(
        &data,
        &out,
        &[
            "--kimg",
            "0.024",
            "--resume",
            dir.to_str().unwrap(),
            "--gamma",
            "2",
            "--force",
        ],
    ));
    let opts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("training_options.json")).unwrap())
            .unwrap();
    let forced = &opts["resumes"][1]["forced"]["r1_gamma"];
    assert_eq!(
        (forced["snapshot"].as_f64(), forced["given"].as_f64()),
        (Some(1.0), Some(2.0))
    );
    assert_eq!(log_kimg(&dir), vec![0.008, 0.016, 0.024]);

    // An earlier snapshot continues in a new run directory: the later ones stay untouched.
    let later = std::fs::read(dir.join("network-snapshot-000000.016.safetensors")).unwrap();
    let err = ok(&train(
        &data,
        &out,
        &["--kimg", "0.016", "--resume", first.to_str().unwrap()],
    ));
    assert!(err.contains("not the latest snapshot"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("network-snapshot-000000.016.safetensors")).unwrap(),
        later
    );
    let dirs = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(dirs, 2);
}
