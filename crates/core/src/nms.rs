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

/// Boxes from which [`batched_nms`] suppresses its groups in parallel.
const PARALLEL_BOXES: usize = 2048;

/// Indices of the boxes kept by NMS at `iou_threshold` (IoU > threshold suppresses), highest
/// score first; ties keep the lower index first. Areas and IoU are computed in f32 in
/// torchvision's order of operations, so borderline overlaps decide as there.
pub fn nms(boxes: &[BoxXyxy], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    nms_up_to(boxes, scores, iou_threshold, usize::MAX)
}

/// [`nms`] that stops once `limit` boxes are kept: the first `limit` of [`nms`]'s result, as
/// TensorFlow's `non_max_suppression(max_output_size)` gives them, without suppressing the
/// rest (the OD API's first stage runs it over every anchor: 160,000 at 800x1067).
pub fn nms_up_to(
    boxes: &[BoxXyxy],
    scores: &[f32],
    iou_threshold: f32,
    limit: usize,
) -> Vec<usize> {
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
        if keep.len() == limit {
            break;
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
    let group = |idx: &Vec<usize>| -> Vec<usize> {
        let b: Vec<BoxXyxy> = idx.iter().map(|&i| boxes[i]).collect();
        let s: Vec<f32> = idx.iter().map(|&i| scores[i]).collect();
        nms(&b, &s, iou_threshold)
            .into_iter()
            .map(|k| idx[k])
            .collect()
    };
    // Groups are independent: in parallel once there are enough boxes to pay for it (the box
    // head's 90 classes of up to 1,000 boxes each at inference, the RPN's 5 levels of up to
    // 2,000 in training). The sort below fixes the order whatever finishes first.
    let kept: Vec<Vec<usize>> = if boxes.len() >= PARALLEL_BOXES {
        use rayon::prelude::*;
        members.par_iter().map(group).collect()
    } else {
        members.iter().map(group).collect()
    };
    let mut keep: Vec<usize> = kept.into_iter().flatten().collect();
    keep.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    keep
}

/// Limits and window of [`tf_multiclass_nms`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TfNmsParams {
    /// Candidates need a score above this.
    pub score_thresh: f32,
    pub iou_thresh: f32,
    pub max_per_class: usize,
    pub max_total: usize,
    /// `[height, width]` the kept boxes are clipped to (those left with no area are dropped).
    pub clip_hw: [f32; 2],
}

