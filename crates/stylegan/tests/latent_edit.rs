//! The latent API (z / w / W+ / S give the same image), truncation as a latent operation,
//! edits (zero strength is the identity, layer-restricted edits touch only those layers,
//! StyleSpace channel edits touch one channel), GANSpace against an exact PCA, interpolation
//! curves, and GIF output.

use stylegan::edit::ganspace::ganspace;
use stylegan::edit::Edit;
use stylegan::io::checkpoint::NetworkEntry;
use stylegan::latent::interp::{slerp, Kind, Looped};
use stylegan::latent::space::{s_channel_add, s_flatten, s_layers, s_unflatten};
use stylegan::latent::{Latent, Space};
use stylegan::models::{Generator, NoiseMode};
use stylegan::train::NetworkOptions;

fn tiny_g() -> Generator {
    let o = NetworkOptions {
        resolution: 16,
        channels: 3,
        c_dim: 0,
        channel_base: 128,
        channel_max: 16,
        map_layers: 2,
        latent_dim: 12,
        mbstd_group: 2,
        ..NetworkOptions::stylegan2(16, 3, 0)
    };
    let (g, _): (NetworkEntry, NetworkEntry) = o.build(9).unwrap();
    Generator::from_entry("tiny", &g, &stylegan::backend::cpu()).unwrap()
}

fn vals<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn every_space_gives_the_same_image() {
    let g = tiny_g();
    let z = Latent::from_seeds(&g, &[1, 2], None).unwrap();
    let reference = vals(
        g.generate(
            match &z {
                Latent::Z { z, .. } => z.clone(),
                _ => unreachable!(),
            },
            None,
            1.0,
            None,
            NoiseMode::Const,
        )
        .unwrap(),
    );
    for space in [Space::Z, Space::W, Space::WPlus, Space::S] {
        let l = z.clone().to_space(&g, space).unwrap();
        assert_eq!(l.space(), space);
        assert_eq!(l.batch(), 2);
        let img = vals(l.generate(&g, NoiseMode::Const).unwrap());
        assert_eq!(img, reference, "{space:?}");
    }
    // Conversions go one way only.
    let s = z.clone().to_space(&g, Space::S).unwrap();
    let err = s.to_space(&g, Space::W).unwrap_err().to_string();
    assert!(err.contains("cannot convert a s latent back to w"), "{err}");
    // Truncation is a W+ operation and equals the generator's own truncation.
    let zt = match &z {
        Latent::Z { z, .. } => z.clone(),
        _ => unreachable!(),
    };
    let want = vals(
        g.generate(zt, None, 0.6, Some(3), NoiseMode::Const)
            .unwrap(),
    );
    let got = vals(
        z.truncate(&g, 0.6, Some(3))
            .unwrap()
            .generate(&g, NoiseMode::Const)
            .unwrap(),
    );
    assert_eq!(got, want);
}

#[test]
fn stylespace_flatten_and_channel_edits() {
    let g = tiny_g();
    let styles = Latent::from_seeds(&g, &[3], None)
        .unwrap()
        .styles(&g)
        .unwrap();
    let layers = s_layers(&styles);
    // b4: conv1, torgb; b8, b16: conv0, conv1, torgb → 8 style layers.
    assert_eq!(layers.len(), 8);
    let flat = s_flatten(&styles);
    let total: usize = layers.iter().map(|l| l.2).sum();
    assert_eq!(flat.dims(), [1, total]);
    let back = s_unflatten(flat.clone(), &styles).unwrap();
    assert_eq!(vals(s_flatten(&back)), vals(flat.clone()));
    let mut edited = styles.clone();
    s_channel_add(&mut edited, 2, 5, 1.5).unwrap();
    let (a, b) = (vals(flat), vals(s_flatten(&edited)));
    let offset: usize = layers[..2].iter().map(|l| l.2).sum::<usize>() + 5;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if i == offset {
            assert!((y - x - 1.5).abs() < 1e-6);
        } else {
            assert_eq!(x, y, "value {i} changed");
        }
    }
    let err = s_channel_add(&mut edited, 99, 0, 1.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer 99"), "{err}");
    let err = s_channel_add(&mut edited, 0, 999, 1.0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("channel 999"), "{err}");
}

