//! [`ImportError`]: why a checkpoint cannot be read or converted; each names the file, and keeps
//! the reader's own error as its source where there is one.

use std::path::PathBuf;

use burn::store::pytorch_reader::PytorchError;

/// A checkpoint that cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The checkpoint was read, but its content does not fit (names, shapes, classes).
    #[error("weights {}: {message}", path.display())]
    Weights { path: PathBuf, message: String },
    #[error("weights {}: unsafe or unreadable pickle: {source}", path.display())]
    Pickle {
        path: PathBuf,
        #[source]
        source: PickleError,
    },
    #[error("weights {}: {what}: {source}", path.display())]
    Torch {
        path: PathBuf,
        /// `not a readable torch checkpoint`, or the tensor that could not be read.
        what: String,
        #[source]
        source: PytorchError,
    },
    #[error("weights {}: tensor '{name}': {source}", path.display())]
    TorchTensor {
        path: PathBuf,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("weights {}: not a safetensors file: {source}", path.display())]
    Safetensors {
        path: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// Writing a tensor map as safetensors bytes failed.
    #[error("safetensors image of tensor '{name}': {source}")]
    Serialize {
        name: String,
        #[source]
        source: safetensors::SafeTensorError,
    },
}

impl ImportError {
    pub(crate) fn weights(path: &std::path::Path, message: impl Into<String>) -> Self {
        ImportError::Weights {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
}

pub type Result<T> = std::result::Result<T, ImportError>;

/// Why the pickle reader refuses a value or an opcode (turned into a [`PickleError`] with the
/// byte offset); there is no deeper cause to keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl From<&str> for Refusal {
    fn from(s: &str) -> Self {
        Refusal(s.to_string())
    }
}

impl From<String> for Refusal {
    fn from(s: String) -> Self {
        Refusal(s)
    }
}

/// Why a pickle was refused; `offset` is the byte position of the opcode.
#[derive(Debug, Clone, PartialEq)]
pub struct PickleError {
    pub offset: usize,
    pub message: String,
}

impl std::error::Error for PickleError {}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}
