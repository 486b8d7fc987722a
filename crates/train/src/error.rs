//! Errors of a training run: each is one line that names the file, key or iteration at fault.

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Data(String),
    #[error(transparent)]
    Model(#[from] mrcnn_core::Error),
    #[error("{path}: {message}")]
    Io {
        path: std::path::PathBuf,
        message: String,
    },
    /// The run stopped early (non-finite loss, bad data); `saved` says what is on disk.
    #[error("{0}")]
    Stopped(String),
}

impl TrainError {
    pub fn io(path: &std::path::Path, e: impl std::fmt::Display) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
