//! The single-level ("C4") Faster/Mask R-CNN of the TensorFlow Object Detection API: the
//! `faster_rcnn` meta-architecture with a ResNet v1 feature extractor, as in
//! `samples/configs/mask_rcnn_resnet101_atrous_coco.config` (whose values are the defaults
//! here). `architecture = "c4"` selects it; the sections it shares with the FPN model keep their
//! meaning (`rpn.nms_thresh` is `first_stage_nms_iou_threshold`, `rpn.post_nms_top_n_test` is
//! `first_stage_max_proposals`, `roi_heads.nms_thresh` the second stage's `iou_threshold`, ...);
//! what only this architecture has lives in `[c4]`, named after the pipeline.config fields.

use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;

/// Which detector the model config describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    /// ResNet + FPN, RPN on P2-P6, RoIAlign per level, two-layer box head (torchvision,
    /// Detectron2, MMDetection).
    #[default]
    Fpn,
    /// The OD API's single-level model: the RPN on the last feature map of `layer3` (block3),
    /// TensorFlow's crop-and-resize of the proposals, `layer4` (block4) on the crops.
    C4,
}

/// The C4 model's own values (OD API field names in each comment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct C4Config {
    /// `grid_anchor_generator.scales`.
    pub anchor_scales: Vec<f32>,
    /// `grid_anchor_generator.aspect_ratios`: width / height (the inverse of torchvision's).
    pub anchor_aspect_ratios: Vec<f32>,
    /// `[height, width]` of the scale-1 anchor (`base_anchor_height`, `base_anchor_width`).
    pub anchor_base_size: [f32; 2],
    /// `[height_stride, width_stride]`.
    pub anchor_stride: [f32; 2],
    /// `[height_offset, width_offset]`: the centre of the first cell.
    pub anchor_offset: [f32; 2],
    /// Channels of the RPN's first conv (`first_stage_box_predictor_depth`).
    pub rpn_conv_depth: usize,
    /// Its kernel size (`first_stage_box_predictor_kernel_size`).
    pub rpn_conv_kernel_size: usize,
    /// Its dilation (`first_stage_atrous_rate`).
    pub rpn_atrous_rate: usize,
    /// Side of the crop-and-resize output (`initial_crop_size`).
    pub initial_crop_size: usize,
    /// Max-pool on the crops (`maxpool_kernel_size`, `maxpool_stride`).
    pub maxpool_kernel_size: usize,
    pub maxpool_stride: usize,
    /// Second-stage NMS: boxes kept per class (`max_detections_per_class`); the total is
    /// `roi_heads.detections_per_img` (`max_total_detections`).
    pub max_detections_per_class: usize,
    /// `[mask_height, mask_width]`.
    pub mask_size: [usize; 2],
    /// Channels of the mask convs (`mask_prediction_conv_depth`); 0 picks them as the OD API
    /// does from the feature channels and the class count ([`C4Config::mask_conv_depth`]).
    pub mask_prediction_conv_depth: usize,
    /// Convs of the mask branch, the predictor included (`mask_prediction_num_conv_layers`).
    pub mask_prediction_num_conv_layers: usize,
    /// Training: anchors sampled per image for the first-stage losses
    /// (`first_stage_minibatch_size`) and their positive fraction
    /// (`first_stage_positive_balance_fraction`).
    pub first_stage_minibatch_size: usize,
    pub first_stage_positive_balance_fraction: f32,
    /// Training: proposals sampled per image for the second stage (`second_stage_batch_size`)
    /// and their positive fraction (`second_stage_balance_fraction`).
    pub second_stage_batch_size: usize,
    pub second_stage_balance_fraction: f32,
    /// Loss weights (`first_stage_localization_loss_weight`, `first_stage_objectness_loss_weight`,
    /// `second_stage_localization_loss_weight`, `second_stage_classification_loss_weight`,
    /// `second_stage_mask_prediction_loss_weight`).
    pub first_stage_localization_loss_weight: f32,
    pub first_stage_objectness_loss_weight: f32,
    pub second_stage_localization_loss_weight: f32,
    pub second_stage_classification_loss_weight: f32,
    pub second_stage_mask_prediction_loss_weight: f32,
}

impl Default for C4Config {
    fn default() -> Self {
        Self {
            anchor_scales: vec![0.25, 0.5, 1.0, 2.0],
            anchor_aspect_ratios: vec![0.5, 1.0, 2.0],
            anchor_base_size: [256.0, 256.0],
            anchor_stride: [8.0, 8.0],
            anchor_offset: [0.0, 0.0],
            rpn_conv_depth: 512,
            rpn_conv_kernel_size: 3,
            rpn_atrous_rate: 2,
            initial_crop_size: 14,
            maxpool_kernel_size: 2,
            maxpool_stride: 2,
            max_detections_per_class: 100,
            mask_size: [33, 33],
            mask_prediction_conv_depth: 0,
            mask_prediction_num_conv_layers: 4,
            first_stage_minibatch_size: 256,
            first_stage_positive_balance_fraction: 0.5,
            second_stage_batch_size: 64,
            second_stage_balance_fraction: 0.25,
            first_stage_localization_loss_weight: 2.0,
            first_stage_objectness_loss_weight: 1.0,
            second_stage_localization_loss_weight: 2.0,
            second_stage_classification_loss_weight: 1.0,
            second_stage_mask_prediction_loss_weight: 4.0,
        }
    }
}

