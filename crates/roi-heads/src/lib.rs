//! The ROI heads (torchvision's `RoIHeads`): the box branch (two-layer MLP head `fc6`/`fc7`,
//! predictor `cls_score`/`bbox_pred`, post-processing into detections, training samples and
//! `fastrcnn_loss`) and, through `mrcnn-mask-head`, the mask branch, run together by
//! [`RoiHeads`].

pub mod box_head;
pub mod loss;
pub mod postprocess;
pub mod roi_heads;
pub mod targets;

pub use box_head::{FastRcnnPredictor, TwoMlpHead};
pub use postprocess::{Detections, postprocess_detections};
pub use roi_heads::{BoxOutput, RoiHeads, RoiLosses, rois_of};
