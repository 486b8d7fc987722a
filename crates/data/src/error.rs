//! Errors and the bad-sample policy.
//!
//! User data is messy: a reader must neither panic nor silently drop what it
//! cannot use. Every defect becomes a [`Problem`] naming the file, record and
//! annotation it came from; [`ProblemLog`] then either stops at the first one
//! ([`OnBadSample::Error`]) or counts it and skips the sample
//! ([`OnBadSample::Skip`]), so the final [`Report`] says exactly what was left out.

use std::fmt;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// Everything that can go wrong in this crate.
#[derive(Debug, Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {msg}", path.display())]
    Format { path: PathBuf, msg: String },
    /// A bad sample under [`OnBadSample::Error`].
    #[error(
        "{0} (to skip such samples: --on-bad-sample skip, or dataset.on_bad_sample = \"skip\" \
         in an experiment)"
    )]
    BadSample(Problem),
    /// Options that cannot be meant (e.g. 0 shards, a validation folder that does not exist).
    #[error("{0}")]
    Options(String),
}

impl DataError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
    pub fn format(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        DataError::Format {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// Why a small piece of data (a protobuf message, a label map) does not parse: a message for a
/// [`Problem`] or a [`DataError::Format`]; there is no deeper cause to keep.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<&str> for Invalid {
    fn from(s: &str) -> Self {
        Invalid(s.to_string())
    }
}

impl From<String> for Invalid {
    fn from(s: String) -> Self {
        Invalid(s)
    }
}

/// What to do with a sample (image or annotation) that cannot be used: stop with an error
/// naming it, or skip it, record it and report the count at the end.
pub use mrcnn_config::OnBadSample;

/// The kind of defect, so callers and tests can match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum ProblemKind {
    MissingFile,
    CorruptImage,
    CrcMismatch,
    TruncatedRecord,
    BadRecord,
    BadPolygon,
    BadRle,
    BadBox,
    EmptyMask,
    MaskSizeMismatch,
    NotBinary,
    BadArea,
    UnknownClass,
    UnknownImage,
    DuplicateId,
    UnknownShape,
    ImageSizeMismatch,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ProblemKind::MissingFile => "missing file",
            ProblemKind::CorruptImage => "corrupt image",
            ProblemKind::CrcMismatch => "CRC mismatch",
            ProblemKind::TruncatedRecord => "truncated record",
            ProblemKind::BadRecord => "bad record",
            ProblemKind::BadPolygon => "bad polygon",
            ProblemKind::BadRle => "bad RLE",
            ProblemKind::BadBox => "bad box",
            ProblemKind::EmptyMask => "empty mask",
            ProblemKind::MaskSizeMismatch => "mask size mismatch",
            ProblemKind::UnknownClass => "unknown class",
            ProblemKind::UnknownImage => "unknown image",
            ProblemKind::DuplicateId => "duplicate id",
            ProblemKind::NotBinary => "mask not binary",
            ProblemKind::BadArea => "bad area",
            ProblemKind::UnknownShape => "unknown shape",
            ProblemKind::ImageSizeMismatch => "image size mismatch",
        };
        f.write_str(s)
    }
}

/// One defect, located as precisely as the format allows.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The file it was found in.
    pub file: PathBuf,
    /// Image index (COCO `images[]`, mask-folder image) or record index (TFRecord).
    pub record: Option<usize>,
    /// Annotation index (COCO `annotations[]`) or instance index within a record.
    pub annotation: Option<usize>,
    pub detail: String,
}

impl Problem {
    pub fn new(kind: ProblemKind, file: impl AsRef<Path>, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            file: file.as_ref().to_path_buf(),
            record: None,
            annotation: None,
            detail: detail.into(),
        }
    }
    pub fn record(mut self, i: usize) -> Self {
        self.record = Some(i);
        self
    }
    pub fn annotation(mut self, i: usize) -> Self {
        self.annotation = Some(i);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(r) = self.record {
            write!(f, " record {r}")?;
        }
        if let Some(a) = self.annotation {
            write!(f, " annotation {a}")?;
        }
        write!(f, ": {}: {}", self.kind, self.detail)
    }
}

/// What a skipped problem cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skipped {
    Image,
    Annotation,
}

/// Collects problems under a policy.
#[derive(Debug, Default)]
pub struct ProblemLog {
    pub policy: OnBadSample,
    pub problems: Vec<Problem>,
    pub skipped_images: usize,
    pub skipped_annotations: usize,
}

impl ProblemLog {
    pub fn new(policy: OnBadSample) -> Self {
        ProblemLog {
            policy,
            ..Default::default()
        }
    }

    /// Record `p`; under [`OnBadSample::Error`] return it as the error.
    pub fn bad(&mut self, p: Problem, skipped: Skipped) -> Result<(), DataError> {
        match self.policy {
            OnBadSample::Error => Err(DataError::BadSample(p)),
            OnBadSample::Skip => {
                match skipped {
                    Skipped::Image => self.skipped_images += 1,
                    Skipped::Annotation => self.skipped_annotations += 1,
                }
                self.problems.push(p);
                Ok(())
            }
        }
    }

    /// Fold another log (e.g. of a second split) into this one.
    pub fn absorb(&mut self, other: ProblemLog) {
        self.problems.extend(other.problems);
        self.skipped_images += other.skipped_images;
        self.skipped_annotations += other.skipped_annotations;
    }
}

/// The outcome of a command: what was done and what was skipped.
#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    /// Human-readable lines: files written, counts.
    pub lines: Vec<String>,
    pub problems: Vec<Problem>,
    pub skipped_images: usize,
    pub skipped_annotations: usize,
}

impl Report {
    pub fn add_log(&mut self, log: ProblemLog) {
        self.problems.extend(log.problems);
        self.skipped_images += log.skipped_images;
        self.skipped_annotations += log.skipped_annotations;
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            writeln!(f, "{l}")?;
        }
        for p in &self.problems {
            writeln!(f, "skipped: {p}")?;
        }
        write!(
            f,
            "{} problem(s); skipped {} image(s), {} annotation(s)",
            self.problems.len(),
            self.skipped_images,
            self.skipped_annotations
        )
    }
}
