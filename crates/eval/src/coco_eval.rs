//! COCOeval for `bbox` and `segm`, numerically identical to pycocotools.
//!
//! Pipeline (one file per stage): `prepare` (loadRes rules, _prepare),
//! `matching` (computeIoU + evaluateImg per category and image),
//! `accumulate` (precision/recall curves), `summary`
//! (the 12 numbers, per-category AP, text table).
//!
//! Differences from pycocotools, all where it would raise or misbehave:
//! an empty results list is evaluated (AP 0) instead of crashing; duplicate
//! annotation ids are kept as separate objects (pycocotools' dict keeps the
//! last one twice).

use rayon::prelude::*;

use mrcnn_coco::{CocoGt, Detection};

use crate::accumulate::accumulate;
use crate::error::EvalError;
use crate::matching::{SimpleCounts, evaluate_cell};
use crate::params::{A, M, R, T};
use crate::prepare::prepare;
use crate::result::{EvalResult, IouType};
use crate::summary::{per_category, simple_stats, stats};

/// Run COCOeval (evaluate, accumulate, summarize) on all images and categories
/// of `gt`.
///
/// Detections follow loadRes' rules (see `prepare`): if the first has
/// a `bbox`, all need one and their area is `w*h`; otherwise all need a mask.
/// Results on images not in `gt` are an error; results of categories not in
/// `gt` are ignored.
pub fn evaluate(
    gt: &CocoGt,
    dets: &[Detection],
    iou_type: IouType,
) -> Result<EvalResult, EvalError> {
    let p = prepare(gt, dets, iou_type)?;
    let evals: Vec<_> = p.cells.par_iter().map(|c| evaluate_cell(&p, c)).collect();
    let acc = accumulate(p.cat_ids.len(), &p.cells, &evals);

    let mut names = vec![String::new(); p.cat_ids.len()];
    for c in &gt.categories {
        if let Ok(k) = p.cat_ids.binary_search(&c.id) {
            names[k] = c.name.clone();
        }
    }
    let mut counts = [SimpleCounts::default(); 2];
    let mut num_gt = 0u64;
    for e in &evals {
        num_gt += e.areas[0].npig as u64;
        for (c, s) in counts.iter_mut().zip(&e.simple) {
            c.tp += s.tp;
            c.fp += s.fp;
            c.iou_sum += s.iou_sum;
        }
    }
    debug_assert_eq!(acc.precision.len(), T * R * p.cat_ids.len() * A * M);
    Ok(EvalResult {
        iou_type,
        stats: stats(&acc),
        per_category: per_category(&acc, &p.cat_ids, &names),
        simple: simple_stats(counts[0].tp, counts[0].fp, counts[0].iou_sum, num_gt),
        simple_score05: simple_stats(counts[1].tp, counts[1].fp, counts[1].iou_sum, num_gt),
        cat_ids: p.cat_ids,
        precision: acc.precision,
        recall: acc.recall,
    })
}
