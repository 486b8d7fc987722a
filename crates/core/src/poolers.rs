//! Multi-scale RoIAlign (torchvision's `MultiScaleRoIAlign`): each box is pooled from the pyramid
//! level its size maps to, `floor(4 + log2(sqrt(area) / 224) + 1e-6)` clamped to levels 2..5.

use crate::roi_align::{Roi, RoiAlignParams, restore_order, roi_align};
use burn::prelude::*;
use mrcnn_config::PoolerConfig;

/// The level mapper (`LevelMapper`): index into `[k_min, k_max]` for each box.
pub fn map_levels(rois: &[Roi], cfg: &PoolerConfig, k_min: u32, k_max: u32) -> Vec<usize> {
    let eps = 1e-6f32;
    rois.iter()
        .map(|(_, b)| {
            let s = crate::boxes::area(b).sqrt();
            let lvl = (cfg.canonical_level as f32 + (s / cfg.canonical_scale).log2() + eps).floor();
            let lvl = lvl.clamp(k_min as f32, k_max as f32);
            // NaN (degenerate box) clamps to NaN; send it to the finest level as torch's cast to
            // int64 would not be defined either.
            if lvl.is_nan() {
                0
            } else {
                (lvl as u32 - k_min) as usize
            }
        })
        .collect()
}

/// Pools `rois` from `features` (levels P2..P5, strides 4..32); returns `[K, C, resolution, resolution]`.
pub fn multiscale_roi_align(
    features: &[Tensor<4>],
    rois: &[Roi],
    resolution: usize,
    cfg: &PoolerConfig,
) -> Tensor<4> {
    let first = &features[0];
    let [_, c, _, _] = first.dims();
    let device = first.device();
    let r = resolution;
    if rois.is_empty() {
        return Tensor::zeros([0, c, r, r], &device);
    }
    let k_min = 2u32;
    let k_max = k_min + features.len() as u32 - 1;
    let levels = map_levels(rois, cfg, k_min, k_max);
    let mut parts = Vec::new();
    let mut order = Vec::with_capacity(rois.len());
    for (li, feat) in features.iter().enumerate() {
        let members: Vec<usize> = (0..rois.len()).filter(|&k| levels[k] == li).collect();
        if members.is_empty() {
            continue;
        }
        let level_rois: Vec<Roi> = members.iter().map(|&k| rois[k]).collect();
        let p = RoiAlignParams {
            output: [r, r],
            spatial_scale: 1.0 / (1u32 << (k_min + li as u32)) as f32,
            sampling_ratio: cfg.sampling_ratio,
            aligned: cfg.aligned,
        };
        parts.push(roi_align(feat.clone(), &level_rois, &p));
        order.extend(members);
    }
    restore_order(parts, &order, &device)
}
