//! mrcnn-model: Mask R-CNN assembled from its stages (torchvision's `MaskRCNN` /
//! `GeneralizedRCNN`), the input transform, the training forward pass, and weights in and out.
//!
//! ```no_run
//! use burn::prelude::Device;
//! use mrcnn_model::{ImageInput, MaskRcnn};
//! use std::path::Path;
//!
//! let model = MaskRcnn::from_files(
//!     Path::new("model_configs/mask_rcnn_R_50_FPN.toml"),
//!     Path::new("pretrained_model/maskrcnn_resnet50_fpn_coco.safetensors"),
//!     &Device::flex(),
//! )?;
//! let image = ImageInput::from_image(&image::open("photo.jpg")?);
//! let pred = &model.predict(&[image])[0];
//! for i in 0..pred.len() {
//!     let mask = pred.mask_rle(i); // or mask_crop(i), mask_probabilities(i)
//!     println!("{} {:.2} {:?} {} px", model.config.class_name(pred.labels[i]), pred.scores[i],
//!              pred.boxes[i], mask.area());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

pub mod c4;
pub mod c4_training;
pub mod detector;
pub mod mask_rcnn;
pub mod prediction;
pub mod targets;
pub mod training;
pub mod transform;
pub mod weights;

pub use c4::C4MaskRcnn;
pub use detector::{Detector, Predict};
pub use mask_rcnn::MaskRcnn;
pub use prediction::Prediction;
pub use targets::TrainTarget;
pub use training::{LOSS_NAMES, Losses};
pub use transform::{ImageInput, ImageList};
pub use weights::{
    WeightsError, apply_tensors, import_c4_weights, import_weights, load_torchvision_weights,
    save_module, save_safetensors,
};
