//! The files a finished run leaves beside its weights: `metrics.json` (the last evaluation, in
//! `mrcnn eval`'s schema: the 12 COCO numbers, per-class AP and the simple stats, for bbox and
//! segm) and `training.png` (losses, learning rate and AP against iterations, from
//! `metrics.jsonl`).

use std::path::Path;

use crate::error::TrainError;
use crate::strategy::Outcome;

/// Writes `metrics.json` (when there was an evaluation; with the validation images left out)
/// and the training chart.
pub fn write_run_report(
    run_dir: &Path,
    outcome: &Outcome,
    skipped_val: &[String],
) -> Result<(), TrainError> {
    if let Some(results) = &outcome.last_results {
        let path = run_dir.join("metrics.json");
        let mut report = mrcnn_eval::report::MetricsReport::from_results(results);
        report.skipped_images = skipped_val.to_vec();
        mrcnn_eval::report::write_report_json(&path, &report)?;
    }
    write_chart(run_dir)
}

/// Redraws `training.png` from `metrics.jsonl`.
pub fn write_chart(run_dir: &Path) -> Result<(), TrainError> {
    let jsonl = run_dir.join("metrics.jsonl");
    let records =
        crate::metrics_log::read_records(&jsonl, None).map_err(|e| TrainError::io(&jsonl, e))?;
    let path = run_dir.join("training.png");
    Ok(mrcnn_draw::training_chart::training_chart_png(
        &path, &records,
    )?)
}
