//! mrcnn-coco: the COCO structures every other crate shares.
//!
//! * [`rle`]: run-length encoded masks exactly as pycocotools' `maskApi.c` (encode, decode,
//!   area, boxes, compressed strings, polygon rasterisation, merge, IoU).
//! * [`schema`]: the JSON shapes of instances files and results lists, for reading and writing.
//! * [`CocoGt`]: a ground truth decoded and checked for evaluation, and results read against it.
//! * [`LenientInstances`]: an instances file read entry by entry, for dataset readers.
//! * [`MaskCrop`]: a mask kept only inside its box, with its RLE computed on demand.
//! * [`files`]: atomic writes for every file the project produces.

mod crop;
mod error;
pub mod files;
mod ground_truth;
mod lenient;
mod polygon;
pub mod rle;
pub mod schema;

pub use crop::MaskCrop;
pub use error::CocoError;
pub use ground_truth::{CocoGt, GtAnnotation, results_to_json};
pub use lenient::LenientInstances;
pub use rle::{Rle, RleError, addressable, bbox_iou, iou};
pub use schema::{
    Annotation, Category, Counts, Detection, Image, Instances, RawSegmentation, ResultRecord,
    Segmentation,
};
