//! facesjs cartoon faces as a labelled demo data set.
//!
//! `tools/facesjs/faces.mjs` (Node.js, facesjs 5.0.3 pinned in its `package-lock.json`) draws
//! face `i` of seed `S` from its own seeded PRNG stream and prints JSON lines
//! `{"index", "svg", "face"}`; here each SVG is rasterised with resvg, cropped to the head
//! square and labelled from the face's attributes. The same seed gives byte-identical data sets.
//!
//! Crop: the SVG is 400×600 user units; the head (hair to chin) spans about x 45–355 and
//! y 75–505 (measured on 1000 faces without the body), so the square `x −30…430, y 60…520` holds
//! the head centred, with the shoulders at the bottom edge and the background at the corners.
//!
//! Labels ([`FACE_LABEL_NAMES`]), float vectors stored with `label_names`:
//! `male`, `glasses`, `facial_hair`, `headwear` (hats and headbands), `smile` (0 or 1) and
//! `skin_lightness` (CIELAB L* of the skin colour / 100, in [0, 1]).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use image::{DynamicImage, RgbImage};
use rayon::prelude::*;
use resvg::{tiny_skia, usvg};
use serde_json::Value;

use super::labels::Label;
use super::writer::{DatasetWriter, EncodedImage};
use super::Progress;
use crate::error::{Error, Result};

/// Entries of the label vector of a face.
pub const FACE_LABEL_NAMES: [&str; 6] = [
    "male",
    "glasses",
    "facial_hair",
    "headwear",
    "smile",
    "skin_lightness",
];

/// The head square in SVG user units: left, top, side.
pub const HEAD_CROP: (f32, f32, f32) = (-30.0, 60.0, 460.0);

/// The facesjs version `tools/facesjs/package.json` pins.
pub const FACESJS_VERSION: &str = "5.0.3";

/// Options of [`generate_faces`].
#[derive(Clone, Debug)]
pub struct FacesOptions {
    pub count: usize,
    /// Side of the square images (a power of two >= 4).
    pub resolution: u32,
    pub seed: u32,
    /// Background colour behind the face.
    pub background: [u8; 3],
    /// The `tools/facesjs` folder; default [`facesjs_dir`].
    pub facesjs_dir: Option<PathBuf>,
    /// Colour treatment of the rendered faces (a restyled variant for fine-tuning children).
    pub palette: Palette,
}

/// Colour treatment of rendered faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Palette {
    /// The colours facesjs draws.
    #[default]
    Natural,
    /// The classic sepia matrix (a restyled domain for image-to-image translation demos).
    Sepia,
}

impl std::str::FromStr for Palette {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "natural" => Ok(Self::Natural),
            "sepia" => Ok(Self::Sepia),
            o => Err(Error::InvalidArgument(format!(
                "unknown palette '{o}' (expected natural or sepia)"
            ))),
        }
    }
}

impl Palette {
    /// Apply to an RGB image in place.
    pub fn apply(self, img: &mut RgbImage) {
        if self == Palette::Sepia {
            for p in img.pixels_mut() {
                let [r, g, b] = p.0.map(f32::from);
                let f = |a: f32, bb: f32, c: f32| {
                    (a * r + bb * g + c * b).round().clamp(0.0, 255.0) as u8
                };
                p.0 = [
                    f(0.393, 0.769, 0.189),
                    f(0.349, 0.686, 0.168),
                    f(0.272, 0.534, 0.131),
                ];
            }
        }
    }
}

impl FacesOptions {
    pub fn new(count: usize, resolution: u32, seed: u32) -> Self {
        FacesOptions {
            count,
            resolution,
            seed,
            background: [255, 255, 255],
            facesjs_dir: None,
            palette: Palette::Natural,
        }
    }
}

