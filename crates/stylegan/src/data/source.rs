//! Converting a folder or ZIP of images into a data set, like the official `dataset_tool.py`
//! (`--source DIR_OR_ZIP --dest OUT.zip [--transform ...] [--resolution ...]`).
//!
//! Source files are taken in sorted order (folders recursively). Every file is decoded by its
//! content (PNG or JPEG); files that are not images or do not decode are skipped and reported,
//! never fatal. Images are converted to RGB, then transformed:
//!
//! - no transform: every image must already have the output size (the official tool would
//!   stretch it instead; we refuse, so nothing is distorted by accident);
//! - `center-crop`: the centred square of side `min(w, h)`, resized to `R×R`;
//! - `center-crop-wide` (`--resolution WxH`): the centred band of aspect `W:H` scaled to `W×H`
//!   and placed in the middle of a black `W×W` canvas; images narrower than `W` or whose band
//!   would be lower than `H` are skipped (the official tool drops them too);
//! - `center-crop-tall` (`--resolution WxH`): the same on the other axis, on an `H×H` canvas.
//!
//! Resizing uses Lanczos3 (PIL's `LANCZOS` in the official tool). Labels come from
//! `BuildOptions::labels` or else from a `dataset.json` at the root of the source, in the
//! official format with source-relative names (`{"labels": [["sub/a.png", 3], ...]}`).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use rayon::prelude::*;

use super::labels::{parse_dataset_json, LabelFile, MAX_DATASET_JSON_BYTES};
use super::reader::{read_member, MAX_IMAGE_FILE_BYTES};
use super::writer::{DatasetWriter, EncodedImage};
use super::Progress;
use crate::error::{Error, Result};

/// How source images are cropped and resized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transform {
    /// Images must already have the output size.
    None,
    CenterCrop,
    CenterCropWide,
    CenterCropTall,
}

impl FromStr for Transform {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Transform::None),
            "center-crop" => Ok(Transform::CenterCrop),
            "center-crop-wide" => Ok(Transform::CenterCropWide),
            "center-crop-tall" => Ok(Transform::CenterCropTall),
            _ => Err(Error::InvalidArgument(format!(
                "unknown transform '{s}' (expected center-crop, center-crop-wide or center-crop-tall)"
            ))),
        }
    }
}

/// `--resolution`: `R` (square) or `WxH` (for the wide and tall crops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution {
    pub width: u32,
    pub height: u32,
}

impl FromStr for Resolution {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidArgument(format!(
                "malformed resolution '{s}' (expected R, e.g. 64, or WxH, e.g. 512x384)"
            ))
        };
        let num = |t: &str| {
            t.trim()
                .parse::<u32>()
                .ok()
                .filter(|&v| v > 0)
                .ok_or_else(bad)
        };
        match s.split_once(['x', 'X', ',']) {
            Some((w, h)) => Ok(Resolution {
                width: num(w)?,
                height: num(h)?,
            }),
            None => {
                let r = num(s)?;
                Ok(Resolution {
                    width: r,
                    height: r,
                })
            }
        }
    }
}

impl std::fmt::Display for Resolution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.width == self.height {
            write!(f, "{}", self.width)
        } else {
            write!(f, "{}x{}", self.width, self.height)
        }
    }
}

/// Options of [`build_from_images`].
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Output resolution; required by the crops; without a transform it defaults to the size
    /// of the first image.
    pub resolution: Option<Resolution>,
    pub transform: Transform,
    /// A labels file in the official format; default: `dataset.json` in the source, if any.
    pub labels: Option<PathBuf>,
}

/// A source file that was not written, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    pub reason: String,
}

/// What [`build_from_images`] did.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    pub dest: PathBuf,
    pub written: usize,
    pub skipped: Vec<Skipped>,
    /// Side of the square images written.
    pub resolution: u32,
    /// Where the labels came from (`None`: the data set has no labels).
    pub labels_from: Option<PathBuf>,
    /// Label dimension: `max + 1` classes or the vector length (0 without labels).
    pub label_dim: usize,
    /// Whether the labels are integer classes (else float vectors).
    pub labels_are_classes: bool,
    pub label_names: Option<Vec<String>>,
}

/// Source files: a folder (relative name, path) or a ZIP (name, entry index).
enum SourceFiles {
    Folder(Vec<(String, PathBuf)>),
    Zip {
        path: PathBuf,
        /// The archive's size in bytes.
        size: u64,
        archive: Box<zip::ZipArchive<BufReader<File>>>,
        entries: Vec<(String, usize)>,
    },
}

