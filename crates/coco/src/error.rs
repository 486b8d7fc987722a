//! [`CocoError`]: reading a COCO file can fail in these ways; each names what is wrong and where.

use std::path::Path;

use thiserror::Error;

use crate::rle::RleError;

/// A COCO ground-truth or results file that cannot be read.
#[derive(Debug, Error)]
pub enum CocoError {
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
        source: Box<CocoError>,
    },
}

impl CocoError {
    /// Prefixes the error with the file it came from.
    pub fn in_file(self, path: &Path) -> CocoError {
        CocoError::InFile {
            path: path.display().to_string(),
            source: Box::new(self),
        }
    }
}
