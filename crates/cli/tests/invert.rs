//! Inversion end to end on the demo model: project a PNG, then edit, blend, transfer and
//! translate the projection; pivotal tuning writes a delta that loads like any network;
//! evaluate-inversion writes its table; bad inputs are clear errors.
//!
//! Needs LPIPS (fetched with pip on first use); without it the tests print SKIP and pass.

mod common;

use common::{fails, have_lpips, model, ok, pixels, run};

/// A target PNG: demo seed 7, written by `generate`.
fn target(dir: &std::path::Path) -> String {
    ok(&run(&[
        "generate",
        "--seeds",
        "7",
        "--outdir",
        dir.to_str().unwrap(),
    ]));
    dir.join("seed0007.png").display().to_string()
}

#[test]
fn project_then_edit_blend_transfer_translate() {
    if !have_lpips() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).display().to_string();
    let t = target(tmp.path());
    let err = ok(&run(&[
        "project",
        "--target",
        &t,
        "--space",
        "wplus",
        "--steps",
        "30",
        "--outdir",
        &p("proj"),
        "--save-video",
    ]));
    assert!(err.contains("into wplus (LPIPS"), "{err}");
    for f in [
        "projected.safetensors",
        "proj.png",
        "target.png",
        "compare.png",
        "proj.gif",
    ] {
        assert!(tmp.path().join("proj").join(f).is_file(), "{f} missing");
    }
    assert_eq!(pixels(&tmp.path().join("proj/compare.png")).0, 64);
    // The target was already 32×32: no crop or resize notes.
    assert!(!err.contains("note:"), "{err}");
    let latent = p("proj/projected.safetensors");

    // Edit: one row, strength 0 is the projection itself.
    ok(&run(&[
        "directions",
        "sefa",
        "--out",
        &p("sefa.safetensors"),
    ]));
    ok(&run(&[
        "edit",
        "--latent",
        &latent,
        "--direction",
        &p("sefa.safetensors"),
        "--strengths",
        "-2,0,2",
        "--outdir",
        &p("edit"),
    ]));
    let proj_px = pixels(&tmp.path().join("proj/proj.png"));
    assert_eq!(pixels(&tmp.path().join("edit/latent_+0.00.png")), proj_px);
    assert_ne!(pixels(&tmp.path().join("edit/latent_+2.00.png")), proj_px);
    assert_eq!(pixels(&tmp.path().join("edit/grid.png")).0, 3 * 32);

    // Feature operations take the projection in place of a seed.
    ok(&run(&[
        "blend",
        "--latent-a",
        &latent,
        "--seed-b",
        "3",
        "--output",
        &p("blend.png"),
    ]));
    ok(&run(&[
        "transfer",
        "--latent-src",
        &latent,
        "--seed-ref",
        "3",
        "--box",
        "0.2,0.2,0.8,0.6",
        "--output",
        &p("transfer.png"),
    ]));
    ok(&run(&[
        "translate",
        "--latent",
        &latent,
        "--child",
        &model("faces32-sepia.safetensors"),
        "--alphas",
        "0,1",
        "--outdir",
        &p("translate"),
    ]));
    // α = 0 is the parent alone: the projection's image.
    assert_eq!(
        pixels(&tmp.path().join("translate/latent_0.00.png")),
        proj_px
    );
    assert_ne!(
        pixels(&tmp.path().join("translate/latent_1.00.png")),
        proj_px
    );
    fails(
        &run(&[
            "blend",
            "--latent-a",
            &t,
            "--seed-b",
            "3",
            "--output",
            &p("x.png"),
        ]),
        &["image A", "not a projection file"],
    );
}

#[test]
fn pti_writes_a_delta_that_loads_like_a_network() {
    if !have_lpips() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).display().to_string();
    let t = target(tmp.path());
    ok(&run(&[
        "project",
        "--target",
        &t,
        "--steps",
        "20",
        "--outdir",
        &p("proj"),
    ]));
    let err = ok(&run(&[
        "pti",
        "--target",
        &t,
        "--pivot",
        &p("proj/projected.safetensors"),
        "--steps",
        "5",
        "--out",
        &p("tuned.safetensors"),
        "--compare",
        &p("cmp.png"),
    ]));
    assert!(
        err.contains("changed tensors") && err.contains("after tuning"),
        "{err}"
    );
    assert_eq!(pixels(&tmp.path().join("cmp.png")).0, 96);
    ok(&run(&[
        "generate",
        "--network",
        &p("tuned.safetensors"),
        "--seeds",
        "1",
        "--outdir",
        &p("gen"),
    ]));
    ok(&run(&[
        "pti",
        "--target",
        &t,
        "--pivot",
        &p("proj/projected.safetensors"),
        "--steps",
        "2",
        "--no-locality",
        "--full",
        "--out",
        &p("full.safetensors"),
    ]));
    let size = |f: &str| std::fs::metadata(tmp.path().join(f)).unwrap().len();
    assert!(size("tuned.safetensors") < size("full.safetensors"));
    fails(
        &run(&[
            "pti",
            "--target",
            &t,
            "--pivot",
            &t,
            "--steps",
            "2",
            "--out",
            &p("x.safetensors"),
        ]),
        &["seed0007.png", "not a projection file"],
    );
}

#[test]
fn evaluate_inversion_writes_a_table() {
    if !have_lpips() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("eval");
    let table = String::from_utf8(
        run(&[
            "evaluate-inversion",
            "--generated",
            "1",
            "--steps",
            "4",
            "--pti-steps",
            "2",
            "--methods",
            "wplus,pti",
            "--outdir",
            out.to_str().unwrap(),
        ])
        .stdout,
    )
    .unwrap();
    assert!(
        table.contains("| W+ |") && table.contains("| PTI (W pivot) |"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let scores = &json["targets"][0]["scores"];
    assert!(scores["pti"]["psnr"].as_f64().unwrap() > 0.0, "{json}");
    // Target plus two methods, zoomed 3×.
    assert_eq!(pixels(&out.join("inversion-generated.png")).0, 3 * 32 * 3);
    fails(
        &run(&[
            "evaluate-inversion",
            "--methods",
            "w,zz",
            "--outdir",
            out.to_str().unwrap(),
        ]),
        &["unknown method 'zz'"],
    );
}

#[test]
fn bad_projection_inputs_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |n: &str| tmp.path().join(n).display().to_string();
    let grey = tmp.path().join("grey.png");
    image::GrayImage::new(32, 32).save(&grey).unwrap();
    let grey = grey.display().to_string();
    fails(
        &run(&["project", "--target", &grey, "--outdir", &p("o")]),
        &["grey.png", "grayscale"],
    );
    fails(
        &run(&[
            "project",
            "--target",
            &grey,
            "--space",
            "q",
            "--outdir",
            &p("o"),
        ]),
        &["invalid value 'q' for '--space", "w, wplus, s"],
    );
    fails(
        &run(&[
            "project",
            "--target",
            &grey,
            "--prior",
            "flat",
            "--outdir",
            &p("o"),
        ]),
        &["invalid value 'flat' for '--prior", "none, gaussian-s"],
    );
    fails(
        &run(&[
            "project",
            "--target",
            &p("missing.png"),
            "--outdir",
            &p("o"),
        ]),
        &["missing.png"],
    );
    if have_lpips() {
        let t = target(tmp.path());
        fails(
            &run(&[
                "project",
                "--target",
                &t,
                "--prior",
                "gaussian-s",
                "--outdir",
                &p("o"),
            ]),
            &["--space s"],
        );
    }
}
