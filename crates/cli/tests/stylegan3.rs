//! StyleGAN3 through the command line: `generate --translate/--rotate` as `gen_images.py`,
//! `init` of T and R configs, `info`, the latent tools that apply (mix, video, directions,
//! edit in W), and clear refusals where a concept is StyleGAN2's only.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, ok, run};
use stylegan::io::npy;

fn sg3_fixture() -> Option<PathBuf> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/parity/sg3t_32");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIP: parity fixtures not found at {}", dir.display());
        None
    }
}

fn max_abs(a: &Path, b: &Path) -> f64 {
    common::max_abs(&npy::read(a).unwrap(), &npy::read(b).unwrap())
}

#[test]
fn generate_with_translate_and_rotate_matches_gen_images() {
    let Some(dir) = sg3_fixture() else { return };
    let out = tempfile::tempdir().unwrap();
    let net = dir.join("G_ema.safetensors");
    let o = out.path().display().to_string();
    ok(&run(&[
        "generate",
        "--network",
        net.to_str().unwrap(),
        "--seeds",
        "0-1",
        "--outdir",
        &o,
        "--raw",
        "--translate",
        "0.15,-0.1",
        "--rotate",
        "12",
    ]));
    for seed in [0, 1] {
        let d = max_abs(
            &out.path().join(format!("seed{seed:04}.npy")),
            &dir.join(format!("xf_{seed}_1_const.npy")),
        );
        assert!(d <= 1e-3, "seed {seed}: {d}");
    }
    // Without the flags: the plain official image (identity transform).
    ok(&run(&[
        "generate",
        "--network",
        net.to_str().unwrap(),
        "--seeds",
        "42",
        "--trunc",
        "0.7",
        "--outdir",
        &o,
        "--raw",
    ]));
    let d = max_abs(
        &out.path().join("seed0042.npy"),
        &dir.join("42_0.7_const.npy"),
    );
    assert!(d <= 1e-3, "{d}");
    let info = run(&["info", "--network", net.to_str().unwrap()]);
    ok(&info);
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains("StyleGAN3-T") && text.contains("L5_52_64"),
        "{text}"
    );
}

#[test]
fn transform_flags_are_refused_where_they_do_not_apply() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    // The bundled demo model is a StyleGAN2.
    fails(
        &run(&["generate", "--seeds", "0", "--outdir", &o, "--rotate", "5"]),
        &["--translate/--rotate", "StyleGAN2"],
    );
    fails(
        &run(&[
            "generate",
            "--seeds",
            "0",
            "--outdir",
            &o,
            "--translate",
            "0.1",
        ]),
        &["expected X,Y"],
    );
    fails(
        &run(&[
            "generate",
            "--seeds",
            "0",
            "--outdir",
            &o,
            "--translate",
            "a,b",
        ]),
        &["malformed number"],
    );
}

