//! Data sets: the official ZIP layout, conversion from folders/ZIPs of images (crops, skipped
//! files, labels), reading back for training, and facesjs faces.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, Rgb, RgbImage};
use stylegan::data::{
    build_from_images, faces, BuildOptions, Dataset, DatasetWriter, FacesOptions, Label,
    NoProgress, Resolution, Transform, FACE_LABEL_NAMES,
};

fn save_png(path: &Path, img: &DynamicImage) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

fn solid(w: u32, h: u32, c: [u8; 3]) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb(c)))
}

/// Names and bytes of every entry of a ZIP, in archive order.
fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut e = z.by_index(i).unwrap();
            let mut b = Vec::new();
            e.read_to_end(&mut b).unwrap();
            (e.name().unwrap().to_string(), b)
        })
        .collect()
}

fn dataset_json(path: &Path) -> serde_json::Value {
    let (_, bytes) = zip_entries(path)
        .into_iter()
        .find(|(n, _)| n == "dataset.json")
        .expect("dataset.json in the zip");
    serde_json::from_slice(&bytes).unwrap()
}

fn opts(res: Option<&str>, transform: Transform) -> BuildOptions {
    BuildOptions {
        resolution: res.map(|r| r.parse().unwrap()),
        transform,
        labels: None,
    }
}

/// Pixel (x, y) of CHW image `i`.
fn px(ds: &Dataset, i: usize, x: usize, y: usize) -> [u8; 3] {
    let img = ds.image(i);
    let r = ds.resolution();
    let plane = r * r;
    [0, 1, 2].map(|c| img[c * plane + y * r + x])
}

fn close(a: [u8; 3], b: [u8; 3], tol: i32) -> bool {
    a.iter()
        .zip(b)
        .all(|(&x, y)| (x as i32 - y as i32).abs() <= tol)
}

/// No temporary files left beside a data set.
fn assert_no_temp_files(dir: &Path) {
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// A source folder: images of several sizes and kinds, a corrupt PNG and a text file.
fn mixed_source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    // 40x20: left half red, right half blue.
    let mut rb = RgbImage::from_pixel(40, 20, Rgb([255, 0, 0]));
    for y in 0..20 {
        for x in 20..40 {
            rb.put_pixel(x, y, Rgb([0, 0, 255]));
        }
    }
    save_png(&src.join("a/red_blue.png"), &DynamicImage::ImageRgb8(rb));
    // A tall green JPEG.
    let green = solid(32, 48, [0, 200, 0]);
    let mut jpg = Vec::new();
    green
        .write_to(
            &mut std::io::Cursor::new(&mut jpg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    std::fs::write(src.join("b.jpg"), jpg).unwrap();
    // A grey image: becomes RGB.
    save_png(
        &src.join("c.png"),
        &DynamicImage::ImageLuma8(GrayImage::from_pixel(64, 64, image::Luma([90]))),
    );
    // Corrupt: a PNG signature and garbage.
    let mut corrupt = b"\x89PNG\r\n\x1a\n".to_vec();
    corrupt.extend_from_slice(&[7u8; 100]);
    std::fs::write(src.join("corrupt.png"), corrupt).unwrap();
    std::fs::write(src.join("notes.txt"), "not an image").unwrap();
    save_png(&src.join("sub/d.png"), &solid(16, 16, [10, 20, 30]));
    src
}

#[test]
fn folder_center_crop_layout_skips_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let src = mixed_source(tmp.path());
    let dest = tmp.path().join("out/data.zip");
    let s = build_from_images(
        &src,
        &dest,
        &opts(Some("16"), Transform::CenterCrop),
        &NoProgress,
    )
    .unwrap();
    assert_eq!(s.written, 4);
    assert_eq!(s.resolution, 16);
    assert_eq!(s.label_dim, 0);
    assert!(s.labels_from.is_none());
    let skipped: Vec<(&str, &str)> = s
        .skipped
        .iter()
        .map(|k| (k.name.as_str(), k.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0].0, "corrupt.png");
    assert!(skipped[0].1.contains("corrupt"), "{skipped:?}");
    assert_eq!(skipped[1].0, "notes.txt");
    assert!(skipped[1].1.contains("not an image"), "{skipped:?}");

    // Official layout: sorted sources, {idx/1000:05}/img{idx:08}.png, dataset.json last.
    let names: Vec<String> = zip_entries(&dest).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "00000/img00000000.png",
            "00000/img00000001.png",
            "00000/img00000002.png",
            "00000/img00000003.png",
            "dataset.json"
        ]
    );
    assert_eq!(dataset_json(&dest), serde_json::json!({ "labels": null }));
    assert_no_temp_files(dest.parent().unwrap());

    let ds = Dataset::open(&dest).unwrap();
    assert_eq!(
        (ds.len(), ds.resolution(), ds.channels(), ds.label_dim()),
        (4, 16, 3, 0)
    );
    assert!(!ds.has_labels());
    assert!(ds.label(0).is_empty());
    // The centre square of the red|blue image keeps red on the left, blue on the right.
    for y in [1, 8, 14] {
        assert!(
            close(px(&ds, 0, 2, y), [255, 0, 0], 3),
            "{:?}",
            px(&ds, 0, 2, y)
        );
        assert!(
            close(px(&ds, 0, 13, y), [0, 0, 255], 3),
            "{:?}",
            px(&ds, 0, 13, y)
        );
    }
    // JPEG green (lossy), grey → RGB, and the untouched 16x16 image.
    assert!(
        close(px(&ds, 1, 8, 8), [0, 200, 0], 8),
        "{:?}",
        px(&ds, 1, 8, 8)
    );
    assert!(
        close(px(&ds, 2, 5, 5), [90, 90, 90], 1),
        "{:?}",
        px(&ds, 2, 5, 5)
    );
    assert_eq!(px(&ds, 3, 0, 15), [10, 20, 30]);
    assert_eq!(ds.image(3).len(), 3 * 16 * 16);
}

