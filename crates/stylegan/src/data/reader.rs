//! Reading a data set (ZIP or folder in the official layout) into memory for training, with the
//! semantics of the official `ImageFolderDataset`: images are every PNG/JPEG in sorted name
//! order, HWC → CHW uint8; integer labels become one-hot vectors over `max + 1` classes and
//! float vectors are returned as they are.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use rayon::prelude::*;

use super::labels::{check_consistent, parse_dataset_json, Label, MAX_DATASET_JSON_BYTES};
use super::{has_image_ext, NoProgress, Progress};
use crate::error::{Error, Result};

enum Labels {
    None,
    Class(Vec<u32>),
    Vector(Vec<f32>),
}

/// A data set decoded into memory.
pub struct Dataset {
    path: PathBuf,
    names: Vec<String>,
    resolution: usize,
    channels: usize,
    /// `len × channels × resolution × resolution`, uint8.
    pixels: Vec<u8>,
    labels: Labels,
    label_dim: usize,
    label_names: Option<Vec<String>>,
    /// [`Dataset::content_sha256`], computed on first use.
    digest: std::sync::OnceLock<String>,
}

/// Largest image file read from a data set (a 1024² PNG is a few MB).
pub const MAX_IMAGE_FILE_BYTES: u64 = 256 << 20;
/// Largest image side decoded (checked from the header, before the pixels are allocated).
pub const MAX_IMAGE_SIDE: u32 = 8192;
/// Most memory one image's decoder may allocate (an 8192² RGB image takes 192 MiB).
pub const MAX_IMAGE_ALLOC: u64 = 256 << 20;
/// `dataset.json` may take this much per image (plus 1 MiB): a label line is ~80 bytes for a
/// six-number vector, so this leaves room for vectors of hundreds of numbers while keeping the
/// labels' memory proportional to the images.
pub const DATASET_JSON_BYTES_PER_IMAGE: u64 = 16 << 10;

/// Files of a data set: (name, bytes) for images, and the `dataset.json` bytes.
struct RawFiles {
    images: Vec<(String, Vec<u8>)>,
    meta: Option<Vec<u8>>,
}

fn read_zip(path: &Path, progress: &dyn Progress) -> Result<RawFiles> {
    crate::files::check_input(path)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let size = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::format(path, format!("not a readable zip archive: {e}")))?;
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut meta_index = None;
    for i in 0..archive.len() {
        let entry = archive
            .by_index_raw(i)
            .map_err(|e| Error::format(path, format!("zip entry {i}: {e}")))?;
        if entry.is_dir() {
            continue;
        }
        let name = entry
            .name()
            .map_err(|e| Error::format(path, format!("zip entry {i}: {e}")))?
            .replace('\\', "/");
        if name == "dataset.json" {
            meta_index = Some(i);
        } else if has_image_ext(&name) {
            names.push((name, i));
        }
    }
    names.sort();
    // Every member through the one bounded reader (declared size, inflation ratio, cap).
    let meta = meta_index
        .map(|i| read_member(&mut archive, path, size, i, None, json_limit(names.len())))
        .transpose()?;
    progress.start("reading", names.len());
    let mut images = Vec::with_capacity(names.len());
    for (name, i) in names {
        let bytes = read_member(&mut archive, path, size, i, None, MAX_IMAGE_FILE_BYTES)?;
        images.push((name, bytes));
        progress.advance(1);
    }
    Ok(RawFiles { images, meta })
}

fn read_folder(path: &Path, progress: &dyn Progress) -> Result<RawFiles> {
    let mut files = Vec::new();
    super::source::walk(path, &mut Vec::new(), &mut files)?;
    let mut names: Vec<(String, PathBuf)> = files
        .into_iter()
        .map(|(parts, p)| (parts.join("/"), p))
        .collect();
    names.sort();
    let names: Vec<_> = names
        .into_iter()
        .filter(|(n, _)| has_image_ext(n))
        .collect();
    let meta_path = path.join("dataset.json");
    let meta = if meta_path.is_file() {
        Some(crate::files::read_input_at_most(
            &meta_path,
            json_limit(names.len()),
        )?)
    } else {
        None
    };
    progress.start("reading", names.len());
    let mut images = Vec::with_capacity(names.len());
    for (name, p) in names {
        let bytes = crate::files::read_input_at_most(&p, MAX_IMAGE_FILE_BYTES)?;
        images.push((name, bytes));
        progress.advance(1);
    }
    Ok(RawFiles { images, meta })
}

