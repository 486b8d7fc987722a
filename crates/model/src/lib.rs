//! Mask R-CNN assembled from its stages (torchvision's `MaskRCNN` / `GeneralizedRCNN`), the input
//! transform, and loading torchvision-layout weights.

pub mod import;
pub mod mask_rcnn;
pub mod targets;
pub mod training;
pub mod transform;
pub mod weights;

pub use mask_rcnn::{MaskRcnn, Prediction, RoiHeads};
pub use transform::{ImageInput, ImageList};
pub use weights::load_torchvision_weights;
