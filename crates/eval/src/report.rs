//! The numbers of `mrcnn eval` as tables and as `metrics.json`: per-category AP (all IoUs,
//! .50, .75, by area) and AR@100 from the accumulated precision/recall arrays of an
//! [`EvalResult`], and the whole report of one or more IoU types.
//!
//! The per-category numbers are pycocotools' `_summarize` restricted to one category
//! (`precision[:, :, k, a, 2]` averaged over the entries > -1): -1 where the category has no
//! non-crowd ground truth in that area range (shown as `n/a` in the table). They use the same
//! summation order as [`EvalResult::per_category`], so AP/AP50/AP75 are bit-identical to it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::params::{A, R, T};
use crate::result::{EvalResult, SimpleStats};

/// Index of maxDets = 100 in `MAX_DETS`.
const M100: usize = 2;

/// The 12 numbers of COCOeval.stats by their usual names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CocoStats {
    #[serde(rename = "AP")]
    pub ap: f64,
    #[serde(rename = "AP50")]
    pub ap50: f64,
    #[serde(rename = "AP75")]
    pub ap75: f64,
    #[serde(rename = "APs")]
    pub ap_small: f64,
    #[serde(rename = "APm")]
    pub ap_medium: f64,
    #[serde(rename = "APl")]
    pub ap_large: f64,
    #[serde(rename = "AR1")]
    pub ar1: f64,
    #[serde(rename = "AR10")]
    pub ar10: f64,
    #[serde(rename = "AR100")]
    pub ar100: f64,
    #[serde(rename = "ARs")]
    pub ar_small: f64,
    #[serde(rename = "ARm")]
    pub ar_medium: f64,
    #[serde(rename = "ARl")]
    pub ar_large: f64,
}

impl CocoStats {
    /// From COCOeval.stats' order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl.
    pub fn from_array(s: &[f64; 12]) -> CocoStats {
        CocoStats {
            ap: s[0],
            ap50: s[1],
            ap75: s[2],
            ap_small: s[3],
            ap_medium: s[4],
            ap_large: s[5],
            ar1: s[6],
            ar10: s[7],
            ar100: s[8],
            ar_small: s[9],
            ar_medium: s[10],
            ar_large: s[11],
        }
    }
}

/// One category's numbers (maxDets 100; -1 where it has no ground truth for that setting).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub category_id: i64,
    pub name: String,
    /// AP over IoU .50:.95, area all.
    #[serde(rename = "AP")]
    pub ap: f64,
    #[serde(rename = "AP50")]
    pub ap50: f64,
    #[serde(rename = "AP75")]
    pub ap75: f64,
    /// AP over IoU .50:.95 for small (< 32²), medium and large (> 96²) objects.
    #[serde(rename = "APs")]
    pub ap_small: f64,
    #[serde(rename = "APm")]
    pub ap_medium: f64,
    #[serde(rename = "APl")]
    pub ap_large: f64,
    /// Recall averaged over IoU .50:.95, area all, 100 detections per image.
    #[serde(rename = "AR100")]
    pub ar100: f64,
}

/// [`SimpleStats`] as written to JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimpleMetrics {
    pub tp: u64,
    pub fp: u64,
    pub num_gt: u64,
    pub precision: f64,
    pub recall: f64,
    pub mean_iou: f64,
}

impl From<&SimpleStats> for SimpleMetrics {
    fn from(s: &SimpleStats) -> SimpleMetrics {
        SimpleMetrics {
            tp: s.tp,
            fp: s.fp,
            num_gt: s.num_gt,
            precision: s.precision,
            recall: s.recall,
            mean_iou: s.mean_iou,
        }
    }
}

/// Precision, recall and mean IoU of matches at IoU 0.5 (see [`SimpleStats`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimpleAtIou50 {
    /// Over all detections COCOeval keeps.
    pub all_detections: SimpleMetrics,
    /// Over the kept detections with score >= 0.5.
    pub score_ge_0_5: SimpleMetrics,
}

/// Everything of one IoU type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IouTypeMetrics {
    pub stats: CocoStats,
    pub per_category: Vec<ClassMetrics>,
    pub at_iou_0_5: SimpleAtIou50,
}

impl IouTypeMetrics {
    pub fn from_result(r: &EvalResult) -> IouTypeMetrics {
        IouTypeMetrics {
            stats: CocoStats::from_array(&r.stats),
            per_category: per_class_metrics(r),
            at_iou_0_5: SimpleAtIou50 {
                all_detections: (&r.simple).into(),
                score_ge_0_5: (&r.simple_score05).into(),
            },
        }
    }
}

/// The content of `metrics.json`; see [`write_metrics_json`] for the schema.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bbox: Option<IouTypeMetrics>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub segm: Option<IouTypeMetrics>,
    /// Images left out of the evaluation (unreadable, under the skip policy), each with why.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub skipped_images: Vec<String>,
}

impl MetricsReport {
    /// One entry per result, under its IoU type (a later result of the same type replaces an
    /// earlier one).
    pub fn from_results(results: &[EvalResult]) -> MetricsReport {
        let mut m = MetricsReport::default();
        for r in results {
            let v = Some(IouTypeMetrics::from_result(r));
            match r.iou_type {
                crate::result::IouType::Bbox => m.bbox = v,
                crate::result::IouType::Segm => m.segm = v,
            }
        }
        m
    }
}

