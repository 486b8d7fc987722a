//! Box utilities on host boxes `[x1, y1, x2, y2]`, with torchvision's arithmetic (float32, no +1).

use crate::BoxXyxy;

/// Area, `(x2 - x1) * (y2 - y1)`.
pub fn area(b: &BoxXyxy) -> f32 {
    (b[2] - b[0]) * (b[3] - b[1])
}

/// Clamps x to `[0, width]` and y to `[0, height]` (`clip_boxes_to_image`).
pub fn clip(b: &BoxXyxy, height: f32, width: f32) -> BoxXyxy {
    [
        b[0].clamp(0.0, width),
        b[1].clamp(0.0, height),
        b[2].clamp(0.0, width),
        b[3].clamp(0.0, height),
    ]
}

/// Whether both sides are at least `min_size` (`remove_small_boxes` keeps these).
pub fn is_large_enough(b: &BoxXyxy, min_size: f32) -> bool {
    (b[2] - b[0]) >= min_size && (b[3] - b[1]) >= min_size
}

/// Intersection over union of two boxes.
pub fn iou(a: &BoxXyxy, b: &BoxXyxy) -> f32 {
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = w * h;
    inter / (area(a) + area(b) - inter)
}

/// IoU matrix `[a.len()][b.len()]` as torchvision's `box_iou`.
pub fn iou_matrix(a: &[BoxXyxy], b: &[BoxXyxy]) -> Vec<Vec<f32>> {
    a.iter()
        .map(|x| b.iter().map(|y| iou(x, y)).collect())
        .collect()
}

/// Scales boxes from the resized image back to the original one (`resize_boxes`).
pub fn rescale(b: &BoxXyxy, ratio_h: f32, ratio_w: f32) -> BoxXyxy {
    [
        b[0] * ratio_w,
        b[1] * ratio_h,
        b[2] * ratio_w,
        b[3] * ratio_h,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_and_disjoint() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(&a, &a), 1.0);
        assert_eq!(iou(&a, &[20.0, 20.0, 30.0, 30.0]), 0.0);
        assert!((iou(&a, &[5.0, 0.0, 15.0, 10.0]) - 1.0 / 3.0).abs() < 1e-7);
    }

    #[test]
    fn clip_and_small() {
        assert_eq!(
            clip(&[-5.0, 3.0, 120.0, 90.0], 80.0, 100.0),
            [0.0, 3.0, 100.0, 80.0]
        );
        assert!(!is_large_enough(&[0.0, 0.0, 0.001, 5.0], 0.01));
    }
}
