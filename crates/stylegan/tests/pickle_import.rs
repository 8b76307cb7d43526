//! Official PyTorch network pickles are read without Python and give the same networks as the
//! native checkpoints they were made from (`crates/pickle/fixtures/make_fixtures.py` writes
//! them byte-for-byte in the layout of FORMATS.md §6).

mod common;

use std::path::PathBuf;
use std::process::Command;

use burn::tensor::Tensor;
use stylegan::io::checkpoint::Checkpoint;
use stylegan::latent::z_from_seed;
use stylegan::models::{Discriminator, Generator, NoiseMode};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../pickle/fixtures")
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn tiny_pickles_of_both_eras_equal_the_native_checkpoint() {
    let native = Checkpoint::read(&fixtures().join("tiny.safetensors")).unwrap();
    let dev = stylegan::backend::cpu();
    for pkl in ["tiny-proto4.pkl", "tiny-proto3.pkl"] {
        let ckpt = Checkpoint::open(&fixtures().join(pkl)).unwrap_or_else(|e| panic!("{pkl}: {e}"));
        assert_eq!(
            ckpt.networks.keys().collect::<Vec<_>>(),
            ["D", "G", "G_ema"],
            "{pkl}"
        );
        for (name, entry) in &ckpt.networks {
            let want = &native.networks[name];
            assert_eq!(entry.class_name, want.class_name, "{pkl} {name}");
            assert_eq!(entry.tensors, want.tensors, "{pkl} {name}: tensors differ");
        }
        assert!(ckpt.extra_metadata["training_set_kwargs"].contains("\"resolution\":16"));
        // Same image and same D logits from the pickle as from the native file.
        let path = fixtures().join(pkl);
        let (g, g0) = (
            Generator::load(&path, &dev).unwrap(),
            Generator::load(&fixtures().join("tiny.safetensors"), &dev).unwrap(),
        );
        let img = |g: &Generator| {
            g.generate(
                g.z_tensor(&[z_from_seed(5, 32)]).unwrap(),
                g.label(Some(1), 1).unwrap(),
                0.7,
                None,
                NoiseMode::Const,
            )
            .unwrap()
        };
        let (a, b) = (img(&g), img(&g0));
        assert_eq!(values(a.clone()), values(b));
        let d = Discriminator::load(&path, &dev).unwrap();
        let d0 = Discriminator::load(&fixtures().join("tiny.safetensors"), &dev).unwrap();
        let c = g.label(Some(1), 1).unwrap();
        assert_eq!(
            values(d.forward(a.clone(), c.clone()).unwrap()),
            values(d0.forward(a, c).unwrap())
        );
    }
}

#[test]
fn broken_and_foreign_pickles_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("tiny-proto4.pkl")).unwrap();
    let cut = dir.path().join("cut.pkl");
    std::fs::write(&cut, &bytes[..bytes.len() / 3]).unwrap();
    let e = Checkpoint::open(&cut).unwrap_err().to_string();
    assert!(e.contains("cut.pkl") && e.contains("pickle"), "{e}");
    let other = dir.path().join("other.pkl");
    std::fs::write(
        &other,
        b"\x80\x04\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.",
    )
    .unwrap();
    let e = Checkpoint::open(&other).unwrap_err().to_string();
    assert!(e.contains("not an official network pickle"), "{e}");
}

/// The conditional, clamped parity network converted to an official pickle by the fixture
/// script still reproduces the official images and D logits.
#[test]
fn official_pickle_of_parity_network_matches_official_outputs() {
    let Some(dir) = common::fixture_dir("sg2c_32") else {
        return;
    };
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 not found (needed to write the pickle fixture)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let pkl = tmp.path().join("network-snapshot.pkl");
    let out = Command::new("python3")
        .arg(fixtures().join("make_fixtures.py"))
        .args([
            "--g",
            dir.join("G_ema.safetensors").to_str().unwrap(),
            "--d",
            dir.join("D.safetensors").to_str().unwrap(),
            "--out",
            pkl.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dev = stylegan::backend::cpu();
    let g = Generator::load(&pkl, &dev).unwrap();
    let d = Discriminator::load(&pkl, &dev).unwrap();
    let c = g.label(Some(3), 1).unwrap();
    let img = g
        .generate(
            g.z_tensor(&[z_from_seed(42, 512)]).unwrap(),
            c.clone(),
            0.7,
            None,
            NoiseMode::Const,
        )
        .unwrap();
    let want = common::npy(&dir.join("42_0.7_const.npy"));
    assert!(common::max_abs_diff(&values(img.clone()), &want.data) <= 1e-3);
    let logit = values(d.forward(img, c).unwrap())[0] as f64;
    let want_d = common::npy(&dir.join("d_42_0.7_const.npy")).data[0];
    assert!((logit - want_d).abs() <= 1e-3 + 1e-3 * want_d.abs());
}
