pub mod coco;
pub mod error;
pub mod labelmap;
pub mod model;
pub mod sample;
pub mod synth;
pub mod tfrecord;
pub mod transforms;

pub use error::{DataError, OnBadSample, Problem, ProblemKind, ProblemLog, Report};
pub use model::{Category, Dataset, ImageRecord, ImageSource, Instance};
pub use mrcnn_eval::rle::Rle;
pub use sample::{Sample, load_sample};
