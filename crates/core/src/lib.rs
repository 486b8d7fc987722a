//! Parts shared by every Mask R-CNN stage: the model config (all defaults in one place), box
//! utilities, anchors, the box coder, NMS and RoIAlign.
//!
//! Discrete logic (top-k, NMS, matching, level assignment) runs on the host on plain `Vec`s:
//! it is cheap, identical on every backend, and easy to compare with torchvision. Everything that
//! carries gradients (convolutions, RoIAlign sampling, losses) stays on the device as tensors.

pub mod anchors;
pub mod box_coder;
pub mod boxes;
pub mod config;
pub mod error;
pub mod host;
pub mod losses;
pub mod matcher;
pub mod nms;
pub mod poolers;
pub mod roi_align;
pub mod sampler;
pub mod testing;

pub use config::ModelConfig;
pub use error::{Error, Result};
pub use rand;
pub use rand_chacha;

/// A box as `[x1, y1, x2, y2]` in pixels.
pub type BoxXyxy = [f32; 4];
