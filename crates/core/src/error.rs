//! The error type of the model crates: every message names the file, key or tensor involved.

use std::path::PathBuf;

/// Errors raised while building, loading or running the model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    #[error("weights {path}: {message}")]
    Weights { path: PathBuf, message: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;