#[test]
fn center_crop_wide_pads_like_the_official_tool() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // 64x32 white: ch = round(16 * 32 / 64) = 8 rows → 16x8, centred on a black 16x16 canvas.
    save_png(&src.join("wide.png"), &solid(64, 32, [255, 255, 255]));
    // Narrower than W=16: dropped (the official tool returns None for it).
    save_png(&src.join("small.png"), &solid(8, 8, [255, 255, 255]));
    let dest = tmp.path().join("wide.zip");
    let s = build_from_images(
        &src,
        &dest,
        &opts(Some("16x8"), Transform::CenterCropWide),
        &NoProgress,
    )
    .unwrap();
    assert_eq!((s.written, s.resolution), (1, 16));
    assert_eq!(s.skipped.len(), 1);
    assert_eq!(s.skipped[0].name, "small.png");
    assert!(s.skipped[0].reason.contains("too small"), "{:?}", s.skipped);
    let ds = Dataset::open(&dest).unwrap();
    for y in 0..16 {
        let expect = if (4..12).contains(&y) {
            [255; 3]
        } else {
            [0; 3]
        };
        assert_eq!(px(&ds, 0, 7, y), expect, "row {y}");
    }
    // Without WxH the wide crop is refused before anything is written.
    let err = build_from_images(
        &src,
        &tmp.path().join("x.zip"),
        &opts(None, Transform::CenterCropWide),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("WxH"), "{err}");
    assert!(!tmp.path().join("x.zip").exists());
}

