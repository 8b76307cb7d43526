//! `stylegan expand` / `blend` end to end: sizes, identity limits, mask files, errors.

mod common;

use common::{fails, ok, run, tiny};

#[test]
fn expand_and_blend() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tiny();
    let p = |n: &str| tmp.path().join(n).display().to_string();
    ok(&run(&[
        "generate",
        "--network",
        &net,
        "--seeds",
        "3,4",
        "--outdir",
        &p("gen"),
    ]));
    let a = image::open(tmp.path().join("gen/seed0003.png"))
        .unwrap()
        .to_rgb8();
    let b = image::open(tmp.path().join("gen/seed0004.png"))
        .unwrap()
        .to_rgb8();
    let (w, h) = a.dimensions();

    for mode in ["reflect", "replicate", "circular", "stretch"] {
        ok(&run(&[
            "expand",
            "--network",
            &net,
            "--seed",
            "3",
            "--layer",
            "1",
            "--mode",
            mode,
            "--width-factor",
            "2",
            "--output",
            &p(&format!("{mode}.png")),
        ]));
        let img = image::open(p(&format!("{mode}.png"))).unwrap();
        assert_eq!((img.width(), img.height()), (2 * w, h), "{mode}");
    }
    ok(&run(&[
        "expand",
        "--network",
        &net,
        "--seed",
        "3",
        "--layer",
        "0",
        "--width-factor",
        "1",
        "--output",
        &p("id.png"),
    ]));
    assert_eq!(image::open(p("id.png")).unwrap().to_rgb8(), a);

    // Black mask = A, white mask = B (up to quantisation of nearly equal floats).
    let black = image::GrayImage::from_pixel(7, 5, image::Luma([0]));
    black.save(p("black.png")).unwrap();
    let white = image::GrayImage::from_pixel(7, 5, image::Luma([255]));
    white.save(p("white.png")).unwrap();
    let diff = |x: &image::RgbImage, y: &image::RgbImage| {
        x.pixels()
            .zip(y.pixels())
            .flat_map(|(p, q)| (0..3).map(move |i| (p.0[i] as i32 - q.0[i] as i32).abs()))
            .max()
            .unwrap()
    };
    ok(&run(&[
        "blend",
        "--network",
        &net,
        "--seed-a",
        "3",
        "--seed-b",
        "4",
        "--mask",
        &p("black.png"),
        "--output",
        &p("ba.png"),
    ]));
    assert!(diff(&image::open(p("ba.png")).unwrap().to_rgb8(), &a) <= 1);
    ok(&run(&[
        "blend",
        "--network",
        &net,
        "--seed-a",
        "3",
        "--seed-b",
        "4",
        "--mask",
        &p("white.png"),
        "--output",
        &p("bb.png"),
    ]));
    assert!(diff(&image::open(p("bb.png")).unwrap().to_rgb8(), &b) <= 1);
    ok(&run(&[
        "blend",
        "--network",
        &net,
        "--seed-a",
        "3",
        "--seed-b",
        "4",
        "--mask",
        "vertical",
        "--layers",
        "0-1",
        "--output",
        &p("bv.png"),
    ]));
    assert_eq!(image::open(p("bv.png")).unwrap().width(), w);

    fails(
        &run(&[
            "expand",
            "--network",
            &net,
            "--seed",
            "3",
            "--layer",
            "1",
            "--mode",
            "mirror",
            "--output",
            &p("x.png"),
        ]),
        &["mirror"],
    );
    fails(
        &run(&[
            "expand",
            "--network",
            &net,
            "--seed",
            "3",
            "--layer",
            "9",
            "--output",
            &p("x.png"),
        ]),
        &["block 9"],
    );
    fails(
        &run(&[
            "blend",
            "--network",
            &net,
            "--seed-a",
            "3",
            "--seed-b",
            "4",
            "--mask",
            &p("nope.png"),
            "--output",
            &p("x.png"),
        ]),
        &["nope.png"],
    );

    // Panorama: 3 seeds, half overlap at the 8×8 block.
    ok(&run(&[
        "panorama",
        "--network",
        &net,
        "--seeds",
        "1,2,3",
        "--layer",
        "1",
        "--overlap",
        "0.5",
        "--output",
        &p("pano.png"),
    ]));
    let pano = image::open(p("pano.png")).unwrap();
    assert_eq!((pano.width(), pano.height()), (2 * w, h));
    ok(&run(&[
        "panorama",
        "--network",
        &net,
        "--seeds",
        "1,2,3",
        "--vertical",
        "--output",
        &p("vpano.png"),
    ]));
    let vpano = image::open(p("vpano.png")).unwrap();
    assert_eq!((vpano.width(), vpano.height()), (w, 2 * h));
    fails(
        &run(&[
            "panorama",
            "--network",
            &net,
            "--seeds",
            "1,2",
            "--overlap",
            "1.5",
            "--output",
            &p("x.png"),
        ]),
        &["overlap"],
    );
    // Transfer: an empty box is refused, a full box without alignment is the reference.
    ok(&run(&[
        "transfer",
        "--network",
        &net,
        "--seed-src",
        "3",
        "--seed-ref",
        "4",
        "--box",
        "0,0,1,1",
        "--align",
        "0",
        "--output",
        &p("t.png"),
    ]));
    assert!(diff(&image::open(p("t.png")).unwrap().to_rgb8(), &b) <= 1);
    ok(&run(&[
        "transfer",
        "--network",
        &net,
        "--seed-src",
        "3",
        "--seed-ref",
        "4",
        "--box",
        "0.25,0.25,0.75,0.75",
        "--output",
        &p("t2.png"),
    ]));
    fails(
        &run(&[
            "transfer",
            "--network",
            &net,
            "--seed-src",
            "3",
            "--seed-ref",
            "4",
            "--box",
            "0.5,0,0.4,1",
            "--output",
            &p("x.png"),
        ]),
        &["box"],
    );
    fails(
        &run(&[
            "transfer",
            "--network",
            &net,
            "--seed-src",
            "3",
            "--seed-ref",
            "4",
            "--output",
            &p("x.png"),
        ]),
        &["--box", "--mask"],
    );
    // Single-image variations.
    ok(&run(&[
        "single-image",
        "--network",
        &net,
        "--seed",
        "3",
        "--layer",
        "1",
        "--count",
        "3",
        "--outdir",
        &p("single"),
    ]));
    assert_eq!(
        image::open(tmp.path().join("single/orig.png"))
            .unwrap()
            .to_rgb8(),
        a
    );
    assert!(
        tmp.path().join("single/var02.png").is_file()
            && tmp.path().join("single/grid.png").is_file()
    );

    // Translation between a network and itself is the network's image at every α.
    ok(&run(&[
        "translate",
        "--parent",
        &net,
        "--child",
        &net,
        "--seeds",
        "3",
        "--alphas",
        "0,1",
        "--outdir",
        &p("tr"),
    ]));
    assert!(
        diff(
            &image::open(tmp.path().join("tr/seed0003_1.00.png"))
                .unwrap()
                .to_rgb8(),
            &a
        ) <= 1
    );
    let grid = image::open(tmp.path().join("tr/grid.png")).unwrap();
    assert_eq!((grid.width(), grid.height()), (2 * w, h));
    // A child of another architecture is refused.
    let small = stylegan::train::NetworkOptions {
        resolution: 8,
        channels: 3,
        c_dim: 0,
        channel_base: 64,
        channel_max: 16,
        map_layers: 2,
        latent_dim: 8,
        mbstd_group: 2,
        ..stylegan::train::NetworkOptions::stylegan2(8, 3, 0)
    };
    let (g8, _) = small.build(0).unwrap();
    stylegan::io::checkpoint::Checkpoint::write(
        &tmp.path().join("g8.safetensors"),
        &[("", &g8)],
        &Default::default(),
    )
    .unwrap();
    fails(
        &run(&[
            "translate",
            "--parent",
            &net,
            "--child",
            &p("g8.safetensors"),
            "--seeds",
            "3",
            "--outdir",
            &p("tr2"),
        ]),
        &["same architecture"],
    );
}
