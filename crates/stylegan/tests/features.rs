//! Feature-map operations: identity cases reproduce the plain forward pass exactly, α = 0 / 1
//! blends equal A / B, shapes and seams are right.

use stylegan::features::{blend, expand, extend, Extend, Mask};
use stylegan::latent::Latent;
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
    let (g, _) = o.build(4).unwrap();
    Generator::from_entry("tiny", &g, &stylegan::backend::cpu()).unwrap()
}

fn vals(t: burn::tensor::Tensor<4>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn expand_identity_and_shapes() {
    let g = tiny_g();
    let styles = Latent::from_seeds(&g, &[7], None)
        .unwrap()
        .styles(&g)
        .unwrap();
    let plain = vals(
        g.synthesis
            .forward_styles(&styles, NoiseMode::Const)
            .unwrap(),
    );
    for mode in [
        Extend::Reflect,
        Extend::Replicate,
        Extend::Circular,
        Extend::Stretch,
    ] {
        for layer in 0..3 {
            let img = expand(&g, &styles, layer, mode, 1.0, 1.0, NoiseMode::Const).unwrap();
            assert_eq!(vals(img), plain, "{mode:?} at block {layer} with factor 1");
        }
        let wide = expand(&g, &styles, 1, mode, 2.0, 1.0, NoiseMode::Const).unwrap();
        assert_eq!(wide.dims(), [1, 3, 16, 32], "{mode:?}");
        let tall = expand(&g, &styles, 0, mode, 1.0, 1.5, NoiseMode::Const).unwrap();
        assert_eq!(tall.dims(), [1, 3, 24, 16], "{mode:?}");
        assert!(vals(wide).iter().all(|v| v.is_finite()));
    }
    // Circular padding of the final image: the added left quarter is the image's right quarter.
    let c = vals(expand(&g, &styles, 2, Extend::Circular, 2.0, 1.0, NoiseMode::Const).unwrap());
    for ch in 0..3 {
        for y in 0..16 {
            for x in 0..8 {
                assert_eq!(c[(ch * 16 + y) * 32 + x], plain[(ch * 16 + y) * 16 + 8 + x]);
                assert_eq!(c[(ch * 16 + y) * 32 + 8 + x], plain[(ch * 16 + y) * 16 + x]);
            }
        }
    }
    let err = expand(&g, &styles, 3, Extend::Reflect, 2.0, 1.0, NoiseMode::Const)
        .unwrap_err()
        .to_string();
    assert!(err.contains("block 3"), "{err}");
    let err = expand(&g, &styles, 0, Extend::Reflect, 0.5, 1.0, NoiseMode::Const)
        .unwrap_err()
        .to_string();
    assert!(err.contains(">= 1"), "{err}");
}

#[test]
fn padding_modes_do_what_they_say() {
    let dev = stylegan::backend::cpu();
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new(vec![1f32, 2., 3., 4.], [1, 1, 1, 4]),
        &dev,
    );
    let row = |m, w| vals(extend(x.clone(), 1, w, m).unwrap());
    assert_eq!(
        row(Extend::Reflect, 8),
        vec![3., 2., 1., 2., 3., 4., 3., 2.]
    );
    assert_eq!(
        row(Extend::Replicate, 8),
        vec![1., 1., 1., 2., 3., 4., 4., 4.]
    );
    assert_eq!(
        row(Extend::Circular, 8),
        vec![3., 4., 1., 2., 3., 4., 1., 2.]
    );
    // Wider than reflect allows in one go: repeated reflection.
    assert_eq!(row(Extend::Reflect, 12).len(), 12);
    assert_eq!(row(Extend::Circular, 13).len(), 13);
    assert!(extend(x, 1, 2, Extend::Reflect).is_err());
}

#[test]
fn blends_with_constant_masks_are_a_and_b() {
    let g = tiny_g();
    let sa = Latent::from_seeds(&g, &[1], None)
        .unwrap()
        .styles(&g)
        .unwrap();
    let sb = Latent::from_seeds(&g, &[2], None)
        .unwrap()
        .styles(&g)
        .unwrap();
    let a = vals(g.synthesis.forward_styles(&sa, NoiseMode::Const).unwrap());
    let b = vals(g.synthesis.forward_styles(&sb, NoiseMode::Const).unwrap());
    // Equal up to float rounding (the blended path runs block by block on mixed tensors).
    let close = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
            < 1e-5
    };
    assert!(close(
        &vals(blend(&g, &sa, &sb, &Mask::Constant(0.0), None, NoiseMode::Const).unwrap()),
        &a
    ));
    assert!(close(
        &vals(blend(&g, &sa, &sb, &Mask::Constant(1.0), None, NoiseMode::Const).unwrap()),
        &b
    ));
    assert!(!close(&a, &b));
    // A horizontal mask: the left column is nearer A, the right column nearer B.
    let h = vals(blend(&g, &sa, &sb, &Mask::Horizontal, None, NoiseMode::Const).unwrap());
    let col = |v: &[f32], x: usize| -> Vec<f32> { (0..3 * 16).map(|k| v[k * 16 + x]).collect() };
    let d = |p: &[f32], q: &[f32]| p.iter().zip(q).map(|(x, y)| (x - y).abs()).sum::<f32>();
    assert!(d(&col(&h, 0), &col(&a, 0)) < d(&col(&h, 0), &col(&b, 0)));
    assert!(d(&col(&h, 15), &col(&b, 15)) < d(&col(&h, 15), &col(&a, 15)));
    // A mask image is resized to each block; an all-white one is B.
    let white = Mask::Image {
        h: 5,
        w: 7,
        alpha: vec![1.0; 35],
    };
    assert!(close(
        &vals(blend(&g, &sa, &sb, &white, None, NoiseMode::Const).unwrap()),
        &b
    ));
    let err = blend(
        &g,
        &sa,
        &sb,
        &Mask::Horizontal,
        Some(&[9]),
        NoiseMode::Const,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("block 9"), "{err}");
}

