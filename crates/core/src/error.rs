//! The error type of the model crates: every message names the config key, image or box involved.

use mrcnn_config::InvalidValue;

/// Errors raised while building or running the model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model config value that cannot be built.
    #[error("invalid model config: {0}")]
    Config(#[from] InvalidValue),
    /// Matcher thresholds out of order.
    #[error("matcher: low threshold {low} must be <= high threshold {high}")]
    Thresholds { low: f32, high: f32 },
    /// A training batch that does not fit the model: images and targets that do not agree, a
    /// label out of range, a degenerate box under the `error` policy.
    #[error("{0}")]
    Batch(String),
}

pub type Result<T> = std::result::Result<T, Error>;
