//! Parts shared by every Mask R-CNN stage: the convolution forward (1x1 as a matrix product), box utilities, anchors, the box coder, the matcher and
//! the balanced sampler, NMS, RoIAlign and the multi-scale pooler, TensorFlow's crop_and_resize, the losses, the targets of a
//! training batch, and the choice of the compute device. The model config they read is
//! `mrcnn-config`'s.
//!
//! Discrete logic (top-k, NMS, matching, level assignment) runs on the host on plain `Vec`s:
//! it is cheap, identical on every backend, and easy to compare with torchvision. Everything that
//! carries gradients (convolutions, RoIAlign sampling, losses) stays on the device as tensors.

pub mod activation;
pub mod anchors;
mod blocks;
pub mod box_coder;
pub mod boxes;
pub mod conv;
mod conv_flex;
pub mod crop_and_resize;
pub mod device;
pub mod error;
mod flex_backend;
mod gemm;
pub mod host;
pub mod losses;
pub mod matcher;
pub mod nms;
mod par;
mod pointwise_flex;
pub mod poolers;
mod relu_flex;
pub mod roi_align;
pub mod sampler;
mod scale_flex;
pub mod sgd;
mod sgd_flex;
mod taps_flex;
pub mod targets;
mod winograd_flex;

pub use device::{DeviceError, device, device_by_name};
pub use error::{Error, Result};
pub use rand;
pub use rand_chacha;
pub use targets::ResizedTarget;

/// A box as `[x1, y1, x2, y2]` in pixels.
pub type BoxXyxy = [f32; 4];
