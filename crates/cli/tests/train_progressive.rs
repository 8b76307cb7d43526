//! `stylegan train --cfg pggan|stylegan1`: progressive growing from the command line on a tiny
//! data set — the run grows through every resolution (log, growth picture, snapshots that
//! generate), a resumed run ends bit-identical to a straight one, and flags of the StyleGAN2
//! recipe are refused.

mod common;

use std::path::Path;

use common::*;
use stylegan::io::checkpoint::Checkpoint;

const TINY: &[&str] = &[
    "--batch",
    "4",
    "--lod-kimg",
    "0.016",
    "--tick",
    "0.016",
    "--snap",
    "1",
    "--cbase",
    "64",
    "--cmax",
    "16",
    "--latent-dim",
    "8",
    "--mbstd-group",
    "2",
    "--grid",
    "2x2",
];

fn train(cfg: &str, data: &Path, out: &Path, kimg: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "train",
        "--cfg",
        cfg,
        "--data",
        data.to_str().unwrap(),
        "--outdir",
        out.to_str().unwrap(),
        "--kimg",
        kimg,
    ];
    args.extend_from_slice(TINY);
    args.extend_from_slice(extra);
    ok(&run(&args))
}

fn log_lods(dir: &Path) -> Vec<(f64, u64)> {
    std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["lod"].as_f64().unwrap(),
                v["resolution"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn progressive_runs_grow_and_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_dataset(tmp.path(), "tiny", 0);
    for (cfg, extra) in [
        ("pggan", vec![]),
        ("stylegan1", vec!["--lod-initial", "4", "--map", "2"]),
    ] {
        let straight = tmp.path().join(format!("{cfg}-a"));
        let err = train(cfg, &data, &straight, "0.064", &extra);
        assert!(err.contains("new run in"), "{err}");
        let dir = only_run_dir(&straight);
        // 8 px from 4 px: stable (lod 1), fade-in (1 → 0), full resolution.
        let lods = log_lods(&dir);
        assert_eq!(lods.len(), 4, "{cfg}: {lods:?}");
        assert_eq!(lods[0], (1.0, 4), "{cfg}");
        assert!(lods.windows(2).all(|w| w[1].0 <= w[0].0), "{cfg}: {lods:?}");
        assert_eq!(lods.last().unwrap(), &(0.0, 8), "{cfg}");
        // growth.png: one row per level (4 px, then 8 px), 2 samples each, at 8 px.
        let (w, h, _) = pixels(&dir.join("growth.png"));
        assert_eq!((w, h), (2 * 8, 2 * 8), "{cfg}");
        for f in [
            "reals.png",
            "fakes_init.png",
            "training_options.json",
            "fakes000000.064.png",
        ] {
            assert!(dir.join(f).is_file(), "{cfg}: {f}");
        }
        let snap = dir.join("network-snapshot-000000.064.safetensors");
        let info = run(&["info", "--network", snap.to_str().unwrap()]);
        ok(&info);
        let family = if cfg == "pggan" {
            "PGGAN"
        } else {
            "StyleGAN v1"
        };
        assert!(String::from_utf8_lossy(&info.stdout).contains(family));
        let gen = tmp.path().join(format!("{cfg}-gen"));
        ok(&run(&[
            "generate",
            "--network",
            snap.to_str().unwrap(),
            "--seeds",
            "0-1",
            "--outdir",
            gen.to_str().unwrap(),
        ]));
        assert_eq!(pixels(&gen.join("seed0001.png")).0, 8);

        // Half, then resume the run directory to the same total: the same final networks.
        let halves = tmp.path().join(format!("{cfg}-b"));
        train(cfg, &data, &halves, "0.032", &extra);
        let bdir = only_run_dir(&halves);
        let err = ok(&run(&[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--outdir",
            halves.to_str().unwrap(),
            "--resume",
            bdir.to_str().unwrap(),
            "--kimg",
            "0.064",
            "--tick",
            "0.016",
            "--grid",
            "2x2",
        ]));
        assert!(err.contains("resuming"), "{err}");
        let a = Checkpoint::read(&snap).unwrap();
        let b = Checkpoint::read(&bdir.join("network-snapshot-000000.064.safetensors")).unwrap();
        for net in ["G", "D", "G_ema"] {
            for (k, t) in &a.networks[net].tensors {
                assert!(
                    t.data == b.networks[net].tensors[k].data,
                    "{cfg}: {net}.{k} differs after resume"
                );
            }
        }
        assert_eq!(log_lods(&bdir), lods, "{cfg}: the resumed log");
    }
}

#[test]
fn progressive_flags_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tiny_dataset(tmp.path(), "tiny", 1);
    let out = tmp.path().join("out");
    let base = |cfg: &'static str| {
        vec![
            "train",
            "--cfg",
            cfg,
            "--data",
            data.to_str().unwrap(),
            "--outdir",
            out.to_str().unwrap(),
        ]
    };
    let mut a = base("pggan");
    a.extend(["--gamma", "1"]);
    fails(&run(&a), &["--gamma", "WGAN-GP"]);
    let mut a = base("stylegan1");
    a.extend(["--aug", "ada"]);
    fails(&run(&a), &["--aug", "progressive"]);
    let mut a = base("pggan");
    a.extend(["--map", "2"]);
    fails(&run(&a), &["--map", "PGGAN has no mapping"]);
    let mut a = base("stylegan1");
    a.extend(["--lod-initial", "16"]);
    fails(&run(&a), &["initial resolution", "16"]);
    // The StyleGAN2 recipe still needs --batch and --gamma, and has no lod flags.
    fails(&run(&base("stylegan2")), &["--batch", "--gamma"]);
    let mut a = base("stylegan2");
    a.extend(["--batch", "4", "--gamma", "1", "--lod-kimg", "1"]);
    fails(&run(&a), &["--lod-kimg", "progressive"]);
    let mut a = base("stylegan2");
    a.extend(["--batch", "4", "--gamma", "1", "--ema-kimg", "2"]);
    fails(&run(&a), &["--ema-kimg", "progressive"]);
    let mut a = base("pggan");
    a.extend(["--ema-kimg", "0"]);
    fails(&run(&a), &["--ema-kimg", "0"]);
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}