/// Read member `index` of an untrusted `zip` archive (`file` names it in errors) through the
/// one bounded reader, [`stylegan_pickle::member::read_member`]: at most `max` bytes, within
/// the archive's inflation bound, and exactly `expected` bytes when given. Every zip this
/// crate reads (data sets, `torch.save` checkpoints) is read through here.
pub(crate) fn read_member<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    file: &Path,
    archive_size: u64,
    index: usize,
    expected: Option<u64>,
    max: u64,
) -> Result<Vec<u8>> {
    let entry = zip
        .by_index(index)
        .map_err(|e| Error::format(file, format!("zip member {index}: {e}")))?;
    let name = entry
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    let header = stylegan_pickle::member::MemberHeader {
        name: &name,
        size: entry.size(),
        compressed_size: entry.compressed_size(),
        stored: entry.compression() == zip::CompressionMethod::Stored,
        archive_size,
    };
    stylegan_pickle::member::read_member(header, entry, expected, max)
        .map_err(|e| Error::format(file, format!("zip {e}")))
}

/// [`read_member`] by name.
pub(crate) fn read_member_by_name<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    file: &Path,
    archive_size: u64,
    name: &str,
    expected: Option<u64>,
    max: u64,
) -> Result<Vec<u8>> {
    let index = zip
        .index_for_name(name)
        .ok_or_else(|| Error::format(file, format!("zip has no member '{name}'")))?;
    read_member(zip, file, archive_size, index, expected, max)
}

/// The most `dataset.json` bytes accepted beside `images` images.
fn json_limit(images: usize) -> u64 {
    (images as u64)
        .saturating_mul(DATASET_JSON_BYTES_PER_IMAGE)
        .saturating_add(1 << 20)
        .min(MAX_DATASET_JSON_BYTES)
}

/// A decoded image: width, height, channels, CHW bytes; or a message about it.
type Decoded = std::result::Result<(u32, u32, usize, Vec<u8>), String>;

/// Decode to width, height, channels and CHW bytes (grey or RGB images only).
fn decode_chw(bytes: &[u8]) -> Decoded {
    to_chw(decode_limited(bytes)?, false)
}

/// Decode within the size limits: the header's size is checked before any pixel is allocated.
fn decode_limited(bytes: &[u8]) -> std::result::Result<DynamicImage, String> {
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| format!("cannot decode the image: {e}"))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => format!(
            "is larger than accepted ({l}): images up to {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} \
             are read"
        ),
        e => format!("cannot decode the image: {e}"),
    })
}

/// CHW bytes of a decoded image; other colour types than grey and RGB are refused, or with
/// `any` converted to RGB (alpha dropped).
fn to_chw(img: DynamicImage, any: bool) -> Decoded {
    let (w, h) = (img.width(), img.height());
    let hwc: (usize, Vec<u8>) = match img {
        DynamicImage::ImageLuma8(i) => (1, i.into_raw()),
        DynamicImage::ImageRgb8(i) => (3, i.into_raw()),
        DynamicImage::ImageLuma16(_) => (1, img.to_luma8().into_raw()),
        DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgb32F(_) => (3, img.to_rgb8().into_raw()),
        other if any => (3, other.to_rgb8().into_raw()),
        other => {
            return Err(format!(
                "has {:?} pixels; data set images must be grey (1 channel) or RGB (3 channels)",
                other.color()
            ))
        }
    };
    let (c, data) = hwc;
    let plane = (w * h) as usize;
    let mut chw = vec![0u8; data.len()];
    for (p, px) in data.chunks_exact(c).enumerate() {
        for (k, &v) in px.iter().enumerate() {
            chw[k * plane + p] = v;
        }
    }
    Ok((w, h, c, chw))
}

/// The image files (PNG, JPEG) of a folder (recursively) or a ZIP, by name, undecoded, with
/// the same bounds as data sets — for tools that take images of any size (`stylegan fid`).
pub fn read_image_files(path: &Path, progress: &dyn Progress) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(read_raw(path, "folder or ZIP of images", progress)?.images)
}

