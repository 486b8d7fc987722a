//! The training chart (`training.png`: losses, learning rate, AP against iteration) of a run's
//! metrics records (`metrics.jsonl`, one JSON object per logged iteration or evaluation).
//!
//! Record convention read by [`training_panels`] (the trainer writes the records; any other
//! fields are ignored):
//!
//! * x: the number in `"iter"` (else `"iteration"`, else `"step"`); records without one are
//!   skipped.
//! * losses panel: every number whose key starts with `"loss"`, at the top level or in nested
//!   objects, named by that key (`"loss"` first, then by name: `loss_box_reg`,
//!   `loss_classifier`, `loss_mask`, `loss_objectness`, `loss_rpn_box_reg`, ...). E.g.
//!   `{"iteration": 20, "loss": 1.9, "losses": {"loss_mask": 0.6, ...}, "lr": 0.002}`.
//! * learning-rate panel: the top-level `"lr"`.
//! * AP panel: every number whose key path, nested objects joined with `/` (arrays are not
//!   entered), ends in the token `AP`, `AP50` or `AP75` after the last `/`, `.` or `_`, and does
//!   not start with `loss`: e.g. `{"iteration": 500, "eval": {"bbox": {"AP": 0.3, "AP50": ..}}}`
//!   gives series `eval/bbox/AP`, `eval/bbox/AP50`; `"segm_AP"` gives `segm_AP`. Negative
//!   values (-1, no ground truth) are skipped.
//!
//! Records may mix kinds (loss lines every few iterations, an eval line now and then); a panel
//! whose series have no point yet is drawn empty ("no data yet"), never an error.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::plot::{Legend, Panel, Series, render_panels};
use crate::png::{DrawError, write_png};

/// Size of each of the three panels of [`training_chart_png`] (one column).
pub const TRAINING_PANEL_SIZE: (u32, u32) = (960, 300);

fn x_of(rec: &Value) -> Option<f64> {
    ["iter", "iteration", "step"]
        .iter()
        .find_map(|k| rec.get(*k).and_then(Value::as_f64))
}

fn is_ap_key(path: &str) -> bool {
    let last = path.rsplit(['/', '.', '_']).next().unwrap_or("");
    !path.starts_with("loss") && matches!(last, "AP" | "AP50" | "AP75")
}

#[derive(Default)]
struct Collected {
    losses: BTreeMap<String, Vec<(f64, f64)>>,
    ap: BTreeMap<String, Vec<(f64, f64)>>,
}

/// Walks nested objects, `path` joined with `/`, `key` the last component.
fn collect(path: &str, key: &str, v: &Value, x: f64, out: &mut Collected) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}/{k}")
                };
                collect(&p, k, v, x, out);
            }
        }
        Value::Number(n) => {
            let Some(y) = n.as_f64() else { return };
            if key.starts_with("loss") {
                out.losses.entry(key.to_string()).or_default().push((x, y));
            } else if is_ap_key(path) && y >= 0.0 {
                out.ap.entry(path.to_string()).or_default().push((x, y));
            }
        }
        _ => {}
    }
}

fn into_series(m: BTreeMap<String, Vec<(f64, f64)>>) -> Vec<Series> {
    m.into_iter().map(|(k, pts)| Series::new(k, pts)).collect()
}

/// The three panels (losses, learning rate, AP) from `records` per the convention above, each
/// series in record order.
pub fn training_panels(records: &[Value]) -> Vec<Panel> {
    let mut c = Collected::default();
    let mut lr = Vec::new();
    for rec in records {
        let Some(x) = x_of(rec) else { continue };
        if let Some(y) = rec.get("lr").and_then(Value::as_f64) {
            lr.push((x, y));
        }
        collect("", "", rec, x, &mut c);
    }
    let (mut losses, ap) = (c.losses, c.ap);
    let total = losses.remove("loss");
    let mut loss_series = Vec::new();
    if let Some(pts) = total {
        loss_series.push(Series::new("loss", pts));
    }
    loss_series.extend(into_series(losses));
    let lr_series = if lr.is_empty() {
        Vec::new()
    } else {
        vec![Series::new("lr", lr)]
    };
    // One x range for the stacked panels, so that iterations line up.
    let xs = loss_series
        .iter()
        .chain(&lr_series)
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(ap.values().flat_map(|p| p.iter().map(|q| q.0)))
        .filter(|x| x.is_finite());
    let x_range = xs.fold(None, |r: Option<(f64, f64)>, x| {
        Some(r.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
    });
    let x_range = x_range.filter(|(lo, hi)| hi > lo);
    let panel = |title: &str, y_label: &str, series: Vec<Series>, legend| Panel {
        title: title.into(),
        x_label: "iteration".into(),
        x_range,
        y_label: y_label.into(),
        series,
        y_from_zero: true,
        legend,
        ..Panel::default()
    };
    vec![
        panel("Losses", "loss", loss_series, Legend::TopRight),
        panel("Learning rate", "lr", lr_series, Legend::None),
        panel("AP (validation)", "AP", into_series(ap), Legend::TopLeft),
    ]
}

/// Writes the training chart of `records` (the records of `metrics.jsonl`) to `path` as PNG,
/// atomically: [`training_panels`] stacked in one column of [`TRAINING_PANEL_SIZE`] panels
/// under the title "Training"; 960 x 932 pixels. Panels without data are drawn empty.
pub fn training_chart_png(path: &Path, records: &[Value]) -> Result<(), DrawError> {
    let img = render_panels(
        "Training",
        &training_panels(records),
        1,
        TRAINING_PANEL_SIZE,
    );
    write_png(path, &img)
}
