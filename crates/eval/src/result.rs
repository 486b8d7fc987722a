//! What an evaluation returns: [`EvalResult`] with COCOeval's 12 numbers, per-category AP,
//! the accumulated precision/recall arrays and plain counts at IoU 0.5.

use crate::params::{A, M, R};

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

/// The result of [`crate::evaluate`].
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
