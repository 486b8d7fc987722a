//! The assembled model (torchvision's `MaskRCNN` / `GeneralizedRCNN`): transform, backbone with
//! FPN, RPN, ROI heads. Inference runs the stages in torchvision's order; each stage is a public
//! method (the ROI heads' stages are `roi_heads`' own) so the parity tests can compare them one
//! by one.

use crate::prediction::{MaskPaste, Prediction};
use crate::transform::{self, ImageInput, ImageList};
use burn::prelude::*;
use mrcnn_backbone::BackboneWithFpn;
use mrcnn_config::{Architecture, InvalidValue, ModelConfig};
use mrcnn_core::BoxXyxy;
use mrcnn_roi_heads::{Detections, RoiHeads};
use mrcnn_rpn::{Proposals, Rpn, RpnOutput, proposals_from_output};

/// Mask R-CNN (module paths follow torchvision's state-dict names).
#[derive(Module, Debug)]
pub struct MaskRcnn {
    /// ResNet body and FPN (`backbone.body.*`, `backbone.fpn.*`).
    pub backbone: BackboneWithFpn,
    /// The RPN head (`rpn.head.*`).
    pub rpn: Rpn,
    /// Box and mask branches (`roi_heads.*`).
    pub roi_heads: RoiHeads,
    /// The architecture the model was built from (classes included).
    #[module(skip)]
    pub config: ModelConfig,
}

impl MaskRcnn {
    /// A model with freshly initialised weights.
    pub fn new(config: ModelConfig, device: &Device) -> mrcnn_core::Result<Self> {
        config.validate()?;
        if config.architecture != Architecture::Fpn {
            return Err(InvalidValue::new(
                "architecture",
                "= \"c4\": this config is the C4 model; build C4MaskRcnn (or Detector, \
                 which picks the architecture)",
            )
            .into());
        }
        // The ROI heads first: parameters draw from the device's seeded generator in the order
        // they are built, and this order gives the initial weights runs were seeded with.
        let roi_heads = RoiHeads::new(&config, device);
        Ok(Self {
            backbone: BackboneWithFpn::new(&config, device)?,
            rpn: Rpn::new(config.fpn.out_channels, &config.anchors, device),
            roi_heads,
            config,
        })
    }

    /// Device of the weights.
    pub fn device(&self) -> Device {
        self.backbone.body.conv1.weight.device()
    }

    /// Normalise, resize (test size: the last `min_size`) and batch.
    pub fn transform(&self, images: &[ImageInput]) -> ImageList {
        let min = *self
            .config
            .input
            .min_size
            .last()
            .expect("validated: non-empty");
        transform::transform(images, &self.config.input, min, &self.device())
    }

    /// P2..P6.
    pub fn features(&self, batch: &ImageList) -> Vec<Tensor<4>> {
        self.backbone.forward(batch.tensor.clone())
    }

    /// RPN head outputs and anchors.
    pub fn rpn_output(&self, batch: &ImageList, features: &[Tensor<4>]) -> RpnOutput {
        let [_, _, h, w] = batch.tensor.dims();
        self.rpn.forward(features, [h, w], &self.config.anchors)
    }

    /// Proposals per image.
    pub fn proposals(&self, batch: &ImageList, rpn: &RpnOutput, training: bool) -> Vec<Proposals> {
        proposals_from_output(rpn, &batch.image_sizes, &self.config.rpn, training)
    }

    /// Maps detections back to the original images; the masks stay at the mask head's
    /// resolution (see [`Prediction`]).
    pub fn postprocess(
        &self,
        batch: &ImageList,
        dets: Vec<Detections>,
        masks: Vec<Vec<Vec<f32>>>,
    ) -> Vec<Prediction> {
        let m = 2 * self.config.mask_head.pooler_resolution;
        Prediction::of_batch(batch, dets, masks, m, &self.config, MaskPaste::Torchvision)
    }

    /// Full inference on a batch of images.
    pub fn predict(&self, images: &[ImageInput]) -> Vec<Prediction> {
        if images.is_empty() {
            return Vec::new();
        }
        let batch = self.transform(images);
        let features = self.features(&batch);
        let rpn = self.rpn_output(&batch, &features);
        let proposals: Vec<Vec<BoxXyxy>> = self
            .proposals(&batch, &rpn, false)
            .into_iter()
            .map(|p| p.boxes)
            .collect();
        let (dets, masks) =
            self.roi_heads
                .forward(&features, &proposals, &batch.image_sizes, &self.config);
        self.postprocess(&batch, dets, masks)
    }
}
