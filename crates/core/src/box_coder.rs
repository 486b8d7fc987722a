//! The box coder: (dx, dy, dw, dh) deltas between boxes, with per-coordinate weights and the
//! log(1000/16) clamp, exactly as torchvision's `BoxCoder` (float32, no +1 on widths).
//!
//! The TensorFlow Object Detection API's `FasterRcnnBoxCoder` is the same maths in another
//! order: its codes are `(ty, tx, th, tw)` with `scale_factors` `(sy, sx, sh, sw)` (weights
//! `[sx, sy, sw, sh]` here; the importer reorders a predictor's outputs), it adds `1e-8` to every
//! width and height before encoding (so a zero-height box gets a finite code), and it does not
//! clamp when decoding: [`BoxCoder::tf_od_api`].

use crate::BoxXyxy;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxCoder {
    pub weights: [f32; 4],
    pub bbox_xform_clip: f32,
    /// Added to the widths and heights of both boxes before encoding (0 in torchvision).
    pub size_eps: f32,
}

impl BoxCoder {
    pub fn new(weights: [f32; 4], bbox_xform_clip: f32) -> Self {
        Self {
            weights,
            bbox_xform_clip,
            size_eps: 0.0,
        }
    }

    /// The OD API's `FasterRcnnBoxCoder(scale_factors = [sy, sx, sh, sw])` (`None` is all ones):
    /// epsilon `1e-8` on sizes, no clamp.
    pub fn tf_od_api(scale_factors: Option<[f32; 4]>) -> Self {
        let [sy, sx, sh, sw] = scale_factors.unwrap_or([1.0; 4]);
        Self {
            weights: [sx, sy, sw, sh],
            bbox_xform_clip: f32::INFINITY,
            size_eps: 1e-8,
        }
    }

    /// Deltas that turn `reference` (anchor or proposal) into `gt` (`encode_boxes`).
    pub fn encode(&self, gt: &BoxXyxy, reference: &BoxXyxy) -> [f32; 4] {
        let [wx, wy, ww, wh] = self.weights;
        let ex_w = reference[2] - reference[0];
        let ex_h = reference[3] - reference[1];
        let ex_cx = reference[0] + 0.5 * ex_w;
        let ex_cy = reference[1] + 0.5 * ex_h;
        let gt_w = gt[2] - gt[0];
        let gt_h = gt[3] - gt[1];
        let gt_cx = gt[0] + 0.5 * gt_w;
        let gt_cy = gt[1] + 0.5 * gt_h;
        let [ex_w, ex_h, gt_w, gt_h] = [ex_w, ex_h, gt_w, gt_h].map(|v| v + self.size_eps);
        [
            wx * (gt_cx - ex_cx) / ex_w,
            wy * (gt_cy - ex_cy) / ex_h,
            ww * (gt_w / ex_w).ln(),
            wh * (gt_h / ex_h).ln(),
        ]
    }

    /// Applies `deltas` to `reference` (`decode_single`).
    pub fn decode(&self, deltas: &[f32; 4], reference: &BoxXyxy) -> BoxXyxy {
        let [wx, wy, ww, wh] = self.weights;
        let w = reference[2] - reference[0];
        let h = reference[3] - reference[1];
        let cx = reference[0] + 0.5 * w;
        let cy = reference[1] + 0.5 * h;
        let dx = deltas[0] / wx;
        let dy = deltas[1] / wy;
        let dw = (deltas[2] / ww).min(self.bbox_xform_clip);
        let dh = (deltas[3] / wh).min(self.bbox_xform_clip);
        let pcx = dx * w + cx;
        let pcy = dy * h + cy;
        let pw = dw.exp() * w;
        let ph = dh.exp() * h;
        let hw = 0.5 * pw;
        let hh = 0.5 * ph;
        [pcx - hw, pcy - hh, pcx + hw, pcy + hh]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c = BoxCoder::new([10.0, 10.0, 5.0, 5.0], (1000.0f32 / 16.0).ln());
        let r = [10.0, 20.0, 50.0, 80.0];
        let g = [12.0, 18.0, 47.5, 90.0];
        let d = c.encode(&g, &r);
        let back = c.decode(&d, &r);
        for i in 0..4 {
            assert!((back[i] - g[i]).abs() < 1e-4, "{back:?} vs {g:?}");
        }
    }

    #[test]
    fn clamps_large_scale() {
        let c = BoxCoder::new([1.0; 4], (1000.0f32 / 16.0).ln());
        let b = c.decode(&[0.0, 0.0, 100.0, 100.0], &[0.0, 0.0, 16.0, 16.0]);
        assert!((b[2] - b[0] - 1000.0).abs() < 1e-2);
    }
}