/// A fresh StyleGAN3-T and -R network from `init` generates, and the tools that act on w work
/// on it; StyleSpace and the block feature tools refuse it by family; expand widens its input.
#[test]
fn init_t_and_r_then_the_latent_tools() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, extra) in [
        ("t", serde_json::json!({})),
        (
            "r",
            serde_json::json!({"conv_kernel": 1, "use_radial_filters": true}),
        ),
    ] {
        let mut g = serde_json::json!({
            "z_dim": 32, "w_dim": 32, "c_dim": 0, "img_resolution": 16, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 2}, "channel_base": 256, "channel_max": 16,
            "num_layers": 6, "num_fp16_res": 0,
        });
        g.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let cfg = tmp.path().join(format!("{name}.json"));
        std::fs::write(
            &cfg,
            serde_json::json!({"G_class": "training.networks_stylegan3.Generator", "G": g})
                .to_string(),
        )
        .unwrap();
        let net = tmp.path().join(format!("{name}.safetensors"));
        let net_s = net.display().to_string();
        ok(&run(&[
            "init",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            &net_s,
        ]));
        let info = run(&["info", "--network", &net_s]);
        ok(&info);
        let text = String::from_utf8_lossy(&info.stdout);
        let want = if name == "r" {
            "StyleGAN3-R"
        } else {
            "StyleGAN3-T"
        };
        assert!(text.contains(want), "{text}");
        if name == "r" {
            assert!(text.contains("radial"), "{text}");
        }
        let out = tmp.path().join(format!("out-{name}"));
        let o = out.display().to_string();
        ok(&run(&[
            "generate",
            "--network",
            &net_s,
            "--seeds",
            "0-3",
            "--grid",
            "4x1",
            "--outdir",
            &o,
            "--rotate",
            "30",
        ]));
        let (w, h, px) = common::pixels(&out.join("grid.png"));
        assert_eq!((w, h), (64, 16));
        assert!(px.iter().any(|&v| v != px[0]), "a constant image");
        ok(&run(&[
            "mix",
            "--network",
            &net_s,
            "--rows",
            "0,1",
            "--cols",
            "2",
            "--styles",
            "0-3",
            "--outdir",
            &o,
        ]));
        ok(&run(&[
            "video",
            "--network",
            &net_s,
            "--seeds",
            "0,1",
            "--w-frames",
            "3",
            "--output",
            &format!("{o}/v.gif"),
        ]));
        let dirs = format!("{o}/sefa.safetensors");
        ok(&run(&[
            "directions",
            "sefa",
            "--network",
            &net_s,
            "--out",
            &dirs,
        ]));
        ok(&run(&[
            "edit",
            "--network",
            &net_s,
            "--seeds",
            "0",
            "--direction",
            &dirs,
            "--strengths",
            "-2,0,2",
            "--outdir",
            &o,
        ]));
        assert!(out.join("grid.png").is_file());
        fails(
            &run(&[
                "edit",
                "--network",
                &net_s,
                "--seeds",
                "0",
                "--s-channel",
                "0:1",
                "--outdir",
                &o,
            ]),
            &["StyleGAN3"],
        );
        // expand: StyleGAN3 widens its Fourier input (16 px → 32 px for factor 2); the
        // StyleGAN2 knobs are refused.
        let wide = format!("{o}/wide.png");
        ok(&run(&[
            "expand",
            "--network",
            &net_s,
            "--seed",
            "0",
            "--width-factor",
            "2",
            "--output",
            &wide,
        ]));
        let (w, h, _) = common::pixels(Path::new(&wide));
        assert_eq!((w, h), (32, 16));
        fails(
            &run(&[
                "expand",
                "--network",
                &net_s,
                "--seed",
                "0",
                "--layer",
                "1",
                "--output",
                &wide,
            ]),
            &["--layer and --mode apply to StyleGAN2", "Fourier"],
        );
        // panorama on the Fourier input: 3 seeds, overlap 0.5 → 16 + 2·8 = 32 px wide;
        // --layer is StyleGAN2's.
        let pano = format!("{o}/pano.png");
        ok(&run(&[
            "panorama",
            "--network",
            &net_s,
            "--seeds",
            "1,2,3",
            "--output",
            &pano,
        ]));
        assert_eq!(common::pixels(Path::new(&pano)).0, 32);
        fails(
            &run(&[
                "panorama",
                "--network",
                &net_s,
                "--seeds",
                "1,2",
                "--layer",
                "1",
                "--output",
                &pano,
            ]),
            &["--layer applies to StyleGAN2"],
        );
        // blend and transfer layer by layer.
        let blend = format!("{o}/blend.png");
        ok(&run(&[
            "blend",
            "--network",
            &net_s,
            "--seed-a",
            "1",
            "--seed-b",
            "2",
            "--mask",
            "horizontal",
            "--layers",
            "0-3",
            "--output",
            &blend,
        ]));
        assert_eq!(common::pixels(Path::new(&blend)).0, 16);
        ok(&run(&[
            "transfer",
            "--network",
            &net_s,
            "--seed-src",
            "1",
            "--seed-ref",
            "2",
            "--box",
            "0.25,0.25,0.75,0.75",
            "--output",
            &blend,
        ]));
        // translate: the network against itself (a stand-in child of the same architecture).
        let tdir = format!("{o}/translate");
        ok(&run(&[
            "translate",
            "--parent",
            &net_s,
            "--child",
            &net_s,
            "--seeds",
            "1",
            "--alphas",
            "0,1",
            "--outdir",
            &tdir,
        ]));
        assert!(Path::new(&tdir).join("grid.png").is_file());
    }
}

