//! [`RoiHeads`]: the box and mask branches run together, as torchvision's `RoIHeads` runs them.
//!
//! Inference: multi-scale RoIAlign of the proposals, the two-layer MLP head and the predictor,
//! detection post-processing, then the mask branch on the final detections (each detection's
//! class channel, sigmoid). Training: proposals plus gt boxes are matched and sampled, the box
//! branch gives `loss_classifier` and `loss_box_reg` on the samples, and the mask branch
//! `loss_mask` on the positives.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use mrcnn_config::ModelConfig;
use mrcnn_core::rand::Rng;
use mrcnn_core::roi_align::Roi;
use mrcnn_core::{BoxXyxy, ResizedTarget, Result, host, poolers};
use mrcnn_mask_head::loss::{maskrcnn_loss, project_masks_on_boxes};
use mrcnn_mask_head::{MaskHead, MaskPredictor, class_mask_probs};

use crate::box_head::{FastRcnnPredictor, TwoMlpHead};
use crate::loss::fastrcnn_loss;
use crate::postprocess::{Detections, postprocess_detections};
use crate::targets::{RoiSamples, select_training_samples};

/// Box and mask branches (torchvision names: `roi_heads.box_head`, `.box_predictor`,
/// `.mask_head`, `.mask_predictor`).
#[derive(Module, Debug)]
pub struct RoiHeads {
    pub box_head: TwoMlpHead,
    pub box_predictor: FastRcnnPredictor,
    pub mask_head: MaskHead,
    pub mask_predictor: MaskPredictor,
}

/// Outputs of the box branch for a batch of proposals.
#[derive(Debug, Clone)]
pub struct BoxOutput {
    /// `[K, num_classes]` logits.
    pub class_logits: Tensor<2>,
    /// `[K, num_classes * 4]` deltas.
    pub box_regression: Tensor<2>,
}

/// The three losses of the ROI heads (each a one-element tensor in the autodiff graph).
#[derive(Debug, Clone)]
pub struct RoiLosses {
    pub classifier: Tensor<1>,
    pub box_reg: Tensor<1>,
    pub mask: Tensor<1>,
}

/// Boxes of several images as `(image index, box)` rows.
pub fn rois_of(boxes: &[Vec<BoxXyxy>]) -> Vec<Roi> {
    boxes
        .iter()
        .enumerate()
        .flat_map(|(i, b)| b.iter().map(move |b| (i, *b)))
        .collect()
}

