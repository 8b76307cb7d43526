//! Every architecture the official constructors accept builds, runs, keeps official tensor
//! names, and survives a checkpoint round trip. Needs no fixtures.

use burn::tensor::Tensor;
use serde_json::json;
use stylegan::io::checkpoint::Checkpoint;
use stylegan::latent::z_from_seed;
use stylegan::models::{Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, NoiseMode};

const G_CLASS: &str = "training.networks_stylegan2.Generator";
const D_CLASS: &str = "training.networks_stylegan2.Discriminator";

fn g_cfg(arch: &str, c_dim: usize) -> GeneratorConfig {
    GeneratorConfig::from_init_kwargs(
        G_CLASS,
        &json!({"z_dim": 16, "w_dim": 16, "c_dim": c_dim, "img_resolution": 16, "img_channels": 3,
                "mapping_kwargs": {"num_layers": 2}, "channel_base": 128, "channel_max": 16, "architecture": arch}),
    )
    .unwrap()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn generator_architectures_build_run_and_round_trip() {
    let dev = stylegan::backend::cpu();
    for arch in ["skip", "resnet", "orig"] {
        let g = Generator::random(&g_cfg(arch, 0), 1, &dev).unwrap();
        let names: Vec<String> = g.state_dict().entries.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names.iter().any(|n| n == "synthesis.b8.skip.weight"),
            arch == "resnet",
            "{arch}"
        );
        assert_eq!(
            names.iter().any(|n| n == "synthesis.b8.torgb.weight"),
            arch == "skip",
            "{arch}"
        );
        assert!(
            names.iter().any(|n| n == "synthesis.b16.torgb.affine.bias"),
            "{arch}: last block has torgb"
        );
        assert_eq!(g.num_ws(), 6);
        let zs = vec![z_from_seed(0, 16), z_from_seed(1, 16)];
        let img = g
            .generate(g.z_tensor(&zs).unwrap(), None, 1.0, None, NoiseMode::Const)
            .unwrap();
        assert_eq!(img.dims(), [2, 3, 16, 16]);
        let v = values(img.clone());
        assert!(v.iter().all(|x| x.is_finite()), "{arch}");
        assert!(
            v[..768] != v[768..],
            "{arch}: different seeds give different images"
        );

        // Checkpoint round trip gives the same network and the same image.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.safetensors");
        let entry = g.to_entry();
        Checkpoint::write(&path, &[("G_ema", &entry)], &Default::default()).unwrap();
        let g2 = Generator::load(&path, &dev).unwrap();
        let img2 = g2
            .generate(g2.z_tensor(&zs).unwrap(), None, 1.0, None, NoiseMode::Const)
            .unwrap();
        assert_eq!(values(img2), v, "{arch}: reloaded network differs");
    }
}

#[test]
fn noise_modes_and_truncation_behave() {
    let dev = stylegan::backend::cpu();
    let mut g = Generator::random(&g_cfg("skip", 0), 2, &dev).unwrap();
    // Give the noise a visible strength (init is zero, as in the official code).
    for b in &mut g.synthesis.sg2_mut("test").unwrap().blocks {
        for l in b.conv0.iter_mut().chain(std::iter::once(&mut b.conv1)) {
            l.noise_strength = Some(Tensor::from_data([0.5f32], &dev));
        }
    }
    let z = || g.z_tensor(&[z_from_seed(3, 16)]).unwrap();
    let run = |mode| values(g.generate(z(), None, 1.0, None, mode).unwrap());
    assert_eq!(
        run(NoiseMode::Const),
        run(NoiseMode::Const),
        "const noise is reproducible"
    );
    assert_ne!(
        run(NoiseMode::Random),
        run(NoiseMode::Random),
        "random noise changes per call"
    );
    assert_ne!(run(NoiseMode::Const), run(NoiseMode::None));
    // psi = 0 pulls every latent onto w_avg: all seeds give the same image.
    let zs = vec![z_from_seed(0, 16), z_from_seed(9, 16)];
    let v = values(
        g.generate(g.z_tensor(&zs).unwrap(), None, 0.0, None, NoiseMode::Const)
            .unwrap(),
    );
    let max = v[..768]
        .iter()
        .zip(&v[768..])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(max < 1e-6, "psi=0 images differ by {max}");
    assert!(g
        .mapping_ws(g.z_tensor(&zs).unwrap(), None, f64::NAN, None)
        .is_err());
}

#[test]
fn discriminator_architectures_and_conditioning() {
    let dev = stylegan::backend::cpu();
    for (arch, c_dim) in [("resnet", 0), ("skip", 0), ("orig", 0), ("resnet", 4)] {
        let cfg = DiscriminatorConfig::from_init_kwargs(
            D_CLASS,
            &json!({"c_dim": c_dim, "img_resolution": 16, "img_channels": 3, "channel_base": 128, "channel_max": 16,
                    "architecture": arch, "epilogue_kwargs": {"mbstd_group_size": 2}}),
        )
        .unwrap();
        let d = Discriminator::random(&cfg, 3, &dev).unwrap();
        let names: Vec<String> = d.state_dict().entries.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            names.iter().any(|n| n == "b8.fromrgb.weight"),
            arch == "skip",
            "{arch}"
        );
        assert_eq!(
            names.iter().any(|n| n == "b16.skip.weight"),
            arch == "resnet",
            "{arch}"
        );
        assert_eq!(names.iter().any(|n| n == "mapping.embed.weight"), c_dim > 0);
        let img = Tensor::<4>::random(
            [4, 3, 16, 16],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &dev,
        );
        let c = (c_dim > 0).then(|| {
            Tensor::<2>::from_data(
                burn::tensor::TensorData::new(vec![0.25f32; 16], [4, 4]),
                &dev,
            )
        });
        if c_dim > 0 {
            assert!(d
                .forward(img.clone(), None)
                .unwrap_err()
                .to_string()
                .contains("conditional"));
        }
        let logits = d.forward(img.clone(), c.clone()).unwrap();
        assert_eq!(logits.dims(), [4, 1]);
        // Batch 3 is not divisible by the group size 2: a clear error, not a panic.
        let three = img.narrow(0, 0, 3);
        let c3 = c.map(|c| c.narrow(0, 0, 3));
        assert!(d
            .forward(three, c3)
            .unwrap_err()
            .to_string()
            .contains("not divisible"));
    }
}