impl SourceFiles {
    fn len(&self) -> usize {
        match self {
            SourceFiles::Folder(f) => f.len(),
            SourceFiles::Zip { entries, .. } => entries.len(),
        }
    }

    fn name(&self, i: usize) -> &str {
        match self {
            SourceFiles::Folder(f) => &f[i].0,
            SourceFiles::Zip { entries, .. } => &entries[i].0,
        }
    }

    /// Read one file; an error is a reason to skip it.
    fn read(&mut self, i: usize) -> std::result::Result<Vec<u8>, String> {
        match self {
            SourceFiles::Folder(f) => {
                crate::files::read_input_at_most(&f[i].1, MAX_IMAGE_FILE_BYTES)
                    .map_err(|e| e.to_string())
            }
            SourceFiles::Zip {
                path,
                size,
                archive,
                entries,
            } => read_member(
                archive,
                path,
                *size,
                entries[i].1,
                None,
                MAX_IMAGE_FILE_BYTES,
            )
            .map_err(|e| format!("cannot read the zip entry: {e}")),
        }
    }
}

/// Walk `root` recursively (not into symlinked folders); names are relative, `/`-separated.
pub(crate) fn walk(
    root: &Path,
    rel: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, PathBuf)>,
) -> Result<()> {
    let dir = root.join(rel.join("/"));
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let ty = entry.file_type().map_err(|e| Error::io(&path, e))?;
        rel.push(name);
        if ty.is_dir() {
            walk(root, rel, out)?;
        } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
            out.push((rel.clone(), path));
        }
        rel.pop();
    }
    Ok(())
}

/// A `dataset.json` found in the source: its path and bytes.
type SourceMeta = Option<(PathBuf, Vec<u8>)>;

/// Open the source and its `dataset.json` (if any).
fn open_source(source: &Path) -> Result<(SourceFiles, SourceMeta)> {
    if source.is_dir() {
        let mut files = Vec::new();
        walk(source, &mut Vec::new(), &mut files)?;
        // Component-wise order, like Python's sorted(Path.rglob('*')).
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut meta = None;
        let mut out = Vec::with_capacity(files.len());
        for (parts, path) in files {
            let name = parts.join("/");
            if name == "dataset.json" {
                let bytes = crate::files::read_input_at_most(&path, MAX_DATASET_JSON_BYTES)?;
                meta = Some((path, bytes));
            } else {
                out.push((name, path));
            }
        }
        return Ok((SourceFiles::Folder(out), meta));
    }
    if !source.exists() {
        return Err(Error::InvalidArgument(format!(
            "{}: no such file or directory (expected a folder or a .zip of images)",
            source.display()
        )));
    }
    crate::files::check_input(source)?;
    let file = File::open(source).map_err(|e| Error::io(source, e))?;
    // The archive's size bounds what its members may claim (`read_member`).
    let size = file.metadata().map_err(|e| Error::io(source, e))?.len();
    let mut archive = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| {
        Error::format(
            source,
            format!("not a folder or a readable zip archive of images ({e})"),
        )
    })?;
    let mut entries = Vec::new();
    let mut meta = None;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| Error::format(source, format!("zip entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map_err(|e| Error::format(source, format!("zip entry {i}: {e}")))?
            .replace('\\', "/");
        drop(entry);
        if name == "dataset.json" {
            let bytes = read_member(&mut archive, source, size, i, None, MAX_DATASET_JSON_BYTES)?;
            meta = Some((source.join("dataset.json"), bytes));
        } else {
            entries.push((name, i));
        }
    }
    entries.sort();
    Ok((
        SourceFiles::Zip {
            path: source.to_path_buf(),
            size,
            archive: Box::new(archive),
            entries,
        },
        meta,
    ))
}

/// The result of preparing one source file.
enum Prepared {
    Image(EncodedImage),
    Skip(String),
    Fatal(Error),
}

/// Decode any PNG or JPEG by its content, or say why not.
fn decode(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    let format = image::guess_format(bytes).map_err(|_| "not an image file".to_string())?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(format!(
            "unsupported image format {format:?} (PNG and JPEG are read)"
        ));
    }
    image::load_from_memory_with_format(bytes, format)
        .map_err(|e| format!("corrupt {format:?} image: {e}"))
}

fn resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    if img.dimensions() == (w, h) {
        img.clone()
    } else {
        image::imageops::resize(img, w, h, FilterType::Lanczos3)
    }
}

/// `np.round`: halves to even.
fn round_even(x: f64) -> u32 {
    x.round_ties_even() as u32
}

