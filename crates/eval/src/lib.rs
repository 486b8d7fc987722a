//! mrcnn-eval: COCO masks and metrics in pure Rust, numerically identical to
//! pycocotools.
//!
//! * [`rle`]: run-length encoded masks (`maskApi.c`): encode/decode, area,
//!   boxes, compressed strings, polygon rasterisation, merge, IoU.

pub mod rle;

pub use rle::{Rle, RleError, bbox_iou, iou};
