//! Hostile and extreme inputs to the `stylegan` binary (issue 22): outputs never replace a link
//! or a device, sizes are bounded up front with errors naming the flag, non-finite numbers are
//! refused, negative-looking values reach our own parsers, progress shows without a terminal,
//! and the bundled model is found relative to the executable.

mod common;

use common::{fails, ok, run, tiny};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `expand` of seed 1 from the tiny network into `out`.
fn expand_to(out: &Path) -> std::process::Output {
    run(&[
        "expand",
        "--network",
        &tiny(),
        "--seed",
        "1",
        "--layer",
        "1",
        "--output",
        s(out),
    ])
}

#[test]
fn output_through_a_symlink_keeps_the_link() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real.png");
    std::fs::write(&real, b"old").unwrap();
    let link = d.path().join("link.png");
    std::os::unix::fs::symlink("real.png", &link).unwrap();
    ok(&expand_to(&link));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let bytes = std::fs::read(&real).unwrap();
    assert_eq!(&bytes[1..4], b"PNG", "the link's target holds the image");
}

#[test]
fn output_to_a_device_writes_through_and_keeps_it() {
    ok(&expand_to(Path::new("/dev/null")));
    assert!(std::fs::symlink_metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
    // A write that the device refuses is an error, and the device stays a device.
    if Path::new("/dev/full").exists() {
        fails(&expand_to(Path::new("/dev/full")), &["/dev/full"]);
        assert!(std::fs::symlink_metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device());
    }
    let d = tempfile::tempdir().unwrap();
    fails(&expand_to(d.path()), &["--output", "directory"]);
}

#[test]
fn output_format_follows_the_extension() {
    let d = tempfile::tempdir().unwrap();
    let jpg = d.path().join("x.jpg");
    ok(&expand_to(&jpg));
    assert_eq!(
        &std::fs::read(&jpg).unwrap()[..2],
        &[0xFF, 0xD8],
        "JPEG bytes"
    );
    let webp = d.path().join("x.webp");
    ok(&expand_to(&webp));
    assert_eq!(&std::fs::read(&webp).unwrap()[8..12], b"WEBP");
    let bmp = d.path().join("x.bmp");
    fails(&expand_to(&bmp), &["--output", "'.bmp'", ".png"]);
    assert!(!bmp.exists());
    // A missing parent folder is made.
    let nested = d.path().join("a/b/x.png");
    ok(&expand_to(&nested));
    assert!(nested.is_file());
}

#[test]
fn unwritable_destinations_fail_before_the_work() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("file.txt");
    std::fs::write(&file, b"x").unwrap();
    let under_file = file.join("out.safetensors");
    // pti: the target and pivot do not even exist; the destination is refused first.
    fails(
        &run(&[
            "pti",
            "--network",
            &tiny(),
            "--target",
            "missing.png",
            "--pivot",
            "missing.safetensors",
            "--out",
            s(&under_file),
        ]),
        &["--out"],
    );
    fails(
        &run(&[
            "directions",
            "ganspace",
            "--network",
            &tiny(),
            "--out",
            s(&under_file),
        ]),
        &["--out"],
    );
    fails(
        &run(&[
            "directions",
            "ganspace",
            "--network",
            &tiny(),
            "--out",
            s(&d.path().join("dirs.txt")),
        ]),
        &["--out", ".safetensors"],
    );
    fails(
        &run(&[
            "classifier",
            "label",
            "--network",
            &tiny(),
            "--classifier",
            "missing.safetensors",
            "--out",
            s(&under_file),
        ]),
        &["--out"],
    );
    fails(
        &run(&[
            "video",
            "--network",
            &tiny(),
            "--seeds",
            "0,1",
            "--output",
            s(&d.path().join("v.avi")),
        ]),
        &["--output", "'.avi'", ".gif"],
    );
    fails(
        &run(&[
            "generate",
            "--network",
            &tiny(),
            "--seeds",
            "0",
            "--outdir",
            s(&file),
        ]),
        &["--outdir", "is a file"],
    );
    fails(
        &run(&[
            "train",
            "--data",
            "missing.zip",
            "--outdir",
            s(&file),
            "--batch",
            "4",
            "--gamma",
            "1",
        ]),
        &["--outdir", "not a folder"],
    );
}

