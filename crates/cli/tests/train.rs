//! `stylegan train` end to end on a tiny data set: run directory contents, a resume that picks
//! up where the run stopped, fine-tuning from a network file, and clear errors.

mod common;

use common::{fails, ok, only_run_dir, run};
use std::path::{Path, PathBuf};

use stylegan::io::checkpoint::Checkpoint;

/// Eight 8×8 PNGs → `data.zip`.
fn dataset(dir: &Path) -> PathBuf {
    common::tiny_dataset(dir, "data", 0)
}

/// `--batch 4 --gamma 1` and the tiny network and schedule.
fn tiny() -> Vec<&'static str> {
    let mut v = vec!["--batch", "4", "--gamma", "1"];
    v.extend_from_slice(common::TINY_TRAIN);
    v
}

fn log_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn train_writes_a_run_and_resumes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("runs");
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--kimg",
        "0.016",
    ];
    args.extend(tiny());
    ok(&run(&args));
    let dir = only_run_dir(&out);
    assert!(dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("00000-data-stylegan2-gpus1-batch4-gamma1"));
    for f in [
        "training_options.json",
        "reals.png",
        "fakes_init.png",
        "fakes000000.016.png",
        "network-snapshot-000000.016.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let fakes = image::open(dir.join("fakes000000.016.png")).unwrap();
    assert_eq!((fakes.width(), fakes.height()), (16, 16));
    let lines = log_lines(&dir);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["kimg"].as_f64(), Some(0.016));
    assert!(lines[0]["loss_g"].as_f64().is_some() && lines[0]["r1_penalty"].as_f64().is_some());
    // The snapshot holds G, D, G_ema, both optimisers and the counters.
    let snap = dir.join("network-snapshot-000000.016.safetensors");
    let ck = Checkpoint::read(&snap).unwrap();
    for n in ["G", "D", "G_ema"] {
        assert!(ck.networks.contains_key(n), "{n}");
    }
    assert!(ck
        .extra_tensors
        .keys()
        .any(|k| k.starts_with("G_opt.exp_avg.")));
    assert!(ck
        .extra_tensors
        .keys()
        .any(|k| k.starts_with("D_opt.exp_avg_sq.")));
    let state: serde_json::Value = serde_json::from_str(&ck.extra_metadata["train.state"]).unwrap();
    assert_eq!(state["cur_nimg"].as_u64(), Some(16));

    // Resume from the run directory: continues in it, to the new total.
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--kimg",
        "0.024",
        "--resume",
        dir.to_str().unwrap(),
    ];
    args.extend(tiny());
    let err = ok(&run(&args));
    assert!(
        err.contains("resuming") && err.contains("0.016 kimg"),
        "{err}"
    );
    assert_eq!(only_run_dir(&out), dir);
    let lines = log_lines(&dir);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["kimg"].as_f64(), Some(0.024));

    // The snapshot generates images like any network file.
    let gen = tmp.path().join("gen");
    ok(&run(&[
        "generate",
        "--network",
        snap.to_str().unwrap(),
        "--seeds",
        "0-1",
        "--outdir",
        gen.to_str().unwrap(),
    ]));
    assert!(gen.join("seed0001.png").is_file());

    // Fine-tuning from a network file (G, D, G_ema without training state, as `stylegan
    // convert` makes from a snapshot) starts a new run with frozen mapping and affines.
    let parent = tmp.path().join("parent.safetensors");
    ok(&run(&[
        "convert",
        snap.to_str().unwrap(),
        parent.to_str().unwrap(),
    ]));
    let pc = Checkpoint::read(&parent).unwrap();
    assert!(!pc.extra_metadata.contains_key("train.state") && pc.extra_tensors.is_empty());
    assert_eq!(pc.networks.len(), 3);
    let out2 = tmp.path().join("child");
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out2.to_str().unwrap(),
        "--kimg",
        "0.008",
        "--resume",
        parent.to_str().unwrap(),
        "--freeze-mapping",
        "--freeze-affine",
    ];
    args.extend(tiny());
    let err = ok(&run(&args));
    assert!(err.contains("fine-tuning from"), "{err}");
    let child =
        Checkpoint::read(&only_run_dir(&out2).join("network-snapshot-000000.008.safetensors"))
            .unwrap();
    let (pg, cg) = (&pc.networks["G"], &child.networks["G"]);
    for (k, t) in &pg.tensors {
        if (k.starts_with("mapping.") && !k.ends_with("w_avg")) || k.contains(".affine.") {
            assert_eq!(t.data, cg.tensors[k].data, "{k} should be frozen");
        }
    }
    assert_ne!(
        pg.tensors["synthesis.b8.conv1.weight"].data,
        cg.tensors["synthesis.b8.conv1.weight"].data
    );
}