/// What [`generate_faces`] wrote.
#[derive(Clone, Debug)]
pub struct FacesSummary {
    pub dest: PathBuf,
    pub written: usize,
    pub resolution: u32,
    pub label_names: Vec<String>,
    /// Mean of each label entry over the data set (the fraction of faces for 0/1 entries).
    pub label_means: Vec<f32>,
}

/// The facesjs tools folder: `$STYLEGAN_FACESJS_DIR`, else `tools/facesjs` of this checkout.
pub fn facesjs_dir() -> PathBuf {
    match std::env::var_os("STYLEGAN_FACESJS_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/facesjs"),
    }
}

/// The last `n` characters of a program's output, for error messages.
fn tail(s: &str, n: usize) -> String {
    let s = s.trim();
    let start = s.char_indices().rev().nth(n).map(|(i, _)| i).unwrap_or(0);
    if start == 0 {
        s.to_string()
    } else {
        format!("...{}", &s[start..])
    }
}

fn installed_version(dir: &Path) -> Option<String> {
    let bytes = std::fs::read(dir.join("node_modules/facesjs/package.json")).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.get("version")?.as_str().map(str::to_string)
}

/// Make sure `dir` holds the face script and facesjs is installed in `dir/node_modules`
/// (running `npm ci` there when it is not, or not the pinned version).
pub fn ensure_facesjs(dir: &Path, progress: &dyn Progress) -> Result<()> {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !dir.join("faces.mjs").is_file() || !dir.join("package.json").is_file() {
        return Err(Error::InvalidArgument(format!(
            "{}: the facesjs tools (faces.mjs, package.json) are not there; set \
             STYLEGAN_FACESJS_DIR to the tools/facesjs folder of a stylegan-rs checkout",
            dir.display()
        )));
    }
    if installed_version(dir).as_deref() == Some(FACESJS_VERSION) {
        return Ok(());
    }
    let ci = dir.join("package-lock.json").is_file();
    let verb = if ci { "ci" } else { "install" };
    progress.note(&format!(
        "installing facesjs {FACESJS_VERSION} (npm {verb} in {})",
        dir.display()
    ));
    let out = Command::new("npm")
        .args([verb, "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::InvalidArgument(
                    "npm was not found on PATH; it installs facesjs for the face data set \
                     (install Node.js with npm, e.g. `apt-get install nodejs npm`)"
                        .into(),
                )
            } else {
                Error::io("npm", e)
            }
        })?;
    if !out.status.success() {
        return Err(Error::InvalidArgument(format!(
            "`npm {verb}` in {} failed ({}): {}",
            dir.display(),
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 1500)
        )));
    }
    match installed_version(dir) {
        Some(v) if v == FACESJS_VERSION => Ok(()),
        v => Err(Error::InvalidArgument(format!(
            "{}: after `npm {verb}` facesjs is {} instead of {FACESJS_VERSION}",
            dir.display(),
            v.as_deref().unwrap_or("missing")
        ))),
    }
}

/// Rasterise a facesjs SVG: the head square [`HEAD_CROP`] at `resolution`×`resolution` on
/// `background`.
pub fn render_face_svg(svg: &str, resolution: u32, background: [u8; 3]) -> Result<RgbImage> {
    let opts = usvg::Options::default();
    let tree = usvg::Tree::from_str(svg, &opts)
        .map_err(|e| Error::InvalidArgument(format!("facesjs SVG does not parse: {e}")))?;
    let mut pixmap = tiny_skia::Pixmap::new(resolution, resolution).ok_or_else(|| {
        Error::InvalidArgument(format!("cannot make a {resolution}x{resolution} image"))
    })?;
    pixmap.fill(tiny_skia::Color::from_rgba8(
        background[0],
        background[1],
        background[2],
        255,
    ));
    // The tree is in viewBox units (400×600) only if the SVG has no other size; facesjs
    // writes width/height 100%, which usvg resolves to the viewBox size.
    let size = tree.size();
    let (sx, sy) = (size.width() / 400.0, size.height() / 600.0);
    let (x0, y0, side) = HEAD_CROP;
    let s = resolution as f32 / side;
    let transform = tiny_skia::Transform::from_row(s / sx, 0.0, 0.0, s / sy, -x0 * s, -y0 * s);
    resvg::render(&tree, transform, &mut pixmap.as_mut());
    // Opaque background: premultiplied RGBA equals straight RGBA.
    let rgb: Vec<u8> = pixmap
        .data()
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    RgbImage::from_raw(resolution, resolution, rgb)
        .ok_or_else(|| Error::InvalidArgument("rendered pixmap has the wrong size".into()))
}

