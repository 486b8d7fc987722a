//! The training-mode forward (torchvision's `GeneralizedRCNN.forward` with targets): the
//! transform picks a shorter-side size at random and resizes images and targets, the backbone and
//! the RPN run as in inference (proposals with the training top-n), and the five losses come
//! back as scalars in the autodiff graph:
//! `loss_objectness`, `loss_rpn_box_reg` (RPN), `loss_classifier`, `loss_box_reg` (box branch on
//! the sampled proposals plus the gt boxes) and `loss_mask` (mask branch on the positives).
//!
//! Also here: torchvision's `trainable_layers` rule for freezing the first backbone stages.

use crate::mask_rcnn::MaskRcnn;
use crate::targets::{TrainTarget, resize_target, validate};
use crate::transform::{self, ImageInput, ImageList};
use burn::module::{Module, ParamGroup};
use burn::prelude::*;
use mrcnn_config::ModelConfig;
use mrcnn_core::rand::Rng;
use mrcnn_core::{BoxXyxy, Error, ResizedTarget, Result, host};
use mrcnn_rpn::loss::rpn_loss;

/// torchvision's names of the five losses, in the order of [`Losses::named`].
pub const LOSS_NAMES: [&str; 5] = [
    "loss_objectness",
    "loss_rpn_box_reg",
    "loss_classifier",
    "loss_box_reg",
    "loss_mask",
];

/// The five training losses (each a one-element tensor in the autodiff graph).
#[derive(Debug, Clone)]
pub struct Losses {
    /// RPN objectness (binary cross-entropy of the sampled anchors).
    pub objectness: Tensor<1>,
    /// RPN box regression (smooth L1 of the positive anchors).
    pub rpn_box_reg: Tensor<1>,
    /// Box head classification (cross-entropy of the sampled proposals).
    pub classifier: Tensor<1>,
    /// Box head regression (smooth L1 of the positive proposals' class deltas).
    pub box_reg: Tensor<1>,
    /// Mask head (binary cross-entropy of the positives' class masks).
    pub mask: Tensor<1>,
}

