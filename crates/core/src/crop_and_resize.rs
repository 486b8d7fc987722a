//! TensorFlow's `crop_and_resize` (bilinear), the region pooling of the TensorFlow Object
//! Detection API's Faster/Mask R-CNN (`tf.image.crop_and_resize` on normalised proposal boxes,
//! then a 2x2 max-pool), which samples differently from RoIAlign:
//!
//! * a box is `[y1, x1, y2, x2]` in normalised coordinates, where 0 and 1 are the centres of
//!   the first and last pixel (`y * (H - 1)`), not the map's edges;
//! * a crop `h` pixels high takes `h` samples, from `y1` to `y2` inclusive, spaced
//!   `(y2 - y1)(H - 1) / (h - 1)` apart (the box's centre when `h` is 1), one bilinear sample per
//!   output pixel, no averaging;
//! * a sample outside `[0, H - 1] x [0, W - 1]` takes the extrapolation value, with no clamping.
//!
//! As RoIAlign here, the sampling positions and weights are computed on the host (the boxes are
//! constants: the OD API stops their gradient) and the device does one gather and a weighted
//! sum (`roi_align::pool_taps`, shared with RoIAlign), whose backward reaches the features on
//! every backend.

use burn::prelude::*;

use crate::roi_align::{MAX_GATHER_ELEMS, pool_taps};

/// One crop: the image it is taken from and its normalised box `[y1, x1, y2, x2]`.
pub type Crop = (usize, [f32; 4]);

/// The sample positions along one axis of `len` pixels for a crop of `n` (TensorFlow's
/// arithmetic, in f32); `None` where the sample lies outside the map.
fn positions(a: f32, b: f32, len: usize, n: usize) -> Vec<Option<f32>> {
    let last = (len - 1) as f32;
    let scale = if n > 1 {
        (b - a) * last / (n - 1) as f32
    } else {
        0.0
    };
    (0..n)
        .map(|i| {
            let v = if n > 1 {
                a * last + i as f32 * scale
            } else {
                0.5 * (a + b) * last
            };
            (0.0..=last).contains(&v).then_some(v)
        })
        .collect()
}

/// `tf.image.crop_and_resize(features, boxes, box_indices, size, "bilinear", extrapolation)`
/// for features `[N, C, H, W]`: returns `[K, C, h, w]` in crop order.
pub fn crop_and_resize(
    features: Tensor<4>,
    crops: &[Crop],
    size: [usize; 2],
    extrapolation: f32,
) -> Tensor<4> {
    let [n, c, h, w] = features.dims();
    let device = features.device();
    let [oh, ow] = size;
    if crops.is_empty() || h == 0 || w == 0 {
        return Tensor::full([crops.len(), c, oh, ow], extrapolation, &device);
    }
    let flat = features.permute([1, 0, 2, 3]).reshape([c, n * h * w]);
    // Four taps per pixel (a sample outside the map has four zero-weight taps).
    let per_crop = oh * ow * 4;
    let chunk = if crate::taps_flex::applies(&flat) {
        crops.len().max(1)
    } else {
        (MAX_GATHER_ELEMS / (c * per_crop).max(1)).max(1)
    };
    let mut parts = Vec::new();
    let mut outside = Vec::with_capacity(crops.len() * oh * ow);
    for group in crops.chunks(chunk) {
        let mut idx = Vec::with_capacity(group.len() * per_crop);
        let mut wts = Vec::with_capacity(group.len() * per_crop);
        for &(b, [y1, x1, y2, x2]) in group {
            let base = b * h * w;
            let ys = positions(y1, y2, h, oh);
            let xs = positions(x1, x2, w, ow);
            for y in &ys {
                for x in &xs {
                    let (Some(y), Some(x)) = (y, x) else {
                        idx.extend([0; 4]);
                        wts.extend([0.0; 4]);
                        outside.push(1.0f32);
                        continue;
                    };
                    outside.push(0.0);
                    let (top, left) = (y.floor(), x.floor());
                    let (bottom, right) = (y.ceil() as usize, x.ceil() as usize);
                    let (ly, lx) = (y - top, x - left);
                    let (top, left) = (top as usize, left as usize);
                    idx.extend([
                        base + top * w + left,
                        base + top * w + right,
                        base + bottom * w + left,
                        base + bottom * w + right,
                    ]);
                    wts.extend([
                        (1.0 - ly) * (1.0 - lx),
                        (1.0 - ly) * lx,
                        ly * (1.0 - lx),
                        ly * lx,
                    ]);
                }
            }
        }
        parts.push(pool_taps(&flat, &idx, wts, [group.len(), oh, ow], 4));
    }
    let pooled = if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        Tensor::cat(parts, 0)
    };
    if extrapolation == 0.0 || outside.iter().all(|&o| o == 0.0) {
        return pooled;
    }
    let mask = crate::host::tensor(outside, [crops.len(), 1, oh, ow], &device);
    pooled + mask * extrapolation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_tensorflows_grid() {
        // 5 pixels (centres 0..4), a crop of 3 over the whole map: 0, 2, 4.
        assert_eq!(positions(0.0, 1.0, 5, 3), [Some(0.0), Some(2.0), Some(4.0)]);
        // One sample: the centre. Outside the map: none.
        assert_eq!(positions(0.25, 0.75, 5, 1), [Some(2.0)]);
        assert_eq!(positions(-0.5, 0.5, 5, 3), [None, Some(0.0), Some(2.0)]);
    }
}
