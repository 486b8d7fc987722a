//! Non-maximum suppression as torchvision's CPU kernel (`torchvision/csrc/ops/cpu/nms_kernel.cpp`),
//! plus the per-group ("batched") form of its `batched_nms`.
//!
//! Written here rather than taken from burn-vision: burn-vision's `nms` also runs on the host,
//! but the crate depends on `image` with every default codec (AVIF's rav1e encoder, EXR, TIFF,
//! ...), minutes of a first build for this one greedy loop. It is checked against torchvision in
//! `tests/ops.rs` (`nms_matches_torchvision`). Groups are suppressed one by one (torchvision's
//! `_batched_nms_vanilla`) instead of with the coordinate-offset trick, whose large offsets would
//! round the coordinates.

use crate::BoxXyxy;

/// Indices of the boxes kept by NMS at `iou_threshold` (IoU > threshold suppresses), highest
/// score first; ties keep the lower index first. Areas and IoU are computed in f32 in
/// torchvision's order of operations, so borderline overlaps decide as there.
pub fn nms(boxes: &[BoxXyxy], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len(), "one score per box");
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let area = |b: &BoxXyxy| (b[2] - b[0]) * (b[3] - b[1]);
    let areas: Vec<f32> = boxes.iter().map(area).collect();
    let mut suppressed = vec![false; boxes.len()];
    let mut keep = Vec::new();
    for (k, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let [x1, y1, x2, y2] = boxes[i];
        for &j in &order[k + 1..] {
            if suppressed[j] {
                continue;
            }
            let b = boxes[j];
            let w = (x2.min(b[2]) - x1.max(b[0])).max(0.0);
            let h = (y2.min(b[3]) - y1.max(b[1])).max(0.0);
            let inter = w * h;
            if inter / (areas[i] + areas[j] - inter) > iou_threshold {
                suppressed[j] = true;
            }
        }
    }
    keep
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