#[test]
fn sizes_are_bounded_with_the_flag_named() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("x.png");
    let outdir = d.path().join("o");
    let tiny = tiny();
    let gif = d.path().join("v.gif");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "bench",
                "--what",
                "generate",
                "--resolutions",
                "32",
                "--batches",
                "0",
            ],
            "--batches",
        ),
        (
            vec![
                "expand",
                "--network",
                &tiny,
                "--seed",
                "1",
                "--layer",
                "1",
                "--width-factor",
                "1e9",
                "--output",
                s(&out),
            ],
            "--width-factor",
        ),
        (
            vec![
                "evaluate-inversion",
                "--network",
                &tiny,
                "--zoom",
                "100000",
                "--outdir",
                s(&outdir),
            ],
            "--zoom",
        ),
        (
            vec![
                "generate",
                "--network",
                &tiny,
                "--seeds",
                "0",
                "--grid",
                "10000x10000",
                "--outdir",
                s(&outdir),
            ],
            "--grid",
        ),
        (
            vec![
                "generate",
                "--network",
                &tiny,
                "--seeds",
                "0",
                "--grid",
                "101x100",
                "--outdir",
                s(&outdir),
            ],
            "--grid",
        ),
        (
            vec![
                "generate",
                "--network",
                &tiny,
                "--seeds",
                "0",
                "--batch",
                "100000",
                "--outdir",
                s(&outdir),
            ],
            "--batch",
        ),
        (
            vec![
                "edit",
                "--network",
                &tiny,
                "--seeds",
                "0",
                "--s-channel",
                "0:0",
                "--strengths",
                "0:1:100000",
                "--outdir",
                s(&outdir),
            ],
            "--strengths",
        ),
        (
            vec![
                "video",
                "--network",
                &tiny,
                "--seeds",
                "0,1",
                "--w-frames",
                "100001",
                "--grid",
                "1x2",
                "--output",
                s(&gif),
            ],
            "--w-frames",
        ),
        (
            vec![
                "video",
                "--network",
                &tiny,
                "--seeds",
                "0-2499",
                "--w-frames",
                "100000",
                "--grid",
                "50x50",
                "--output",
                s(&gif),
            ],
            "--seeds/--w-frames/--grid",
        ),
        (
            vec![
                "panorama",
                "--network",
                &tiny,
                "--seeds",
                "0-99999",
                "--overlap",
                "0",
                "--output",
                s(&out),
            ],
            "--seeds/--overlap",
        ),
    ];
    for (args, flag) in cases {
        let o = run(&args);
        fails(&o, &[flag]);
    }
    assert!(!out.exists());
}

#[test]
fn non_finite_numbers_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let outdir = d.path().join("o");
    for (args, flag) in [
        (vec!["--trunc", "nan"], "--trunc"),
        (vec!["--trunc", "inf"], "--trunc"),
    ] {
        let net = tiny();
        let mut a = vec!["generate", "--network", &net, "--seeds", "0"];
        a.extend(args);
        a.extend(["--outdir", s(&outdir)]);
        fails(&run(&a), &[flag]);
    }
    fails(
        &run(&[
            "project",
            "--network",
            &tiny(),
            "--target",
            "missing.png",
            "--noise-reg",
            "-1",
            "--outdir",
            s(&outdir),
        ]),
        &["--noise-reg"],
    );
    fails(
        &run(&[
            "expand",
            "--network",
            &tiny(),
            "--seed",
            "1",
            "--layer",
            "1",
            "--width-factor",
            "nan",
            "--output",
            s(&d.path().join("x.png")),
        ]),
        &["--width-factor"],
    );
}

