//! Precision-recall curves per category as one PNG: a grid of panels (one per category, in the
//! order of the sorted category ids, up to 8 columns), each with the curves at IoU 0.50 and 0.75
//! (area all, maxDets 100) over COCOeval's 101 recall thresholds, i.e. exactly
//! `eval['precision'][t, :, k, 0, 2]`, the numbers AP50 and AP75 average. A category without
//! ground truth gets an empty panel saying so.

use std::path::Path;

use crate::plot::{Legend, Panel, Series, render_panels};
use crate::png::{DrawError, write_png};
use mrcnn_eval::EvalResult;
use mrcnn_eval::params::{R, rec_thrs};
use mrcnn_eval::report::per_class_metrics;

/// Size of one category's panel in [`pr_curves_png`].
pub const PR_PANEL_SIZE: (u32, u32) = (360, 280);

/// `(IoU index into iou_thrs, label)` of the drawn curves.
const CURVES: [(usize, &str); 2] = [(0, "IoU=0.50"), (5, "IoU=0.75")];

/// One [`Panel`] per category of `r` (recall on x, precision on y, both 0..1), titled with the
/// category name and its AP over IoU .50:.95; the legend gives each curve's AP.
pub fn pr_curve_panels(r: &EvalResult) -> Vec<Panel> {
    let rec = rec_thrs();
    per_class_metrics(r)
        .iter()
        .enumerate()
        .map(|(k, c)| {
            let no_gt = c.ap < 0.0;
            let series = if no_gt {
                Vec::new()
            } else {
                CURVES
                    .iter()
                    .map(|&(t, label)| {
                        let ap = if t == 0 { c.ap50 } else { c.ap75 };
                        let points = (0..R)
                            .map(|ri| (rec[ri], r.precision_at(t, ri, k, 0, 2)))
                            .collect();
                        Series {
                            // The IoU .50 curve is never below the .75 one and often equal to
                            // it: drawn wider underneath, it stays visible.
                            width: if t == 0 { 4.0 } else { 2.0 },
                            ..Series::new(format!("{label} AP {ap:.3}"), points)
                        }
                    })
                    .collect()
            };
            let ap = if no_gt {
                "n/a".to_string()
            } else {
                format!("{:.3}", c.ap)
            };
            Panel {
                title: format!("{} (id {})  AP {}", c.name, c.category_id, ap),
                x_label: "recall".into(),
                y_label: "precision".into(),
                series,
                x_range: Some((0.0, 1.0)),
                y_range: Some((0.0, 1.05)),
                legend: Legend::BottomLeft,
                empty_text: "no ground truth".into(),
                ..Panel::default()
            }
        })
        .collect()
}

/// Number of grid columns for `k` panels: about square, at most 8.
pub fn pr_columns(k: usize) -> usize {
    ((k as f64).sqrt().ceil() as usize).clamp(1, 8)
}

/// Writes the precision-recall curves of all categories of `r` as one PNG grid to `path`
/// (atomically): [`pr_columns`] columns of [`PR_PANEL_SIZE`] panels under a title naming the IoU
/// type. Image size: `columns * 360` by `32 + rows * 280` pixels.
pub fn pr_curves_png(path: &Path, r: &EvalResult) -> Result<(), DrawError> {
    let panels = pr_curve_panels(r);
    let title = format!(
        "Precision-recall per category, {} (area all, maxDets 100)",
        r.iou_type.as_str()
    );
    let img = render_panels(&title, &panels, pr_columns(panels.len()), PR_PANEL_SIZE);
    write_png(path, &img)
}