/// The TensorFlow Object Detection API's `multiclass_non_max_suppression` (unpadded, hard
/// NMS): per class, NMS over the boxes scoring above the threshold (up to `max_per_class`),
/// all classes' survivors sorted by score (stable: ties keep class then selection order), and
/// only *then* clipped to the window, boxes of zero area dropped, and the best `max_total`
/// kept. torchvision clips before its NMS; the OD API after, so both orders live here, one per
/// caller. `classes[c]` holds `(boxes, scores)` of class `c`; returns `(box, score, class)`.
pub fn tf_multiclass_nms(
    classes: &[(Vec<BoxXyxy>, Vec<f32>)],
    p: &TfNmsParams,
) -> Vec<(BoxXyxy, f32, usize)> {
    let mut kept = Vec::new();
    for (c, (boxes, scores)) in classes.iter().enumerate() {
        let cand: Vec<usize> = (0..boxes.len())
            .filter(|&i| scores[i] > p.score_thresh)
            .collect();
        let b: Vec<BoxXyxy> = cand.iter().map(|&i| boxes[i]).collect();
        let s: Vec<f32> = cand.iter().map(|&i| scores[i]).collect();
        let keep = nms_up_to(&b, &s, p.iou_thresh, p.max_per_class);
        kept.extend(keep.into_iter().map(|k| (b[k], s[k], c)));
    }
    kept.sort_by(|a, b| b.1.total_cmp(&a.1));
    let [h, w] = p.clip_hw;
    let mut out: Vec<(BoxXyxy, f32, usize)> = kept
        .into_iter()
        .map(|(b, s, c)| (crate::boxes::clip(&b, h, w), s, c))
        .filter(|(b, _, _)| crate::boxes::area(b) > 0.0)
        .collect();
    out.truncate(p.max_total);
    out
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

    /// Above `PARALLEL_BOXES` the groups run in parallel: the result is each group's own NMS,
    /// merged by decreasing score, exactly as on the serial path.
    #[test]
    fn parallel_groups_equal_nms_per_group() {
        let n = 3 * PARALLEL_BOXES;
        let b: Vec<BoxXyxy> = (0..n)
            .map(|i| {
                let x = ((i * 7919) % 300) as f32;
                let y = ((i * 104729) % 200) as f32;
                [x, y, x + 20.0 + (i % 5) as f32, y + 15.0]
            })
            .collect();
        let s: Vec<f32> = (0..n)
            .map(|i| ((i * 2654435761) % 1000) as f32 / 1000.0)
            .collect();
        let groups: Vec<usize> = (0..n).map(|i| i % 7).collect();
        let got = batched_nms(&b, &s, &groups, 0.5);
        let mut expected = Vec::new();
        for g in 0..7 {
            let idx: Vec<usize> = (0..n).filter(|&i| groups[i] == g).collect();
            let gb: Vec<BoxXyxy> = idx.iter().map(|&i| b[i]).collect();
            let gs: Vec<f32> = idx.iter().map(|&i| s[i]).collect();
            expected.extend(nms(&gb, &gs, 0.5).into_iter().map(|k| idx[k]));
        }
        expected.sort_by(|&a, &c| s[c].total_cmp(&s[a]).then(a.cmp(&c)));
        assert!(
            got.len() > 7 && got.len() < n,
            "a test that suppresses something"
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn nms_up_to_is_the_head_of_nms() {
        let b: Vec<BoxXyxy> = (0..50)
            .map(|i| {
                let x = (i % 7) as f32 * 3.0;
                let y = (i / 7) as f32 * 2.5;
                [x, y, x + 6.0, y + 5.0]
            })
            .collect();
        let s: Vec<f32> = (0..50).map(|i| ((i * 37) % 50) as f32 / 50.0).collect();
        let all = nms(&b, &s, 0.3);
        for limit in [0, 1, 3, all.len(), all.len() + 5] {
            let head = &all[..limit.min(all.len())];
            assert_eq!(nms_up_to(&b, &s, 0.3, limit), head, "limit {limit}");
        }
    }

    #[test]
    fn tf_multiclass_nms_clips_after_suppression() {
        // Two boxes overlapping (IoU 0.81) before clipping; after clipping to 10x10 they would
        // be identical. The OD API suppresses on the unclipped boxes, so the lower one is gone
        // for IoU > 0.5 and kept for 0.9; a box outside the window is dropped after NMS.
        let boxes = vec![
            [0.0, 0.0, 10.0, 10.0],
            [0.0, 0.0, 10.0, 12.0],
            [20.0, 20.0, 30.0, 30.0],
        ];
        let classes = vec![(boxes, vec![0.9, 0.8, 0.95])];
        let mut p = TfNmsParams {
            score_thresh: 0.0,
            iou_thresh: 0.5,
            max_per_class: 10,
            max_total: 10,
            clip_hw: [10.0, 10.0],
        };
        let out = tf_multiclass_nms(&classes, &p);
        assert_eq!(out, vec![([0.0, 0.0, 10.0, 10.0], 0.9, 0)]);
        p.iou_thresh = 0.9;
        let out = tf_multiclass_nms(&classes, &p);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], ([0.0, 0.0, 10.0, 10.0], 0.8, 0));
        // Per class, then by score across classes; the score threshold is strict.
        let two = vec![
            (vec![[0.0, 0.0, 5.0, 5.0]], vec![0.5]),
            (vec![[0.0, 0.0, 5.0, 5.0]], vec![0.7]),
            (vec![[1.0, 1.0, 5.0, 5.0]], vec![0.0]),
        ];
        let out = tf_multiclass_nms(&two, &p);
        assert_eq!(out.iter().map(|o| o.2).collect::<Vec<_>>(), vec![1, 0]);
    }
}