#[test]
fn class_labels_from_a_labels_file_read_back_one_hot() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    for (i, c) in [[0u8, 0, 0], [100, 100, 100], [200, 200, 200]]
        .iter()
        .enumerate()
    {
        save_png(&src.join(format!("x{i}.png")), &solid(8, 8, *c));
    }
    let labels = tmp.path().join("labels.json");
    std::fs::write(
        &labels,
        r#"{"labels": [["x0.png", 0], ["x1.png", 2], ["x2.png", 1], ["gone.png", 5]]}"#,
    )
    .unwrap();
    let dest = tmp.path().join("cls.zip");
    let mut o = opts(None, Transform::None);
    o.labels = Some(labels.clone());
    let s = build_from_images(&src, &dest, &o, &NoProgress).unwrap();
    assert_eq!((s.written, s.resolution, s.label_dim), (3, 8, 3));
    assert_eq!(s.labels_from.as_deref(), Some(labels.as_path()));
    assert_eq!(
        dataset_json(&dest),
        serde_json::json!({"labels": [
            ["00000/img00000000.png", 0],
            ["00000/img00000001.png", 2],
            ["00000/img00000002.png", 1]
        ]})
    );
    // Byte for byte what the official tool's json.dumps writes.
    let raw = zip_entries(&dest).pop().unwrap();
    assert_eq!(
        String::from_utf8(raw.1).unwrap(),
        r#"{"labels": [["00000/img00000000.png", 0], ["00000/img00000001.png", 2], ["00000/img00000002.png", 1]]}"#
    );
    let ds = Dataset::open(&dest).unwrap();
    assert!(ds.labels_are_classes());
    assert_eq!(ds.label_dim(), 3);
    assert_eq!(ds.label(0), [1.0, 0.0, 0.0]);
    assert_eq!(ds.label(1), [0.0, 0.0, 1.0]);
    assert_eq!(ds.label(2), [0.0, 1.0, 0.0]);
    assert_eq!(ds.raw_label(1), Some(Label::Class(2)));
    assert_eq!(px(&ds, 1, 3, 3), [100, 100, 100]);

    // An image without a label is an error naming it.
    save_png(&src.join("x3.png"), &solid(8, 8, [1, 2, 3]));
    let err = build_from_images(&src, &tmp.path().join("y.zip"), &o, &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(err.contains("x3.png") && err.contains("no label"), "{err}");
    assert!(!tmp.path().join("y.zip").exists());
    assert_no_temp_files(tmp.path());
}

#[test]
fn vector_labels_and_names_from_a_source_zip() {
    // A deflate-compressed source ZIP with its own dataset.json (vector labels + names).
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&src).unwrap());
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, c) in [("q/b.png", [0u8, 0, 255]), ("a.png", [255, 0, 0])] {
            let mut png = Vec::new();
            solid(8, 8, c)
                .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
                .unwrap();
            z.start_file(name, o).unwrap();
            z.write_all(&png).unwrap();
        }
        z.start_file("dataset.json", o).unwrap();
        z.write_all(
            br#"{"labels": [["a.png", [1, 0.25]], ["q/b.png", [0, 0.75]]], "label_names": ["male", "light"]}"#,
        )
        .unwrap();
        z.finish().unwrap();
    }
    let dest = tmp.path().join("vec.zip");
    let s = build_from_images(&src, &dest, &opts(Some("8"), Transform::None), &NoProgress).unwrap();
    assert_eq!((s.written, s.label_dim), (2, 2));
    assert_eq!(
        s.label_names.as_deref(),
        Some(&["male".to_string(), "light".to_string()][..])
    );
    assert_eq!(
        String::from_utf8(zip_entries(&dest).pop().unwrap().1).unwrap(),
        r#"{"labels": [["00000/img00000000.png", [1.0, 0.25]], ["00000/img00000001.png", [0.0, 0.75]]], "label_names": ["male", "light"]}"#
    );
    let ds = Dataset::open(&dest).unwrap();
    assert!(!ds.labels_are_classes());
    assert_eq!(ds.label_names().unwrap(), ["male", "light"]);
    // Sorted names: a.png first.
    assert_eq!(px(&ds, 0, 0, 0), [255, 0, 0]);
    assert_eq!(ds.label(0), [1.0, 0.25]);
    assert_eq!(ds.label(1), [0.0, 0.75]);
}

#[test]
fn wrong_sizes_and_bad_options_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    save_png(&src.join("a.png"), &solid(8, 8, [0, 0, 0]));
    save_png(&src.join("b.png"), &solid(12, 8, [0, 0, 0]));
    let dest = tmp.path().join("d.zip");
    // Without a transform every image must already have the size.
    let err = build_from_images(&src, &dest, &opts(Some("8"), Transform::None), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("b.png") && err.contains("12x8") && err.contains("center-crop"),
        "{err}"
    );
    assert!(!dest.exists());
    assert_no_temp_files(tmp.path());
    // Not a power of two.
    let err = build_from_images(
        &src,
        &dest,
        &opts(Some("24"), Transform::CenterCrop),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("24") && err.contains("power of two"), "{err}");
    // Missing source.
    let err = build_from_images(
        &tmp.path().join("nope"),
        &dest,
        &opts(Some("8"), Transform::CenterCrop),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("nope") && err.contains("no such file"),
        "{err}"
    );
    // Resolution syntax.
    assert_eq!(
        "512x384".parse::<Resolution>().unwrap(),
        Resolution {
            width: 512,
            height: 384
        }
    );
    assert!("64x".parse::<Resolution>().is_err());
    assert!("0".parse::<Resolution>().is_err());
    assert!("center".parse::<Transform>().is_err());
}

