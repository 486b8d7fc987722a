//! Training targets and their part of the training-mode transform (torchvision's
//! `GeneralizedRCNNTransform.resize` with targets): boxes are scaled by the float32 ratios
//! `new / old` per axis (`resize_boxes`), masks are resized with torch's `nearest` rule
//! (`interpolate(mask.float(), scale_factor, recompute_scale_factor=True)`), and degenerate
//! boxes are checked after resizing as `GeneralizedRCNN.forward` does.

use mrcnn_config::DegenerateBoxes;
use mrcnn_core::{BoxXyxy, Error, ResizedTarget, Result};

/// The ground truth of one training image, in the original image's pixels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainTarget {
    /// `[x1, y1, x2, y2]` per object.
    pub boxes: Vec<BoxXyxy>,
    /// Class of each object, `1..num_classes` (0 is the background).
    pub labels: Vec<usize>,
    /// Binary mask of each object, row-major `height x width` of the image (non-zero = object).
    pub masks: Vec<Vec<u8>>,
}

/// Checks that a target fits its image `[h, w]` and the class count; the error names the image.
pub fn validate(t: &TrainTarget, image: usize, hw: [usize; 2], num_classes: usize) -> Result<()> {
    let bad = |m: String| {
        Err(Error::Batch(format!(
            "training target of image {image}: {m}"
        )))
    };
    let n = t.boxes.len();
    if t.labels.len() != n || t.masks.len() != n {
        return bad(format!(
            "{n} boxes, {} labels and {} masks; they must agree",
            t.labels.len(),
            t.masks.len()
        ));
    }
    if let Some((k, &l)) = t
        .labels
        .iter()
        .enumerate()
        .find(|&(_, &l)| l == 0 || l >= num_classes)
    {
        return bad(format!(
            "object {k} has label {l}; labels run 1..{} (0 is the background)",
            num_classes - 1
        ));
    }
    if let Some((k, m)) = t
        .masks
        .iter()
        .enumerate()
        .find(|(_, m)| m.len() != hw[0] * hw[1])
    {
        return bad(format!(
            "mask {k} has {} pixels, the image {}x{} has {}",
            m.len(),
            hw[0],
            hw[1],
            hw[0] * hw[1]
        ));
    }
    Ok(())
}

/// torch's `nearest` source index for `dst` when resizing `input` to `output` samples.
pub fn nearest_index(dst: usize, input: usize, output: usize) -> usize {
    if output == input {
        dst
    } else if output == 2 * input {
        dst >> 1
    } else {
        let scale = input as f32 / output as f32;
        ((dst as f32 * scale).floor() as usize).min(input - 1)
    }
}

/// Resizes one mask `[h, w]` to `[nh, nw]` with torch's nearest rule.
pub fn resize_mask(mask: &[u8], hw: [usize; 2], new_hw: [usize; 2]) -> Vec<u8> {
    if hw == new_hw {
        return mask.iter().map(|&v| (v != 0) as u8).collect();
    }
    let xs: Vec<usize> = (0..new_hw[1])
        .map(|x| nearest_index(x, hw[1], new_hw[1]))
        .collect();
    let mut out = Vec::with_capacity(new_hw[0] * new_hw[1]);
    for y in 0..new_hw[0] {
        let row = &mask[nearest_index(y, hw[0], new_hw[0]) * hw[1]..][..hw[1]];
        out.extend(xs.iter().map(|&x| (row[x] != 0) as u8));
    }
    out
}

fn is_degenerate(b: &BoxXyxy) -> bool {
    !b.iter().all(|v| v.is_finite()) || b[2] <= b[0] || b[3] <= b[1]
}

/// Resizes a target from `hw` to `new_hw` and applies the degenerate-box `policy`.
pub fn resize_target(
    t: &TrainTarget,
    image: usize,
    hw: [usize; 2],
    new_hw: [usize; 2],
    policy: DegenerateBoxes,
) -> Result<ResizedTarget> {
    // float32 ratios, as torchvision's resize_boxes.
    let ratio_h = new_hw[0] as f32 / hw[0] as f32;
    let ratio_w = new_hw[1] as f32 / hw[1] as f32;
    let mut out = ResizedTarget {
        height: new_hw[0],
        width: new_hw[1],
        ..Default::default()
    };
    for (k, b) in t.boxes.iter().enumerate() {
        let r = [
            b[0] * ratio_w,
            b[1] * ratio_h,
            b[2] * ratio_w,
            b[3] * ratio_h,
        ];
        if is_degenerate(&r) {
            let what = format!(
                "image {image}, box {k} {b:?} has no positive width and height (after resizing: {r:?})"
            );
            match policy {
                DegenerateBoxes::Error => {
                    return Err(Error::Batch(format!(
                        "degenerate training box: {what}; fix the data or set input.degenerate_boxes = \"drop\""
                    )));
                }
                DegenerateBoxes::Drop => {
                    tracing::warn!("dropping degenerate training box: {what}");
                    continue;
                }
            }
        }
        out.boxes.push(r);
        out.labels.push(t.labels[k]);
        out.masks.push(resize_mask(&t.masks[k], hw, new_hw));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_follows_torch() {
        // torch.nn.functional.interpolate(arange(5), size=3, mode="nearest") picks 0, 1, 3.
        let picked: Vec<usize> = (0..3).map(|i| nearest_index(i, 5, 3)).collect();
        assert_eq!(picked, vec![0, 1, 3]);
        // Upsampling 2x repeats each sample.
        let up: Vec<usize> = (0..6).map(|i| nearest_index(i, 3, 6)).collect();
        assert_eq!(up, vec![0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn boxes_scale_and_masks_follow() {
        let t = TrainTarget {
            boxes: vec![[1.0, 1.0, 3.0, 2.0]],
            labels: vec![2],
            masks: vec![vec![0, 1, 1, 0, 0, 1, 1, 0]], // 2 x 4
        };
        let r = resize_target(&t, 0, [2, 4], [4, 8], DegenerateBoxes::Error).unwrap();
        assert_eq!(r.boxes, vec![[2.0, 2.0, 6.0, 4.0]]);
        assert_eq!(&r.masks[0][..8], &[0, 0, 1, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn degenerate_boxes_error_or_drop() {
        let t = TrainTarget {
            boxes: vec![[1.0, 1.0, 1.0, 2.0], [0.0, 0.0, 2.0, 2.0]],
            labels: vec![1, 1],
            masks: vec![vec![0; 4], vec![1; 4]],
        };
        let e = resize_target(&t, 3, [2, 2], [2, 2], DegenerateBoxes::Error)
            .unwrap_err()
            .to_string();
        assert!(e.contains("image 3") && e.contains("box 0"), "{e}");
        let r = resize_target(&t, 3, [2, 2], [2, 2], DegenerateBoxes::Drop).unwrap();
        assert_eq!(r.boxes, vec![[0.0, 0.0, 2.0, 2.0]]);
    }

    #[test]
    fn validation_names_the_problem() {
        let t = TrainTarget {
            boxes: vec![[0.0, 0.0, 1.0, 1.0]],
            labels: vec![4],
            masks: vec![vec![1]],
        };
        let e = validate(&t, 1, [1, 1], 4).unwrap_err().to_string();
        assert!(e.contains("label 4"), "{e}");
        let t = TrainTarget {
            boxes: vec![[0.0, 0.0, 1.0, 1.0]],
            labels: vec![1],
            masks: vec![],
        };
        assert!(validate(&t, 0, [1, 1], 4).is_err());
    }
}