impl C4Config {
    /// Anchors per location.
    pub fn num_anchors(&self) -> usize {
        self.anchor_scales.len() * self.anchor_aspect_ratios.len()
    }

    /// Side of the pooled crops that block4 sees.
    pub fn pooled_size(&self) -> usize {
        (self.initial_crop_size - self.maxpool_kernel_size) / self.maxpool_stride + 1
    }

    /// The mask convs' channels: `mask_prediction_conv_depth`, or when it is 0 the OD API's
    /// `_get_mask_predictor_conv_depth` (`2^round((2 log2 features + 3 log2 classes) / 5)`,
    /// classes without the background).
    pub fn mask_conv_depth(&self, feature_channels: usize, num_classes: usize) -> usize {
        if self.mask_prediction_conv_depth > 0 {
            return self.mask_prediction_conv_depth;
        }
        let f = (feature_channels as f64).log2() * 2.0;
        let c = (num_classes as f64).log2() * 3.0;
        // Python's round(): half to even.
        2f64.powf(((f + c) / 5.0).round_ties_even()) as usize
    }

    pub(crate) fn validate(&self) -> Result<(), InvalidValue> {
        let bad = |key: &str, reason: String| Err(InvalidValue::new(format!("c4.{key}"), reason));
        let positive = |v: &f32| *v > 0.0 && v.is_finite();
        if self.anchor_scales.is_empty() || !self.anchor_scales.iter().all(positive) {
            return bad("anchor_scales", "needs positive values".into());
        }
        if self.anchor_aspect_ratios.is_empty() || !self.anchor_aspect_ratios.iter().all(positive) {
            return bad("anchor_aspect_ratios", "needs positive values".into());
        }
        for (key, v) in [
            ("anchor_base_size", self.anchor_base_size),
            ("anchor_stride", self.anchor_stride),
        ] {
            if !v.iter().all(positive) {
                return bad(key, format!("= {v:?}: both must be positive"));
            }
        }
        for (key, v) in [
            ("rpn_conv_depth", self.rpn_conv_depth),
            ("rpn_conv_kernel_size", self.rpn_conv_kernel_size),
            ("rpn_atrous_rate", self.rpn_atrous_rate),
            ("initial_crop_size", self.initial_crop_size),
            ("maxpool_kernel_size", self.maxpool_kernel_size),
            ("maxpool_stride", self.maxpool_stride),
            ("max_detections_per_class", self.max_detections_per_class),
            (
                "mask_prediction_num_conv_layers",
                self.mask_prediction_num_conv_layers,
            ),
        ] {
            if v == 0 {
                return bad(key, "= 0: it must be at least 1".into());
            }
        }
        for (key, v) in [
            (
                "first_stage_positive_balance_fraction",
                self.first_stage_positive_balance_fraction,
            ),
            (
                "second_stage_balance_fraction",
                self.second_stage_balance_fraction,
            ),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(key, format!("= {v}: use a fraction in [0, 1]"));
            }
        }
        if self.rpn_conv_kernel_size.is_multiple_of(2) {
            return bad(
                "rpn_conv_kernel_size",
                format!("= {}: use an odd size", self.rpn_conv_kernel_size),
            );
        }
        if self.maxpool_kernel_size > self.initial_crop_size {
            return bad(
                "maxpool_kernel_size",
                format!(
                    "= {} is larger than initial_crop_size = {}",
                    self.maxpool_kernel_size, self.initial_crop_size
                ),
            );
        }
        if self.mask_size.contains(&0) {
            return bad("mask_size", "sides must be at least 1".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_conv_depth_as_the_od_api_picks_it() {
        let c = C4Config::default();
        // 2048 features, 90 COCO classes: (22 + 19.47) / 5 = 8.29 -> 256.
        assert_eq!(c.mask_conv_depth(2048, 90), 256);
        // 128 features, 3 classes: (14 + 4.75) / 5 = 3.75 -> 16.
        assert_eq!(c.mask_conv_depth(128, 3), 16);
        let fixed = C4Config {
            mask_prediction_conv_depth: 64,
            ..C4Config::default()
        };
        assert_eq!(fixed.mask_conv_depth(2048, 90), 64);
        assert_eq!(c.pooled_size(), 7);
        assert_eq!(c.num_anchors(), 12);
    }
}
