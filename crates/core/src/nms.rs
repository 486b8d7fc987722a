//! Non-maximum suppression through burn-vision's `nms`, plus the per-group ("batched") form that
//! torchvision's `batched_nms` provides and burn-vision lacks.
//!
//! burn-vision's NMS runs on the host on every backend, so the boxes are handed to it on the CPU
//! (flex) device. Groups are suppressed one by one (torchvision's `_batched_nms_vanilla`) instead
//! of with the coordinate-offset trick, whose large offsets would round the coordinates.

use crate::BoxXyxy;
use burn::prelude::*;
use burn::vision::{Nms, NmsOptions};

/// Indices of the boxes kept by NMS at `iou_threshold` (IoU > threshold suppresses), highest
/// score first; ties keep the lower index first.
pub fn nms(boxes: &[BoxXyxy], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    if boxes.is_empty() {
        return Vec::new();
    }
    let device = Device::flex();
    let b = crate::host::boxes_tensor(boxes, &device);
    let s = crate::host::tensor(scores.to_vec(), [scores.len()], &device);
    let keep = b.nms(
        s,
        NmsOptions {
            iou_threshold,
            score_threshold: f32::NEG_INFINITY,
            max_output_boxes: 0,
        },
    );
    crate::host::to_vec_i64(keep)
        .into_iter()
        .map(|i| i as usize)
        .collect()
}

/// NMS within each group (class or level) independently; the kept indices are returned sorted by
/// decreasing score (stable: equal scores keep index order).
pub fn batched_nms(
    boxes: &[BoxXyxy],
    scores: &[f32],
    groups: &[usize],
    iou_threshold: f32,
) -> Vec<usize> {
    let n_groups = groups.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (i, &g) in groups.iter().enumerate() {
        members[g].push(i);
    }
    let mut keep = Vec::new();
    for idx in members.iter().filter(|m| !m.is_empty()) {
        let b: Vec<BoxXyxy> = idx.iter().map(|&i| boxes[i]).collect();
        let s: Vec<f32> = idx.iter().map(|&i| scores[i]).collect();
        keep.extend(nms(&b, &s, iou_threshold).into_iter().map(|k| idx[k]));
    }
    keep.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_simple() {
        assert!(nms(&[], &[], 0.5).is_empty());
        let b = [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 1.0, 11.0, 11.0],
            [50.0, 50.0, 60.0, 60.0],
        ];
        assert_eq!(nms(&b, &[0.9, 0.8, 0.7], 0.5), vec![0, 2]);
        assert_eq!(
            batched_nms(&b, &[0.9, 0.8, 0.7], &[0, 1, 0], 0.5),
            vec![0, 1, 2]
        );
    }
}