fn close(x: &[f32], y: &[f32]) -> bool {
    x.len() == y.len()
        && x.iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0.0, f32::max)
            < 1e-5
}

#[test]
fn panorama_limits_and_width() {
    use stylegan::features::{panorama, Direction};
    let g = tiny_g();
    let s: Vec<Vec<_>> = [1u32, 2, 3]
        .iter()
        .map(|&k| {
            Latent::from_seeds(&g, &[k], None)
                .unwrap()
                .styles(&g)
                .unwrap()
        })
        .collect();
    let a = vals(g.synthesis.forward_styles(&s[0], NoiseMode::Const).unwrap());
    // One seed: the plain image.
    for k in 0..3 {
        assert!(
            close(
                &vals(
                    panorama(
                        &g,
                        &[&s[0]],
                        k,
                        0.5,
                        Direction::Horizontal,
                        NoiseMode::Const
                    )
                    .unwrap()
                ),
                &a
            ),
            "block {k}"
        );
    }
    // Three seeds, half overlap at the 8×8 block (w = 8, overlap 4): 8 + 2·4 = 16 → 32 at 16×16.
    let p = panorama(
        &g,
        &[&s[0], &s[1], &s[2]],
        1,
        0.5,
        Direction::Horizontal,
        NoiseMode::Const,
    )
    .unwrap();
    assert_eq!(p.dims(), [1, 3, 16, 32]);
    // No overlap at the last block: the seeds' images side by side, exactly.
    let q = vals(
        panorama(
            &g,
            &[&s[0], &s[1]],
            2,
            0.0,
            Direction::Horizontal,
            NoiseMode::Const,
        )
        .unwrap(),
    );
    let b = vals(g.synthesis.forward_styles(&s[1], NoiseMode::Const).unwrap());
    for c in 0..3 {
        for y in 0..16 {
            for x in 0..16 {
                assert!((q[(c * 16 + y) * 32 + x] - a[(c * 16 + y) * 16 + x]).abs() < 1e-5);
                assert!((q[(c * 16 + y) * 32 + 16 + x] - b[(c * 16 + y) * 16 + x]).abs() < 1e-5);
            }
        }
    }
    // Vertically: the same seeds one above the other, exactly, and the same shapes transposed.
    let v = vals(
        panorama(
            &g,
            &[&s[0], &s[1]],
            2,
            0.0,
            Direction::Vertical,
            NoiseMode::Const,
        )
        .unwrap(),
    );
    for c in 0..3 {
        for y in 0..16 {
            for x in 0..16 {
                assert!((v[(c * 32 + y) * 16 + x] - a[(c * 16 + y) * 16 + x]).abs() < 1e-5);
                assert!((v[(c * 32 + 16 + y) * 16 + x] - b[(c * 16 + y) * 16 + x]).abs() < 1e-5);
            }
        }
    }
    let pv = panorama(
        &g,
        &[&s[0], &s[1], &s[2]],
        1,
        0.5,
        Direction::Vertical,
        NoiseMode::Const,
    )
    .unwrap();
    assert_eq!(pv.dims(), [1, 3, 32, 16]);
    assert!(close(
        &vals(panorama(&g, &[&s[0]], 1, 0.5, Direction::Vertical, NoiseMode::Const).unwrap()),
        &a
    ));
    assert!(panorama(
        &g,
        &[&s[0]],
        1,
        1.0,
        Direction::Horizontal,
        NoiseMode::Const
    )
    .is_err());
}

