//! Writing a data set ZIP in the official layout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageEncoder};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

use super::archive_name;
use super::labels::{check_consistent, check_label, dataset_json, Label};
use crate::error::{Error, Result};

/// Encode an 8-bit RGB or grey image as PNG (fast deflate; the official tool stores PNGs
/// uncompressed, both are plain PNG to every reader).
pub fn encode_png(img: &DynamicImage) -> Result<Vec<u8>> {
    let (w, h) = (img.width(), img.height());
    let (bytes, color) = match img {
        DynamicImage::ImageRgb8(i) => (i.as_raw().as_slice(), image::ExtendedColorType::Rgb8),
        DynamicImage::ImageLuma8(i) => (i.as_raw().as_slice(), image::ExtendedColorType::L8),
        other => {
            return Err(Error::InvalidArgument(format!(
                "can only store 8-bit RGB or grey images, got {:?}",
                other.color()
            )))
        }
    };
    let mut out = Vec::with_capacity(bytes.len() / 2 + 128);
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(bytes, w, h, color)
    .map_err(|e| Error::InvalidArgument(format!("encoding a {w}x{h} PNG: {e}")))?;
    Ok(out)
}

/// An image ready to be stored: PNG bytes and what they hold.
#[derive(Clone, Debug)]
pub struct EncodedImage {
    pub png: Vec<u8>,
    pub resolution: u32,
    pub channels: u8,
}

impl EncodedImage {
    /// Encode a square 8-bit RGB or grey image.
    pub fn encode(img: &DynamicImage) -> Result<Self> {
        let channels = match img {
            DynamicImage::ImageLuma8(_) => 1,
            _ => 3,
        };
        if img.width() != img.height() {
            return Err(Error::InvalidArgument(format!(
                "data set images must be square, got {}x{}",
                img.width(),
                img.height()
            )));
        }
        Ok(EncodedImage {
            png: encode_png(img)?,
            resolution: img.width(),
            channels,
        })
    }
}

use crate::files::remove_stale_temporaries;

/// Writes `{idx/1000:05}/img{idx:08}.png` entries and `dataset.json` into a ZIP (stored, like
/// the official tool). The ZIP is written to a temporary file beside `dest` and renamed over
/// `dest` by [`DatasetWriter::finish`]; dropping the writer unfinished removes the temporary.
pub struct DatasetWriter {
    dest: PathBuf,
    tmp: PathBuf,
    zip: Option<ZipWriter<BufWriter<File>>>,
    count: usize,
    shape: Option<(u32, u8)>,
    labels: Vec<(String, Label)>,
    labelled: Option<bool>,
    label_names: Option<Vec<String>>,
}

