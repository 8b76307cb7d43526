//! `stylegan dataset`: folder → ZIP, facesjs faces, and clear errors (exit code 1, no panic).

use std::path::Path;
use std::process::{Command, Output};

use image::{DynamicImage, Rgb, RgbImage};
use stylegan::data::{Dataset, FACE_LABEL_NAMES};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stylegan"))
        .args(args)
        .output()
        .expect("run stylegan")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Assert a clean failure whose message contains every one of `needles`.
fn assert_fails(o: &Output, needles: &[&str]) {
    let (_, err) = text(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    for n in needles {
        assert!(err.contains(n), "'{n}' not in: {err}");
    }
}

fn save(path: &Path, w: u32, h: u32, c: [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb(c)))
        .save_with_format(path, image::ImageFormat::Png)
        .unwrap();
}

#[test]
fn folder_to_zip_with_center_crop() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("photos");
    save(&src.join("one.png"), 40, 30, [200, 10, 10]);
    save(&src.join("deep/two.png"), 30, 50, [10, 200, 10]);
    std::fs::write(src.join("readme.txt"), "hello").unwrap();
    let dest = tmp.path().join("data.zip");
    let o = run(&[
        "dataset",
        "--source",
        src.to_str().unwrap(),
        "--dest",
        dest.to_str().unwrap(),
        "--resolution",
        "16",
        "--transform",
        "center-crop",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout: {out}\nstderr: {err}");
    assert!(out.contains("wrote 2 images (16x16)"), "{out}");
    assert!(
        out.contains("skipped 1 files") && out.contains("readme.txt: not an image"),
        "{out}"
    );
    assert!(out.contains("labels: no"), "{out}");
    assert!(err.contains("warning: skipping readme.txt"), "{err}");
    let ds = Dataset::open(&dest).unwrap();
    assert_eq!((ds.len(), ds.resolution(), ds.channels()), (2, 16, 3));
    // Sorted component-wise: deep/two.png before one.png.
    assert_eq!(
        ds.image(0)[16 * 16 + 5 * 16 + 5],
        200,
        "green channel of deep/two.png"
    );
    assert_eq!(ds.image(1)[5 * 16 + 5], 200, "red channel of one.png");
}

#[test]
fn bad_sources_and_arguments_fail_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("d.zip");
    let d = dest.to_str().unwrap();
    let missing = tmp.path().join("no_such_dir");
    assert_fails(
        &run(&[
            "dataset",
            "--source",
            missing.to_str().unwrap(),
            "--dest",
            d,
        ]),
        &["no_such_dir", "no such file or directory"],
    );
    // A file that is neither a folder nor a zip.
    let junk = tmp.path().join("junk.bin");
    std::fs::write(&junk, b"junk").unwrap();
    assert_fails(
        &run(&["dataset", "--source", junk.to_str().unwrap(), "--dest", d]),
        &["junk.bin", "zip"],
    );
    // A folder with no usable image.
    let empty = tmp.path().join("texts");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("a.txt"), "a").unwrap();
    assert_fails(
        &run(&["dataset", "--source", empty.to_str().unwrap(), "--dest", d]),
        &["texts", "no", "usable image", "a.txt"],
    );
    // Images of the wrong size without a transform.
    let src = tmp.path().join("src");
    save(&src.join("a.png"), 20, 10, [0, 0, 0]);
    let s = src.to_str().unwrap();
    assert_fails(
        &run(&["dataset", "--source", s, "--dest", d, "--resolution", "16"]),
        &["a.png", "20x10", "center-crop"],
    );
    assert_fails(
        &run(&[
            "dataset",
            "--source",
            s,
            "--dest",
            d,
            "--resolution",
            "1x2x3",
        ]),
        &["--resolution", "1x2x3"],
    );
    assert_fails(
        &run(&[
            "dataset",
            "--source",
            s,
            "--dest",
            d,
            "--resolution",
            "16",
            "--transform",
            "center-crop-wide",
        ]),
        &["center-crop-wide", "H < W", "512x384"],
    );
    let labels = tmp.path().join("labels.json");
    std::fs::write(&labels, "{\"labels\": [[\"a.png\", \"cat\"]]}").unwrap();
    assert_fails(
        &run(&[
            "dataset",
            "--source",
            s,
            "--dest",
            d,
            "--resolution",
            "16",
            "--transform",
            "center-crop",
            "--labels",
            labels.to_str().unwrap(),
        ]),
        &["labels.json", "a.png", "integer class"],
    );
    assert!(!dest.exists());
    // clap: --source and --dest are required without the subcommand, and a bad transform is
    // refused (exit code 2 from clap, no panic).
    let o = run(&["dataset", "--dest", d]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("--source"));
    let o = run(&[
        "dataset",
        "--source",
        s,
        "--dest",
        d,
        "--transform",
        "squash",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("center-crop"));
}

fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn faces_small_count() {
    if !node_available() {
        println!("SKIP: node is not on PATH; `stylegan dataset faces` needs Node.js");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("faces.zip");
    let o = run(&[
        "dataset",
        "faces",
        "--count",
        "6",
        "--resolution",
        "32",
        "--dest",
        dest.to_str().unwrap(),
        "--seed",
        "3",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "stdout: {out}\nstderr: {err}");
    assert!(
        out.contains("wrote 6 facesjs faces (32x32, seed 3)"),
        "{out}"
    );
    assert!(out.contains("labels: yes, vectors of 6: male ("), "{out}");
    let ds = Dataset::open(&dest).unwrap();
    assert_eq!((ds.len(), ds.resolution(), ds.label_dim()), (6, 32, 6));
    assert_eq!(ds.label_names().unwrap(), FACE_LABEL_NAMES);

    assert_fails(
        &run(&[
            "dataset",
            "faces",
            "--count",
            "2",
            "--resolution",
            "30",
            "--dest",
            dest.to_str().unwrap(),
        ]),
        &["30", "power of two"],
    );
    // Source-mode arguments do not mix with the subcommand.
    let o = run(&[
        "dataset",
        "--source",
        "x",
        "faces",
        "--count",
        "1",
        "--resolution",
        "32",
        "--dest",
        "y.zip",
    ]);
    assert_eq!(o.status.code(), Some(2));
}