/// The files of a folder or ZIP, with at least one image (`what` names the expected input in
/// errors).
fn read_raw(path: &Path, what: &str, progress: &dyn Progress) -> Result<RawFiles> {
    let raw = if path.is_dir() {
        read_folder(path, progress)?
    } else if path.is_file() {
        read_zip(path, progress)?
    } else {
        return Err(Error::InvalidArgument(format!(
            "{}: no such {what} (expected a .zip or a folder)",
            path.display()
        )));
    };
    if raw.images.is_empty() {
        return Err(Error::format(path, "holds no PNG or JPEG images"));
    }
    Ok(raw)
}

/// Decode any image file to `(width, height, channels, CHW bytes)` within the data sets' size
/// limits: grey stays one channel, everything else becomes RGB (alpha dropped), as PIL's
/// `convert('RGB')`.
pub fn decode_image_any(bytes: &[u8]) -> std::result::Result<(u32, u32, usize, Vec<u8>), String> {
    to_chw(decode_limited(bytes)?, true)
}

impl Dataset {
    /// Read a data set ZIP, or a folder laid out the same way.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with_progress(path, &NoProgress)
    }

    /// [`Dataset::open`], reporting the reading and decoding stages.
    pub fn open_with_progress(path: &Path, progress: &dyn Progress) -> Result<Self> {
        let raw = read_raw(path, "data set", progress)?;

        progress.start("decoding", raw.images.len());
        let decoded: Vec<Decoded> = raw
            .images
            .par_iter()
            .map(|(_, bytes)| {
                let r = decode_chw(bytes);
                progress.advance(1);
                r
            })
            .collect();
        let names: Vec<String> = raw.images.into_iter().map(|(n, _)| n).collect();

        let mut shape: Option<(u32, usize)> = None;
        let mut pixels = Vec::new();
        for (name, d) in names.iter().zip(decoded) {
            let (w, h, c, chw) = d.map_err(|msg| Error::format(path, format!("{name}: {msg}")))?;
            match shape {
                None => {
                    if w != h {
                        return Err(Error::format(
                            path,
                            format!("{name}: images must be square, this one is {w}x{h}"),
                        ));
                    }
                    if w < 4 || !w.is_power_of_two() {
                        return Err(Error::format(
                            path,
                            format!("{name}: resolution {w}x{h} is not a power of two >= 4"),
                        ));
                    }
                    shape = Some((w, c));
                    pixels.reserve(names.len() * chw.len());
                }
                Some((r, c0)) if (w, h, c) != (r, r, c0) => {
                    return Err(Error::format(
                        path,
                        format!(
                            "{name}: all images must share one size and channel count: the \
                             first is {r}x{r} with {c0} channels, this one {w}x{h} with {c}"
                        ),
                    ))
                }
                Some(_) => {}
            }
            pixels.extend_from_slice(&chw);
        }
        let (resolution, channels) = shape.expect("at least one image was decoded");

        // Labels.
        let meta_path = path.join("dataset.json");
        let (labels, label_dim, label_names) = match raw.meta {
            None => (Labels::None, 0, None),
            Some(bytes) => {
                let file = parse_dataset_json(&bytes, &meta_path)?;
                match file.labels {
                    None => (Labels::None, 0, None),
                    Some(map) => {
                        let mut ordered = Vec::with_capacity(names.len());
                        for name in &names {
                            let label = map.get(name).ok_or_else(|| {
                                Error::format(
                                    &meta_path,
                                    format!("has no label for image '{name}'"),
                                )
                            })?;
                            ordered.push(label);
                        }
                        if map.len() != names.len() {
                            let extra = map
                                .keys()
                                .filter(|k| names.binary_search(k).is_err())
                                .min()
                                .cloned()
                                .unwrap_or_default();
                            return Err(Error::format(
                                &meta_path,
                                format!(
                                    "lists {} labels but the data set has {} images (e.g. no \
                                     image '{extra}')",
                                    map.len(),
                                    names.len()
                                ),
                            ));
                        }
                        let dim = check_consistent(
                            names
                                .iter()
                                .map(String::as_str)
                                .zip(ordered.iter().copied()),
                            &meta_path,
                        )?;
                        let labels = match ordered[0] {
                            Label::Class(_) => Labels::Class(
                                ordered
                                    .iter()
                                    .map(|l| match l {
                                        Label::Class(c) => *c,
                                        Label::Vector(_) => 0,
                                    })
                                    .collect(),
                            ),
                            Label::Vector(_) => Labels::Vector(
                                ordered
                                    .iter()
                                    .flat_map(|l| match l {
                                        Label::Vector(v) => v.clone(),
                                        Label::Class(_) => Vec::new(),
                                    })
                                    .collect(),
                            ),
                        };
                        if let Some(n) = &file.label_names {
                            let ok = matches!(labels, Labels::Vector(_)) && n.len() == dim;
                            if !ok {
                                return Err(Error::format(
                                    &meta_path,
                                    format!(
                                        "has {} label_names but the labels are {}",
                                        n.len(),
                                        ordered[0].kind()
                                    ),
                                ));
                            }
                        }
                        (labels, dim, file.label_names)
                    }
                }
            }
        };

        Ok(Dataset {
            path: path.to_path_buf(),
            names,
            resolution: resolution as usize,
            channels,
            pixels,
            labels,
            label_dim,
            label_names,
            digest: std::sync::OnceLock::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Side of the (square) images.
    pub fn resolution(&self) -> usize {
        self.resolution
    }

    /// 1 (grey) or 3 (RGB).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Length of [`Dataset::label`]: the number of classes (`max + 1`), the attribute vector
    /// length, or 0 without labels (the official `label_dim`).
    pub fn label_dim(&self) -> usize {
        self.label_dim
    }

    pub fn has_labels(&self) -> bool {
        !matches!(self.labels, Labels::None)
    }

    /// Whether labels are integer classes (read one-hot).
    pub fn labels_are_classes(&self) -> bool {
        matches!(self.labels, Labels::Class(_))
    }

    /// Names of the attribute-vector entries, when `dataset.json` has `label_names`.
    pub fn label_names(&self) -> Option<&[String]> {
        self.label_names.as_deref()
    }

    /// Archive names of the images, in data set order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    fn image_len(&self) -> usize {
        self.channels * self.resolution * self.resolution
    }

    /// Image `i` as CHW uint8 (`channels × resolution × resolution`). Panics if `i >= len()`.
    pub fn image(&self, i: usize) -> Vec<u8> {
        self.image_slice(i).to_vec()
    }

    /// Image `i` as CHW uint8, borrowed. Panics if `i >= len()`.
    pub fn image_slice(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }

    /// All images, `len × channels × resolution × resolution` uint8.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// SHA-256 (hex) of the images' shape, file names and decoded pixels: what identifies
    /// the content (cached statistics are keyed by it). Computed once per data set.
    pub fn content_sha256(&self) -> &str {
        self.digest.get_or_init(|| {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(format!("{}x{}x{}\0", self.len(), self.channels, self.resolution).as_bytes());
            for n in &self.names {
                h.update(n.as_bytes());
                h.update(b"\0");
            }
            h.update(&self.pixels);
            h.finalize().iter().map(|b| format!("{b:02x}")).collect()
        })
    }

    /// Label `i` as floats: one-hot for classes, the vector as stored, empty without labels.
    /// Panics if `i >= len()` (with labels).
    pub fn label(&self, i: usize) -> Vec<f32> {
        match &self.labels {
            Labels::None => Vec::new(),
            Labels::Class(c) => {
                let mut v = vec![0.0; self.label_dim];
                v[c[i] as usize] = 1.0;
                v
            }
            Labels::Vector(v) => v[i * self.label_dim..(i + 1) * self.label_dim].to_vec(),
        }
    }

    /// Label `i` as stored (`None` without labels).
    pub fn raw_label(&self, i: usize) -> Option<Label> {
        match &self.labels {
            Labels::None => None,
            Labels::Class(c) => Some(Label::Class(c[i])),
            Labels::Vector(v) => Some(Label::Vector(
                v[i * self.label_dim..(i + 1) * self.label_dim].to_vec(),
            )),
        }
    }
}
