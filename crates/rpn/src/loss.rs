//! The RPN training loss (torchvision's `RegionProposalNetwork.assign_targets_to_anchors` and
//! `compute_loss`): every anchor is matched to the gt boxes (Matcher 0.7 / 0.3 with low-quality
//! matches), a balanced sample of anchors is drawn per image, the objectness logits of the sample
//! get a binary cross-entropy (mean) and the deltas of its positives a smooth-L1 loss against the
//! gt encoded with weights (1, 1, 1, 1), summed and divided by the number of sampled anchors.
//!
//! Matching, sampling and target encoding run on the host; the device only selects the sampled
//! rows of the head outputs, so gradients flow back into the RPN head and the features.

use crate::RpnOutput;
use burn::prelude::*;
use mrcnn_config::RpnConfig;
use mrcnn_core::box_coder::BoxCoder;
use mrcnn_core::matcher::Matcher;
use mrcnn_core::rand::Rng;
use mrcnn_core::sampler::BalancedPositiveNegativeSampler;
use mrcnn_core::{BoxXyxy, Result, boxes, host, losses};

/// The two RPN losses (scalars, in the autodiff graph).
#[derive(Debug, Clone)]
pub struct RpnLosses {
    pub objectness: Tensor<1>,
    pub box_reg: Tensor<1>,
}

/// Training targets of one image's anchors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchorTargets {
    /// 1 foreground, 0 background, -1 ignored (between the thresholds).
    pub labels: Vec<i64>,
    /// The matched gt of each anchor (meaningful where `labels == 1`).
    pub matched_gt: Vec<usize>,
}

/// Matches `anchors` to the gt boxes of one image (an image without boxes is all background).
pub fn assign_targets_to_anchors(
    anchors: &[BoxXyxy],
    gt: &[BoxXyxy],
    matcher: &Matcher,
) -> AnchorTargets {
    if gt.is_empty() {
        return AnchorTargets {
            labels: vec![0; anchors.len()],
            matched_gt: vec![0; anchors.len()],
        };
    }
    let matches = matcher.assign(&boxes::iou_matrix(gt, anchors));
    let labels = matches
        .iter()
        .map(|&m| match m {
            m if m >= 0 => 1,
            mrcnn_core::matcher::BETWEEN_THRESHOLDS => -1,
            _ => 0,
        })
        .collect();
    let matched_gt = matches.iter().map(|&m| m.max(0) as usize).collect();
    AnchorTargets { labels, matched_gt }
}

