//! Data sets in the official layout (a ZIP of PNGs + `dataset.json`), built from folders of
//! images or from facesjs cartoon faces, and read back for training.
//!
//! The layout is the one the official `dataset_tool.py` (stylegan2-ada-pytorch, stylegan3)
//! writes and the official `ImageFolderDataset` reads:
//!
//! ```text
//! 00000/img00000000.png      image idx is stored at {idx/1000:05}/img{idx:08}.png
//! 00000/img00000001.png
//! ...
//! dataset.json               {"labels": [["00000/img00000000.png", LABEL], ...]} or {"labels": null}
//! ```
//!
//! A `LABEL` is an integer class (one-hot over `max + 1` classes when read) or a list of
//! floats. We add `"label_names": [...]` beside `"labels"` when the labels are attribute
//! vectors; the official loaders ignore unknown keys.
//!
//! - [`writer::DatasetWriter`] writes the ZIP (atomically: a temporary file renamed at the end);
//! - [`source::build_from_images`] converts a folder or ZIP of images (`stylegan dataset`);
//! - [`faces::generate_faces`] renders facesjs cartoon faces with labels (`stylegan dataset faces`);
//! - [`reader::Dataset`] reads a data set back into memory for training.
//!
//! Nothing here draws progress bars: long operations take a [`Progress`] that the command line
//! turns into one.

pub mod faces;
pub mod labels;
pub mod reader;
pub mod source;
pub mod writer;

pub use faces::{generate_faces, FacesOptions, FacesSummary, Palette, FACE_LABEL_NAMES};
pub use labels::Label;
pub use reader::Dataset;
pub use source::{build_from_images, BuildOptions, BuildSummary, Resolution, Skipped, Transform};
pub use writer::DatasetWriter;

/// Progress of a long operation, reported by the library and drawn by the caller.
///
/// `start` announces a stage with its number of items; `advance` reports items done in the
/// current stage. Calls may come from several threads.
pub trait Progress: Sync {
    fn start(&self, _stage: &str, _total: usize) {}
    fn advance(&self, _n: usize) {}
    /// A non-fatal problem (e.g. a skipped file) worth telling the user about now.
    fn warn(&self, _msg: &str) {}
    /// Something the user may want to know now (e.g. a one-time install step).
    fn note(&self, _msg: &str) {}
}

/// A [`Progress`] that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// The archive name of image `idx`, as the official `dataset_tool.py` writes it.
pub fn archive_name(idx: usize) -> String {
    format!("{:05}/img{:08}.png", idx / 1000, idx)
}

/// File name extensions treated as images when reading a data set (the official reader takes
/// every extension PIL knows; these are the ones we can decode).
pub(crate) fn has_image_ext(name: &str) -> bool {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    matches!(ext.as_deref(), Some("png" | "jpg" | "jpeg"))
}
