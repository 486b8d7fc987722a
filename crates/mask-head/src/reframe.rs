//! Pasting as the TensorFlow Object Detection API does (`ops.reframe_box_masks_to_image_masks`,
//! bilinear): `tf.image.crop_and_resize` of the `m x m` mask with the image's frame expressed in
//! the box's normalised coordinates, to the image size. Image pixel `i` of `H` sits at
//! normalised `i / (H - 1)`; inside the box that is mask position
//! `(i / (H - 1) - y1) / (y2 - y1) * (m - 1)`, sampled bilinearly; outside it the value is 0
//! (the extrapolation value), with no padding ring (unlike torchvision's paste).
//!
//! On the host, one mask at a time, keeping only the pixels the box covers ([`PastedMask`]).

use mrcnn_core::BoxXyxy;

use crate::paste::PastedMask;

/// One axis: `(first pixel, per pixel (lower index, upper index, weight of the upper))` for the
/// pixels of an image side of `len` whose sample falls inside a mask side of `m`, for the box
/// side `[a, b]` (normalised). TensorFlow's float32 arithmetic of `crop_and_resize`.
fn axis(a: f32, b: f32, len: usize, m: usize) -> (usize, Vec<(usize, usize, f32)>) {
    // The "reverse box": the image's [0, 1] in the box's frame (denominator floored at 1e-4).
    let denom = (b - a).max(1e-4);
    let (r0, r1) = ((0.0 - a) / denom, (1.0 - a) / denom);
    let last = (m - 1) as f32;
    let scale = if len > 1 {
        (r1 - r0) * last / (len - 1) as f32
    } else {
        0.0
    };
    let mut first = None;
    let mut taps = Vec::new();
    for i in 0..len {
        let v = if len > 1 {
            r0 * last + i as f32 * scale
        } else {
            0.5 * (r0 + r1) * last
        };
        if !(0.0..=last).contains(&v) {
            if first.is_some() {
                break;
            }
            continue;
        }
        first.get_or_insert(i);
        let lo = v.floor();
        taps.push((lo as usize, v.ceil() as usize, v - lo));
    }
    (first.unwrap_or(0), taps)
}

/// Pastes one `m_h x m_w` probability mask for `bbox` (pixels of an `im_h x im_w` image; it is
/// normalised by the image size, as the OD API's boxes are) the OD API's way.
pub fn reframe_mask_region(
    mask: &[f32],
    m: [usize; 2],
    bbox: &BoxXyxy,
    im_h: usize,
    im_w: usize,
) -> PastedMask {
    let (ys0, ys) = axis(bbox[1] / im_h as f32, bbox[3] / im_h as f32, im_h, m[0]);
    let (xs0, xs) = axis(bbox[0] / im_w as f32, bbox[2] / im_w as f32, im_w, m[1]);
    if ys.is_empty() || xs.is_empty() {
        return PastedMask::default();
    }
    let mut probs = Vec::with_capacity(ys.len() * xs.len());
    let at = |y: usize, x: usize| mask[y * m[1] + x];
    for &(y0, y1, ly) in &ys {
        for &(x0, x1, lx) in &xs {
            let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * lx;
            let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * lx;
            probs.push(top + (bottom - top) * ly);
        }
    }
    PastedMask {
        x: xs0,
        y: ys0,
        width: xs.len(),
        height: ys.len(),
        probs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_image_box_samples_the_mask_corners_to_corners() {
        // A box covering the whole 5x5 image maps pixel i to mask position i / 4 * (3 - 1).
        let mask = [0.0, 0.5, 1.0, 0.0, 0.5, 1.0, 0.0, 0.5, 1.0];
        let p = reframe_mask_region(&mask, [3, 3], &[0.0, 0.0, 5.0, 5.0], 5, 5);
        assert_eq!((p.x, p.y, p.width, p.height), (0, 0, 5, 5));
        assert_eq!(&p.probs[..5], &[0.0, 0.25, 0.5, 0.75, 1.0]);
    }

    #[test]
    fn pixels_outside_the_box_are_left_out() {
        // Box over normalised [0.5, 1] of an 11-pixel side: pixels 5..=10 inside.
        let mask = vec![1.0; 4];
        let p = reframe_mask_region(&mask, [2, 2], &[5.5, 0.0, 11.0, 11.0], 11, 11);
        assert_eq!((p.x, p.width, p.y, p.height), (5, 6, 0, 11));
        assert!(p.probs.iter().all(|&v| v == 1.0));
        let none = reframe_mask_region(&mask, [2, 2], &[20.0, 20.0, 30.0, 30.0], 11, 11);
        assert!(none.probs.is_empty());
    }
}