impl RoiHeads {
    /// Freshly initialised branches for `config` (FPN channels, resolutions, classes).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        let c = config.fpn.out_channels;
        let rh = &config.roi_heads;
        let mh = &config.mask_head;
        let r = rh.pooler_resolution;
        Self {
            box_head: TwoMlpHead::new(c * r * r, rh.representation_size, device),
            box_predictor: FastRcnnPredictor::new(
                rh.representation_size,
                config.num_classes,
                device,
            ),
            mask_head: MaskHead::new(c, &mh.conv_dims, mh.dilation, device),
            mask_predictor: MaskPredictor::new(
                *mh.conv_dims.last().expect("validated: non-empty"),
                mh.predictor_dim,
                config.num_classes,
                device,
            ),
        }
    }

    /// Box branch on the concatenated boxes of all images (`rois` carry the image index);
    /// `features` are P2..P6 (the pooler reads P2..P5).
    pub fn box_branch(&self, features: &[Tensor<4>], rois: &[Roi], cfg: &ModelConfig) -> BoxOutput {
        let pooled = poolers::multiscale_roi_align(
            &features[..4],
            rois,
            cfg.roi_heads.pooler_resolution,
            &cfg.roi_heads.pooler,
        );
        let x = self.box_head.forward(pooled);
        let (class_logits, box_regression) = self.box_predictor.forward(x);
        BoxOutput {
            class_logits,
            box_regression,
        }
    }

    /// Mask logits `[K, num_classes, 2r, 2r]` for `rois`.
    pub fn mask_logits(
        &self,
        features: &[Tensor<4>],
        rois: &[Roi],
        cfg: &ModelConfig,
    ) -> Tensor<4> {
        let pooled = poolers::multiscale_roi_align(
            &features[..4],
            rois,
            cfg.mask_head.pooler_resolution,
            &cfg.mask_head.pooler,
        );
        let x = self.mask_head.forward(pooled);
        self.mask_predictor.forward(x)
    }

    /// Detections per image (in the resized images' pixels, `image_sizes` `[h, w]`) from the box
    /// branch outputs of `proposals`.
    pub fn detections(
        &self,
        image_sizes: &[[usize; 2]],
        proposals: &[Vec<BoxXyxy>],
        out: &BoxOutput,
        cfg: &ModelConfig,
    ) -> Vec<Detections> {
        let k = cfg.num_classes;
        let probs = host::to_vec(softmax(out.class_logits.clone(), 1));
        let deltas = host::to_vec(out.box_regression.clone());
        let mut start = 0;
        proposals
            .iter()
            .zip(image_sizes)
            .map(|(p, &hw)| {
                let n = p.len();
                let d = postprocess_detections(
                    &probs[start * k..(start + n) * k],
                    &deltas[start * k * 4..(start + n) * k * 4],
                    p,
                    k,
                    hw,
                    &cfg.roi_heads,
                    cfg.rpn.bbox_xform_clip,
                );
                start += n;
                d
            })
            .collect()
    }

    /// Mask probabilities `m x m` (row-major) of each detection's class, per image.
    pub fn mask_probs(
        &self,
        features: &[Tensor<4>],
        dets: &[Detections],
        cfg: &ModelConfig,
    ) -> Vec<Vec<Vec<f32>>> {
        let boxes: Vec<Vec<BoxXyxy>> = dets.iter().map(|d| d.boxes.clone()).collect();
        let rois = rois_of(&boxes);
        if rois.is_empty() {
            return dets.iter().map(|_| Vec::new()).collect();
        }
        let logits = self.mask_logits(features, &rois, cfg);
        let labels: Vec<Vec<usize>> = dets.iter().map(|d| d.labels.clone()).collect();
        class_mask_probs(logits, &labels)
    }

    /// Inference: detections of each image (resized pixels) and their `m x m` mask
    /// probabilities.
    pub fn forward(
        &self,
        features: &[Tensor<4>],
        proposals: &[Vec<BoxXyxy>],
        image_sizes: &[[usize; 2]],
        cfg: &ModelConfig,
    ) -> (Vec<Detections>, Vec<Vec<Vec<f32>>>) {
        let rois = rois_of(proposals);
        let dets = if rois.is_empty() {
            proposals.iter().map(|_| Detections::default()).collect()
        } else {
            let out = self.box_branch(features, &rois, cfg);
            self.detections(image_sizes, proposals, &out, cfg)
        };
        let masks = self.mask_probs(features, &dets, cfg);
        (dets, masks)
    }

    /// Training: the box and mask losses of `proposals` (per image, detached) against
    /// `targets`; `rng` drives the sampler.
    pub fn losses<R: Rng + ?Sized>(
        &self,
        features: &[Tensor<4>],
        proposals: &[Vec<BoxXyxy>],
        targets: &[ResizedTarget],
        cfg: &ModelConfig,
        rng: &mut R,
    ) -> Result<RoiLosses> {
        let gt_boxes: Vec<Vec<BoxXyxy>> = targets.iter().map(|t| t.boxes.clone()).collect();
        let gt_labels: Vec<Vec<usize>> = targets.iter().map(|t| t.labels.clone()).collect();
        let samples = select_training_samples(
            proposals,
            &gt_boxes,
            &gt_labels,
            &cfg.roi_heads,
            cfg.rpn.bbox_xform_clip,
            rng,
        )?;
        let sampled: Vec<Vec<BoxXyxy>> = samples.iter().map(|s| s.boxes.clone()).collect();
        let rois = rois_of(&sampled);
        if rois.is_empty() {
            // Nothing to classify (no proposal and no object anywhere): zero losses in the graph.
            let zero = features[0].clone().sum().mul_scalar(0.0);
            return Ok(RoiLosses {
                classifier: zero.clone(),
                box_reg: zero.clone(),
                mask: zero,
            });
        }
        let out = self.box_branch(features, &rois, cfg);
        let labels: Vec<usize> = samples
            .iter()
            .flat_map(|s| s.labels.iter().copied())
            .collect();
        let reg_targets: Vec<[f32; 4]> = samples
            .iter()
            .flat_map(|s| s.regression_targets.iter().copied())
            .collect();
        let (classifier, box_reg) = fastrcnn_loss(
            out.class_logits,
            out.box_regression,
            &labels,
            &reg_targets,
            cfg.roi_heads.smooth_l1_beta,
        );
        let mask = self.mask_loss(features, &samples, targets, &rois, cfg);
        Ok(RoiLosses {
            classifier,
            box_reg,
            mask,
        })
    }

    /// `loss_mask` on the positive samples; with none, the mask branch still runs on one sampled
    /// box and contributes zero, so its parameters get zero gradients as in torchvision.
    fn mask_loss(
        &self,
        features: &[Tensor<4>],
        samples: &[RoiSamples],
        targets: &[ResizedTarget],
        rois: &[Roi],
        cfg: &ModelConfig,
    ) -> Tensor<1> {
        let mut pos_rois = Vec::new();
        let mut pos_labels = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            for k in s.positives() {
                pos_rois.push((i, s.boxes[k]));
                pos_labels.push(s.labels[k]);
            }
        }
        if pos_rois.is_empty() {
            return self
                .mask_logits(features, &rois[..1], cfg)
                .sum()
                .mul_scalar(0.0);
        }
        let logits = self.mask_logits(features, &pos_rois, cfg);
        let m = logits.dims()[3];
        let device = features[0].device();
        let mut parts = Vec::new();
        for (s, t) in samples.iter().zip(targets) {
            let pos = s.positives();
            if pos.is_empty() {
                continue;
            }
            let boxes: Vec<BoxXyxy> = pos.iter().map(|&k| s.boxes[k]).collect();
            let matched: Vec<usize> = pos.iter().map(|&k| s.matched_gt[k]).collect();
            let (g, h, w) = (t.masks.len(), t.height, t.width);
            let flat: Vec<f32> = t.masks.iter().flatten().map(|&v| v as f32).collect();
            let gt_masks = host::tensor(flat, [g, 1, h, w], &device);
            parts.push(project_masks_on_boxes(gt_masks, &boxes, &matched, m));
        }
        let targets = if parts.len() == 1 {
            parts.remove(0)
        } else {
            Tensor::cat(parts, 0)
        };
        maskrcnn_loss(logits, &pos_labels, targets)
    }
}
