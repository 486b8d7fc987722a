//! The box branch of the ROI heads: the two-layer MLP head (`fc6`, `fc7`), the predictor
//! (`cls_score`, `bbox_pred`) and the post-processing that turns their outputs into detections.

pub mod box_head;
pub mod loss;
pub mod postprocess;
pub mod targets;

pub use box_head::{FastRcnnPredictor, TwoMlpHead};
pub use postprocess::{Detections, postprocess_detections};
