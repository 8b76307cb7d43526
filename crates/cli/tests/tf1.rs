//! StyleGAN v1 and PGGAN TensorFlow pickles through the command line, as a user meets them:
//! the `sg1_32` / `pggan_32` fixtures written as `(G, D, Gs)` pickles in both TF1 layouts
//! (`crates/pickle/fixtures/make_tf1_fixture.py`: dnnlib for SG1, tkarras' tfutil for PGGAN;
//! protocol 4 with numpy 1.x arrays and protocol 5 with numpy 2's `_frombuffer`), then
//! `info`, `generate` (with `--lod`), `convert` and the errors for bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use stylegan::io::npy;

/// The fixture `config` as a TF1 pickle in `tmp` (None with a SKIP note without python3).
fn tf1_pickle(config: &str, protocol: u8, tmp: &Path) -> Option<PathBuf> {
    let dir = fixture(config)?;
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 not found (needed to write the TF1 pickles)");
        return None;
    }
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pickle/fixtures/make_tf1_fixture.py");
    let out = tmp.join(format!("{config}-p{protocol}.pkl"));
    let o = Command::new("python3")
        .arg(script)
        .args(["--fixture", dir.to_str().unwrap()])
        .args(["--out", out.to_str().unwrap()])
        .args(["--protocol", &protocol.to_string()])
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "make_tf1_fixture.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(out)
}

/// PNG pixels within 1 level of the official PNG, at most 2 % of them off (the manifest's
/// `png_tolerance`).
fn png_close(got: &Path, want: &Path) {
    let (w1, h1, a) = pixels(got);
    let (w2, h2, b) = pixels(want);
    assert_eq!((w1, h1), (w2, h2), "{}", got.display());
    let off = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (*x as i32 - *y as i32).abs())
        .max()
        .unwrap();
    assert!(
        worst <= 1 && off as f64 <= 0.02 * a.len() as f64,
        "{} vs {}: max diff {worst}, {off} of {} values differ",
        got.display(),
        want.display(),
        a.len()
    );
}

/// `generate` on the pickle: image `seed` at `lod`; returns the raw `.npy`.
fn generate(net: &Path, out: &Path, seed: u32, lod: &str) -> npy::Array {
    ok(&run(&[
        "generate",
        "--network",
        net.to_str().unwrap(),
        "--seeds",
        &seed.to_string(),
        "--lod",
        lod,
        "--raw",
        "--outdir",
        out.to_str().unwrap(),
    ]));
    npy::read(&out.join(format!("seed{seed:04}.npy"))).unwrap()
}

#[test]
fn tf1_pickles_generate_official_images() {
    let tmp = tempfile::tempdir().unwrap();
    for (config, case) in [
        ("sg1_32", "{seed}_1_const{lod}"),
        ("pggan_32", "{seed}_lod{lod0}"),
    ] {
        let Some(dir) = fixture(config) else { return };
        for protocol in [4u8, 5] {
            let Some(pkl) = tf1_pickle(config, protocol, tmp.path()) else {
                return;
            };
            let info = run(&["info", "--network", pkl.to_str().unwrap()]);
            let text = String::from_utf8_lossy(&info.stdout).into_owned();
            ok(&info);
            let family = if config == "sg1_32" {
                "StyleGAN v1"
            } else {
                "PGGAN"
            };
            assert!(text.contains(family) && text.contains("G_ema"), "{text}");
            for (seed, lod) in [(0u32, "0"), (3, "0.5"), (1, "2.3")] {
                let out = tmp.path().join(format!("{config}-{protocol}-{seed}"));
                let got = generate(&pkl, &out, seed, lod);
                let name = case
                    .replace("{seed}", &seed.to_string())
                    .replace("{lod0}", lod)
                    .replace(
                        "{lod}",
                        &if lod == "0" {
                            String::new()
                        } else {
                            format!("_lod{lod}")
                        },
                    );
                let want = npy::read(&dir.join(format!("{name}.npy"))).unwrap();
                let d = max_abs(&got, &want);
                assert!(d <= 1e-3, "{config} p{protocol} {name}: max |Δ| {d}");
                png_close(
                    &out.join(format!("seed{seed:04}.png")),
                    &dir.join(format!("{name}.png")),
                );
            }
        }
    }
}