/// Apply `transform` for output resolution `res`; `Ok(None)` drops the image (too small for a
/// wide/tall crop), `Err` is fatal (wrong size without a transform).
fn apply_transform(
    img: RgbImage,
    transform: Transform,
    res: Resolution,
    name: &str,
) -> std::result::Result<std::result::Result<RgbImage, String>, Error> {
    let (w0, h0) = img.dimensions();
    let (w, h) = (res.width, res.height);
    Ok(Ok(match transform {
        Transform::None => {
            if (w0, h0) != (w, h) {
                return Err(Error::InvalidArgument(format!(
                    "{name}: image is {w0}x{h0} but the data set is {w}x{h}; use \
                     the center-crop transform to crop and resize"
                )));
            }
            img
        }
        Transform::CenterCrop => {
            let crop = w0.min(h0);
            let cropped =
                image::imageops::crop_imm(&img, (w0 - crop) / 2, (h0 - crop) / 2, crop, crop)
                    .to_image();
            resize(&cropped, w, h)
        }
        Transform::CenterCropWide => {
            let ch = round_even(w as f64 * h0 as f64 / w0 as f64);
            if w0 < w || ch < h {
                return Ok(Err(format!(
                    "{w0}x{h0} is too small for center-crop-wide to {w}x{h}"
                )));
            }
            let band = image::imageops::crop_imm(&img, 0, (h0 - ch) / 2, w0, ch).to_image();
            let band = resize(&band, w, h);
            let mut canvas = RgbImage::new(w, w);
            image::imageops::replace(&mut canvas, &band, 0, ((w - h) / 2) as i64);
            canvas
        }
        Transform::CenterCropTall => {
            let cw = round_even(h as f64 * w0 as f64 / h0 as f64);
            if h0 < h || cw < w {
                return Ok(Err(format!(
                    "{w0}x{h0} is too small for center-crop-tall to {w}x{h}"
                )));
            }
            let band = image::imageops::crop_imm(&img, (w0 - cw) / 2, 0, cw, h0).to_image();
            let band = resize(&band, w, h);
            let mut canvas = RgbImage::new(h, h);
            image::imageops::replace(&mut canvas, &band, ((h - w) / 2) as i64, 0);
            canvas
        }
    }))
}

fn prepare(bytes: std::result::Result<Vec<u8>, String>, name: &str, opts: &Plan) -> Prepared {
    let img = match bytes.and_then(|b| decode(&b)) {
        Ok(img) => img.to_rgb8(),
        Err(reason) => return Prepared::Skip(reason),
    };
    let res = match opts.resolution {
        Some(r) => r,
        // No resolution: the first image fixes it (checked by the writer).
        None => Resolution {
            width: img.width(),
            height: img.height(),
        },
    };
    match apply_transform(img, opts.transform, res, name) {
        Err(e) => Prepared::Fatal(e),
        Ok(Err(reason)) => Prepared::Skip(reason),
        Ok(Ok(out)) => match EncodedImage::encode(&DynamicImage::ImageRgb8(out)) {
            Ok(enc) => Prepared::Image(enc),
            Err(e) => Prepared::Fatal(Error::InvalidArgument(format!("{name}: {e}"))),
        },
    }
}

/// Checked options.
struct Plan {
    resolution: Option<Resolution>,
    transform: Transform,
}

fn plan(opts: &BuildOptions) -> Result<Plan> {
    let side = |r: u32, what: &str| -> Result<()> {
        if r < 4 || !r.is_power_of_two() {
            return Err(Error::InvalidArgument(format!(
                "{what} {r} is not a power of two >= 4, which StyleGAN needs"
            )));
        }
        Ok(())
    };
    match (opts.transform, opts.resolution) {
        (Transform::None, None) => {}
        (Transform::None | Transform::CenterCrop, Some(r)) => {
            if r.width != r.height {
                return Err(Error::InvalidArgument(format!(
                    "resolution {r} is not square; WxH is only for center-crop-wide/-tall"
                )));
            }
            side(r.width, "resolution")?;
        }
        (t, None) => {
            return Err(Error::InvalidArgument(format!(
                "the {} transform needs a resolution",
                match t {
                    Transform::CenterCrop => "center-crop",
                    Transform::CenterCropWide => "center-crop-wide (WxH, e.g. 512x384)",
                    _ => "center-crop-tall (WxH, e.g. 384x512)",
                }
            )))
        }
        (Transform::CenterCropWide, Some(r)) => {
            if r.height >= r.width {
                return Err(Error::InvalidArgument(format!(
                    "center-crop-wide needs a resolution WxH with H < W (e.g. 512x384), got \
                     {r}; for a square crop use center-crop"
                )));
            }
            side(r.width, "center-crop-wide width")?;
        }
        (Transform::CenterCropTall, Some(r)) => {
            if r.width >= r.height {
                return Err(Error::InvalidArgument(format!(
                    "center-crop-tall needs a resolution WxH with W < H (e.g. 384x512), got \
                     {r}; for a square crop use center-crop"
                )));
            }
            side(r.height, "center-crop-tall height")?;
        }
    }
    Ok(Plan {
        resolution: opts.resolution,
        transform: opts.transform,
    })
}

