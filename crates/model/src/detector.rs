//! [`Detector`]: either architecture behind one interface, for the commands (`train`,
//! `predict`, `eval`, `import-weights`): the model config's `architecture` picks [`MaskRcnn`]
//! (FPN) or [`C4MaskRcnn`] (the TF OD API's single-level model).

use std::path::Path;

use burn::prelude::*;
use mrcnn_config::{Architecture, ModelConfig, WeightsFormat};
use mrcnn_import::{ImportOptions, ImportReport};

use crate::targets::TrainTarget;
use crate::training::{Losses, freeze_backbone_stages};
use crate::weights::{
    WeightsError, import_c4_weights, import_weights, load_torchvision_weights, save_module,
};
use crate::{C4MaskRcnn, ImageInput, MaskRcnn, Prediction};
use mrcnn_core::rand::Rng;

/// Inference on a batch of images, whatever the architecture.
pub trait Predict {
    /// Detections of each image, in its original pixels.
    fn predict(&self, images: &[ImageInput]) -> Vec<Prediction>;
}

impl Predict for MaskRcnn {
    fn predict(&self, images: &[ImageInput]) -> Vec<Prediction> {
        MaskRcnn::predict(self, images)
    }
}

impl Predict for C4MaskRcnn {
    fn predict(&self, images: &[ImageInput]) -> Vec<Prediction> {
        C4MaskRcnn::predict(self, images)
    }
}

impl Predict for Detector {
    fn predict(&self, images: &[ImageInput]) -> Vec<Prediction> {
        match self {
            Self::Fpn(m) => m.predict(images),
            Self::C4(m) => m.predict(images),
        }
    }
}

/// A Mask R-CNN of either architecture (a module: the trainer trains either).
// One detector per process, of similar sizes: boxing a variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Detector {
    /// ResNet-FPN (torchvision, Detectron2, MMDetection).
    Fpn(MaskRcnn),
    /// The OD API's C4 model.
    C4(C4MaskRcnn),
}

impl Detector {
    /// A model of `config`'s architecture with freshly initialised weights.
    pub fn new(config: ModelConfig, device: &Device) -> mrcnn_core::Result<Self> {
        Ok(match config.architecture {
            Architecture::Fpn => Self::Fpn(MaskRcnn::new(config, device)?),
            Architecture::C4 => Self::C4(C4MaskRcnn::new(config, device)?),
        })
    }

    /// The five losses of a training batch (original pixels); `rng` picks the training size
    /// and drives the samplers.
    pub fn forward_train<R: Rng + ?Sized>(
        &self,
        images: &[ImageInput],
        targets: &[TrainTarget],
        rng: &mut R,
    ) -> mrcnn_core::Result<Losses> {
        match self {
            Self::Fpn(m) => m.forward_train(images, targets, rng),
            Self::C4(m) => m.forward_train(images, targets, rng),
        }
    }

    /// Freezes the first backbone stages (`backbone.trainable_layers`).
    pub fn freeze_backbone_stages(self) -> Self {
        let cfg = self.config().clone();
        freeze_backbone_stages(self, &cfg)
    }

    /// The model of `config` with the weights of `path`: torchvision-layout files as they are
    /// (what `import-weights` writes, for either architecture), other frameworks' checkpoints
    /// imported with head surgery (`format` `Auto` decides by the path).
    pub fn load(
        config: ModelConfig,
        path: &Path,
        format: WeightsFormat,
        device: &Device,
    ) -> Result<Self, WeightsError> {
        match (config.architecture, format.resolve(path)) {
            (Architecture::Fpn, _) => Ok(Self::Fpn(MaskRcnn::load(config, path, format, device)?)),
            (Architecture::C4, WeightsFormat::Torchvision | WeightsFormat::Auto) => Ok(Self::C4(
                load_torchvision_weights(C4MaskRcnn::new(config, device)?, path)?,
            )),
            (Architecture::C4, f) => {
                let opts = ImportOptions::default();
                Ok(Self::C4(
                    import_c4_weights(f, path, &config, device, &opts)?.0,
                ))
            }
        }
    }

    /// Imports another framework's checkpoint into the architecture of `cfg`.
    pub fn import(
        format: WeightsFormat,
        path: &Path,
        cfg: &ModelConfig,
        device: &Device,
        opts: &ImportOptions,
    ) -> Result<(Self, ImportReport), WeightsError> {
        Ok(match cfg.architecture {
            Architecture::Fpn => {
                let (m, r) = import_weights(format, path, cfg, device, opts)?;
                (Self::Fpn(m), r)
            }
            Architecture::C4 => {
                let (m, r) = import_c4_weights(format, path, cfg, device, opts)?;
                (Self::C4(m), r)
            }
        })
    }

    /// The architecture the model was built from.
    pub fn config(&self) -> &ModelConfig {
        match self {
            Self::Fpn(m) => &m.config,
            Self::C4(m) => &m.config,
        }
    }

    /// Writes the weights as torchvision-layout safetensors.
    pub fn save_safetensors(&self, out: &Path) -> Result<(), WeightsError> {
        let n = self.config().num_classes;
        match self {
            Self::Fpn(m) => save_module(m, n, out),
            Self::C4(m) => save_module(m, n, out),
        }
    }
}