/// Write a ZIP with the given (name, bytes) entries.
fn raw_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap();
}

fn png_bytes(img: &DynamicImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
        .unwrap();
    v
}

#[test]
fn reader_errors_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("r.zip");
    let ok = png_bytes(&solid(8, 8, [1, 2, 3]));

    raw_zip(
        &p,
        &[
            ("00000/img00000000.png", ok.clone()),
            (
                "00000/img00000001.png",
                png_bytes(&solid(16, 16, [0, 0, 0])),
            ),
        ],
    );
    let err = Dataset::open(&p).err().unwrap().to_string();
    assert!(
        err.contains("img00000001.png") && err.contains("8x8") && err.contains("16x16"),
        "{err}"
    );

    raw_zip(
        &p,
        &[
            ("00000/img00000000.png", ok.clone()),
            ("00000/img00000001.png", b"\x89PNG\r\n\x1a\nbroken".to_vec()),
        ],
    );
    let err = Dataset::open(&p).err().unwrap().to_string();
    assert!(
        err.contains("r.zip") && err.contains("img00000001.png"),
        "{err}"
    );

    raw_zip(
        &p,
        &[
            ("00000/img00000000.png", ok.clone()),
            (
                "dataset.json",
                br#"{"labels": [["00000/img00000000.png", 1], ["00000/img00000009.png", 0]]}"#
                    .to_vec(),
            ),
        ],
    );
    let err = Dataset::open(&p).err().unwrap().to_string();
    assert!(
        err.contains("2 labels") && err.contains("img00000009.png"),
        "{err}"
    );

    raw_zip(
        &p,
        &[
            ("00000/img00000000.png", ok.clone()),
            ("00000/img00000001.png", ok.clone()),
            (
                "dataset.json",
                br#"{"labels": [["00000/img00000000.png", 1]]}"#.to_vec(),
            ),
        ],
    );
    let err = Dataset::open(&p).err().unwrap().to_string();
    assert!(
        err.contains("no label") && err.contains("img00000001.png"),
        "{err}"
    );

    raw_zip(
        &p,
        &[
            ("00000/img00000000.png", ok.clone()),
            ("00000/img00000001.png", ok.clone()),
            (
                "dataset.json",
                br#"{"labels": [["00000/img00000000.png", 1], ["00000/img00000001.png", [0.5]]]}"#
                    .to_vec(),
            ),
        ],
    );
    let err = Dataset::open(&p).err().unwrap().to_string();
    assert!(err.contains("inconsistent"), "{err}");

    // Missing dataset.json is fine (no labels); RGBA is refused.
    raw_zip(&p, &[("00000/img00000000.png", ok.clone())]);
    let ds = Dataset::open(&p).unwrap();
    assert_eq!((ds.len(), ds.resolution(), ds.label_dim()), (1, 8, 0));
    let rgba = DynamicImage::ImageRgba8(image::RgbaImage::new(8, 8));
    raw_zip(&p, &[("00000/img00000000.png", png_bytes(&rgba))]);
    let err = Dataset::open(&p).err().unwrap().to_string();
    assert!(
        err.contains("img00000000.png") && err.contains("RGB"),
        "{err}"
    );

    let err = Dataset::open(&tmp.path().join("missing.zip"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.zip"), "{err}");
}

#[test]
fn writer_enforces_one_shape_and_consistent_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("w.zip");
    let mut w = DatasetWriter::create(&dest).unwrap();
    w.add_image(&solid(8, 8, [0, 0, 0]), Some(Label::Class(1)))
        .unwrap();
    let err = w
        .add_image(&solid(16, 16, [0, 0, 0]), Some(Label::Class(0)))
        .unwrap_err();
    assert!(err.to_string().contains("8x8"), "{err}");
    let err = w.add_image(&solid(8, 8, [0, 0, 0]), None).unwrap_err();
    assert!(err.to_string().contains("label"), "{err}");
    let err = w
        .add_image(&solid(8, 8, [0, 0, 0]), Some(Label::Vector(vec![1.0])))
        .unwrap_err();
    assert!(err.to_string().contains("class"), "{err}");
    // Dropped unfinished: nothing at dest, no temporary left.
    drop(w);
    assert!(!dest.exists());
    assert_no_temp_files(tmp.path());
    assert!(DatasetWriter::create(&tmp.path().join("w.tar")).is_err());
}

