//! Detection post-processing (torchvision's `RoIHeads.postprocess_detections`), on the host:
//! softmax scores, per-class box decoding with the (10, 10, 5, 5) weights, clipping, dropping the
//! background, score > threshold, small-box removal, class-wise NMS, best `detections_per_img`;
//! and the OD API's order of the same steps ([`tf_od_api_detections`]).

use mrcnn_config::RoiHeadsConfig;
use mrcnn_core::box_coder::BoxCoder;
use mrcnn_core::nms::{TfNmsParams, tf_multiclass_nms};
use mrcnn_core::{BoxXyxy, boxes, nms};

/// Detections of one image, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detections {
    pub boxes: Vec<BoxXyxy>,
    /// Class labels, 1..num_classes.
    pub labels: Vec<usize>,
    pub scores: Vec<f32>,
}

impl Detections {
    pub fn len(&self) -> usize {
        self.boxes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }
}

/// Post-processes one image. `probs` is `[K * num_classes]` (softmax already applied),
/// `deltas` `[K * num_classes * 4]`, `proposals` the K boxes they refine.
pub fn postprocess_detections(
    probs: &[f32],
    deltas: &[f32],
    proposals: &[BoxXyxy],
    num_classes: usize,
    image_hw: [usize; 2],
    cfg: &RoiHeadsConfig,
    bbox_xform_clip: f32,
) -> Detections {
    let coder = BoxCoder::new(cfg.bbox_reg_weights, bbox_xform_clip);
    let (h, w) = (image_hw[0] as f32, image_hw[1] as f32);
    let mut cand_boxes = Vec::new();
    let mut cand_scores = Vec::new();
    let mut cand_labels = Vec::new();
    for (k, p) in proposals.iter().enumerate() {
        for c in 1..num_classes {
            let s = probs[k * num_classes + c];
            if s <= cfg.score_thresh {
                continue;
            }
            let o = (k * num_classes + c) * 4;
            let d = [deltas[o], deltas[o + 1], deltas[o + 2], deltas[o + 3]];
            let b = boxes::clip(&coder.decode(&d, p), h, w);
            if !boxes::is_large_enough(&b, cfg.min_size) {
                continue;
            }
            cand_boxes.push(b);
            cand_scores.push(s);
            cand_labels.push(c);
        }
    }
    let mut keep = nms::batched_nms(&cand_boxes, &cand_scores, &cand_labels, cfg.nms_thresh);
    keep.truncate(cfg.detections_per_img);
    Detections {
        boxes: keep.iter().map(|&k| cand_boxes[k]).collect(),
        labels: keep.iter().map(|&k| cand_labels[k]).collect(),
        scores: keep.iter().map(|&k| cand_scores[k]).collect(),
    }
}

/// The OD API's second-stage post-processing (`_postprocess_box_classifier`): every foreground
/// class's box decoded from its proposal (`FasterRcnnBoxCoder`, `bbox_reg_weights`, no clamp),
/// softmax scores, then `batch_multiclass_non_max_suppression`
/// ([`tf_multiclass_nms`]: per-class NMS up to `max_per_class`, clipping to the image after the
/// NMS, the best `detections_per_img`). `probs` is `[K * num_classes]` with the background
/// first, `deltas` `[K * num_classes * 4]` (the background's unused).
pub fn tf_od_api_detections(
    probs: &[f32],
    deltas: &[f32],
    proposals: &[BoxXyxy],
    num_classes: usize,
    image_hw: [usize; 2],
    cfg: &RoiHeadsConfig,
    max_per_class: usize,
) -> Detections {
    let coder = BoxCoder {
        weights: cfg.bbox_reg_weights,
        ..BoxCoder::tf_od_api(None)
    };
    let classes: Vec<(Vec<BoxXyxy>, Vec<f32>)> = (1..num_classes)
        .map(|c| {
            proposals
                .iter()
                .enumerate()
                .map(|(k, p)| {
                    let o = (k * num_classes + c) * 4;
                    let d = [deltas[o], deltas[o + 1], deltas[o + 2], deltas[o + 3]];
                    (coder.decode(&d, p), probs[k * num_classes + c])
                })
                .unzip()
        })
        .collect();
    let params = TfNmsParams {
        score_thresh: cfg.score_thresh,
        iou_thresh: cfg.nms_thresh,
        max_per_class,
        max_total: cfg.detections_per_img,
        clip_hw: [image_hw[0] as f32, image_hw[1] as f32],
    };
    let kept = tf_multiclass_nms(&classes, &params);
    Detections {
        boxes: kept.iter().map(|k| k.0).collect(),
        labels: kept.iter().map(|k| k.2 + 1).collect(),
        scores: kept.iter().map(|k| k.1).collect(),
    }
}