#[test]
fn transfer_limits() {
    use stylegan::features::transfer;
    let g = tiny_g();
    let ws = |k: u32| {
        Latent::from_seeds(&g, &[k], None)
            .unwrap()
            .wplus(&g)
            .unwrap()
    };
    let (src, rf) = (ws(5), ws(6));
    let plain =
        |w: &burn::tensor::Tensor<3>| vals(g.synthesis.forward(w, NoiseMode::Const).unwrap());
    // An empty region is the source; the whole image without alignment is the reference;
    // the whole image with full alignment is the source again.
    assert!(close(
        &vals(
            transfer(
                &g,
                &src,
                &rf,
                &Mask::Constant(0.0),
                4,
                None,
                NoiseMode::Const
            )
            .unwrap()
        ),
        &plain(&src)
    ));
    assert!(close(
        &vals(
            transfer(
                &g,
                &src,
                &rf,
                &Mask::Constant(1.0),
                0,
                None,
                NoiseMode::Const
            )
            .unwrap()
        ),
        &plain(&rf)
    ));
    assert!(close(
        &vals(
            transfer(
                &g,
                &src,
                &rf,
                &Mask::Constant(1.0),
                g.num_ws(),
                None,
                NoiseMode::Const
            )
            .unwrap()
        ),
        &plain(&src)
    ));
    let boxed = transfer(
        &g,
        &src,
        &rf,
        &Mask::from_box(0.25, 0.25, 0.75, 0.75).unwrap(),
        2,
        None,
        NoiseMode::Const,
    )
    .unwrap();
    assert_eq!(boxed.dims(), [1, 3, 16, 16]);
    assert!(Mask::from_box(0.5, 0.0, 0.4, 1.0).is_err());
    assert!(transfer(&g, &src, &rf, &Mask::Horizontal, 99, None, NoiseMode::Const).is_err());
}

#[test]
fn single_image_shift() {
    use stylegan::features::{random_shifts, shift_patch, single_image, Patch};
    let g = tiny_g();
    let s = Latent::from_seeds(&g, &[8], None)
        .unwrap()
        .styles(&g)
        .unwrap();
    let plain = vals(g.synthesis.forward_styles(&s, NoiseMode::Const).unwrap());
    assert_eq!(
        vals(single_image(&g, &s, 1, &[], NoiseMode::Const).unwrap()),
        plain
    );
    // Moving a patch onto itself changes nothing.
    let p = Patch {
        y: 2,
        x: 3,
        h: 4,
        w: 4,
    };
    assert_eq!(
        vals(single_image(&g, &s, 1, &[(p, (2, 3))], NoiseMode::Const).unwrap()),
        plain
    );
    // shift_patch copies exactly.
    let dev = stylegan::backend::cpu();
    let x = burn::tensor::Tensor::<4>::from_data(
        burn::tensor::TensorData::new((0..16).map(|v| v as f32).collect::<Vec<_>>(), [1, 1, 4, 4]),
        &dev,
    );
    let y = vals(
        shift_patch(
            x,
            Patch {
                y: 0,
                x: 0,
                h: 2,
                w: 2,
            },
            (2, 2),
        )
        .unwrap(),
    );
    assert_eq!(
        y,
        vec![0., 1., 2., 3., 4., 5., 6., 7., 8., 9., 0., 1., 12., 13., 4., 5.]
    );
    let v = random_shifts(8, 8, 3, 1);
    assert_eq!(v.len(), 3);
    let out = single_image(&g, &s, 1, &v[0], NoiseMode::Const).unwrap();
    assert_eq!(out.dims(), [1, 3, 16, 16]);
    assert!(single_image(
        &g,
        &s,
        1,
        &[(
            Patch {
                y: 6,
                x: 6,
                h: 4,
                w: 4
            },
            (0, 0)
        )],
        NoiseMode::Const
    )
    .is_err());
}

#[test]
fn translation_limits() {
    use stylegan::features::translate;
    let parent = tiny_g();
    // A "child": same architecture, different synthesis weights, same mapping (frozen).
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
    let (other, _) = o.build(99).unwrap();
    let mut entry = parent.to_entry();
    for (k, t) in other.tensors {
        if k.starts_with("synthesis.") && !k.contains(".affine.") {
            entry.tensors.insert(k, t);
        }
    }
    let child = Generator::from_entry("child", &entry, &stylegan::backend::cpu()).unwrap();
    let ws = Latent::from_seeds(&parent, &[3], None)
        .unwrap()
        .wplus(&parent)
        .unwrap();
    let p = vals(parent.synthesis.forward(&ws, NoiseMode::Const).unwrap());
    let c = vals(child.synthesis.forward(&ws, NoiseMode::Const).unwrap());
    assert!(!close(&p, &c));
    assert!(close(
        &vals(
            translate(
                &parent,
                &child,
                &ws,
                &Mask::Constant(0.0),
                None,
                NoiseMode::Const
            )
            .unwrap()
        ),
        &p
    ));
    assert!(close(
        &vals(
            translate(
                &parent,
                &child,
                &ws,
                &Mask::Constant(1.0),
                None,
                NoiseMode::Const
            )
            .unwrap()
        ),
        &c
    ));
    let half = vals(
        translate(
            &parent,
            &child,
            &ws,
            &Mask::Constant(0.5),
            None,
            NoiseMode::Const,
        )
        .unwrap(),
    );
    assert!(!close(&half, &p) && !close(&half, &c));
    let other_arch = NetworkOptions { resolution: 8, ..o }.build(1).unwrap().0;
    let small = Generator::from_entry("s", &other_arch, &stylegan::backend::cpu()).unwrap();
    assert!(translate(
        &parent,
        &small,
        &ws,
        &Mask::Constant(0.5),
        None,
        NoiseMode::Const
    )
    .is_err());
}