/// Files handled per parallel batch (bounds memory for large sources).
const BATCH: usize = 256;

/// Convert the images in `source` (a folder or a ZIP) into a data set ZIP at `dest`.
pub fn build_from_images(
    source: &Path,
    dest: &Path,
    opts: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildSummary> {
    let plan = plan(opts)?;
    if let (Ok(a), Ok(b)) = (source.canonicalize(), dest.canonicalize()) {
        if a == b {
            return Err(Error::InvalidArgument(format!(
                "{}: the destination is the source",
                dest.display()
            )));
        }
    }
    let (mut files, source_meta) = open_source(source)?;
    let label_file: Option<(PathBuf, LabelFile)> = match (&opts.labels, source_meta) {
        (Some(path), _) => {
            let bytes = crate::files::read_input_at_most(path, MAX_DATASET_JSON_BYTES)?;
            Some((path.clone(), parse_dataset_json(&bytes, path)?))
        }
        (None, Some((path, bytes))) => {
            let parsed = parse_dataset_json(&bytes, &path)?;
            Some((path, parsed))
        }
        (None, None) => None,
    };
    let (labels_from, label_map, label_names) = match label_file {
        Some((
            path,
            LabelFile {
                labels: Some(map),
                label_names,
            },
        )) => (Some(path), Some(map), label_names),
        _ => (None, None, None),
    };
    if files.len() == 0 {
        return Err(Error::InvalidArgument(format!(
            "{}: contains no files",
            source.display()
        )));
    }

    let mut writer = DatasetWriter::create(dest)?;
    let mut skipped = Vec::new();
    let total = files.len();
    progress.start("images", total);
    let mut start = 0;
    while start < total {
        let end = (start + BATCH).min(total);
        let raw: Vec<(String, std::result::Result<Vec<u8>, String>)> = (start..end)
            .map(|i| (files.name(i).to_string(), files.read(i)))
            .collect();
        let prepared: Vec<(String, Prepared)> = raw
            .into_par_iter()
            .map(|(name, bytes)| {
                let p = prepare(bytes, &name, &plan);
                progress.advance(1);
                (name, p)
            })
            .collect();
        for (name, p) in prepared {
            match p {
                Prepared::Fatal(e) => return Err(e),
                Prepared::Skip(reason) => {
                    progress.warn(&format!("skipping {name}: {reason}"));
                    skipped.push(Skipped { name, reason });
                }
                Prepared::Image(enc) => {
                    let label = match &label_map {
                        None => None,
                        Some(map) => Some(map.get(&name).cloned().ok_or_else(|| {
                            Error::format(
                                labels_from.as_deref().unwrap_or(source),
                                format!("has no label for the source image '{name}'"),
                            )
                        })?),
                    };
                    writer.add_encoded(&enc, label).map_err(|e| match e {
                        Error::InvalidArgument(msg) => {
                            Error::InvalidArgument(format!("source image '{name}': {msg}"))
                        }
                        other => other,
                    })?;
                }
            }
        }
        start = end;
    }
    if writer.is_empty() {
        let what = match &files {
            SourceFiles::Folder(_) => source.to_path_buf(),
            SourceFiles::Zip { path, .. } => path.clone(),
        };
        return Err(Error::InvalidArgument(format!(
            "{}: none of its {} files is a usable image (first skipped: {}: {})",
            what.display(),
            total,
            skipped[0].name,
            skipped[0].reason
        )));
    }
    let written = writer.len();
    let label_dim = writer.label_dim();
    let labels_are_classes = writer.labels_are_classes();
    let resolution = writer.resolution().unwrap_or(0);
    if let Some(names) = &label_names {
        writer.set_label_names(names.clone());
    }
    writer.finish()?;
    Ok(BuildSummary {
        dest: dest.to_path_buf(),
        written,
        skipped,
        resolution,
        labels_from,
        label_dim,
        labels_are_classes,
        label_names,
    })
}