/// `convert` keeps the TF names and static kwargs: the native file generates the same image,
/// bit for bit, and holds G, D and G_ema.
#[test]
fn tf1_convert_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    for config in ["sg1_32", "pggan_32"] {
        let Some(pkl) = tf1_pickle(config, 4, tmp.path()) else {
            return;
        };
        let native = tmp.path().join(format!("{config}.safetensors"));
        ok(&run(&[
            "convert",
            pkl.to_str().unwrap(),
            native.to_str().unwrap(),
        ]));
        let ck = stylegan::io::checkpoint::Checkpoint::read(&native).unwrap();
        let keys: Vec<_> = ck.networks.keys().cloned().collect();
        assert_eq!(keys, ["D", "G", "G_ema"], "{config}");
        let a = generate(&pkl, &tmp.path().join("a"), 2, "1");
        let b = generate(&native, &tmp.path().join("b"), 2, "1");
        assert_eq!(
            a.data, b.data,
            "{config}: the converted file renders differently"
        );
    }
}

#[test]
fn tf1_bad_input_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pggan) = tf1_pickle("pggan_32", 4, tmp.path()) else {
        return;
    };
    let Some(sg1) = tf1_pickle("sg1_32", 4, tmp.path()) else {
        return;
    };
    let out = tmp.path().join("out");
    let o = tmp.path().join("out").display().to_string();
    let p = pggan.to_str().unwrap();
    // lod out of range (32 px: 0 ..= 3).
    let r = run(&[
        "generate",
        "--network",
        p,
        "--seeds",
        "0",
        "--lod",
        "3.5",
        "--outdir",
        &o,
    ]);
    fails(&r, &["--lod", "out of range"]);
    // PGGAN has no W: no truncation.
    let r = run(&[
        "generate",
        "--network",
        p,
        "--seeds",
        "0",
        "--trunc",
        "0.7",
        "--outdir",
        &o,
    ]);
    fails(&r, &["PGGAN", "truncation"]);
    // lod on a StyleGAN2 network.
    let r = run(&[
        "generate",
        "--network",
        &tiny(),
        "--seeds",
        "0",
        "--lod",
        "1",
        "--outdir",
        &o,
    ]);
    fails(&r, &["lod", "StyleGAN2"]);
    // An unknown build function (same length, so the pickle stays well-formed).
    let mut bytes = std::fs::read(&pggan).unwrap();
    let at = bytes.windows(7).position(|w| w == b"G_paper").unwrap();
    bytes[at..at + 7].copy_from_slice(b"G_other");
    let bad = tmp.path().join("bad.pkl");
    std::fs::write(&bad, &bytes).unwrap();
    let r = run(&["info", "--network", bad.to_str().unwrap()]);
    fails(&r, &["unknown build function 'G_other'"]);
    // A misshaped variable is named.
    let mut bytes = std::fs::read(&sg1).unwrap();
    let needle = b"fmap_max";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap();
    // `fmap_max` is followed by BININT1 64; make it 32 so every 64-channel weight mismatches.
    let v = at + needle.len() + 1 + 1;
    assert_eq!((bytes[v - 1], bytes[v]), (b'K', 64), "layout of the kwargs");
    bytes[v] = 32;
    let bad = tmp.path().join("bad-shape.pkl");
    std::fs::write(&bad, &bytes).unwrap();
    let r = run(&[
        "generate",
        "--network",
        bad.to_str().unwrap(),
        "--seeds",
        "0",
        "--outdir",
        &o,
    ]);
    fails(&r, &["G_synthesis/4x4/Const/const", "expected"]);
    assert!(!out.join("seed0000.png").exists());
}