/// Projection into W+ works on a StyleGAN3 network and its result feeds `edit`; S is refused
/// by family (StyleGAN3's styles are renormalised over the batch in every layer, so this
/// project does not treat them as a StyleSpace).
#[test]
fn project_wplus_then_edit_and_s_is_refused() {
    let Some(dir) = sg3_fixture() else { return };
    if !common::have_lpips() {
        return;
    }
    let net = dir.join("G_ema.safetensors").display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let o = tmp.path().display().to_string();
    ok(&run(&[
        "generate",
        "--network",
        &net,
        "--seeds",
        "1",
        "--outdir",
        &o,
    ]));
    let target = format!("{o}/seed0001.png");
    fails(
        &run(&[
            "project",
            "--network",
            &net,
            "--target",
            &target,
            "--space",
            "s",
            "--steps",
            "5",
            "--outdir",
            &o,
        ]),
        &["StyleSpace", "StyleGAN3"],
    );
    ok(&run(&[
        "project",
        "--network",
        &net,
        "--target",
        &target,
        "--space",
        "wplus",
        "--steps",
        "8",
        "--outdir",
        &o,
    ]));
    let proj = format!("{o}/projected.safetensors");
    let dirs = format!("{o}/sefa.safetensors");
    ok(&run(&[
        "directions",
        "sefa",
        "--network",
        &net,
        "--out",
        &dirs,
    ]));
    let e = format!("{o}/edit");
    ok(&run(&[
        "edit",
        "--network",
        &net,
        "--latent",
        &proj,
        "--direction",
        &dirs,
        "--strengths",
        "-1,0,1",
        "--outdir",
        &e,
    ]));
    assert!(Path::new(&e).join("grid.png").is_file());
}

/// Config R (1×1 convs, radial down filters) against the independent PyTorch port of the
/// official CPU path (`tools/torch_bench/torch_generator.py`, itself checked against the
/// official T fixtures) on the same random weights. Skips without python3 + torch + safetensors.
#[test]
fn config_r_matches_the_pytorch_port() {
    let have = std::process::Command::new("python3")
        .args(["-c", "import torch, safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        eprintln!("SKIP: python3 with torch, safetensors and numpy is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("r.json");
    std::fs::write(
        &cfg,
        serde_json::json!({"G_class": "training.networks_stylegan3.Generator", "G": {
            "z_dim": 64, "w_dim": 64, "c_dim": 0, "img_resolution": 32, "img_channels": 3,
            "mapping_kwargs": {"num_layers": 2}, "channel_base": 2048, "channel_max": 64,
            "num_fp16_res": 0, "conv_kernel": 1, "use_radial_filters": true}})
        .to_string(),
    )
    .unwrap();
    let net = tmp.path().join("r.safetensors");
    let (net_s, dir) = (net.to_str().unwrap(), tmp.path().to_str().unwrap());
    ok(&run(&[
        "init",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        net_s,
        "--seed",
        "3",
    ]));
    let rs = format!("{dir}/rs");
    ok(&run(&[
        "generate",
        "--network",
        net_s,
        "--seeds",
        "0,5",
        "--outdir",
        &rs,
        "--raw",
    ]));
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tools/torch_bench/torch_generator.py");
    let pt = format!("{dir}/pt");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args(["images", net_s, "--seeds", "0,5", "--out", &pt])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for seed in [0, 5] {
        let name = format!("seed{seed:04}.npy");
        let d = max_abs(&Path::new(&rs).join(&name), &Path::new(&pt).join(&name));
        assert!(d <= 1e-4, "seed {seed}: max |Δ| {d}");
    }
}
