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
            Generator::load(fixtures().join("tiny.safetensors"), &dev).unwrap(),
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
        let d0 = Discriminator::load(fixtures().join("tiny.safetensors"), &dev).unwrap();
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

/// The parity network of `config` written as an official pickle by the fixture script, or
/// `None` (with a SKIP note) without the fixtures or python3.
fn parity_pickle(config: &str) -> Option<(tempfile::TempDir, PathBuf, PathBuf)> {
    let dir = common::fixture_dir(config)?;
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 not found (needed to write the pickle fixture)");
        return None;
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
    Some((tmp, pkl, dir))
}

/// The conditional, clamped parity network converted to an official pickle by the fixture
/// script still reproduces the official images and D logits.
/// The image of seed 42 (ψ 0.7, const noise) and its D logit from the pickle `pkl` equal the
/// official ones of the fixture `dir`.
fn assert_seed42_matches(pkl: &std::path::Path, dir: &std::path::Path, class: Option<usize>) {
    let dev = stylegan::backend::cpu();
    let g = Generator::load(pkl, &dev).unwrap();
    let d = Discriminator::load(pkl, &dev).unwrap();
    let c = g.label(class, 1).unwrap();
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

#[test]
fn official_pickle_of_parity_network_matches_official_outputs() {
    let Some((_tmp, pkl, dir)) = parity_pickle("sg2c_32") else {
        return;
    };
    assert_seed42_matches(&pkl, &dir, Some(3));
}

/// An official StyleGAN3 network pickle (G_ema, G and the StyleGAN2 D it trains with) loads as
/// `training.networks_stylegan3.Generator` and reproduces the official images and D logits; a
/// truncated one is a clear error.
#[test]
fn official_stylegan3_pickle_matches_official_outputs() {
    let Some((tmp, pkl, dir)) = parity_pickle("sg3t_32") else {
        return;
    };
    let ckpt = Checkpoint::open(&pkl).unwrap();
    assert_eq!(
        ckpt.networks["G_ema"].class_name,
        "training.networks_stylegan3.Generator"
    );
    assert_eq!(
        ckpt.networks["D"].class_name,
        "training.networks_stylegan2.Discriminator"
    );
    assert_seed42_matches(&pkl, &dir, None);
    let dev = stylegan::backend::cpu();
    let bytes = std::fs::read(&pkl).unwrap();
    let cut = tmp.path().join("cut-sg3.pkl");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = Generator::load(&cut, &dev).unwrap_err().to_string();
    assert!(e.contains("cut-sg3.pkl"), "{e}");
}

/// Hostile and broken network pickles (written by CPython's pickle with stand-in modules):
/// a clear error naming the problem, and nothing executed.
#[test]
fn hostile_network_pickles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        // {'G_ema': os.system('echo pwned > /tmp/pwned')} (CPython pickles it as posix.system)
        ("80027d71005805000000475f656d61710163706f7369780a73797374656d0a710258170000006563686f2070776e6564203e202f746d702f70776e65647103857104527105732e", "posix.system"),
        // A 3x3 weight over a storage of 4 floats.
        ("80049566030000000000007d948c05475f656d61948c17746f7263685f7574696c732e70657273697374656e6365948c1b5f7265636f6e7374727563745f70657273697374656e745f6f626a9493947d94288c0474797065948c05636c617373948c0776657273696f6e944b068c0a6d6f64756c655f737263948c052320737263948c0a636c6173735f6e616d65948c0947656e657261746f72948c057374617465947d94288c08747261696e696e6794898c0b5f706172616d6574657273947d948c085f62756666657273947d948c1b5f6e6f6e5f70657273697374656e745f627566666572735f736574948f948c085f6d6f64756c6573947d948c076d617070696e679468047d94286806680768084b066809680a680b8c0e4d617070696e674e6574776f726b94680d7d9428680f8968107d9468127d9468148f9468167d948c036663309468047d94286806680768084b066809680a680b8c1346756c6c79436f6e6e65637465644c6179657294680d7d9428680f8968107d948c06776569676874948c0c746f7263682e5f7574696c73948c125f72656275696c645f706172616d6574657294939468268c125f72656275696c645f74656e736f725f7632949394288c0d746f7263682e73746f72616765948c105f6c6f61645f66726f6d5f627974657394939443f180028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f76657273696f6e71014de903580d0000006c6974746c655f656e6469616e710288580a000000747970655f73697a657371037d710428580500000073686f727471054b025803000000696e7471064b0458040000006c6f6e6771074b0475752e800228580700000073746f72616765710063746f7263680a466c6f617453746f726167650a71015801000000317102580300000063707571034b044e747104512e80025d71005801000000317101612e04000000000000000000803f00000040000040400000804094859452944b004b034b0386944b034b018694898c0b636f6c6c656374696f6e73948c0b4f7264657265644469637494939429529474945294896835295294879452947368127d9468148f9468167d948c0a5f696e69745f6172677394298c0c5f696e69745f6b7761726773947d9475758594529473683f296840684175758594529473683f2968406841757585945294732e", "exceeds its storage"),
        // {'D': None, 'augment_pipe': None}
        ("8004951a000000000000007d94288c0144944e8c0c6175676d656e745f70697065944e752e", "no 'G_ema' or 'G'"),
        // A persistent class the loader does not know.
        ("8004951d010000000000007d948c05475f656d61948c17746f7263685f7574696c732e70657273697374656e6365948c1b5f7265636f6e7374727563745f70657273697374656e745f6f626a9493947d94288c0474797065948c05636c617373948c0776657273696f6e944b068c0a6d6f64756c655f737263948c052320737263948c0a636c6173735f6e616d65948c0e46616e637947656e657261746f72948c057374617465947d94288c08747261696e696e6794898c0b5f706172616d6574657273947d948c085f62756666657273947d948c1b5f6e6f6e5f70657273697374656e745f627566666572735f736574948f948c085f6d6f64756c6573947d948c0a5f696e69745f6172677394298c0c5f696e69745f6b7761726773947d94757585945294732e", "unsupported network class 'FancyGenerator'"),
    ];
    let marker = std::path::Path::new("/tmp/pwned");
    let _ = std::fs::remove_file(marker);
    for (hex, want) in cases {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let p = dir.path().join("bad.pkl");
        std::fs::write(&p, bytes).unwrap();
        let e = Checkpoint::open(&p).unwrap_err().to_string();
        assert!(
            e.contains(want) && e.contains("bad.pkl"),
            "expected '{want}' in: {e}"
        );
    }
    assert!(!marker.exists(), "the os.system call must never run");
}

