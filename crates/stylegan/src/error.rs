//! The library's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the library, each with enough context to act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file exists but is not a valid checkpoint / array / image.
    #[error("{path}: {msg}")]
    Format { path: PathBuf, msg: String },
    /// A tensor the network needs is not in the checkpoint.
    #[error("{file}: missing tensor '{name}' (expected shape {expected:?})")]
    MissingTensor {
        file: String,
        name: String,
        expected: Vec<usize>,
    },
    /// A tensor has the wrong shape.
    #[error("{file}: tensor '{name}' has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        file: String,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    /// The checkpoint's configuration cannot be honoured.
    #[error("unsupported network config: {0}")]
    Config(String),
    /// A caller passed a value outside what the operation accepts.
    #[error("{0}")]
    InvalidArgument(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Error::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
