//! Proposal filtering (torchvision's `RegionProposalNetwork.filter_proposals`), on the host:
//! per level the top `pre_nms_top_n` anchors by objectness, decoded with the box coder, clipped
//! to the image, small boxes and low scores removed, NMS per level, then the best
//! `post_nms_top_n` of the image.

use mrcnn_config::RpnConfig;
use mrcnn_core::box_coder::BoxCoder;
use mrcnn_core::nms::{TfNmsParams, tf_multiclass_nms};
use mrcnn_core::{BoxXyxy, boxes, nms};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProposalParams {
    pub pre_nms_top_n: usize,
    pub post_nms_top_n: usize,
    pub nms_thresh: f32,
    pub score_thresh: f32,
    pub min_size: f32,
    pub bbox_xform_clip: f32,
    pub bbox_reg_weights: [f32; 4],
}

impl ProposalParams {
    pub fn from_config(cfg: &RpnConfig, training: bool) -> Self {
        Self {
            pre_nms_top_n: if training {
                cfg.pre_nms_top_n_train
            } else {
                cfg.pre_nms_top_n_test
            },
            post_nms_top_n: if training {
                cfg.post_nms_top_n_train
            } else {
                cfg.post_nms_top_n_test
            },
            nms_thresh: cfg.nms_thresh,
            score_thresh: cfg.score_thresh,
            min_size: cfg.min_size,
            bbox_xform_clip: cfg.bbox_xform_clip,
            bbox_reg_weights: cfg.bbox_reg_weights,
        }
    }
}

/// Proposals of one image, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proposals {
    pub boxes: Vec<BoxXyxy>,
    /// Objectness probabilities.
    pub scores: Vec<f32>,
}

/// Indices of the `k` largest values, largest first (ties: lower index first).
pub fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    let k = k.min(values.len());
    let cmp = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, cmp);
        idx.truncate(k);
    }
    idx.sort_by(cmp);
    idx
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Filters one image's proposals. `levels[l] = (objectness [M_l], deltas [M_l * 4])` in the order
/// of `anchors[l]`; `image_hw` is the resized (unpadded) image size.
pub fn filter_proposals(
    levels: &[(&[f32], &[f32])],
    anchors: &[Vec<BoxXyxy>],
    image_hw: [usize; 2],
    p: &ProposalParams,
) -> Proposals {
    let coder = BoxCoder::new(p.bbox_reg_weights, p.bbox_xform_clip);
    let (h, w) = (image_hw[0] as f32, image_hw[1] as f32);
    let mut cand_boxes = Vec::new();
    let mut cand_scores = Vec::new();
    let mut cand_levels = Vec::new();
    for (l, ((obj, del), anc)) in levels.iter().zip(anchors).enumerate() {
        for i in top_k(obj, p.pre_nms_top_n) {
            let d = [del[4 * i], del[4 * i + 1], del[4 * i + 2], del[4 * i + 3]];
            let b = boxes::clip(&coder.decode(&d, &anc[i]), h, w);
            let s = sigmoid(obj[i]);
            if boxes::is_large_enough(&b, p.min_size) && s >= p.score_thresh {
                cand_boxes.push(b);
                cand_scores.push(s);
                cand_levels.push(l);
            }
        }
    }
    let mut keep = nms::batched_nms(&cand_boxes, &cand_scores, &cand_levels, p.nms_thresh);
    keep.truncate(p.post_nms_top_n);
    Proposals {
        boxes: keep.iter().map(|&k| cand_boxes[k]).collect(),
        scores: keep.iter().map(|&k| cand_scores[k]).collect(),
    }
}

/// The OD API's first-stage proposals (`FasterRCNNMetaArch._postprocess_rpn` at inference),
/// one feature map: the anchors clipped to the padded batch (`padded_hw`), every anchor decoded
/// with its box coder (`FasterRcnnBoxCoder`: `bbox_reg_weights`, no clamp), objectness the
/// softmax's object probability (the sigmoid of the imported logit difference), then
/// [`tf_multiclass_nms`] with one class: NMS on the unclipped boxes, clipped to the image
/// (`image_hw`) afterwards, up to `post_nms_top_n`. There is no per-level pre-NMS top-n and
/// no minimum size.
pub fn tf_od_api_proposals(
    objectness: &[f32],
    deltas: &[f32],
    anchors: &[BoxXyxy],
    padded_hw: [usize; 2],
    image_hw: [usize; 2],
    p: &ProposalParams,
) -> Proposals {
    let coder = BoxCoder {
        weights: p.bbox_reg_weights,
        ..BoxCoder::tf_od_api(None)
    };
    let (ph, pw) = (padded_hw[0] as f32, padded_hw[1] as f32);
    let decoded: Vec<BoxXyxy> = anchors
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let d = [
                deltas[4 * i],
                deltas[4 * i + 1],
                deltas[4 * i + 2],
                deltas[4 * i + 3],
            ];
            coder.decode(&d, &boxes::clip(a, ph, pw))
        })
        .collect();
    let scores: Vec<f32> = objectness.iter().map(|&o| sigmoid(o)).collect();
    let params = TfNmsParams {
        score_thresh: p.score_thresh,
        iou_thresh: p.nms_thresh,
        max_per_class: p.post_nms_top_n,
        max_total: p.post_nms_top_n,
        clip_hw: [image_hw[0] as f32, image_hw[1] as f32],
    };
    let kept = tf_multiclass_nms(&[(decoded, scores)], &params);
    Proposals {
        boxes: kept.iter().map(|k| k.0).collect(),
        scores: kept.iter().map(|k| k.1).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9], 3), vec![1, 3, 2]);
        assert_eq!(top_k(&[1.0, 2.0], 5), vec![1, 0]);
    }
}