/// An ADA-era pickle (nested synthesis_kwargs, ADA defaults: no conv_clamp) is recognised as
/// `training.networks.*` for G and D alike, and gives the same image as its source network.
#[test]
fn ada_style_pickle_uses_ada_classes_and_defaults() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIP: python3 not found (needed to write the pickle fixture)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = Checkpoint::read(&fixtures().join("tiny-uncond.safetensors")).unwrap();
    let mut g = src.networks["G_ema"].clone();
    g.class_name = "training.networks.Generator".into();
    g.init_kwargs = serde_json::json!({"z_dim": 32, "w_dim": 32, "c_dim": 0, "img_resolution": 16, "img_channels": 3,
        "mapping_kwargs": {"num_layers": 2}, "synthesis_kwargs": {"channel_base": 256, "channel_max": 32, "num_fp16_res": 0}});
    let ada = tmp.path().join("ada.safetensors");
    Checkpoint::write(
        &ada,
        &[("G_ema", &g), ("D", &src.networks["D"])],
        &Default::default(),
    )
    .unwrap();
    let pkl = tmp.path().join("ada.pkl");
    let out = Command::new("python3")
        .arg(fixtures().join("make_fixtures.py"))
        .args([
            "--g",
            ada.to_str().unwrap(),
            "--out",
            pkl.to_str().unwrap(),
            "--protocol",
            "3",
            "--numpy-module",
            "numpy.core.multiarray",
            "--torch1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ckpt = Checkpoint::open(&pkl).unwrap();
    assert_eq!(
        ckpt.networks["G_ema"].class_name,
        "training.networks.Generator"
    );
    assert_eq!(
        ckpt.networks["D"].class_name,
        "training.networks.Discriminator"
    );
    let dev = stylegan::backend::cpu();
    let a = Generator::load(&pkl, &dev).unwrap();
    assert_eq!(
        a.config.sg2("test").unwrap().conv_clamp,
        None,
        "ADA's default conv_clamp is None"
    );
    let b = Generator::load(fixtures().join("tiny-uncond.safetensors"), &dev).unwrap();
    let img = |g: &Generator| {
        values(
            g.generate(
                g.z_tensor(&[z_from_seed(4, 32)]).unwrap(),
                None,
                1.0,
                None,
                NoiseMode::Const,
            )
            .unwrap(),
        )
    };
    assert_eq!(img(&a), img(&b));
}