#[test]
fn messages_name_the_right_flag() {
    let d = tempfile::tempdir().unwrap();
    let outdir = d.path().join("o");
    // A negative seed reaches our parser (not clap's "unexpected argument").
    let o = run(&[
        "generate",
        "--network",
        &tiny(),
        "--seeds",
        "-1",
        "--outdir",
        s(&outdir),
    ]);
    fails(&o, &["--seeds", "out of range"]);
    // Index lists say "index", not "seed".
    let o = run(&[
        "mix",
        "--network",
        &tiny(),
        "--rows",
        "0",
        "--cols",
        "1",
        "--styles",
        "5-3",
        "--outdir",
        s(&outdir),
    ]);
    fails(&o, &["--styles", "index range"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("seed"));
    let o = run(&[
        "blend",
        "--network",
        &tiny(),
        "--seed-a",
        "0",
        "--seed-b",
        "1",
        "--layers",
        "x",
        "--output",
        s(&d.path().join("b.png")),
    ]);
    fails(&o, &["--layers", "malformed index"]);
    let o = run(&[
        "translate",
        "--parent",
        &tiny(),
        "--child",
        &tiny(),
        "--seeds",
        "0",
        "--alphas",
        "0:1:x",
        "--outdir",
        s(&outdir),
    ]);
    fails(&o, &["--alphas"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("--strengths"));
}

#[test]
fn progress_lines_without_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_stylegan"))
        .args([
            "generate",
            "--network",
            &tiny(),
            "--seeds",
            "0-7",
            "--batch",
            "2",
            "--outdir",
            s(d.path()),
        ])
        .env("STYLEGAN_PROGRESS_SECS", "0")
        .output()
        .unwrap();
    let err = ok(&o);
    assert!(err.contains("generating: 2/8"), "{err}");
    assert!(err.contains("generating: 8/8 (100%)"), "{err}");
}

/// `info` without `--network` prints the bundled model's resolution; a 16-pixel network put
/// where the bundled model is looked for must win over the checkout's 32-pixel one.
fn info_resolution(cmd: &mut Command) -> String {
    let o = cmd.arg("info").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.lines()
        .find(|l| l.contains("resolution:"))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn bundled_model_is_found_beside_the_executable_or_from_the_environment() {
    let checkout = info_resolution(&mut Command::new(env!("CARGO_BIN_EXE_stylegan")));
    assert!(checkout.contains("32x32"), "{checkout}");
    // $STYLEGAN_MODELS first.
    let d = tempfile::tempdir().unwrap();
    let models = d.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::copy(tiny(), models.join("faces32.safetensors")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stylegan"));
    cmd.env("STYLEGAN_MODELS", &models);
    assert!(info_resolution(&mut cmd).contains("16x16"));
    // A copy of the program with models/ beside it (an unpacked release).
    let exe = d.path().join("stylegan");
    std::fs::copy(env!("CARGO_BIN_EXE_stylegan"), &exe).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.env_remove("STYLEGAN_MODELS");
    assert!(info_resolution(&mut cmd).contains("16x16"));
    // Looked for in vain: the error lists where.
    let o = Command::new(env!("CARGO_BIN_EXE_stylegan"))
        .args(["info", "--network", s(&d.path().join("none.safetensors"))])
        .output()
        .unwrap();
    assert!(!o.status.success());
}

#[test]
fn non_finite_direction_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    let dirs = d.path().join("nan.safetensors");
    let mut v = vec![0.1f32; 32];
    v[3] = f32::NAN;
    stylegan::io::write_safetensors_f32(
        &dirs,
        &[("directions", &[1, 32], &v), ("values", &[1], &[1.0])],
        [("method".to_string(), "sefa".to_string())].into(),
    )
    .unwrap();
    let o = run(&[
        "edit",
        "--network",
        &tiny(),
        "--seeds",
        "0",
        "--direction",
        s(&dirs),
        "--outdir",
        s(&d.path().join("o")),
    ]);
    fails(&o, &["nan.safetensors", "'directions'", "non-finite"]);
}

#[test]
fn inputs_that_never_end_are_refused() {
    let d = tempfile::tempdir().unwrap();
    for (args, needle) in [
        (vec!["info", "--network", "/dev/zero"], "/dev/zero"),
        (
            vec![
                "edit",
                "--network",
                &tiny(),
                "--seeds",
                "0",
                "--direction",
                "/dev/zero",
                "--outdir",
                s(d.path()),
            ],
            "not a regular file",
        ),
        (
            vec![
                "project",
                "--network",
                &tiny(),
                "--target",
                "/dev/zero",
                "--outdir",
                s(d.path()),
            ],
            "not a regular file",
        ),
        (
            vec![
                "init",
                "--config",
                "/dev/zero",
                "--out",
                s(&d.path().join("n.safetensors")),
            ],
            "--config",
        ),
    ] {
        fails(&run(&args), &[needle]);
    }
}

#[test]
fn pictures_can_go_to_standard_output() {
    let o = Command::new(env!("CARGO_BIN_EXE_stylegan"))
        .args([
            "expand",
            "--network",
            &tiny(),
            "--seed",
            "1",
            "--layer",
            "1",
            "--output",
            "/dev/stdout",
        ])
        .output()
        .unwrap();
    ok(&o);
    assert_eq!(&o.stdout[1..4], b"PNG", "PNG bytes on stdout");
}

#[test]
fn inspect_says_a_delta_is_a_delta() {
    use stylegan::io::checkpoint::Checkpoint;
    let d = tempfile::tempdir().unwrap();
    let base = d.path().join("base.safetensors");
    std::fs::copy(tiny(), &base).unwrap();
    let ck = Checkpoint::read(&base).unwrap();
    let (_, e) = ck.generator().unwrap();
    let mut tuned = e.clone();
    tuned
        .tensors
        .get_mut("synthesis.b4.conv1.bias")
        .unwrap()
        .data[0] += 1.0;
    let delta = d.path().join("tuned.safetensors");
    Checkpoint::write_delta(&delta, "G_ema", &tuned, &base, e).unwrap();
    let o = run(&["inspect", s(&delta)]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("delta checkpoint") && out.contains("'base.safetensors'"),
        "{out}"
    );
}

#[test]
fn ganspace_reports_progress_without_a_terminal() {
    let d = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_stylegan"))
        .args([
            "directions",
            "ganspace",
            "--network",
            &tiny(),
            "--samples",
            "600",
            "--components",
            "2",
            "--out",
            s(&d.path().join("g.safetensors")),
        ])
        .env("STYLEGAN_PROGRESS_SECS", "0")
        .output()
        .unwrap();
    let err = ok(&o);
    assert!(err.contains("sampling latents: 256/600"), "{err}");
    assert!(err.contains("sampling latents: 600/600 (100%)"), "{err}");
}
