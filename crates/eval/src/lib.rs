//! mrcnn-eval: COCO masks and metrics in pure Rust, numerically identical to
//! pycocotools (2.0.x).
//!
//! * [`coco_eval`]: COCOeval for `bbox` and `segm` ([`evaluate`]) on a ground truth and results
//!   read with `mrcnn-coco` (re-exported here: [`CocoGt`], [`Detection`]).
//! * [`report`]: per-category tables and `metrics.json`.
//!
//! Pictures of the results (precision-recall curves) are drawn by `mrcnn-draw`.
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
mod error;
mod matching;
pub mod params;
mod prepare;
pub mod report;
mod result;
mod summary;

pub use coco_eval::evaluate;
pub use error::EvalError;
pub use mrcnn_coco::{CocoGt, Detection, Rle, Segmentation};
pub use result::{CategoryStats, EvalResult, IouType, SimpleStats};