fn field<'a>(face: &'a Value, path: &[&str]) -> Result<&'a str> {
    let mut v = face;
    for p in path {
        v = v.get(p).ok_or_else(|| {
            Error::InvalidArgument(format!("face has no '{}' attribute", path.join(".")))
        })?;
    }
    v.as_str().ok_or_else(|| {
        Error::InvalidArgument(format!(
            "face attribute '{}' is not a string",
            path.join(".")
        ))
    })
}

/// CIELAB L* of a `#rrggbb` colour, in [0, 100].
fn lightness(hex: &str) -> Option<f32> {
    let h = hex.strip_prefix('#')?;
    if h.len() != 6 {
        return None;
    }
    let c = |i: usize| -> Option<f32> {
        let v = u8::from_str_radix(&h[i..i + 2], 16).ok()? as f32 / 255.0;
        Some(if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        })
    };
    let y = 0.2126 * c(0)? + 0.7152 * c(2)? + 0.0722 * c(4)?;
    let f = if y > 216.0 / 24389.0 {
        y.cbrt()
    } else {
        (24389.0 / 27.0 * y + 16.0) / 116.0
    };
    Some(116.0 * f - 16.0)
}

/// The label vector of a face object (see [`FACE_LABEL_NAMES`]).
pub fn face_labels(face: &Value) -> Result<Vec<f32>> {
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let gender = field(face, &["gender"])?;
    let glasses = field(face, &["glasses", "id"])?;
    let facial_hair = field(face, &["facialHair", "id"])?;
    let accessory = field(face, &["accessories", "id"])?;
    let mouth = field(face, &["mouth", "id"])?;
    let skin = field(face, &["body", "color"])?;
    let skin_l = lightness(skin).ok_or_else(|| {
        Error::InvalidArgument(format!("face skin colour '{skin}' is not #rrggbb"))
    })?;
    Ok(vec![
        flag(gender == "male"),
        flag(glasses.starts_with("glasses")),
        flag(facial_hair != "none"),
        flag(matches!(
            accessory,
            "hat" | "hat2" | "hat3" | "santa-hat" | "headband" | "headband-high"
        )),
        flag(mouth.starts_with("smile")),
        (skin_l / 100.0).clamp(0.0, 1.0),
    ])
}

/// Kills the node process if generation stops early.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Faces rendered per parallel batch.
const BATCH: usize = 256;

