//! A prediction drawn over its image (`mrcnn predict --visualize`, `mrcnn eval --config`).

use mrcnn_coco::MaskCrop;
use mrcnn_draw::{OverlayItem, overlay};
use mrcnn_model::Prediction;

/// `img` with the detections of `pred` scoring at least `min_score`: masks, boxes, and
/// "class score" captions named by `names`.
pub fn draw(
    img: &image::RgbImage,
    pred: &Prediction,
    min_score: f32,
    names: &dyn Fn(usize) -> String,
) -> image::RgbImage {
    let kept: Vec<usize> = (0..pred.len())
        .filter(|&d| pred.scores[d] >= min_score)
        .collect();
    let masks: Vec<MaskCrop> = kept.iter().map(|&d| pred.mask_crop(d)).collect();
    let items: Vec<OverlayItem> = kept
        .iter()
        .zip(&masks)
        .map(|(&d, m)| OverlayItem {
            bbox: pred.boxes[d],
            caption: format!("{} {:.2}", names(pred.labels[d]), pred.scores[d]),
            mask: Some(m),
        })
        .collect();
    overlay(img, &items)
}
