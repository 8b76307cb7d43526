//! `stylegan fid` / `kid` / `metrics` end to end on `../shared/fixtures/metrics` (two 200-image
//! data sets whose FID and KID the official code computed), the `metric-*.jsonl` lines, and
//! bad input. Without the Inception weights (no pip or network) the tests print SKIP.

mod common;

use std::path::PathBuf;

use common::*;

fn metrics_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/metrics");
    if d.is_dir() {
        Some(d)
    } else {
        eprintln!("SKIP: metrics fixtures not found at {}", d.display());
        None
    }
}

/// The number after `label` on stdout.
fn value(stdout: &[u8], label: &str) -> f64 {
    let s = String::from_utf8_lossy(stdout);
    s.split_whitespace()
        .skip_while(|w| *w != label)
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' value in {s}"))
}

#[test]
fn fid_and_kid_of_two_data_sets_match_the_official_code() {
    let Some(dir) = metrics_dir() else { return };
    if !have_inception() {
        return;
    }
    let (a, b) = (dir.join("set_A.zip"), dir.join("set_B.zip"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    // KID first: it caches both sets' statistics with their rows, which FID then reuses.
    let o = run(&["kid", a, b]);
    ok(&o);
    let k = value(&o.stdout, "KID");
    assert!((k - 0.24727624654769897).abs() < 1e-3 * 0.2473, "KID {k}");
    let o = run(&["fid", a, b]);
    let err = ok(&o);
    let f = value(&o.stdout, "FID");
    assert!((f - 297.2571783426895).abs() < 1e-3 * 297.26, "FID {f}");
    assert!(
        err.contains("from the cache (200 images)"),
        "stats not reused: {err}"
    );
    // A set against itself.
    let o = run(&["fid", a, a]);
    ok(&o);
    assert!(value(&o.stdout, "FID").abs() < 1e-3);
    // Folders of images of any sizes and colour types: the fixture's 16 single images (8 px to
    // 512 px, grey, 48×80) plus an RGBA copy of one, against set A.
    let tmp = tempfile::tempdir().unwrap();
    let mixed = tmp.path().join("mixed");
    std::fs::create_dir(&mixed).unwrap();
    for e in std::fs::read_dir(dir.join("images")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, mixed.join(p.file_name().unwrap())).unwrap();
    }
    let first = std::fs::read_dir(dir.join("images"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    image::open(&first)
        .unwrap()
        .to_rgba8()
        .save(mixed.join("zz_rgba.png"))
        .unwrap();
    let m = mixed.to_str().unwrap();
    let o = run(&["fid", "--no-cache", a, m]);
    ok(&o);
    let f = value(&o.stdout, "FID");
    assert!(f.is_finite() && f > 1.0, "FID {f}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("200 vs 17 images"));
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = run(&["fid", a, empty.to_str().unwrap()]);
    fails(&o, &["empty", "no PNG or JPEG"]);
}

#[test]
fn metrics_of_the_demo_model_write_official_jsonl() {
    let Some(dir) = metrics_dir() else { return };
    if !have_inception() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = dir.join("set_A.zip");
    let out = tmp.path().display().to_string();
    let o = run(&[
        "metrics",
        "--data",
        data.to_str().unwrap(),
        "--metrics",
        "fid50k_full,kid50k_full,pr50k3_full",
        "--num",
        "64",
        "--outdir",
        &out,
    ]);
    let err = ok(&o);
    // The generated images' statistics are shared: FID's (no rows), then KID's with rows,
    // which precision/recall reuse.
    assert_eq!(
        err.matches("generated statistics shared").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("pr64nhood3_full_inception: generated statistics shared"),
        "{err}"
    );
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    for name in [
        "fid64_full",
        "kid64_full",
        "pr64nhood3_full_inception_precision",
    ] {
        assert!(table.contains(name), "{table}");
    }
    let line = std::fs::read_to_string(tmp.path().join("metric-fid64_full.jsonl")).unwrap();
    let j: serde_json::Value = serde_json::from_str(line.lines().next().unwrap()).unwrap();
    assert_eq!(j["metric"], "fid64_full");
    assert_eq!(j["snapshot_pkl"], "faces32.safetensors");
    let fid = j["results"]["fid64_full"].as_f64().unwrap();
    // Cartoon faces against smooth blobs: far apart, but finite.
    assert!(fid.is_finite() && fid > 10.0, "{fid}");
    let pr =
        std::fs::read_to_string(tmp.path().join("metric-pr64nhood3_full_inception.jsonl")).unwrap();
    let j: serde_json::Value = serde_json::from_str(pr.lines().next().unwrap()).unwrap();
    let p = j["results"]["pr64nhood3_full_inception_precision"]
        .as_f64()
        .unwrap();
    assert!((0.0..=1.0).contains(&p));
}

#[test]
fn metrics_refuse_bad_input() {
    let Some(dir) = metrics_dir() else { return };
    let data = dir.join("set_A.zip");
    let data = data.to_str().unwrap();
    let o = run(&["metrics", "--data", data, "--metrics", "fid50k_full,ppl9"]);
    fails(&o, &["unknown metric 'ppl9'", "fid50k_full"]);
    if !have_inception() {
        return;
    }
    // The non-_full variants read the first N reals: 200 are not 50,000.
    let tmp = tempfile::tempdir().unwrap();
    let o = run(&[
        "metrics",
        "--data",
        data,
        "--metrics",
        "fid50k",
        "--outdir",
        tmp.path().to_str().unwrap(),
    ]);
    fails(&o, &["first 50000 real images", "only 200 images"]);
    // A TorchScript file that is not Inception.
    let bogus = tmp.path().join("bogus.pt");
    std::fs::write(&bogus, b"not a zip").unwrap();
    let o = run(&["assets", "inception", "--from", bogus.to_str().unwrap()]);
    fails(&o, &["bogus.pt", "zip"]);
}

#[test]
fn ppl_of_the_demo_model_is_repeatable() {
    let Some(dir) = metrics_dir() else { return };
    if !have_lpips() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = dir.join("set_A.zip");
    let out = tmp.path().display().to_string();
    let args = [
        "metrics",
        "--data",
        data.to_str().unwrap(),
        "--metrics",
        "ppl2_wend,ppl_zfull",
        "--num",
        "40",
        "--outdir",
        &out,
    ];
    let (a, b) = (run(&args), run(&args));
    ok(&a);
    ok(&b);
    let v = |o: &std::process::Output, name: &str| -> f64 {
        let s = String::from_utf8_lossy(&o.stdout).into_owned();
        s.lines()
            .find(|l| l.contains(name))
            .and_then(|l| l.split('|').nth(3))
            .and_then(|x| x.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {s}"))
    };
    for name in ["ppl2_wend_40", "ppl_zfull_40"] {
        let (x, y) = (v(&a, name), v(&b, name));
        assert!(x.is_finite() && x > 0.0, "{name} {x}");
        assert_eq!(x, y, "{name}: not repeatable");
    }
    let lines = std::fs::read_to_string(tmp.path().join("metric-ppl2_wend_40.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 2);
}

/// `--run`: every snapshot of a run directory, its lines there, a plot per metric.
#[test]
fn metrics_of_a_run_directory_are_plotted() {
    let Some(dir) = metrics_dir() else { return };
    if !have_lpips() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for k in ["000004", "000012.500"] {
        std::fs::copy(
            model("faces32.safetensors"),
            tmp.path().join(format!("network-snapshot-{k}.safetensors")),
        )
        .unwrap();
    }
    let data = dir.join("set_A.zip");
    let run_dir = tmp.path().display().to_string();
    let o = run(&[
        "metrics",
        "--run",
        &run_dir,
        "--data",
        data.to_str().unwrap(),
        "--metrics",
        "ppl2_wend",
        "--num",
        "8",
    ]);
    ok(&o);
    let lines = std::fs::read_to_string(tmp.path().join("metric-ppl2_wend_8.jsonl")).unwrap();
    let snaps: Vec<String> = lines
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["snapshot_pkl"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        snaps,
        [
            "network-snapshot-000004.safetensors",
            "network-snapshot-000012.500.safetensors"
        ]
    );
    let (w, h, _) = pixels(&tmp.path().join("metric-ppl2_wend_8.png"));
    assert_eq!((w, h), (640, 400));
    // --run and --network together are refused.
    let o = run(&[
        "metrics",
        "--run",
        &run_dir,
        "--network",
        &model("faces32.safetensors"),
        "--data",
        data.to_str().unwrap(),
    ]);
    fails(&o, &["--run", "--network"]);
}

/// `train --metrics`: each snapshot is evaluated into the run directory, with a plot.
#[test]
fn training_tracks_fid_per_snapshot() {
    if !have_inception() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_dataset(tmp.path(), "data", 0);
    let out = tmp.path().join("runs");
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--kimg",
        "0.016",
        "--batch",
        "4",
        "--gamma",
        "1",
        "--metrics",
        "fid16_full",
    ];
    args.extend_from_slice(TINY_TRAIN);
    let err = ok(&run(&args));
    assert!(err.contains("fid16_full"), "{err}");
    let dir = only_run_dir(&out);
    let text = std::fs::read_to_string(dir.join("metric-fid16_full.jsonl")).unwrap();
    let j: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(j["snapshot_pkl"], "network-snapshot-000000.016.safetensors");
    assert!(j["results"]["fid16_full"].as_f64().unwrap().is_finite());
    assert!(dir.join("metric-fid16_full.png").is_file());
    // Progressive growing does not take --metrics (yet): refused by name.
    let o = run(&[
        "train",
        "--cfg",
        "pggan",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--kimg",
        "0.01",
        "--metrics",
        "fid16_full",
    ]);
    fails(&o, &["--metrics"]);
}

/// Equivariance of the bundled StyleGAN3 model: no real images needed, the official lines;
/// a StyleGAN2 network and a FID without --data are refused with reasons.
#[test]
fn equivariance_of_the_stylegan3_demo_model() {
    let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let sg3 = models.join("faces32-sg3t.safetensors");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().display().to_string();
    let o = run(&[
        "metrics",
        "--network",
        sg3.to_str().unwrap(),
        "--metrics",
        "eqt50k_int,eqt50k_frac,eqr50k",
        "--num",
        "8",
        "--outdir",
        &out,
    ]);
    ok(&o);
    for name in ["eqt8_int", "eqt8_frac", "eqr8"] {
        let text = std::fs::read_to_string(tmp.path().join(format!("metric-{name}.jsonl")))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let v = line["results"][name].as_f64().unwrap();
        assert!(v.is_finite() && v > 5.0, "{name} {v}");
        assert_eq!(line["snapshot_pkl"], "faces32-sg3t.safetensors");
    }
    let o = run(&[
        "metrics",
        "--network",
        models.join("faces32.safetensors").to_str().unwrap(),
        "--metrics",
        "eqr50k",
        "--num",
        "4",
        "--outdir",
        &out,
    ]);
    fails(&o, &["StyleGAN3"]);
    let o = run(&[
        "metrics",
        "--metrics",
        "eqr50k,fid2k_full",
        "--outdir",
        &out,
    ]);
    fails(&o, &["fid2k_full", "--data"]);
}

/// Linear separability of the demo model with the bundled classifier: the official `_z` / `_w`
/// results, scores in [1, 2^6], the entropies per attribute; a missing classifier file named.
#[test]
fn linear_separability_of_the_demo_model() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().display().to_string();
    let o = run(&[
        "metrics",
        "--metrics",
        "ls",
        "--num",
        "600",
        "--outdir",
        &out,
    ]);
    ok(&o);
    let text = std::fs::read_to_string(tmp.path().join("metric-ls_600.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    for key in ["ls_600_z", "ls_600_w"] {
        let v = line["results"][key].as_f64().unwrap();
        // 2^(Σ of 6 conditional entropies of at most one bit each).
        assert!((1.0..=64.0).contains(&v), "{key} {v}");
    }
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("glasses") && stderr.contains("bits in Z"),
        "{stderr}"
    );
    let o = run(&[
        "metrics",
        "--metrics",
        "ls",
        "--num",
        "600",
        "--classifier",
        "/nonexistent/classifier.safetensors",
        "--outdir",
        &out,
    ]);
    fails(&o, &["/nonexistent/classifier.safetensors"]);
}
