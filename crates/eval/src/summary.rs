//! COCOeval.summarize: the 12 standard numbers, per-category AP, and a text
//! table in pycocotools' format.

use crate::accumulate::Accumulated;
use crate::params::{AREA_LBL, MAX_DETS, R, T};
use crate::result::{CategoryStats, EvalResult, SimpleStats};

/// Mean of the entries > -1 (`np.mean(s[s>-1])`), -1 if there are none.
fn mean_valid(vals: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for v in vals.filter(|&v| v > -1.0) {
        sum += v;
        n += 1;
    }
    if n == 0 { -1.0 } else { sum / n as f64 }
}

/// `_summarize(ap, iouThr, areaRng, maxDets)` over categories `ks`;
/// `t = None` averages all IoU thresholds.
pub(crate) fn summarize_one(
    acc: &Accumulated,
    ap: bool,
    t: Option<usize>,
    a: usize,
    m: usize,
    ks: &[usize],
) -> f64 {
    let ts: Vec<usize> = match t {
        Some(t) => vec![t],
        None => (0..T).collect(),
    };
    if ap {
        mean_valid(
            ts.iter()
                .flat_map(|&t| (0..R).flat_map(move |r| ks.iter().map(move |&k| (t, r, k))))
                .map(|(t, r, k)| acc.precision[acc.p_index(t, r, k, a, m)]),
        )
    } else {
        mean_valid(
            ts.iter()
                .flat_map(|&t| ks.iter().map(move |&k| (t, k)))
                .map(|(t, k)| acc.recall[acc.r_index(t, k, a, m)]),
        )
    }
}

/// `_summarizeDets`: AP, AP50, AP75, AP S/M/L, AR1, AR10, AR100, AR S/M/L.
pub(crate) fn stats(acc: &Accumulated) -> [f64; 12] {
    let ks: Vec<usize> = (0..acc.k).collect();
    ROWS.map(|(ap, t, a, m)| summarize_one(acc, ap, t, a, m, &ks))
}

/// The rows of `_summarizeDets` as (ap, t, area index, maxDets index).
const ROWS: [(bool, Option<usize>, usize, usize); 12] = [
    (true, None, 0, 2),
    (true, Some(0), 0, 2),
    (true, Some(5), 0, 2),
    (true, None, 1, 2),
    (true, None, 2, 2),
    (true, None, 3, 2),
    (false, None, 0, 0),
    (false, None, 0, 1),
    (false, None, 0, 2),
    (false, None, 1, 2),
    (false, None, 2, 2),
    (false, None, 3, 2),
];

pub(crate) fn per_category(
    acc: &Accumulated,
    cat_ids: &[i64],
    names: &[String],
) -> Vec<CategoryStats> {
    (0..acc.k)
        .map(|k| CategoryStats {
            category_id: cat_ids[k],
            name: names[k].clone(),
            ap: summarize_one(acc, true, None, 0, 2, &[k]),
            ap50: summarize_one(acc, true, Some(0), 0, 2, &[k]),
            ap75: summarize_one(acc, true, Some(5), 0, 2, &[k]),
        })
        .collect()
}

/// The 12 lines pycocotools' summarize() prints.
pub(crate) fn standard_lines(stats: &[f64; 12]) -> String {
    let mut out = String::new();
    for (i, &(ap, t, a, m)) in ROWS.iter().enumerate() {
        let (title, kind) = if ap {
            ("Average Precision", "(AP)")
        } else {
            ("Average Recall", "(AR)")
        };
        let iou = match t {
            None => "0.50:0.95".to_string(),
            Some(0) => "0.50".to_string(),
            Some(_) => "0.75".to_string(),
        };
        out.push_str(&format!(
            " {:<18} {} @[ IoU={:<9} | area={:>6} | maxDets={:>3} ] = {:.3}\n",
            title, kind, iou, AREA_LBL[a], MAX_DETS[m], stats[i]
        ));
    }
    out
}

impl EvalResult {
    /// pycocotools' summary lines, then per-category AP and the simple numbers.
    pub fn table(&self) -> String {
        let mut out = format!("IoU metric: {}\n", self.iou_type.as_str());
        out.push_str(&standard_lines(&self.stats));
        if !self.per_category.is_empty() {
            let wname = self
                .per_category
                .iter()
                .map(|c| c.name.len())
                .max()
                .unwrap_or(0)
                .max(8);
            out.push_str(&format!(
                "\n {:>8}  {:<wname$}  {:>6}  {:>6}  {:>6}\n",
                "cat_id", "name", "AP", "AP50", "AP75"
            ));
            for c in &self.per_category {
                out.push_str(&format!(
                    " {:>8}  {:<wname$}  {:>6.3}  {:>6.3}  {:>6.3}\n",
                    c.category_id, c.name, c.ap, c.ap50, c.ap75
                ));
            }
        }
        out.push('\n');
        for (label, s) in [
            ("all detections", &self.simple),
            ("score >= 0.5", &self.simple_score05),
        ] {
            out.push_str(&format!(
                " IoU=0.50, {label:<14}: precision {:.3}  recall {:.3}  mean IoU of matches {:.3}  (TP {}, FP {}, GT {})\n",
                s.precision, s.recall, s.mean_iou, s.tp, s.fp, s.num_gt
            ));
        }
        out
    }
}

/// Precision, recall and mean matched IoU from pooled counts.
pub(crate) fn simple_stats(tp: u64, fp: u64, iou_sum: f64, num_gt: u64) -> SimpleStats {
    let ratio = |a: f64, b: u64| if b == 0 { 0.0 } else { a / b as f64 };
    SimpleStats {
        tp,
        fp,
        num_gt,
        precision: ratio(tp as f64, tp + fp),
        recall: ratio(tp as f64, num_gt),
        mean_iou: ratio(iou_sum, tp),
    }
}
