//! COCOeval for `bbox` and `segm`, numerically identical to pycocotools.
//!
//! Pipeline (one file per stage): [`crate::prepare`] (loadRes rules, _prepare),
//! [`crate::matching`] (computeIoU + evaluateImg per category and image),
//! [`crate::accumulate`] (precision/recall curves), [`crate::summary`]
//! (the 12 numbers, per-category AP, text table).
//!
//! Differences from pycocotools, all where it would raise or misbehave:
//! an empty results list is evaluated (AP 0) instead of crashing; duplicate
//! annotation ids are kept as separate objects (pycocotools' dict keeps the
//! last one twice).

use rayon::prelude::*;

use crate::accumulate::accumulate;
use crate::dataset::{CocoGt, Detection};
use crate::error::EvalError;
use crate::matching::{SimpleCounts, evaluate_cell};
use crate::params::{A, M, R, T};
use crate::prepare::prepare;
use crate::summary::{per_category, simple_stats, stats};

/// What is compared: boxes or masks (COCOeval's iouType).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IouType {
    Bbox,
    Segm,
}

impl IouType {
    pub fn as_str(self) -> &'static str {
        match self {
            IouType::Bbox => "bbox",
            IouType::Segm => "segm",
        }
    }
}

/// AP of one category, over IoU .50:.95, at .50 and at .75 (area all,
/// maxDets 100); -1 when the category has no non-crowd gt.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoryStats {
    pub category_id: i64,
    pub name: String,
    pub ap: f64,
    pub ap50: f64,
    pub ap75: f64,
}

/// Plain numbers at IoU 0.5, area "all", pooled over images and categories.
///
/// Matching is COCOeval's own at IoU threshold 0.5 (greedy by score, each gt
/// matched at most once, crowd gts absorb duplicates without counting): among
/// the detections COCOeval keeps (top 100 per image and category) and that are
/// not ignored (matched to a crowd gt), a TP is a matched detection and an FP
/// an unmatched one. `precision = TP / (TP + FP)`, `recall = TP / GT` with GT
/// the non-crowd gts, `mean_iou` the mean IoU of the TP pairs. 0 when the
/// denominator is 0.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimpleStats {
    pub tp: u64,
    pub fp: u64,
    pub num_gt: u64,
    pub precision: f64,
    pub recall: f64,
    pub mean_iou: f64,
}

/// The result of [`evaluate`].
#[derive(Clone, Debug)]
pub struct EvalResult {
    pub iou_type: IouType,
    /// COCOeval.stats: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.
    pub stats: [f64; 12],
    /// One entry per category of the ground truth, sorted by id.
    pub per_category: Vec<CategoryStats>,
    /// Sorted category ids: the K axis of `precision` and `recall`.
    pub cat_ids: Vec<i64>,
    /// `eval['precision']`, shape `[T=10][R=101][K][A=4][M=3]`, row-major.
    pub precision: Vec<f64>,
    /// `eval['recall']`, shape `[T=10][K][A=4][M=3]`, row-major.
    pub recall: Vec<f64>,
    /// [`SimpleStats`] over all kept detections.
    pub simple: SimpleStats,
    /// [`SimpleStats`] over kept detections with score >= 0.5.
    pub simple_score05: SimpleStats,
}

impl EvalResult {
    /// `precision[t, r, k, a, m]`.
    pub fn precision_at(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> f64 {
        let nk = self.cat_ids.len();
        self.precision[(((t * R + r) * nk + k) * A + a) * M + m]
    }

    /// `recall[t, k, a, m]`.
    pub fn recall_at(&self, t: usize, k: usize, a: usize, m: usize) -> f64 {
        let nk = self.cat_ids.len();
        self.recall[((t * nk + k) * A + a) * M + m]
    }
}

/// Run COCOeval (evaluate, accumulate, summarize) on all images and categories
/// of `gt`.
///
/// Detections follow loadRes' rules (see [`crate::prepare`]): if the first has
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
