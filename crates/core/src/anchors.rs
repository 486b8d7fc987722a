//! The anchor generator: cell anchors per pyramid level, shifted over each feature map's grid.
//!
//! torchvision: per level, `h = size * sqrt(ratio)`, `w = size / sqrt(ratio)` (ratio-major order),
//! `[-w, -h, w, h] / 2` rounded half-to-even, shifts `i * stride` with stride = padded image size /
//! feature size (integer division). Detectron2: `w = sqrt(size^2 / ratio)`, `h = ratio * w`,
//! size-major order, not rounded. Anchors are ordered location-major, then cell anchor, which is
//! the order of the RPN head's flattened outputs.

use crate::BoxXyxy;
use mrcnn_config::AnchorConfig;

/// The TensorFlow Object Detection API's `GridAnchorGenerator`: one feature map, anchors of
/// `height = scale / sqrt(ratio) * base[0]`, `width = scale * sqrt(ratio) * base[1]` (its aspect
/// ratio is width / height, the inverse of torchvision's), ratio-major then scale, centred at
/// `i * stride + offset` (pixels, `[y, x]` pairs), not rounded. Returned as `[x1, y1, x2, y2]`,
/// location-major as everywhere here.
#[derive(Debug, Clone, PartialEq)]
pub struct TfGridAnchors {
    pub scales: Vec<f32>,
    pub aspect_ratios: Vec<f32>,
    /// `[height, width]` of the anchor of scale 1 and ratio 1.
    pub base_size: [f32; 2],
    /// `[y, x]`.
    pub stride: [f32; 2],
    /// `[y, x]`: the centre of the first cell.
    pub offset: [f32; 2],
}

impl TfGridAnchors {
    /// Anchors per location.
    pub fn num_anchors(&self) -> usize {
        self.scales.len() * self.aspect_ratios.len()
    }

    /// All anchors of a `[height, width]` feature map (`generate([(h, w)])`).
    pub fn generate(&self, grid: [usize; 2]) -> Vec<BoxXyxy> {
        // (height, width) of each cell anchor, in the generator's float32 operation order.
        let mut sizes = Vec::with_capacity(self.num_anchors());
        for &r in &self.aspect_ratios {
            let root = r.sqrt();
            for &s in &self.scales {
                sizes.push((s / root * self.base_size[0], s * root * self.base_size[1]));
            }
        }
        let mut out = Vec::with_capacity(grid[0] * grid[1] * sizes.len());
        for y in 0..grid[0] {
            let cy = y as f32 * self.stride[0] + self.offset[0];
            for x in 0..grid[1] {
                let cx = x as f32 * self.stride[1] + self.offset[1];
                for &(h, w) in &sizes {
                    out.push([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h]);
                }
            }
        }
        out
    }
}

/// Cell anchors (centred on the origin) of one level.
pub fn cell_anchors(sizes: &[f32], ratios: &[f32], rounded: bool) -> Vec<BoxXyxy> {
    let mut out = Vec::with_capacity(sizes.len() * ratios.len());
    if rounded {
        for &r in ratios {
            let h_ratio = r.sqrt();
            let w_ratio = 1.0 / h_ratio;
            for &s in sizes {
                let ws = w_ratio * s;
                let hs = h_ratio * s;
                let a = [-ws / 2.0, -hs / 2.0, ws / 2.0, hs / 2.0];
                out.push(a.map(f32::round_ties_even));
            }
        }
    } else {
        for &s in sizes {
            for &r in ratios {
                let w = (s * s / r).sqrt();
                let h = r * w;
                out.push([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0]);
            }
        }
    }
    out
}

/// Anchors of one level for a feature map of `grid = [h, w]` with `stride = [sy, sx]`.
pub fn grid_anchors(cell: &[BoxXyxy], grid: [usize; 2], stride: [usize; 2]) -> Vec<BoxXyxy> {
    let mut out = Vec::with_capacity(grid[0] * grid[1] * cell.len());
    for y in 0..grid[0] {
        let sy = (y * stride[0]) as f32;
        for x in 0..grid[1] {
            let sx = (x * stride[1]) as f32;
            for c in cell {
                out.push([sx + c[0], sy + c[1], sx + c[2], sy + c[3]]);
            }
        }
    }
    out
}

/// Anchors of every level for a padded batch of size `image = [h, w]` and the feature map sizes;
/// returns one `Vec` per level.
pub fn anchors_per_level(
    cfg: &AnchorConfig,
    image: [usize; 2],
    grids: &[[usize; 2]],
) -> Vec<Vec<BoxXyxy>> {
    grids
        .iter()
        .zip(&cfg.sizes)
        .map(|(g, sizes)| {
            let cell = cell_anchors(sizes, &cfg.aspect_ratios, cfg.rounded);
            let stride = [image[0] / g[0].max(1), image[1] / g[1].max(1)];
            grid_anchors(&cell, *g, stride)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchvision_cell_anchors_size_32() {
        // torchvision AnchorGenerator(((32,),), ((0.5, 1.0, 2.0),)).cell_anchors[0]
        let c = cell_anchors(&[32.0], &[0.5, 1.0, 2.0], true);
        assert_eq!(
            c,
            vec![
                [-23.0, -11.0, 23.0, 11.0],
                [-16.0, -16.0, 16.0, 16.0],
                [-11.0, -23.0, 11.0, 23.0]
            ]
        );
    }

    #[test]
    fn grid_order_is_location_major() {
        let cell = [[-1.0, -1.0, 1.0, 1.0], [-2.0, -2.0, 2.0, 2.0]];
        let a = grid_anchors(&cell, [2, 3], [4, 4]);
        assert_eq!(a.len(), 12);
        assert_eq!(a[1], [-2.0, -2.0, 2.0, 2.0]);
        assert_eq!(a[2], [3.0, -1.0, 5.0, 1.0]);
        assert_eq!(a[6], [-1.0, 3.0, 1.0, 5.0]);
    }
}