/// pycocotools' `_summarize` for category `k`: mean of the entries > -1, -1 if none.
fn class_ap(r: &EvalResult, k: usize, t: Option<usize>, a: usize) -> f64 {
    let ts = match t {
        Some(t) => t..t + 1,
        None => 0..T,
    };
    let (mut sum, mut n) = (0.0, 0usize);
    for t in ts {
        for ri in 0..R {
            let v = r.precision_at(t, ri, k, a, M100);
            if v > -1.0 {
                sum += v;
                n += 1;
            }
        }
    }
    if n == 0 { -1.0 } else { sum / n as f64 }
}

fn class_ar100(r: &EvalResult, k: usize) -> f64 {
    let vals: Vec<f64> = (0..T)
        .map(|t| r.recall_at(t, k, 0, M100))
        .filter(|&v| v > -1.0)
        .collect();
    if vals.is_empty() {
        -1.0
    } else {
        vals.iter().sum::<f64>() / vals.len() as f64
    }
}

/// Per-category numbers of `r`, in the order of `r.cat_ids` (sorted ids).
pub fn per_class_metrics(r: &EvalResult) -> Vec<ClassMetrics> {
    debug_assert_eq!(r.precision.len(), T * R * r.cat_ids.len() * A * 3);
    r.cat_ids
        .iter()
        .enumerate()
        .map(|(k, &id)| ClassMetrics {
            category_id: id,
            name: r
                .per_category
                .get(k)
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            ap: class_ap(r, k, None, 0),
            ap50: class_ap(r, k, Some(0), 0),
            ap75: class_ap(r, k, Some(5), 0),
            ap_small: class_ap(r, k, None, 1),
            ap_medium: class_ap(r, k, None, 2),
            ap_large: class_ap(r, k, None, 3),
            ar100: class_ar100(r, k),
        })
        .collect()
}

fn cell(v: f64) -> String {
    if v < 0.0 {
        "n/a".into()
    } else {
        format!("{v:.3}")
    }
}

/// A text table of [`per_class_metrics`]: one row per category with id, name, AP, AP50, AP75,
/// APs, APm, APl, AR100 (3 decimals, `n/a` for -1), under a header naming the IoU type.
pub fn per_class_table(r: &EvalResult) -> String {
    let rows = per_class_metrics(r);
    let wname = rows
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut out = format!(
        "Per category, IoU metric: {} (maxDets=100; n/a: no ground truth)\n",
        r.iou_type.as_str()
    );
    out.push_str(&format!(
        " {:>8}  {:<wname$}  {:>6}  {:>6}  {:>6}  {:>6}  {:>6}  {:>6}  {:>6}\n",
        "cat_id", "name", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"
    ));
    for c in &rows {
        out.push_str(&format!(
            " {:>8}  {:<wname$}  {:>6}  {:>6}  {:>6}  {:>6}  {:>6}  {:>6}  {:>6}\n",
            c.category_id,
            c.name,
            cell(c.ap),
            cell(c.ap50),
            cell(c.ap75),
            cell(c.ap_small),
            cell(c.ap_medium),
            cell(c.ap_large),
            cell(c.ar100)
        ));
    }
    out
}

/// Writes `metrics.json` for `results` (one per IoU type) atomically (temporary file in the
/// same folder, then rename; parent folders are created).
///
/// Schema ([`MetricsReport`]): an object with a key per evaluated IoU type, `"bbox"` and/or
/// `"segm"`, each:
///
/// ```json
/// {
///   "stats": {"AP": 0.5, "AP50": 0.8, "AP75": 0.5, "APs": -1, "APm": 0.4, "APl": 0.6,
///             "AR1": 0.3, "AR10": 0.6, "AR100": 0.6, "ARs": -1, "ARm": 0.5, "ARl": 0.7},
///   "per_category": [
///     {"category_id": 1, "name": "cat", "AP": 0.5, "AP50": 0.8, "AP75": 0.5,
///      "APs": -1, "APm": 0.4, "APl": 0.6, "AR100": 0.6}
///   ],
///   "at_iou_0_5": {
///     "all_detections": {"tp": 8, "fp": 2, "num_gt": 10, "precision": 0.8, "recall": 0.8,
///                        "mean_iou": 0.83},
///     "score_ge_0_5":   {"tp": 7, "fp": 0, "num_gt": 10, "precision": 1.0, "recall": 0.7,
///                        "mean_iou": 0.85}
///   }
/// }
/// ```
///
/// `stats` is COCOeval.stats (AP over IoU .50:.95 unless named; APs/APm/APl and ARs/ARm/ARl for
/// areas < 32², 32²..96², > 96²; AR1/10/100 by detections per image). `per_category` is
/// [`per_class_metrics`], sorted by category id. `at_iou_0_5` is [`SimpleStats`]. As in
/// pycocotools, -1 means "no ground truth for this setting". Numbers are full f64 precision.
pub fn write_metrics_json(path: &Path, results: &[EvalResult]) -> Result<(), EvalError> {
    write_report_json(path, &MetricsReport::from_results(results))
}

/// Writes `report` as [`write_metrics_json`] does (e.g. with `skipped_images` filled in).
pub fn write_report_json(path: &Path, report: &MetricsReport) -> Result<(), EvalError> {
    let text = serde_json::to_string_pretty(report).expect("the metrics report serialises");
    mrcnn_coco::files::write_atomic(path, format!("{text}\n").as_bytes()).map_err(|source| {
        EvalError::Write {
            path: path.display().to_string(),
            source,
        }
    })
}