#[test]
fn edits_zero_is_identity_and_layers_are_respected() {
    let g = tiny_g();
    let base = Latent::from_seeds(&g, &[4], None).unwrap();
    let ws0 = vals(base.clone().wplus(&g).unwrap());
    let d = 12;
    let dir: Vec<f32> = (0..d).map(|i| if i == 3 { 1.0 } else { 0.0 }).collect();
    let e = Edit::w(dir.clone(), Some(vec![1, 2]));
    assert_eq!(
        vals(e.apply(&g, base.clone(), 0.0).unwrap().wplus(&g).unwrap()),
        ws0
    );
    let ws = vals(e.apply(&g, base.clone(), 2.0).unwrap().wplus(&g).unwrap());
    for l in 0..g.num_ws() {
        for j in 0..d {
            let (x, y) = (ws0[l * d + j], ws[l * d + j]);
            if (l == 1 || l == 2) && j == 3 {
                assert!((y - x - 2.0).abs() < 1e-6);
            } else {
                assert_eq!(x, y);
            }
        }
    }
    // An edit changes the image; a wrong-sized direction is a clear error.
    let img0 = vals(base.clone().generate(&g, NoiseMode::Const).unwrap());
    let all = Edit::w(dir, None);
    let img1 = vals(
        all.apply(&g, base.clone(), 3.0)
            .unwrap()
            .generate(&g, NoiseMode::Const)
            .unwrap(),
    );
    assert!(max_diff(&img0, &img1) > 1e-3);
    // On an S latent (a StyleSpace projection) the w edit acts through the affines: the same
    // image as editing the W+ latent it came from.
    let s_base = base
        .clone()
        .to_space(&g, stylegan::latent::Space::S)
        .unwrap();
    let via_s = e.apply(&g, s_base, 2.0).unwrap();
    assert_eq!(via_s.space(), stylegan::latent::Space::S);
    let via_w = e.apply(&g, base.clone(), 2.0).unwrap();
    let (a, b) = (
        vals(via_s.generate(&g, NoiseMode::Const).unwrap()),
        vals(via_w.generate(&g, NoiseMode::Const).unwrap()),
    );
    assert!(max_diff(&a, &b) < 1e-5, "{}", max_diff(&a, &b));
    let bad = Edit::w(vec![1.0; 5], None);
    let err = bad.apply(&g, base.clone(), 1.0).unwrap_err().to_string();
    assert!(err.contains("5 values") && err.contains("12"), "{err}");
    // The spaces an edit acts in; a GANSpace-style unit scales the strength.
    use stylegan::latent::Space;
    assert!(all.check_space(Space::W).is_ok() && all.check_space(Space::WPlus).is_ok());
    let msg = e.check_space(Space::W).unwrap_err().to_string();
    assert!(msg.contains("chosen layers (space wplus)"), "{msg}");
    assert!(Edit::s_channel(0, 1).check_space(Space::S).is_ok());
    let half = Edit {
        unit: 0.5,
        ..e.clone()
    };
    assert_eq!(
        vals(
            half.apply(&g, base.clone(), 4.0)
                .unwrap()
                .wplus(&g)
                .unwrap()
        ),
        vals(e.apply(&g, base.clone(), 2.0).unwrap().wplus(&g).unwrap())
    );
}

