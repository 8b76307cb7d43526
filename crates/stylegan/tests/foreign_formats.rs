//! TensorFlow StyleGAN2 pickles and rosinality checkpoints, made from known networks by the
//! fixture scripts in `crates/pickle/fixtures/` (the inverse of FORMATS.md §7.3 / §8.2), read
//! back to the same networks; and our rosinality export read back.

mod common;

use std::path::PathBuf;
use std::process::Command;

use stylegan::io::checkpoint::{Checkpoint, NetworkEntry};
use stylegan::latent::z_from_seed;
use stylegan::models::{Discriminator, Generator, NoiseMode};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pickle/fixtures")
}

/// Same names and shapes; values within `tol` (TF stores `mod_bias − 1`, so +1 rounds).
fn assert_same(a: &NetworkEntry, b: &NetworkEntry, tol: f32, what: &str) {
    assert_eq!(
        a.tensors.keys().collect::<Vec<_>>(),
        b.tensors.keys().collect::<Vec<_>>(),
        "{what}: names"
    );
    for (k, t) in &a.tensors {
        let u = &b.tensors[k];
        assert_eq!(t.shape, u.shape, "{what}: {k}");
        let d = t
            .data
            .iter()
            .zip(&u.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d <= tol, "{what}: {k} differs by {d}");
    }
}

fn image(g: &Generator) -> Vec<f32> {
    let z = g.z_tensor(&[z_from_seed(11, g.config.z_dim)]).unwrap();
    g.generate(z, None, 0.7, None, NoiseMode::Const)
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap()
}