/// The latent tools on a StyleGAN v1 pickle (mixing, SeFa + edit, a short W+ projection and
/// an edit of it), and PGGAN, which has no W, refused by name where a tool needs one.
#[test]
fn tf1_networks_in_the_latent_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(sg1) = tf1_pickle("sg1_32", 4, tmp.path()) else {
        return;
    };
    let Some(pggan) = tf1_pickle("pggan_32", 4, tmp.path()) else {
        return;
    };
    let (s, p) = (sg1.to_str().unwrap(), pggan.to_str().unwrap());
    let t = |name: &str| tmp.path().join(name).display().to_string();
    ok(&run(&[
        "mix",
        "--network",
        s,
        "--rows",
        "0,1",
        "--cols",
        "2",
        "--styles",
        "0-3",
        "--outdir",
        &t("mix"),
    ]));
    // (1 + cols) × (1 + rows) cells of 32 px.
    let (w, h, _) = pixels(&tmp.path().join("mix/grid.png"));
    assert_eq!((w, h), (2 * 32, 3 * 32));
    // Mixing a seed with itself is its plain image.
    ok(&run(&[
        "generate",
        "--network",
        s,
        "--seeds",
        "0",
        "--outdir",
        &t("plain"),
    ]));
    ok(&run(&[
        "mix",
        "--network",
        s,
        "--rows",
        "0",
        "--cols",
        "0",
        "--styles",
        "0-7",
        "--outdir",
        &t("mix0"),
    ]));
    assert_eq!(
        pixels(&tmp.path().join("mix0/0-0.png")),
        pixels(&tmp.path().join("plain/seed0000.png"))
    );
    ok(&run(&[
        "directions",
        "sefa",
        "--network",
        s,
        "--out",
        &t("sefa.safetensors"),
    ]));
    ok(&run(&[
        "edit",
        "--network",
        s,
        "--seeds",
        "0",
        "--direction",
        &t("sefa.safetensors"),
        "--strengths",
        "-2:2:3",
        "--outdir",
        &t("edit"),
    ]));
    // Strength 0 is the plain image.
    assert_eq!(
        pixels(&tmp.path().join("edit/seed0000_+0.00.png")),
        pixels(&tmp.path().join("plain/seed0000.png"))
    );
    if have_lpips() {
        ok(&run(&[
            "project",
            "--network",
            s,
            "--target",
            &t("plain/seed0000.png"),
            "--space",
            "wplus",
            "--steps",
            "20",
            "--outdir",
            &t("proj"),
        ]));
        ok(&run(&[
            "edit",
            "--network",
            s,
            "--latent",
            &t("proj/projected.safetensors"),
            "--direction",
            &t("sefa.safetensors"),
            "--strengths",
            "0:1:2",
            "--outdir",
            &t("edit2"),
        ]));
        let r = run(&[
            "project",
            "--network",
            p,
            "--target",
            &t("plain/seed0000.png"),
            "--steps",
            "2",
            "--outdir",
            &t("projp"),
        ]);
        fails(&r, &["projection", "PGGAN has none"]);
    }
    let r = run(&[
        "mix",
        "--network",
        p,
        "--rows",
        "0",
        "--cols",
        "1",
        "--styles",
        "0",
        "--outdir",
        &t("mixp"),
    ]);
    fails(&r, &["style mixing", "PGGAN"]);
    let r = run(&[
        "directions",
        "sefa",
        "--network",
        p,
        "--out",
        &t("sefap.safetensors"),
    ]);
    fails(&r, &["SeFa", "PGGAN"]);
    // The block-by-block feature operations run on StyleGAN v1 (at lod 0); PGGAN has no
    // styles: refused by name.
    let expand = |net: &str, out: &str| {
        run(&[
            "expand",
            "--network",
            net,
            "--seed",
            "1",
            "--layer",
            "1",
            "--mode",
            "reflect",
            "--width-factor",
            "2",
            "--output",
            &t(out),
        ])
    };
    ok(&expand(s, "x.png"));
    let (w, h, _) = pixels(&tmp.path().join("x.png"));
    assert_eq!((w, h), (64, 32));
    ok(&run(&[
        "single-image",
        "--network",
        s,
        "--seed",
        "1",
        "--layer",
        "1",
        "--count",
        "2",
        "--outdir",
        &t("single"),
    ]));
    assert!(tmp.path().join("single/grid.png").is_file());
    fails(&expand(p, "xp.png"), &["block-by-block", "PGGAN"]);
    // PGGAN videos interpolate z (slerp) by default.
    ok(&run(&[
        "video",
        "--network",
        p,
        "--seeds",
        "0-1",
        "--w-frames",
        "2",
        "--output",
        &t("p.gif"),
    ]));
}
