//! `stylegan edit`, `video` and `directions ganspace` end to end on the tiny unconditional
//! network: files and grid sizes, identity at strength 0, clear errors.

mod common;

use common::{fails, ok, run, tiny};

#[test]
fn directions_then_edit_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tiny();
    let gs = tmp.path().join("gs.safetensors");
    let err = ok(&run(&[
        "directions",
        "ganspace",
        "--network",
        &net,
        "--out",
        gs.to_str().unwrap(),
        "--samples",
        "300",
        "--components",
        "4",
    ]));
    assert!(err.contains("4 GANSpace directions"), "{err}");
    let d = stylegan::edit::Directions::load(&gs).unwrap();
    assert_eq!(
        (d.method.as_str(), d.space.as_str(), d.directions.len()),
        ("ganspace", "w", 4)
    );

    let out = tmp.path().join("edit");
    ok(&run(&[
        "edit",
        "--network",
        &net,
        "--seeds",
        "0-1",
        "--direction",
        gs.to_str().unwrap(),
        "--index",
        "1",
        "--strengths",
        "-2:2:3",
        "--outdir",
        out.to_str().unwrap(),
    ]));
    let grid = image::open(out.join("grid.png")).unwrap();
    let cell = image::open(out.join("seed0000_+0.00.png")).unwrap();
    assert_eq!(
        (grid.width(), grid.height()),
        (3 * cell.width(), 2 * cell.height())
    );
    // Strength 0 is the unedited image.
    let gen = tmp.path().join("gen");
    ok(&run(&[
        "generate",
        "--network",
        &net,
        "--seeds",
        "0",
        "--outdir",
        gen.to_str().unwrap(),
    ]));
    assert_eq!(
        image::open(gen.join("seed0000.png")).unwrap().to_rgb8(),
        cell.to_rgb8()
    );
    assert_ne!(
        image::open(out.join("seed0000_+2.00.png"))
            .unwrap()
            .to_rgb8(),
        cell.to_rgb8()
    );

    // StyleSpace channel edits and bad input.
    let out2 = tmp.path().join("sch");
    ok(&run(&[
        "edit",
        "--network",
        &net,
        "--seeds",
        "0",
        "--s-channel",
        "1:2",
        "--strengths",
        "0,5",
        "--outdir",
        out2.to_str().unwrap(),
    ]));
    assert!(out2.join("seed0000_+5.00.png").is_file());
    fails(
        &run(&[
            "edit",
            "--network",
            &net,
            "--seeds",
            "0",
            "--direction",
            gs.to_str().unwrap(),
            "--index",
            "9",
            "--outdir",
            out2.to_str().unwrap(),
        ]),
        &["index 9", "4"],
    );
    fails(
        &run(&[
            "edit",
            "--network",
            &net,
            "--seeds",
            "0",
            "--s-channel",
            "1-2",
            "--outdir",
            out2.to_str().unwrap(),
        ]),
        &["LAYER:CHANNEL"],
    );
    fails(
        &run(&[
            "edit",
            "--network",
            &net,
            "--seeds",
            "0",
            "--direction",
            gs.to_str().unwrap(),
            "--strengths",
            "1:x:3",
            "--outdir",
            out2.to_str().unwrap(),
        ]),
        &["--strengths", "'x'"],
    );
    fails(
        &run(&[
            "edit",
            "--network",
            &net,
            "--seeds",
            "0",
            "--outdir",
            out2.to_str().unwrap(),
        ]),
        &["--direction", "--s-channel"],
    );
    // --space must fit the edit.
    ok(&run(&[
        "edit",
        "--network",
        &net,
        "--seeds",
        "0",
        "--direction",
        gs.to_str().unwrap(),
        "--layers",
        "0-2",
        "--space",
        "wplus",
        "--strengths",
        "1",
        "--outdir",
        out2.to_str().unwrap(),
    ]));
    ok(&run(&[
        "edit",
        "--network",
        &net,
        "--seeds",
        "0",
        "--s-channel",
        "0:1",
        "--space",
        "s",
        "--strengths",
        "1",
        "--outdir",
        out2.to_str().unwrap(),
    ]));
    fails(
        &run(&[
            "edit",
            "--network",
            &net,
            "--seeds",
            "0",
            "--direction",
            gs.to_str().unwrap(),
            "--space",
            "s",
            "--outdir",
            out2.to_str().unwrap(),
        ]),
        &["--space s", "w direction"],
    );
}

#[test]
fn video_writes_a_looping_gif() {
    let tmp = tempfile::tempdir().unwrap();
    let net = tiny();
    let gif = tmp.path().join("v.gif");
    ok(&run(&[
        "video",
        "--network",
        &net,
        "--seeds",
        "0-3",
        "--grid",
        "2x1",
        "--w-frames",
        "3",
        "--output",
        gif.to_str().unwrap(),
    ]));
    use image::AnimationDecoder;
    let dec = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
        std::fs::File::open(&gif).unwrap(),
    ))
    .unwrap();
    let frames = dec.into_frames().collect_frames().unwrap();
    // 2 keyframes per cell × 3 frames each.
    assert_eq!(frames.len(), 6);
    let (w, h) = frames[0].buffer().dimensions();
    assert_eq!(w, 2 * h);
    let z = tmp.path().join("z.gif");
    ok(&run(&[
        "video",
        "--network",
        &net,
        "--seeds",
        "0-1",
        "--w-frames",
        "2",
        "--space",
        "z",
        "--kind",
        "linear",
        "--output",
        z.to_str().unwrap(),
    ]));
    fails(
        &run(&[
            "video",
            "--network",
            &net,
            "--seeds",
            "0-2",
            "--grid",
            "2x1",
            "--output",
            z.to_str().unwrap(),
        ]),
        &["3 seeds", "2x1"],
    );
    fails(
        &run(&[
            "video",
            "--network",
            &net,
            "--seeds",
            "0-1",
            "--output",
            tmp.path().join("v.avi").to_str().unwrap(),
        ]),
        &[".avi"],
    );
}
