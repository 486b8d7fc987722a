//! Errors of evaluation; each names what is wrong and where.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum EvalError {
    /// The ground truth or the results could not be read.
    #[error(transparent)]
    Coco(#[from] mrcnn_coco::CocoError),
    /// Results or ground truth that COCOeval cannot use (e.g. a box missing for a bbox
    /// evaluation).
    #[error("{what}: {msg}")]
    Invalid { what: String, msg: String },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
