//! COCO evaluation of a model on a validation set: predictions as COCO results (bbox `x, y, w, h`
//! and compressed-RLE masks, label k = the set's k-th category), scored by `mrcnn-eval`'s
//! pycocotools-equivalent COCOeval for bbox and segm.

use mrcnn_data::loader::{Loader, LoaderConfig};
use mrcnn_data::{Dataset, OnBadSample};
use mrcnn_eval::dataset::Segmentation;
use mrcnn_eval::rle::Rle;
use mrcnn_eval::{CocoGt, Detection, EvalResult, IouType, evaluate};
use mrcnn_model::{MaskRcnn, Prediction};
use std::sync::Arc;

use crate::trainee::image_input;

/// What one evaluation gives.
pub struct Evaluation {
    pub bbox: EvalResult,
    pub segm: EvalResult,
    pub detections: Vec<Detection>,
    /// `(dataset image index, prediction)` of the first `keep_predictions` images, for overlays.
    pub kept: Vec<(usize, Prediction)>,
    pub images: usize,
    pub skipped: usize,
}

/// The COCO ground truth of a dataset (its own category ids).
pub fn coco_gt(ds: &Dataset) -> Result<CocoGt, String> {
    let json = mrcnn_data::coco::coco_json(ds);
    CocoGt::from_json_str(&json.to_string()).map_err(|e| e.to_string())
}

/// Predictions of `model` as COCO results for the dataset image `image_id`.
pub fn to_detections(
    pred: &Prediction,
    image_id: i64,
    ds: &Dataset,
    mask_threshold: f32,
) -> Vec<Detection> {
    let mut out = Vec::with_capacity(pred.boxes.len());
    for d in 0..pred.boxes.len() {
        let Some(cat) = ds.category(pred.labels[d] as u32) else {
            continue;
        };
        let b = pred.boxes[d];
        let bin: Vec<u8> = pred.masks[d]
            .iter()
            .map(|&p| u8::from(p >= mask_threshold))
            .collect();
        let rle = Rle::encode(&bin, pred.height as u32, pred.width as u32);
        out.push(Detection {
            image_id,
            category_id: cat.id as i64,
            score: pred.scores[d] as f64,
            bbox: Some([
                b[0] as f64,
                b[1] as f64,
                (b[2] - b[0]) as f64,
                (b[3] - b[1]) as f64,
            ]),
            segmentation: Some(Segmentation::Rle(rle)),
        });
    }
    out
}

/// Runs `model` (an inference model, no autodiff) over `ds` (at most `max_images`) in batches of
/// `batch_size`, and scores the results against `ds`'s ground truth.
pub fn evaluate_model(
    model: &MaskRcnn,
    ds: &Arc<Dataset>,
    max_images: Option<usize>,
    batch_size: usize,
    workers: usize,
    on_bad_sample: OnBadSample,
    keep_predictions: usize,
) -> Result<Evaluation, String> {
    let mut ds_used = ds.clone();
    if let Some(m) = max_images.filter(|&m| m < ds.images.len()) {
        let mut sub = (**ds).clone();
        sub.images.truncate(m);
        ds_used = Arc::new(sub);
    }
    let gt = coco_gt(&ds_used)?;
    let loader = Loader::new(
        ds_used.clone(),
        None,
        LoaderConfig {
            batch_size: batch_size.max(1),
            workers,
            prefetch: 2,
            shuffle: false,
            seed: 0,
            on_bad_sample,
        },
    );
    let thr = model.config.mask_head.mask_threshold;
    let mut detections = Vec::new();
    let mut kept = Vec::new();
    let mut skipped = 0;
    let mut images = 0;
    for batch in loader.one_pass() {
        let batch = batch.map_err(|p| p.to_string())?;
        skipped += batch.skipped.len();
        if batch.samples.is_empty() {
            continue;
        }
        let inputs: Vec<_> = batch
            .samples
            .iter()
            .map(|s| image_input(&s.image))
            .collect();
        let preds = model.predict(&inputs);
        for ((&idx, s), pred) in batch.indices.iter().zip(&batch.samples).zip(preds) {
            images += 1;
            detections.extend(to_detections(&pred, s.image_id as i64, &ds_used, thr));
            if kept.len() < keep_predictions {
                kept.push((idx, pred));
            }
        }
    }
    let bbox = evaluate(&gt, &detections, IouType::Bbox).map_err(|e| e.to_string())?;
    let segm = evaluate(&gt, &detections, IouType::Segm).map_err(|e| e.to_string())?;
    Ok(Evaluation {
        bbox,
        segm,
        detections,
        kept,
        images,
        skipped,
    })
}
