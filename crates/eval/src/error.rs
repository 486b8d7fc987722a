//! Errors of loading and evaluation; each names what is wrong and where.

use std::path::Path;

use thiserror::Error;

use crate::rle::RleError;

#[derive(Debug, Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// serde_json's message carries the line and column.
    #[error("malformed {what} JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {msg}")]
    Invalid { what: String, msg: String },
    #[error("{what}: bad segmentation RLE: {source}")]
    BadRle {
        what: String,
        #[source]
        source: RleError,
    },
    #[error("{path}: {source}")]
    InFile {
        path: String,
        #[source]
        source: Box<EvalError>,
    },
}

impl EvalError {
    /// Prefix the error with the file it came from.
    pub(crate) fn in_file(self, path: &Path) -> EvalError {
        EvalError::InFile {
            path: path.display().to_string(),
            source: Box::new(self),
        }
    }
}