impl Losses {
    /// The losses with their torchvision names.
    pub fn named(&self) -> [(&'static str, Tensor<1>); 5] {
        let t = [
            &self.objectness,
            &self.rpn_box_reg,
            &self.classifier,
            &self.box_reg,
            &self.mask,
        ];
        std::array::from_fn(|i| (LOSS_NAMES[i], t[i].clone()))
    }

    /// Their sum, the quantity that is minimised.
    pub fn total(&self) -> Tensor<1> {
        self.objectness.clone()
            + self.rpn_box_reg.clone()
            + self.classifier.clone()
            + self.box_reg.clone()
            + self.mask.clone()
    }

    /// The values on the host (reads the device; for logging).
    pub fn values(&self) -> [(&'static str, f32); 5] {
        self.named().map(|(n, t)| (n, host::to_vec(t.detach())[0]))
    }
}

impl MaskRcnn {
    /// torchvision's `trainable_layers` rule: of `[layer4, layer3, layer2, layer1, conv1]`, the
    /// first `backbone.trainable_layers` train, the parameters of the others are frozen (the FPN
    /// and heads always train; frozen batch norm never does).
    pub fn freeze_backbone_stages(self) -> Self {
        let cfg = self.config.clone();
        freeze_backbone_stages(self, &cfg)
    }

    /// The training shorter side: one of `input.min_size` at random (torchvision's `torch_choice`).
    pub fn choose_train_min_size<R: Rng + ?Sized>(&self, rng: &mut R) -> usize {
        choose_train_min_size(&self.config, rng)
    }

    /// Training transform: normalise, resize to `min_size`, batch; targets resized alike.
    pub fn transform_train(
        &self,
        images: &[ImageInput],
        targets: &[TrainTarget],
        min_size: usize,
    ) -> Result<(ImageList, Vec<ResizedTarget>)> {
        transform_train(&self.config, &self.device(), images, targets, min_size)
    }

    /// The five losses of a training batch; `rng` picks the size and drives the samplers.
    pub fn forward_train<R: Rng + ?Sized>(
        &self,
        images: &[ImageInput],
        targets: &[TrainTarget],
        rng: &mut R,
    ) -> Result<Losses> {
        let min_size = self.choose_train_min_size(rng);
        let (batch, targets) = self.transform_train(images, targets, min_size)?;
        self.forward_train_batch(&batch, &targets, rng)
    }

    /// The losses of an already transformed batch.
    pub fn forward_train_batch<R: Rng + ?Sized>(
        &self,
        batch: &ImageList,
        targets: &[ResizedTarget],
        rng: &mut R,
    ) -> Result<Losses> {
        let cfg = &self.config;
        let features = self.features(batch);
        let rpn_out = self.rpn_output(batch, &features);
        let proposals: Vec<Vec<BoxXyxy>> = self
            .proposals(batch, &rpn_out, true)
            .into_iter()
            .map(|p| p.boxes)
            .collect();
        let gt_boxes: Vec<Vec<BoxXyxy>> = targets.iter().map(|t| t.boxes.clone()).collect();
        let rpn = rpn_loss(&rpn_out, &gt_boxes, &cfg.rpn, rng)?;
        let roi = self
            .roi_heads
            .losses(&features, &proposals, targets, cfg, rng)?;
        Ok(Losses {
            objectness: rpn.objectness,
            rpn_box_reg: rpn.box_reg,
            classifier: roi.classifier,
            box_reg: roi.box_reg,
            mask: roi.mask,
        })
    }
}

/// torchvision's `trainable_layers` rule on any model with a `backbone.body` ResNet: of
/// `[layer4, layer3, layer2, layer1, conv1]`, the first `backbone.trainable_layers` train, the
/// parameters of the others (and the stem's batch norm with conv1) are frozen.
pub fn freeze_backbone_stages<M: Module>(model: M, cfg: &ModelConfig) -> M {
    let stages = ["layer4", "layer3", "layer2", "layer1", "conv1"];
    let trainable = cfg.backbone.trainable_layers.min(stages.len());
    let mut frozen: Vec<&str> = stages[trainable..].to_vec();
    if trainable < stages.len() {
        frozen.push("bn1");
    }
    if frozen.is_empty() {
        return model;
    }
    let pattern = format!(r"^backbone\.body\.({})\.", frozen.join("|"));
    let group = ParamGroup::from_regex(&pattern).expect("the stage pattern is a valid regex");
    model.freeze_group(group)
}

/// One of `input.min_size` at random (torchvision's `torch_choice`).
pub fn choose_train_min_size<R: Rng + ?Sized>(cfg: &ModelConfig, rng: &mut R) -> usize {
    let sizes = &cfg.input.min_size;
    sizes[rng.random_range(0..sizes.len())]
}

/// The training transform of either model: checks the batch, normalises, resizes to
/// `min_size` and batches the images on `device`, and resizes the targets alike.
pub fn transform_train(
    cfg: &ModelConfig,
    device: &Device,
    images: &[ImageInput],
    targets: &[TrainTarget],
    min_size: usize,
) -> Result<(ImageList, Vec<ResizedTarget>)> {
    if images.is_empty() || images.len() != targets.len() {
        return Err(Error::Batch(format!(
            "training batch: {} images and {} targets; give one target per image, at least one image",
            images.len(),
            targets.len()
        )));
    }
    for (i, (img, t)) in images.iter().zip(targets).enumerate() {
        if img.height == 0 || img.width == 0 || img.data.len() != 3 * img.height * img.width {
            return Err(Error::Batch(format!(
                "training image {i}: {}x{} with {} values (expected 3 x height x width)",
                img.height,
                img.width,
                img.data.len()
            )));
        }
        validate(t, i, [img.height, img.width], cfg.num_classes)?;
    }
    let batch = transform::transform(images, &cfg.input, min_size, device);
    let resized = targets
        .iter()
        .zip(images)
        .zip(&batch.image_sizes)
        .enumerate()
        .map(|(i, ((t, img), &hw))| {
            resize_target(
                t,
                i,
                [img.height, img.width],
                hw,
                cfg.input.degenerate_boxes,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((batch, resized))
}