/// Generate `opts.count` facesjs faces into a data set ZIP at `dest`, with attribute labels.
pub fn generate_faces(
    opts: &FacesOptions,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<FacesSummary> {
    if opts.count == 0 {
        return Err(Error::InvalidArgument(
            "the face count must be at least 1".into(),
        ));
    }
    if opts.resolution < 4 || !opts.resolution.is_power_of_two() {
        return Err(Error::InvalidArgument(format!(
            "resolution {} is not a power of two >= 4, which StyleGAN needs",
            opts.resolution
        )));
    }
    let dir = opts.facesjs_dir.clone().unwrap_or_else(facesjs_dir);
    ensure_facesjs(&dir, progress)?;
    let mut writer = DatasetWriter::create(dest)?;

    let script = dir.join("faces.mjs");
    let child = Command::new("node")
        .arg(&script)
        .args([
            "--count",
            &opts.count.to_string(),
            "--seed",
            &opts.seed.to_string(),
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::InvalidArgument(
                    "node was not found on PATH; it runs facesjs to draw the faces (install \
                     Node.js 18 or newer, e.g. `apt-get install nodejs npm`)"
                        .into(),
                )
            } else {
                Error::io("node", e)
            }
        })?;
    let mut child = ChildGuard(child);
    let stdout = child.0.stdout.take().expect("stdout is piped");
    let mut stderr = child.0.stderr.take().expect("stderr is piped");
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    // Read lines on a thread so node keeps drawing while we render.
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<String>>(2 * BATCH);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let stop = line.is_err();
            if tx.send(line).is_err() || stop {
                break;
            }
        }
    });

    progress.start("faces", opts.count);
    let mut sums = vec![0f64; FACE_LABEL_NAMES.len()];
    let mut batch: Vec<String> = Vec::with_capacity(BATCH);
    let mut done = 0usize;
    let mut flush = |batch: &mut Vec<String>, writer: &mut DatasetWriter| -> Result<()> {
        let rendered: Vec<Result<(EncodedImage, Vec<f32>)>> = batch
            .par_iter()
            .map(|line| {
                let v: Value = serde_json::from_str(line).map_err(|e| {
                    Error::InvalidArgument(format!(
                        "faces.mjs printed a line that is not JSON: {e}"
                    ))
                })?;
                let svg = v.get("svg").and_then(Value::as_str).ok_or_else(|| {
                    Error::InvalidArgument("faces.mjs printed a face without \"svg\"".into())
                })?;
                let face = v.get("face").ok_or_else(|| {
                    Error::InvalidArgument("faces.mjs printed a face without \"face\"".into())
                })?;
                let labels = face_labels(face)?;
                let mut img = render_face_svg(svg, opts.resolution, opts.background)?;
                opts.palette.apply(&mut img);
                let enc = EncodedImage::encode(&DynamicImage::ImageRgb8(img))?;
                progress.advance(1);
                Ok((enc, labels))
            })
            .collect();
        for (k, r) in rendered.into_iter().enumerate() {
            let (enc, labels) = r.map_err(|e| match e {
                Error::InvalidArgument(m) => {
                    Error::InvalidArgument(format!("face {}: {m}", done + k))
                }
                other => other,
            })?;
            for (s, l) in sums.iter_mut().zip(&labels) {
                *s += *l as f64;
            }
            writer.add_encoded(&enc, Some(Label::Vector(labels)))?;
        }
        done += batch.len();
        batch.clear();
        Ok(())
    };
    let mut read_error = None;
    for line in rx {
        match line {
            Ok(l) => batch.push(l),
            Err(e) => {
                read_error = Some(e);
                break;
            }
        }
        if batch.len() == BATCH {
            flush(&mut batch, &mut writer)?;
        }
    }
    flush(&mut batch, &mut writer)?;
    let _ = reader.join();
    let status = child.0.wait().map_err(|e| Error::io("node", e))?;
    let stderr = err_thread.join().unwrap_or_default();
    if !status.success() {
        return Err(Error::InvalidArgument(format!(
            "node {} failed ({status}): {}",
            script.display(),
            tail(&stderr, 1500)
        )));
    }
    if let Some(e) = read_error {
        return Err(Error::io(&script, e));
    }
    if writer.len() != opts.count {
        return Err(Error::InvalidArgument(format!(
            "node {} printed {} faces instead of {}: {}",
            script.display(),
            writer.len(),
            opts.count,
            tail(&stderr, 1500)
        )));
    }
    let written = writer.len();
    writer.set_label_names(FACE_LABEL_NAMES.iter().map(|s| s.to_string()).collect());
    writer.finish()?;
    Ok(FacesSummary {
        dest: dest.to_path_buf(),
        written,
        resolution: opts.resolution,
        label_names: FACE_LABEL_NAMES.iter().map(|s| s.to_string()).collect(),
        label_means: sums.iter().map(|s| (s / written as f64) as f32).collect(),
    })
}