#[test]
fn train_rejects_bad_input_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let missing = tmp.path().join("nope.zip");
    let mut args = vec![
        "train",
        "--data",
        missing.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
    ];
    args.extend(tiny());
    fails(&run(&args), &["nope.zip"]);

    let data = dataset(tmp.path());
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--cond",
    ];
    args.extend(tiny());
    fails(&run(&args), &["--cond", "labels"]);

    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--aug",
        "sometimes",
    ];
    args.extend(tiny());
    fails(&run(&args), &["--aug", "sometimes"]);

    // A network of another resolution cannot fine-tune on this data.
    let other = stylegan::train::NetworkOptions {
        resolution: 16,
        channels: 3,
        c_dim: 0,
        channel_base: 64,
        channel_max: 16,
        map_layers: 2,
        latent_dim: 8,
        mbstd_group: 2,
        ..stylegan::train::NetworkOptions::stylegan2(16, 3, 0)
    };
    let (g, d) = other.build(0).unwrap();
    let parent = tmp.path().join("p16.safetensors");
    Checkpoint::write(&parent, &[("G", &g), ("D", &d)], &Default::default()).unwrap();
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--resume",
        parent.to_str().unwrap(),
        "--kimg",
        "0.004",
    ];
    args.extend(tiny());
    fails(&run(&args), &["16x16", "8x8"]);
}

/// `--cfg stylegan3-t` trains a StyleGAN3 generator with the SG2 discriminator; resuming it
/// with the StyleGAN2 recipe is refused with the reason.
#[test]
fn train_stylegan3_and_refuse_a_recipe_of_another_family() {
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(tmp.path());
    let out = tmp.path().join("runs");
    // The tiny flags without --map (StyleGAN3's default is 2) and --cmax (8 here).
    let all = tiny();
    let tiny: Vec<&str> = all
        .chunks(2)
        .filter(|p| p[0] != "--map" && p[0] != "--cmax")
        .flatten()
        .copied()
        .collect();
    let mut args = vec![
        "train",
        "--cfg",
        "stylegan3-t",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--kimg",
        "0.008",
        "--cmax",
        "8",
    ];
    args.extend_from_slice(&tiny);
    ok(&run(&args));
    let dir = only_run_dir(&out);
    let snap = dir.join("network-snapshot-000000.008.safetensors");
    let ck = Checkpoint::read(&snap).unwrap();
    assert_eq!(
        ck.networks["G_ema"].class_name,
        "training.networks_stylegan3.Generator"
    );
    let opts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("training_options.json")).unwrap())
            .unwrap();
    assert_eq!(opts["G_kwargs"]["mapping_kwargs"]["num_layers"], 2);
    assert_eq!(opts["dlr"].as_f64(), Some(0.002));
    assert!(image::open(dir.join("fakes000000.008.png")).is_ok());
    let mut args = vec![
        "train",
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--resume",
        snap.to_str().unwrap(),
        "--kimg",
        "0.016",
    ];
    args.extend_from_slice(&tiny);
    fails(
        &run(&args),
        &["--cfg stylegan2", "StyleGAN3", "stylegan3-t"],
    );
}
