//! End-to-end tests of the `stylegan` binary: outputs against the official fixtures, files
//! written, and a clear error (exit code ≠ 0, no panic) for every kind of bad input.

mod common;

use common::{fixture, max_abs};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use stylegan::io::checkpoint::{Checkpoint, RawTensor};
use stylegan::io::npy;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stylegan"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run stylegan")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert a clean failure whose message contains every one of `needles`.
fn assert_fails(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected failure, got success; stderr: {err}"
    );
    assert!(
        !err.contains("panicked"),
        "panicked instead of a clear error: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "error message lacks '{n}': {err}");
    }
}

fn tiny_config(dir: &Path, c_dim: usize) -> PathBuf {
    let p = dir.join("tiny.json");
    let cfg = serde_json::json!({
        "G": {"z_dim": 32, "w_dim": 32, "c_dim": c_dim, "img_resolution": 16, "img_channels": 3,
              "mapping_kwargs": {"num_layers": 2}, "channel_base": 256, "channel_max": 32, "conv_clamp": 256},
        "D": {"c_dim": c_dim, "img_resolution": 16, "img_channels": 3, "channel_base": 256, "channel_max": 32}
    });
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

#[test]
fn generate_matches_official_outputs() {
    for (cfg, class) in [("sg2_32", None), ("sg2c_32", Some("3"))] {
        let Some(dir) = fixture(cfg) else { return };
        let out = tempfile::tempdir().unwrap();
        let net = dir.join("G_ema.safetensors");
        let mut args = vec![
            "generate",
            "--network",
            net.to_str().unwrap(),
            "--seeds",
            "0-3,42",
            "--trunc",
            "0.7",
            "--batch",
            "2",
            "--outdir",
            out.path().to_str().unwrap(),
            "--raw",
            "--save-latents",
            "--grid",
            "3x2",
        ];
        if let Some(c) = class {
            args.extend(["--class", c]);
        }
        let o = run(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(out.path().join("grid.png").is_file());
        for seed in [0u32, 1, 2, 3, 42] {
            let raw = npy::read(&out.path().join(format!("seed{seed:04}.npy"))).unwrap();
            let want = npy::read(&dir.join(format!("{seed}_0.7_const.npy"))).unwrap();
            assert!(
                max_abs(&raw, &want) <= 1e-3,
                "{cfg} seed {seed}: image differs"
            );
            let z = npy::read(&out.path().join(format!("seed{seed:04}_z.npy"))).unwrap();
            assert_eq!(
                z.data,
                npy::read(&dir.join(format!("z_{seed}.npy"))).unwrap().data,
                "z must be bit-exact"
            );
            let w = npy::read(&out.path().join(format!("seed{seed:04}_w.npy"))).unwrap();
            assert!(
                max_abs(
                    &w,
                    &npy::read(&dir.join(format!("w_{seed}_0.7.npy"))).unwrap()
                ) <= 1e-4
            );
            // PNG quantised like the official tools: max |Δ| ≤ 1, at most 2% of values differ.
            let png = image::open(out.path().join(format!("seed{seed:04}.png")))
                .unwrap()
                .to_rgb8();
            let want_png = image::open(dir.join(format!("{seed}_0.7_const.png")))
                .unwrap()
                .to_rgb8();
            assert_eq!(png.dimensions(), want_png.dimensions());
            let diffs: Vec<i32> = png
                .as_raw()
                .iter()
                .zip(want_png.as_raw())
                .map(|(a, b)| (*a as i32 - *b as i32).abs())
                .collect();
            assert!(
                diffs.iter().all(|&d| d <= 1),
                "{cfg} seed {seed}: PNG differs by more than 1"
            );
            let frac = diffs.iter().filter(|&&d| d > 0).count() as f64 / diffs.len() as f64;
            assert!(
                frac <= 0.02,
                "{cfg} seed {seed}: {frac} of PNG values differ"
            );
        }
    }
}

#[test]
fn noise_none_and_cutoff_are_honoured() {
    let Some(dir) = fixture("sg2_32") else { return };
    let out = tempfile::tempdir().unwrap();
    let net = dir.join("G_ema.safetensors");
    let o = run(&[
        "generate",
        "--network",
        net.to_str().unwrap(),
        "--seeds",
        "1",
        "--noise-mode",
        "none",
        "--outdir",
        out.path().to_str().unwrap(),
        "--raw",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let raw = npy::read(&out.path().join("seed0001.npy")).unwrap();
    assert!(max_abs(&raw, &npy::read(&dir.join("1_1_none.npy")).unwrap()) <= 1e-3);
    // A cutoff of num_ws equals full truncation; a cutoff of 1 does not.
    let full = tempfile::tempdir().unwrap();
    for (d, cutoff) in [(&full, "8"), (&out, "1")] {
        let o = run(&[
            "generate",
            "--network",
            net.to_str().unwrap(),
            "--seeds",
            "1",
            "--trunc",
            "0.7",
            "--trunc-cutoff",
            cutoff,
            "--outdir",
            d.path().to_str().unwrap(),
            "--save-latents",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let want = npy::read(&dir.join("w_1_0.7.npy")).unwrap();
    assert!(
        max_abs(
            &npy::read(&full.path().join("seed0001_w.npy")).unwrap(),
            &want
        ) <= 1e-4
    );
    assert!(
        max_abs(
            &npy::read(&out.path().join("seed0001_w.npy")).unwrap(),
            &want
        ) > 1e-3
    );
}

#[test]
fn init_then_generate_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tiny_config(tmp.path(), 0);
    let net = tmp.path().join("net.safetensors");
    let o = run(&[
        "init",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        net.to_str().unwrap(),
        "--seed",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt = Checkpoint::read(&net).unwrap();
    assert_eq!(
        ckpt.networks.keys().collect::<Vec<_>>(),
        ["D", "G", "G_ema"]
    );
    assert!(ckpt.networks["G_ema"]
        .tensors
        .contains_key("synthesis.b16.torgb.affine.weight"));
    let info = run(&["info", "--network", net.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        info.status.success() && text.contains("num_ws: 6") && text.contains("16x16"),
        "{text}"
    );
    let mut pngs = Vec::new();
    for sub in ["a", "b"] {
        let out = tmp.path().join(sub);
        let o = run(&[
            "generate",
            "--network",
            net.to_str().unwrap(),
            "--seeds",
            "0-5",
            "--outdir",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        pngs.push(std::fs::read(out.join("seed0005.png")).unwrap());
        assert_eq!(
            image::open(out.join("seed0000.png"))
                .unwrap()
                .to_rgb8()
                .dimensions(),
            (16, 16)
        );
    }
    assert_eq!(
        pngs[0], pngs[1],
        "same network + seed must give the same PNG"
    );
}

#[test]
fn bad_inputs_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let cfg = tiny_config(t, 0);
    let net = t.join("net.safetensors");
    assert!(run(&[
        "init",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        net.to_str().unwrap()
    ])
    .status
    .success());
    let outdir = t.join("out");
    let gen = |network: &Path, extra: &[&str]| {
        let mut a = vec![
            "generate",
            "--network",
            network.to_str().unwrap(),
            "--outdir",
            outdir.to_str().unwrap(),
        ];
        if !extra.contains(&"--seeds") {
            a.extend(["--seeds", "0"]);
        }
        a.extend_from_slice(extra);
        run(&a)
    };

    // Missing, truncated, not a checkpoint.
    assert_fails(
        &gen(&t.join("nope.safetensors"), &[]),
        &["nope.safetensors", "No such file"],
    );
    let bytes = std::fs::read(&net).unwrap();
    let truncated = t.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails(
        &gen(&truncated, &[]),
        &["truncated.safetensors", "truncated safetensors file"],
    );
    let text = t.join("text.safetensors");
    std::fs::write(&text, "hello, I am not a network").unwrap();
    assert_fails(
        &gen(&text, &[]),
        &[
            "text.safetensors",
            "not a network file in a supported format",
        ],
    );

    // Missing tensor, wrong shape, unknown class name.
    let ckpt = Checkpoint::read(&net).unwrap();
    let write_variant = |name: &str, f: &dyn Fn(&mut stylegan::io::checkpoint::NetworkEntry)| {
        let mut e = ckpt.networks["G_ema"].clone();
        f(&mut e);
        let p = t.join(name);
        Checkpoint::write(&p, &[("G_ema", &e)], &Default::default()).unwrap();
        p
    };
    let missing = write_variant("missing.safetensors", &|e| {
        e.tensors.remove("synthesis.b8.conv1.weight");
    });
    assert_fails(
        &gen(&missing, &[]),
        &[
            "missing tensor",
            "synthesis.b8.conv1.weight",
            "[32, 32, 3, 3]",
        ],
    );
    let shaped = write_variant("shaped.safetensors", &|e| {
        e.tensors.insert(
            "mapping.fc1.weight".into(),
            RawTensor {
                shape: vec![32, 31],
                data: vec![0.0; 32 * 31],
            },
        );
    });
    assert_fails(
        &gen(&shaped, &[]),
        &["mapping.fc1.weight", "[32, 31]", "expected [32, 32]"],
    );
    let unknown = write_variant("unknown.safetensors", &|e| {
        e.class_name = "my.module.Generator".into()
    });
    assert_fails(
        &gen(&unknown, &[]),
        &["unknown class_name", "my.module.Generator"],
    );

    // Seeds and psi.
    assert_fails(&gen(&net, &["--seeds", "4294967296"]), &["out of range"]);
    assert_fails(&gen(&net, &["--seeds", "3-1"]), &["start is after end"]);
    assert_fails(&gen(&net, &["--seeds", "1,x"]), &["malformed seed"]);
    assert_fails(&gen(&net, &["--trunc", "nan"]), &["--trunc", "finite"]);
    assert_fails(&gen(&net, &["--trunc", "inf"]), &["finite"]);
    assert_fails(
        &gen(&net, &["--noise-mode", "loud"]),
        &[
            "invalid value 'loud' for '--noise-mode",
            "const, random, none",
        ],
    );
    assert_fails(&gen(&net, &["--class", "1"]), &["unconditional"]);

    // Conditional network: class missing or out of range.
    let ccfg = tiny_config(t, 5);
    let cnet = t.join("cnet.safetensors");
    assert!(run(&[
        "init",
        "--config",
        ccfg.to_str().unwrap(),
        "--out",
        cnet.to_str().unwrap()
    ])
    .status
    .success());
    assert_fails(&gen(&cnet, &[]), &["conditional", "--class"]);
    assert_fails(
        &gen(&cnet, &["--class", "5"]),
        &["class 5 is out of range", "5 classes"],
    );
    assert!(gen(&cnet, &["--class", "4"]).status.success());

    // Unwritable output directory (a path below a regular file).
    let o = run(&[
        "generate",
        "--network",
        net.to_str().unwrap(),
        "--seeds",
        "0",
        "--outdir",
        text.join("sub").to_str().unwrap(),
    ]);
    assert_fails(&o, &["--outdir", "cannot create the output folder"]);
}

#[test]
fn convert_and_inspect_an_official_pickle() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pickle/fixtures");
    let pkl = fixtures.join("tiny-proto4.pkl");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("converted.safetensors");
    let o = run(&[
        "convert",
        pkl.to_str().unwrap(),
        out.to_str().unwrap(),
        "--nets",
        "G_ema,D",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ckpt = Checkpoint::read(&out).unwrap();
    assert_eq!(ckpt.networks.keys().collect::<Vec<_>>(), ["D", "G_ema"]);
    let native = Checkpoint::read(&fixtures.join("tiny.safetensors")).unwrap();
    assert_eq!(
        ckpt.networks["G_ema"].tensors,
        native.networks["G_ema"].tensors
    );
    // Generating straight from the pickle and from the converted file gives the same PNG.
    let mut pngs = Vec::new();
    for (sub, net) in [("a", &pkl), ("b", &out)] {
        let dir = tmp.path().join(sub);
        let o = run(&[
            "generate",
            "--network",
            net.to_str().unwrap(),
            "--seeds",
            "3",
            "--class",
            "0",
            "--outdir",
            dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        pngs.push(std::fs::read(dir.join("seed0003.png")).unwrap());
    }
    assert_eq!(pngs[0], pngs[1]);
    let o = run(&["inspect", pkl.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success()
            && text.contains("official PyTorch network pickle")
            && text.contains("synthesis.b16.conv1.noise_const"),
        "{text}"
    );
    assert_fails(
        &run(&[
            "convert",
            pkl.to_str().unwrap(),
            out.to_str().unwrap(),
            "--nets",
            "G_x",
        ]),
        &["no network 'G_x'"],
    );
    assert_fails(
        &run(&[
            "convert",
            pkl.to_str().unwrap(),
            tmp.path().join("x.pt").to_str().unwrap(),
        ]),
        &[".safetensors"],
    );
}

/// The "done when" of the checkpoint issue: an official PyTorch pickle, a TF pickle and a
/// rosinality `.pt` carrying the sg2_32 weights give the official images, both straight
/// (`generate --network FILE`) and after `convert`, and converting is bit-identical.
#[test]
fn foreign_formats_generate_official_images() {
    let Some(dir) = fixture("sg2_32") else { return };
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 not found (needed to write the fixtures)");
        return;
    }
    let scripts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pickle/fixtures");
    let tmp = tempfile::tempdir().unwrap();
    let (g, d) = (dir.join("G_ema.safetensors"), dir.join("D.safetensors"));
    let want = npy::read(&dir.join("3_0.7_const.npy")).unwrap();
    let native = Checkpoint::read(&g).unwrap();
    for (script, file, extra) in [
        ("make_fixtures.py", "network-snapshot.pkl", vec![]),
        ("make_tf_fixture.py", "stylegan2-tf.pkl", vec![]),
        (
            "make_rosinality_fixture.py",
            "rosinality.pt",
            vec!["--layout", "convert", "--tiny-ok"],
        ),
    ] {
        let net = tmp.path().join(file);
        let o = Command::new("python3")
            .arg(scripts.join(script))
            .args([
                "--g",
                g.to_str().unwrap(),
                "--d",
                d.to_str().unwrap(),
                "--out",
                net.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let converted = tmp.path().join(format!("{file}.safetensors"));
        let o = run(&[
            "convert",
            net.to_str().unwrap(),
            converted.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{file}: {}", stderr(&o));
        let got = &Checkpoint::read(&converted).unwrap().networks["G_ema"];
        let tol = if file.contains("tf") { 3e-8 } else { 0.0 }; // TF stores mod_bias − 1
        for (k, t) in &native.networks[""].tensors {
            let u = &got.tensors[k];
            let diff = t
                .data
                .iter()
                .zip(&u.data)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                t.shape == u.shape && diff <= tol,
                "{file}: {k} differs by {diff}"
            );
        }
        for (sub, network) in [("direct", &net), ("converted", &converted)] {
            let out = tmp.path().join(format!("{file}-{sub}"));
            let o = run(&[
                "generate",
                "--network",
                network.to_str().unwrap(),
                "--seeds",
                "3",
                "--trunc",
                "0.7",
                "--raw",
                "--outdir",
                out.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{file} {sub}: {}", stderr(&o));
            let raw = npy::read(&out.join("seed0003.npy")).unwrap();
            assert!(
                max_abs(&raw, &want) <= 1e-3,
                "{file} {sub}: image differs from the official one"
            );
        }
    }
}

#[test]
fn mix_matches_official_style_mixing() {
    let Some(dir) = fixture("sg2_32") else { return };
    let out = tempfile::tempdir().unwrap();
    let net = dir.join("G_ema.safetensors");
    // The fixture takes layers >= num_ws/2 = 4 (of 8) from the column seed.
    let o = run(&[
        "mix",
        "--network",
        net.to_str().unwrap(),
        "--rows",
        "0,2",
        "--cols",
        "1",
        "--styles",
        "4-7",
        "--trunc",
        "0.7",
        "--outdir",
        out.path().to_str().unwrap(),
        "--raw",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let got = npy::read(&out.path().join("mix_0-1.npy")).unwrap();
    assert!(
        max_abs(
            &got,
            &npy::read(&dir.join("mix_0-1_0.7_const.npy")).unwrap()
        ) <= 1e-3
    );
    let grid = image::open(out.path().join("grid.png")).unwrap().to_rgb8();
    assert_eq!(grid.dimensions(), (2 * 32, 3 * 32));
    for f in ["0-0.png", "1-1.png", "2-2.png", "0-1.png", "2-1.png"] {
        assert!(out.path().join(f).is_file(), "{f}");
    }
    assert_fails(
        &run(&[
            "mix",
            "--network",
            net.to_str().unwrap(),
            "--rows",
            "0",
            "--cols",
            "1",
            "--styles",
            "3-8",
            "--outdir",
            out.path().to_str().unwrap(),
        ]),
        &["layer 8 is out of range"],
    );
}

#[test]
fn directions_sefa_writes_the_official_top_direction() {
    let Some(dir) = fixture("sg2_32") else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sefa.safetensors");
    let net = dir.join("G_ema.safetensors");
    let o = run(&[
        "directions",
        "sefa",
        "--network",
        net.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let d = stylegan::edit::Directions::load(&out).unwrap();
    assert_eq!(
        (d.directions.len(), d.directions[0].len(), d.method.as_str()),
        (512, 512, "sefa")
    );
    let want = npy::read(&dir.join("sefa_eigvec.npy")).unwrap();
    let dot: f64 = (0..512)
        .map(|r| d.directions[0][r] as f64 * want.data[r * 512])
        .sum();
    assert!(dot.abs() >= 0.9999, "top direction |dot| {}", dot.abs());
    assert_fails(
        &run(&[
            "directions",
            "sefa",
            "--network",
            net.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--layers",
            "0,7",
        ]),
        &["layer 7 is out of range"],
    );
}