/// The RPN losses of a batch: `out` from [`crate::Rpn::forward`], `gt_boxes` per image in the
/// resized image's pixels.
pub fn rpn_loss<R: Rng + ?Sized>(
    out: &RpnOutput,
    gt_boxes: &[Vec<BoxXyxy>],
    cfg: &RpnConfig,
    rng: &mut R,
) -> Result<RpnLosses> {
    let matcher = Matcher::new(cfg.fg_iou_thresh, cfg.bg_iou_thresh, true)?;
    let sampler =
        BalancedPositiveNegativeSampler::new(cfg.batch_size_per_image, cfg.positive_fraction);
    let coder = BoxCoder::new(cfg.bbox_reg_weights, cfg.bbox_xform_clip);
    // Anchors in the order of the flattened head outputs: level, then location, then cell.
    let anchors: Vec<BoxXyxy> = out.anchors.iter().flatten().copied().collect();
    let m = anchors.len();
    let n = gt_boxes.len();
    // Level of each anchor (offset into `anchors`, anchors in the level).
    let mut level_of = Vec::with_capacity(m);
    let mut offset = 0;
    for a in &out.anchors {
        level_of.extend(std::iter::repeat_n((offset, a.len()), a.len()));
        offset += a.len();
    }
    // Row of (image i, anchor a) in the level-major flattening below: level, image, anchor.
    let row = |i: usize, a: usize| {
        let (start, len) = level_of[a];
        n * start + i * len + (a - start)
    };

    let mut positives = Vec::new();
    let mut negatives = Vec::new();
    let mut targets = Vec::new();
    for (i, gt) in gt_boxes.iter().enumerate() {
        let t = assign_targets_to_anchors(&anchors, gt, &matcher);
        let s = sampler.sample(&t.labels, rng);
        for &a in &s.positives {
            positives.push(row(i, a));
            targets.extend(coder.encode(&gt[t.matched_gt[a]], &anchors[a]));
        }
        negatives.extend(s.negatives.iter().map(|&a| row(i, a)));
    }

    // Every level flattened on its own ([N*H*W*A] and [N*H*W*A, 4]) and the levels concatenated
    // along dim 0, so rows are level-major (`row` above); the selected rows, and so the losses,
    // are the same as with torchvision's image-major `concat_box_prediction_layers`.
    //
    // Not `cat(levels, 1)` into `[N, M]`: Burn 0.22.1's wgpu/cubecl backend gets conv gradients
    // wrong for it. The backward of that cat hands each level a column slice `[N, H*W*A]` with
    // row stride M; reshaped and permuted back it reaches the head's 1x1/3x3 conv backward as an
    // NHWC view `[N, H, W, A]` whose batch stride (M) is not H*W*A. burn-cubecl's im2col conv
    // kernels (`kernel/conv/im2col.rs`: `reshape_input`, used by `wgrad_im2col_1x1` and the other
    // im2col weight/data-gradient candidates) check `is_spatial_contiguous` on dims 1.. only and
    // then view the tensor as `[N*H*W, C]` with the H stride, ignoring the batch stride, so
    // every image after the first is read from the wrong offset: wrong `cls_logits`/`conv`
    // weight gradients and wrong feature gradients down through the FPN and backbone (issue 3;
    // regression tests `crates/rpn/tests/wgpu_grads.rs`, and
    // `crates/core/tests/wgpu_grads.rs` for Burn itself). A slice of a 1-D concatenation is
    // contiguous, so the gradient reaching the head is a plain NHWC tensor.
    let objectness: Tensor<1> = Tensor::cat(
        out.objectness
            .iter()
            .map(|o| o.clone().reshape([-1]))
            .collect(),
        0,
    );
    let deltas: Tensor<2> = Tensor::cat(
        out.deltas
            .iter()
            .map(|d| d.clone().reshape([-1, 4]))
            .collect(),
        0,
    );
    debug_assert_eq!(objectness.dims(), [n * m]);
    let device = objectness.device();
    let num_sampled = positives.len() + negatives.len();

    let box_reg = if positives.is_empty() {
        // Nothing to regress: zero, but still connected to the graph.
        deltas.sum().mul_scalar(0.0)
    } else {
        let p = positives.len();
        let picked = host::select(deltas, 0, &positives);
        let t = host::tensor(targets, [p, 4], &device);
        losses::smooth_l1_sum(picked, t, cfg.smooth_l1_beta).div_scalar(num_sampled as f32)
    };
    let objectness = if num_sampled == 0 {
        objectness.sum().mul_scalar(0.0)
    } else {
        let idx: Vec<usize> = positives.iter().chain(&negatives).copied().collect();
        let mut labels = vec![1.0f32; positives.len()];
        labels.resize(num_sampled, 0.0);
        let picked = host::select(objectness, 0, &idx);
        losses::bce_with_logits_mean(picked, host::tensor(labels, [num_sampled], &device))
    };
    Ok(RpnLosses {
        objectness,
        box_reg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_get_fg_bg_and_ignored_labels() {
        let matcher = Matcher::new(0.7, 0.3, true).unwrap();
        let anchors = [
            [0.0, 0.0, 10.0, 10.0],   // IoU 1 with gt -> fg
            [0.0, 0.0, 10.0, 14.0],   // IoU 0.714 -> fg
            [0.0, 0.0, 10.0, 20.0],   // IoU 0.5 -> ignored
            [50.0, 50.0, 60.0, 60.0], // IoU 0 -> bg
        ];
        let t = assign_targets_to_anchors(&anchors, &[[0.0, 0.0, 10.0, 10.0]], &matcher);
        assert_eq!(t.labels, vec![1, 1, -1, 0]);
        let empty = assign_targets_to_anchors(&anchors, &[], &matcher);
        assert_eq!(empty.labels, vec![0; 4]);
    }
}