#[test]
fn ganspace_matches_an_exact_pca_of_w() {
    let g = tiny_g();
    let n = 600;
    let dirs = ganspace(&g, Space::W, n, 3, 5).unwrap();
    assert_eq!(
        (dirs.method.as_str(), dirs.space.as_str()),
        ("ganspace", "w")
    );
    assert!(dirs.values.windows(2).all(|v| v[0] >= v[1]));
    // Exact PCA of the same samples.
    let mut rng = stylegan::latent::RandomState::new(5);
    let zs: Vec<Vec<f64>> = (0..n).map(|_| rng.randn(12)).collect();
    let w = Latent::Z {
        z: g.z_tensor(&zs).unwrap(),
        c: None,
    }
    .w_rows(&g)
    .unwrap();
    let mean: Vec<f64> = (0..12)
        .map(|j| w.iter().map(|r| r[j]).sum::<f64>() / n as f64)
        .collect();
    let cov = nalgebra::DMatrix::<f64>::from_fn(12, 12, |i, j| {
        w.iter()
            .map(|r| (r[i] - mean[i]) * (r[j] - mean[j]))
            .sum::<f64>()
            / (n as f64 - 1.0)
    });
    let eig = nalgebra::SymmetricEigen::new(cov);
    let mut order: Vec<usize> = (0..12).collect();
    order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
    for k in 0..3 {
        let e = eig.eigenvectors.column(order[k]);
        let cos: f64 = dirs.directions[k]
            .iter()
            .zip(e.iter())
            .map(|(a, b)| *a as f64 * b)
            .sum();
        assert!(cos.abs() > 0.999, "component {k}: |cos| {}", cos.abs());
        let sd = eig.eigenvalues[order[k]].sqrt();
        assert!(
            (dirs.values[k] as f64 - sd).abs() < 1e-3 * sd,
            "{} vs {sd}",
            dirs.values[k]
        );
    }
    // S-space components have the S dimension and unit norm.
    let s = ganspace(&g, Space::S, 200, 2, 1).unwrap();
    let styles = Latent::from_seeds(&g, &[0], None)
        .unwrap()
        .styles(&g)
        .unwrap();
    assert_eq!(s.directions[0].len(), s_flatten(&styles).dims()[1]);
    let norm: f32 = s.directions[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-4);
}

#[test]
fn interpolation_curves_pass_through_keys_and_loop() {
    let keys = vec![
        vec![0.0, 1.0],
        vec![2.0, -1.0],
        vec![1.0, 3.0],
        vec![-1.0, 0.5],
    ];
    for kind in [Kind::Linear, Kind::Cubic] {
        let c = Looped::new(keys.clone(), kind).unwrap();
        for (i, k) in keys.iter().enumerate() {
            let v = c.at(i as f64);
            assert!(
                v.iter().zip(k).all(|(a, b)| (a - b).abs() < 1e-12),
                "{kind:?} key {i}"
            );
        }
        // The loop closes: x and x + n are the same point.
        let (p, q) = (c.at(0.3), c.at(4.3));
        assert!(
            p.iter().zip(&q).all(|(a, b)| (a - b).abs() < 1e-12),
            "{p:?} vs {q:?}"
        );
    }
    let lin = Looped::new(keys.clone(), Kind::Linear).unwrap();
    assert_eq!(lin.at(0.5), vec![1.0, 0.0]);
    // The cubic is C¹ across a key (finite-difference slopes agree on both sides).
    let cub = Looped::new(keys, Kind::Cubic).unwrap();
    let h = 1e-6;
    let left = (cub.at(2.0)[0] - cub.at(2.0 - h)[0]) / h;
    let right = (cub.at(2.0 + h)[0] - cub.at(2.0)[0]) / h;
    assert!((left - right).abs() < 1e-4);
    // slerp keeps endpoints and, between vectors of equal norm, the norm.
    let (a, b) = (vec![3.0, 0.0], vec![0.0, 3.0]);
    assert_eq!(slerp(&a, &b, 0.0), a);
    let m = slerp(&a, &b, 0.5);
    assert!(((m[0] * m[0] + m[1] * m[1]).sqrt() - 3.0).abs() < 1e-12);
}

#[test]
fn gif_video_round_trips() {
    use stylegan::io::image::Image8;
    let dir = tempfile::tempdir().unwrap();
    let frames: Vec<Image8> = (0..5u8)
        .map(|k| Image8 {
            width: 6,
            height: 4,
            channels: 3,
            pixels: vec![k * 40; 6 * 4 * 3],
        })
        .collect();
    let p = dir.path().join("v.gif");
    stylegan::io::video::write_video(&p, &frames, 10).unwrap();
    let dec = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&p).unwrap(),
    ))
    .unwrap();
    use image::AnimationDecoder;
    let got = dec.into_frames().collect_frames().unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].buffer().dimensions(), (6, 4));
    let err = stylegan::io::video::write_video(&dir.path().join("v.avi"), &frames, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains(".avi"), "{err}");
}
