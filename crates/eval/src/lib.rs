//! mrcnn-eval: COCO masks and metrics in pure Rust, numerically identical to
//! pycocotools (2.0.x).
//!
//! * [`rle`]: run-length encoded masks (`maskApi.c`): encode/decode, area,
//!   boxes, compressed strings, polygon rasterisation, merge, IoU.
//! * [`dataset`]: ground-truth and results JSON loading.
//! * [`coco_eval`]: COCOeval for `bbox` and `segm` ([`evaluate`]).
//!
//! ```no_run
//! use mrcnn_eval::{CocoGt, IouType, evaluate};
//! let gt = CocoGt::from_file("instances_val.json")?;
//! let dets = gt.load_results_file("results.json")?;
//! let r = evaluate(&gt, &dets, IouType::Segm)?;
//! println!("{}", r.table());
//! # Ok::<(), mrcnn_eval::EvalError>(())
//! ```

mod accumulate;
pub mod coco_eval;
pub mod dataset;
pub mod draw;
mod error;
pub mod font;
mod matching;
pub mod output;
pub mod params;
pub mod plot;
mod polygon;
pub mod pr_curves;
mod prepare;
pub mod report;
pub mod rle;
mod summary;
pub mod training_log;

pub use coco_eval::{CategoryStats, EvalResult, IouType, SimpleStats, evaluate};
pub use dataset::{
    CocoCategory, CocoGt, CocoImage, Detection, GtAnnotation, Segmentation, results_to_json,
};
pub use error::EvalError;
pub use rle::{Rle, RleError, bbox_iou, iou};