impl DatasetWriter {
    /// Start a data set at `dest` (a `.zip` path; missing parent folders are created).
    pub fn create(dest: &Path) -> Result<Self> {
        let is_zip = dest
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
        if !is_zip {
            return Err(Error::InvalidArgument(format!(
                "{}: the data set must be a .zip file",
                dest.display()
            )));
        }
        if dest.is_dir() {
            return Err(Error::InvalidArgument(format!(
                "{}: is a directory, expected a .zip file path",
                dest.display()
            )));
        }
        // Beside the file `dest` names (links followed; a device gets a copy at the end).
        let tmp = crate::files::staged_temp(dest)?;
        let dir = tmp.parent().unwrap_or(Path::new("."));
        let name = tmp.file_name().unwrap_or_default().to_string_lossy();
        let name = name
            .strip_prefix('.')
            .and_then(|n| n.rsplit_once(".tmp"))
            .map_or(String::new(), |(n, _)| n.to_string());
        // A killed earlier build of this data set left its temporary behind: remove it (best
        // effort; a leftover that cannot be removed does not stop this build).
        let _ = remove_stale_temporaries(dir, Some(&name));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, e))?;
        Ok(DatasetWriter {
            dest: dest.to_path_buf(),
            tmp,
            zip: Some(ZipWriter::new(BufWriter::new(file))),
            count: 0,
            shape: None,
            labels: Vec::new(),
            labelled: None,
            label_names: None,
        })
    }

    /// Images written so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Side of the images written so far (`None` before the first).
    pub fn resolution(&self) -> Option<u32> {
        self.shape.map(|s| s.0)
    }

    /// Label dimension so far: `max + 1` classes, the vector length, or 0 without labels.
    pub fn label_dim(&self) -> usize {
        self.labels
            .iter()
            .map(|(_, l)| match l {
                Label::Class(c) => *c as usize + 1,
                Label::Vector(v) => v.len(),
            })
            .max()
            .unwrap_or(0)
    }

    /// Whether the labels so far are integer classes.
    pub fn labels_are_classes(&self) -> bool {
        matches!(self.labels.first(), Some((_, Label::Class(_))))
    }

    /// Names for the entries of vector labels, stored as `"label_names"`.
    pub fn set_label_names(&mut self, names: Vec<String>) {
        self.label_names = Some(names);
    }

    /// Encode and add a square 8-bit RGB or grey image; returns its archive name.
    pub fn add_image(&mut self, img: &DynamicImage, label: Option<Label>) -> Result<String> {
        let enc = EncodedImage::encode(img)?;
        self.add_encoded(&enc, label)
    }

    /// Add an already encoded image (see [`EncodedImage::encode`], which can run in parallel);
    /// returns its archive name. Every image must have the resolution (a power of two) and
    /// channel count of the first, and either all images have labels of one kind or none has.
    pub fn add_encoded(&mut self, img: &EncodedImage, label: Option<Label>) -> Result<String> {
        let name = archive_name(self.count);
        let shape = (img.resolution, img.channels);
        match self.shape {
            None => {
                if !img.resolution.is_power_of_two() || img.resolution < 4 {
                    return Err(Error::InvalidArgument(format!(
                        "{name}: resolution {r}x{r} is not a power of two (>= 4), which \
                         StyleGAN needs",
                        r = img.resolution
                    )));
                }
                if !matches!(img.channels, 1 | 3) {
                    return Err(Error::InvalidArgument(format!(
                        "{name}: images must be RGB or grey, got {} channels",
                        img.channels
                    )));
                }
                self.shape = Some(shape);
            }
            Some(s) if s != shape => {
                return Err(Error::InvalidArgument(format!(
                    "{name}: all images of a data set must share one size and channel count: \
                     the first is {r0}x{r0}x{c0}, this one {r1}x{r1}x{c1}",
                    r0 = s.0,
                    c0 = s.1,
                    r1 = shape.0,
                    c1 = shape.1
                )))
            }
            Some(_) => {}
        }
        // Labels made in code pass the same check as those read from `dataset.json`.
        if let Some(l) = &label {
            check_label(&l.to_json())
                .map_err(|e| Error::InvalidArgument(format!("{name}: {e}")))?;
        }
        match (self.labelled, label.is_some()) {
            (None, has) => self.labelled = Some(has),
            (Some(a), b) if a != b => {
                return Err(Error::InvalidArgument(format!(
                    "{name}: either every image has a label or none has ({})",
                    if b {
                        "this one has, earlier ones had none"
                    } else {
                        "this one has none"
                    }
                )))
            }
            _ => {}
        }
        if let (Some(label), Some((first_name, first))) = (&label, self.labels.first()) {
            let same_kind = match (first, label) {
                (Label::Class(_), Label::Class(_)) => true,
                (Label::Vector(a), Label::Vector(b)) => a.len() == b.len(),
                _ => false,
            };
            if !same_kind {
                return Err(Error::InvalidArgument(format!(
                    "{name}: label is {} but {first_name}'s is {}",
                    label.kind(),
                    first.kind()
                )));
            }
        }
        let zip = self.zip.as_mut().expect("writer is open until finish");
        let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        zip.start_file(name.as_str(), opts)
            .map_err(|e| Error::format(&self.tmp, format!("writing {name}: {e}")))?;
        zip.write_all(&img.png)
            .map_err(|e| Error::io(&self.tmp, e))?;
        if let Some(label) = label {
            self.labels.push((name.clone(), label));
        }
        self.count += 1;
        Ok(name)
    }

    /// Write `dataset.json`, close the ZIP and move it to `dest`. Returns the image count.
    pub fn finish(mut self) -> Result<usize> {
        if self.count == 0 {
            return Err(Error::InvalidArgument(format!(
                "{}: no images to write",
                self.dest.display()
            )));
        }
        let labels = (!self.labels.is_empty()).then_some(self.labels.as_slice());
        if let Some(names) = &self.label_names {
            let dim =
                check_consistent(self.labels.iter().map(|(n, l)| (n.as_str(), l)), &self.dest)?;
            match self.labels.first() {
                Some((_, Label::Vector(_))) if names.len() == dim => {}
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "{}: {} label names need vector labels of that length",
                        self.dest.display(),
                        names.len()
                    )))
                }
            }
        }
        let json = dataset_json(labels, self.label_names.as_deref());
        let mut zip = self.zip.take().expect("writer is open until finish");
        let tmp = self.tmp.clone();
        let result = (|| {
            let opts =
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
            zip.start_file("dataset.json", opts)
                .map_err(|e| Error::format(&tmp, format!("writing dataset.json: {e}")))?;
            zip.write_all(json.as_bytes())
                .map_err(|e| Error::io(&tmp, e))?;
            let buf = zip
                .finish()
                .map_err(|e| Error::format(&tmp, format!("finishing the zip: {e}")))?;
            let file = buf
                .into_inner()
                .map_err(|e| Error::io(&tmp, e.into_error()))?;
            file.sync_all().map_err(|e| Error::io(&tmp, e))?;
            crate::files::finish_staged(&tmp, &self.dest)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result.map(|_| self.count)
    }
}

impl Drop for DatasetWriter {
    fn drop(&mut self) {
        if self.zip.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