#[test]
fn committed_tf_and_rosinality_fixtures_give_the_original_networks() {
    let native = Checkpoint::read(&fixtures().join("tiny-uncond.safetensors")).unwrap();
    let dev = stylegan::backend::cpu();
    let g0 = Generator::from_entry("native", &native.networks["G_ema"], &dev).unwrap();
    for (file, tol, nets) in [
        ("tiny-tf.pkl", 1e-6, &["G_ema", "G", "D"][..]),
        ("tiny-rosinality-convert.pt", 0.0, &["G_ema", "D"][..]),
        ("tiny-rosinality-train.pt", 0.0, &["G_ema", "G", "D"][..]),
    ] {
        let path = fixtures().join(file);
        let ckpt = Checkpoint::open(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        for net in nets {
            let got = &ckpt.networks[*net];
            let want = &native.networks[*net];
            if file.contains("train") && net.starts_with('G') {
                // No latent_avg in train.py checkpoints: w_avg is re-estimated, the rest is exact.
                let mut a = got.clone();
                a.tensors.remove("mapping.w_avg");
                let mut b = want.clone();
                b.tensors.remove("mapping.w_avg");
                assert_same(&a, &b, tol, &format!("{file} {net}"));
                continue;
            }
            assert_same(got, want, tol, &format!("{file} {net}"));
        }
        if !file.contains("train") {
            let g = Generator::load(&path, &dev).unwrap();
            let d = image(&g)
                .iter()
                .zip(image(&g0))
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(d <= 1e-5, "{file}: image differs by {d}");
        }
        Discriminator::load(&path, &dev).unwrap();
    }
}

#[test]
fn rosinality_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let native = Checkpoint::read(&fixtures().join("tiny-uncond.safetensors")).unwrap();
    let pt = dir.path().join("out.pt");
    stylegan::convert::rosinality::write(
        &pt,
        &native.networks["G_ema"],
        Some(&native.networks["D"]),
    )
    .unwrap();
    let back = Checkpoint::open(&pt).unwrap();
    assert_same(
        &back.networks["G_ema"],
        &native.networks["G_ema"],
        0.0,
        "export G_ema",
    );
    assert_same(&back.networks["D"], &native.networks["D"], 0.0, "export D");
    // A clamped or conditional network cannot be expressed in rosinality's model: refused.
    let cond = Checkpoint::read(&fixtures().join("tiny.safetensors")).unwrap();
    let e = stylegan::convert::rosinality::write(
        &dir.path().join("x.pt"),
        &cond.networks["G_ema"],
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot export to rosinality"), "{e}");
}

/// The parity network through the TF and rosinality paths still gives the official image.
#[test]
fn parity_network_through_tf_and_rosinality_files() {
    let Some(dir) = common::fixture_dir("sg2_32") else {
        return;
    };
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 not found (needed to write the fixtures)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let g = dir.join("G_ema.safetensors");
    let d = dir.join("D.safetensors");
    let dev = stylegan::backend::cpu();
    let want = common::npy(&dir.join("2_0.7_const.npy"));
    for (script, out, extra) in [
        ("make_tf_fixture.py", "net.pkl", vec![]),
        // Real TF pickles may hold 0-d variables (lod, noise_strength) as numpy scalars.
        (
            "make_tf_fixture.py",
            "net-scalars.pkl",
            vec!["--zero-d", "scalar"],
        ),
        // sg2_32's channel counts are not rosinality's table; the layout is otherwise real.
        (
            "make_rosinality_fixture.py",
            "net.pt",
            vec!["--layout", "convert", "--tiny-ok"],
        ),
    ] {
        let out = tmp.path().join(out);
        let o = Command::new("python3")
            .arg(fixtures().join(script))
            .args([
                "--g",
                g.to_str().unwrap(),
                "--d",
                d.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let net = Generator::load(&out, &dev).unwrap();
        let z = net.z_tensor(&[z_from_seed(2, 512)]).unwrap();
        let img: Vec<f32> = net
            .generate(z, None, 0.7, None, NoiseMode::Const)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        let diff = common::max_abs_diff(&img, &want.data);
        assert!(
            diff <= 1e-3,
            "{script}: image differs from the official one by {diff}"
        );
    }
}

/// `(G, D, Gs)` TF `Network` objects (NEWOBJ + BUILD, as dnnlib pickles them) of StyleGAN v1
/// (`G_style`, version 3) and PGGAN (`G_paper`) without variables: recognised as those
/// families, refused naming the network and the first variable missing. (Complete ones are
/// tested in `tf1_parity.rs` and the CLI's `tf1.rs`.)
#[test]
fn empty_stylegan1_and_pggan_tf_pickles_name_the_missing_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (hex, what) in [("800495ff000000000000008c14646e6e6c69622e74666c69622e6e6574776f726b948c074e6574776f726b9493942981947d94288c0776657273696f6e944b038c046e616d65948c0147948c0d7374617469635f6b7761726773947d948c0a636f6d706f6e656e7473947d948c106275696c645f6d6f64756c655f737263948c00948c0f6275696c645f66756e635f6e616d65948c07475f7374796c65948c097661726961626c6573945d94756268022981947d942868054b0368068c01449468087d94680a7d94680c680d680e8c07445f62617369639468105d94756268022981947d942868054b0368068c0247739468087d94680a7d94680c680d680e680f68105d94756287942e", "StyleGAN (v1)"), ("800495ff000000000000008c14646e6e6c69622e74666c69622e6e6574776f726b948c074e6574776f726b9493942981947d94288c0776657273696f6e944b038c046e616d65948c0147948c0d7374617469635f6b7761726773947d948c0a636f6d706f6e656e7473947d948c106275696c645f6d6f64756c655f737263948c00948c0f6275696c645f66756e635f6e616d65948c07475f7061706572948c097661726961626c6573945d94756268022981947d942868054b0368068c01449468087d94680a7d94680c680d680e8c07445f62617369639468105d94756268022981947d942868054b0368068c0247739468087d94680a7d94680c680d680e680f68105d94756287942e", "PGGAN")] {
        let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let p = dir.path().join("old.pkl");
        std::fs::write(&p, bytes).unwrap();
        let e = Checkpoint::open(&p).unwrap_err().to_string();
        assert!(
            e.contains("TensorFlow pickle: G: missing tensor 'lod'"),
            "{what}: {e}"
        );
    }
}
