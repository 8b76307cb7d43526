//! Writing a data set ZIP in the official layout.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageEncoder};
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

use super::archive_name;
use super::labels::{check_consistent, dataset_json, Label};
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

/// The process id of a temporary file named `.NAME.tmpPID` (as [`DatasetWriter`] and
/// `io::atomic_write` name them), and `NAME`.
fn temporary_of(file_name: &str) -> Option<(&str, u32)> {
    let rest = file_name.strip_prefix('.')?;
    let at = rest.rfind(".tmp")?;
    let pid = &rest[at + 4..];
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&rest[..at], pid.parse().ok()?))
}

/// Remove the temporary files `.NAME.tmpPID` in `dir` whose process is gone (no `/proc/PID`):
/// what a killed write leaves behind. With `name`, only temporaries of that file. Files of
/// live processes (a run writing right now) are kept; where `/proc` is absent nothing is
/// removed, since no process can be told dead. Returns the removed paths.
pub fn remove_stale_temporaries(dir: &Path, name: Option<&str>) -> Result<Vec<PathBuf>> {
    let proc_fs = Path::new("/proc");
    if !proc_fs.join("self").exists() {
        return Ok(Vec::new());
    }
    let own = std::process::id();
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
    {
        let file_name = entry.file_name().to_string_lossy().to_string();
        let Some((of, pid)) = temporary_of(&file_name) else {
            continue;
        };
        if pid == own || name.is_some_and(|n| n != of) || proc_fs.join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            removed.push(path);
        }
    }
    Ok(removed)
}

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
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        // A killed earlier build of this data set left its temporary behind: remove it (best
        // effort; a leftover that cannot be removed does not stop this build).
        let _ = remove_stale_temporaries(dir, Some(&name));
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
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
            std::fs::rename(&tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_temporaries_of_dead_processes_go_live_ones_stay() {
        let dir = std::env::temp_dir().join(format!("stale-tmp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // No pid reaches 4e9 (Linux caps pid_max at 2^22); our own pid is alive.
        let dead = dir.join(".data.zip.tmp4000000000");
        let other = dir.join(".other.zip.tmp4000000000");
        let live = dir.join(format!(".data.zip.tmp{}", std::process::id()));
        let plain = dir.join("data.zip.tmp1");
        for p in [&dead, &other, &live, &plain] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(temporary_of(".a.b.tmp12"), Some(("a.b", 12)));
        assert_eq!(temporary_of(".a.tmp"), None);
        let removed = remove_stale_temporaries(&dir, Some("data.zip")).unwrap();
        assert_eq!(removed, vec![dead.clone()]);
        assert!(other.exists() && live.exists() && plain.exists());
        let removed = remove_stale_temporaries(&dir, None).unwrap();
        assert_eq!(removed, vec![other.clone()]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
