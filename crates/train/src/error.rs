//! Errors of a training run: each is one line that names the file, key or iteration at fault,
//! and keeps the error it comes from as its source.

use std::path::PathBuf;

use burn_train::checkpoint::CheckpointerError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Boxed: a config error is large.
    #[error(transparent)]
    Config(Box<mrcnn_config::ConfigError>),
    /// The architecture does not fit the dataset (e.g. too few classes).
    #[error("invalid model config: {0}")]
    Architecture(#[from] mrcnn_config::InvalidValue),
    /// What the run cannot start with: no checkpoint to resume, a run folder already in use, a
    /// dataset without images.
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Data(#[from] mrcnn_data::DataError),
    #[error(transparent)]
    Model(#[from] mrcnn_core::Error),
    #[error(transparent)]
    Weights(#[from] mrcnn_model::WeightsError),
    #[error(transparent)]
    Device(#[from] mrcnn_core::device::DeviceByNameError),
    #[error(transparent)]
    Eval(#[from] mrcnn_eval::EvalError),
    #[error(transparent)]
    Coco(#[from] mrcnn_coco::CocoError),
    #[error(transparent)]
    Draw(#[from] mrcnn_draw::DrawError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot resume from {}: {source}", path.display())]
    Checkpoint {
        path: PathBuf,
        #[source]
        source: CheckpointerError,
    },
    /// The run stopped early (non-finite loss, bad data); the message says what is on disk.
    #[error("{0}")]
    Stopped(String),
}

impl From<mrcnn_config::ConfigError> for TrainError {
    fn from(e: mrcnn_config::ConfigError) -> Self {
        TrainError::Config(Box::new(e))
    }
}

impl TrainError {
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        TrainError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
