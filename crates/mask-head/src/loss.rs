//! The mask loss (torchvision's `maskrcnn_loss` and `project_masks_on_boxes`): each positive
//! proposal's matched gt mask is cropped and resized onto the proposal with RoIAlign (spatial
//! scale 1, adaptive sampling as torchvision's default `sampling_ratio=-1`, not aligned) to the
//! `M x M` mask resolution, and the logits of the proposal's gt class get a binary cross-entropy
//! with those soft targets (mean over all pixels of all positives).

use burn::prelude::*;
use mrcnn_core::roi_align::{Roi, RoiAlignParams, roi_align};
use mrcnn_core::{BoxXyxy, host, losses};

/// Mask targets `[P, m, m]` of one image: `gt_masks` `[G, 1, H, W]` (0/1 values, image size),
/// `boxes` the positive proposals and `matched_gt` their gt index. No gradient flows.
pub fn project_masks_on_boxes(
    gt_masks: Tensor<4>,
    boxes: &[BoxXyxy],
    matched_gt: &[usize],
    m: usize,
) -> Tensor<3> {
    let rois: Vec<Roi> = matched_gt
        .iter()
        .zip(boxes)
        .map(|(&g, &b)| (g, b))
        .collect();
    let params = RoiAlignParams {
        output: [m, m],
        spatial_scale: 1.0,
        sampling_ratio: 0,
        aligned: false,
    };
    roi_align(gt_masks.detach(), &rois, &params).reshape([rois.len(), m, m])
}

/// BCE-with-logits between the `labels[k]` channel of `mask_logits` `[P, C, m, m]` and
/// `mask_targets` `[P, m, m]`; with no positive, zero (still connected to the logits).
pub fn maskrcnn_loss(
    mask_logits: Tensor<4>,
    labels: &[usize],
    mask_targets: Tensor<3>,
) -> Tensor<1> {
    let [p, c, mh, mw] = mask_logits.dims();
    if p == 0 || labels.is_empty() {
        return mask_logits.sum().mul_scalar(0.0);
    }
    let device = mask_logits.device();
    let rows: Vec<usize> = labels.iter().enumerate().map(|(k, &l)| k * c + l).collect();
    let picked = mask_logits
        .reshape([p * c, mh * mw])
        .select(0, host::indices(&rows, &device));
    losses::bce_with_logits_mean(picked, mask_targets.detach().reshape([p, mh * mw]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_box_of_a_full_mask_is_all_ones() {
        let d = Device::flex();
        let masks = Tensor::<4>::ones([1, 1, 20, 30], &d);
        let t = project_masks_on_boxes(masks, &[[2.0, 3.0, 17.0, 15.0]], &[0], 28);
        assert_eq!(t.dims(), [1, 28, 28]);
        assert!(host::to_vec(t).iter().all(|&v| (v - 1.0).abs() < 1e-6));
    }

    #[test]
    fn loss_uses_the_gt_class_channel() {
        let d = Device::flex();
        // Channel 1 is a large positive logit, channel 0 a large negative: with targets of 1 the
        // loss is ~0 only if channel 1 is picked.
        let mut v = vec![-20.0f32; 2 * 4];
        v[4..].iter_mut().for_each(|x| *x = 20.0);
        let logits = host::tensor(v, [1, 2, 2, 2], &d);
        let targets = Tensor::<3>::ones([1, 2, 2], &d);
        let loss = host::to_vec(maskrcnn_loss(logits, &[1], targets))[0];
        assert!(loss < 1e-6, "{loss}");
    }
}