/// facesjs needs Node.js; CI machines have it.
fn node_available() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn facesjs_faces_are_deterministic_labelled_and_centred() {
    if !node_available() {
        println!("SKIP: node is not on PATH; the facesjs face data set needs Node.js");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a.zip");
    let b = tmp.path().join("b.zip");
    let c = tmp.path().join("c.zip");
    let s = faces::generate_faces(&FacesOptions::new(8, 32, 7), &a, &NoProgress).unwrap();
    faces::generate_faces(&FacesOptions::new(8, 32, 7), &b, &NoProgress).unwrap();
    faces::generate_faces(&FacesOptions::new(8, 32, 8), &c, &NoProgress).unwrap();
    assert_eq!(s.written, 8);
    assert_eq!(s.label_names, FACE_LABEL_NAMES);
    let (ba, bb, bc) = (
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        std::fs::read(&c).unwrap(),
    );
    assert!(ba == bb, "the same seed must give identical bytes");
    assert!(ba != bc, "another seed must give other faces");

    let ds = Dataset::open(&a).unwrap();
    assert_eq!((ds.len(), ds.resolution(), ds.channels()), (8, 32, 3));
    assert_eq!(ds.label_dim(), FACE_LABEL_NAMES.len());
    assert_eq!(ds.label_names().unwrap(), FACE_LABEL_NAMES);
    for i in 0..ds.len() {
        let l = ds.label(i);
        for (k, &v) in l[..5].iter().enumerate() {
            assert!(
                v == 0.0 || v == 1.0,
                "face {i} {}: {v}",
                FACE_LABEL_NAMES[k]
            );
        }
        // Skin L*/100: the facesjs palette spans about 0.29 (dark) to 0.90 (light).
        assert!(
            (0.2..0.95).contains(&l[5]),
            "face {i} skin_lightness {}",
            l[5]
        );
        // Facial hair is drawn for men only.
        if l[2] == 1.0 {
            assert_eq!(l[0], 1.0, "face {i}: facial hair on a woman");
        }
        // Not blank: a spread of pixel values.
        let img = ds.image(i);
        let mean = img.iter().map(|&v| v as f64).sum::<f64>() / img.len() as f64;
        let var = img.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / img.len() as f64;
        assert!(var > 500.0, "face {i} looks blank (variance {var})");
        // Head centred: background at the top corners, face colours in the middle.
        assert_eq!(px(&ds, i, 0, 0), [255; 3], "face {i}");
        assert_eq!(px(&ds, i, 31, 0), [255; 3], "face {i}");
        assert_ne!(px(&ds, i, 16, 16), [255; 3], "face {i}");
    }
    // The label means reported match the data.
    let male = (0..ds.len()).map(|i| ds.label(i)[0]).sum::<f32>() / 8.0;
    assert!((s.label_means[0] - male).abs() < 1e-6);
}

#[test]
fn facesjs_missing_tools_folder_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = FacesOptions::new(2, 32, 0);
    o.facesjs_dir = Some(tmp.path().join("nowhere"));
    let err = faces::generate_faces(&o, &tmp.path().join("f.zip"), &NoProgress)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nowhere") && err.contains("STYLEGAN_FACESJS_DIR"),
        "{err}"
    );
    let err = faces::generate_faces(
        &FacesOptions::new(2, 48, 0),
        &tmp.path().join("f.zip"),
        &NoProgress,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("48") && err.contains("power of two"), "{err}");
}

#[test]
fn sepia_palette_is_the_sepia_matrix() {
    use stylegan::data::Palette;
    let mut img = image::RgbImage::from_fn(4, 1, |x, _| {
        image::Rgb([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]][x as usize])
    });
    let orig = img.clone();
    Palette::Natural.apply(&mut img);
    assert_eq!(img, orig);
    Palette::Sepia.apply(&mut img);
    assert_eq!(img.get_pixel(0, 0).0, [100, 89, 69]); // 0.393·255, 0.349·255, 0.272·255
    for p in img.pixels() {
        assert!(
            p.0[0] >= p.0[1] && p.0[1] >= p.0[2],
            "sepia keeps r >= g >= b: {:?}",
            p.0
        );
    }
    assert!("purple".parse::<Palette>().is_err());
}
