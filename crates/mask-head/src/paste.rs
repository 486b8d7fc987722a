//! Pasting masks into the image as torchvision's `paste_masks_in_image`: the M x M mask is padded
//! by one pixel, its box expanded by (M + 2) / M about the centre and truncated to integers, the
//! mask resized bilinearly (align_corners = false) to the box size (+1) and copied into the image
//! where it overlaps.
//!
//! Runs on the host: it is per-detection integer geometry, and its output is consumed on the
//! host (RLE encoding, overlays).

use mrcnn_core::BoxXyxy;

/// Bilinear resize of a row-major `src_h x src_w` map to `dst_h x dst_w` with torch's
/// `align_corners=False` source-index rule.
pub fn resize_bilinear(
    src: &[f32],
    src_h: usize,
    src_w: usize,
    dst_h: usize,
    dst_w: usize,
) -> Vec<f32> {
    let axis = |src_n: usize, dst_n: usize| -> Vec<(usize, usize, f32, f32)> {
        let scale = src_n as f32 / dst_n as f32;
        (0..dst_n)
            .map(|d| {
                let s = (scale * (d as f32 + 0.5) - 0.5).max(0.0);
                let i0 = s as usize;
                let i1 = if i0 < src_n - 1 { i0 + 1 } else { i0 };
                let l1 = s - i0 as f32;
                (i0, i1, 1.0 - l1, l1)
            })
            .collect()
    };
    let ys = axis(src_h, dst_h);
    let xs = axis(src_w, dst_w);
    let mut out = Vec::with_capacity(dst_h * dst_w);
    for &(y0, y1, hy0, hy1) in &ys {
        for &(x0, x1, wx0, wx1) in &xs {
            let v = hy0 * (wx0 * src[y0 * src_w + x0] + wx1 * src[y0 * src_w + x1])
                + hy1 * (wx0 * src[y1 * src_w + x0] + wx1 * src[y1 * src_w + x1]);
            out.push(v);
        }
    }
    out
}

/// One mask pasted into its image, kept only where it can be non-zero: the probabilities of
/// the pixels of its (expanded, clipped) box, `x, y, width, height` in image pixels. Zero
/// everywhere else, so a prediction keeps this (or less) instead of a full-image map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PastedMask {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
    /// Row-major `height x width`.
    pub probs: Vec<f32>,
}

impl PastedMask {
    /// The full row-major `im_h x im_w` map (zeros outside the region).
    pub fn to_full(&self, im_h: usize, im_w: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; im_h * im_w];
        for r in 0..self.height {
            let start = (self.y + r) * im_w + self.x;
            out[start..start + self.width]
                .copy_from_slice(&self.probs[r * self.width..(r + 1) * self.width]);
        }
        out
    }
}

/// Pastes one `m x m` probability mask for `bbox` (original image coordinates) into an
/// `im_h x im_w` image; returns the region it covers.
pub fn paste_mask_region(
    mask: &[f32],
    m: usize,
    bbox: &BoxXyxy,
    im_h: usize,
    im_w: usize,
) -> PastedMask {
    const PAD: usize = 1;
    let mp = m + 2 * PAD;
    let mut padded = vec![0.0f32; mp * mp];
    for y in 0..m {
        padded[(y + PAD) * mp + PAD..(y + PAD) * mp + PAD + m]
            .copy_from_slice(&mask[y * m..(y + 1) * m]);
    }
    let scale = mp as f32 / m as f32;
    let w_half = (bbox[2] - bbox[0]) * 0.5 * scale;
    let h_half = (bbox[3] - bbox[1]) * 0.5 * scale;
    let x_c = (bbox[2] + bbox[0]) * 0.5;
    let y_c = (bbox[3] + bbox[1]) * 0.5;
    // torch's `.to(torch.int64)` truncates toward zero.
    let b = [
        (x_c - w_half) as i64,
        (y_c - h_half) as i64,
        (x_c + w_half) as i64,
        (y_c + h_half) as i64,
    ];
    let w = (b[2] - b[0] + 1).max(1) as usize;
    let h = (b[3] - b[1] + 1).max(1) as usize;
    let x0 = b[0].max(0);
    let x1 = (b[2] + 1).min(im_w as i64);
    let y0 = b[1].max(0);
    let y1 = (b[3] + 1).min(im_h as i64);
    if x1 <= x0 || y1 <= y0 {
        return PastedMask::default();
    }
    let resized = resize_bilinear(&padded, mp, mp, h, w);
    let (rw, rh) = ((x1 - x0) as usize, (y1 - y0) as usize);
    let mut probs = Vec::with_capacity(rw * rh);
    for y in y0..y1 {
        let sy = (y - b[1]) as usize;
        let row = sy * w + (x0 - b[0]) as usize;
        probs.extend_from_slice(&resized[row..row + rw]);
    }
    PastedMask {
        x: x0 as usize,
        y: y0 as usize,
        width: rw,
        height: rh,
        probs,
    }
}

/// Pastes one `m x m` probability mask for `bbox` (original image coordinates) into an
/// `im_h x im_w` row-major map of probabilities (torchvision's `paste_mask_in_image`).
pub fn paste_mask(mask: &[f32], m: usize, bbox: &BoxXyxy, im_h: usize, im_w: usize) -> Vec<f32> {
    paste_mask_region(mask, m, bbox, im_h, im_w).to_full(im_h, im_w)
}

/// Pastes every mask (`masks[i]` is `m x m`); returns one `im_h x im_w` map per detection.
pub fn paste_masks_in_image(
    masks: &[Vec<f32>],
    m: usize,
    boxes: &[BoxXyxy],
    im_h: usize,
    im_w: usize,
) -> Vec<Vec<f32>> {
    masks
        .iter()
        .zip(boxes)
        .map(|(mk, b)| paste_mask(mk, m, b, im_h, im_w))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_identity() {
        let src: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(resize_bilinear(&src, 3, 4, 3, 4), src);
    }

    #[test]
    fn regions_hold_every_non_zero_pixel() {
        let mask: Vec<f32> = (0..28 * 28).map(|v| (v % 7) as f32 / 7.0 + 0.01).collect();
        for b in [
            [10.0, 10.0, 40.0, 30.0],
            [-5.0, 3.0, 12.5, 60.0],
            [55.0, 45.0, 70.0, 52.0],
            [100.0, 100.0, 120.0, 110.0],
        ] {
            let r = paste_mask_region(&mask, 28, &b, 50, 60);
            let full = r.to_full(50, 60);
            let outside: f32 = full.iter().sum::<f32>() - r.probs.iter().sum::<f32>();
            assert!(outside.abs() < 1e-3, "{b:?}");
            assert_eq!(r.probs.len(), r.width * r.height);
            assert!(r.x + r.width <= 60 && r.y + r.height <= 50);
        }
        assert_eq!(
            paste_mask_region(&mask, 28, &[100.0, 100.0, 120.0, 110.0], 50, 60),
            PastedMask::default(),
            "a box outside the image covers nothing"
        );
    }

    #[test]
    fn paste_full_mask_covers_box() {
        let mask = vec![1.0f32; 28 * 28];
        let out = paste_mask(&mask, 28, &[10.0, 10.0, 40.0, 30.0], 50, 60);
        assert!(out[20 * 60 + 25] > 0.99);
        assert_eq!(out[2 * 60 + 2], 0.0);
    }
}
