//! COCO evaluation of a model on a validation set: predictions as COCO results (bbox `x, y, w, h`
//! and compressed-RLE masks, label k = the set's k-th category), scored by `mrcnn-eval`'s
//! pycocotools-equivalent COCOeval for bbox and segm.

use mrcnn_coco::CocoGt;
use mrcnn_data::loader::{Loader, LoaderConfig};
use mrcnn_data::{Dataset, OnBadSample};
use mrcnn_eval::{Detection, EvalResult, IouType, evaluate};
use mrcnn_model::{ImageInput, Predict, Prediction};
use std::sync::Arc;

use crate::error::TrainError;

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
pub fn coco_gt(ds: &Dataset) -> Result<CocoGt, TrainError> {
    Ok(CocoGt::from_instances(mrcnn_data::coco::to_instances(ds))?)
}

/// The COCO results of `pred` for the dataset image `image_id` (label k = the set's k-th
/// category).
pub fn to_detections(pred: &Prediction, image_id: i64, ds: &Dataset) -> Vec<Detection> {
    pred.to_coco(image_id, |label| {
        ds.category(label as u32).map(|c| i64::from(c.id))
    })
}

/// Runs `model` (an inference model, no autodiff) over `ds` (at most `max_images`) in batches of
/// `batch_size`, and scores the results against `ds`'s ground truth.
pub fn evaluate_model<M: Predict>(
    model: &M,
    ds: &Arc<Dataset>,
    max_images: Option<usize>,
    batch_size: usize,
    workers: usize,
    on_bad_sample: OnBadSample,
    keep_predictions: usize,
) -> Result<Evaluation, TrainError> {
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
    let mut detections = Vec::new();
    let mut kept = Vec::new();
    let mut skipped = 0;
    let mut images = 0;
    for batch in loader.one_pass() {
        let batch = batch.map_err(mrcnn_data::DataError::BadSample)?;
        skipped += batch.skipped.len();
        if batch.samples.is_empty() {
            continue;
        }
        let inputs: Vec<_> = batch
            .samples
            .iter()
            .map(|s| ImageInput::from_rgb(&s.image))
            .collect();
        let preds = model.predict(&inputs);
        for ((&idx, s), pred) in batch.indices.iter().zip(&batch.samples).zip(preds) {
            images += 1;
            detections.extend(to_detections(&pred, s.image_id as i64, &ds_used));
            if kept.len() < keep_predictions {
                kept.push((idx, pred));
            }
        }
    }
    let bbox = evaluate(&gt, &detections, IouType::Bbox)?;
    let segm = evaluate(&gt, &detections, IouType::Segm)?;
    Ok(Evaluation {
        bbox,
        segm,
        detections,
        kept,
        images,
        skipped,
    })
}
