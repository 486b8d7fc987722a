//! `mrcnn eval --gt GT.json --dets DETS.json`: COCO evaluation of a results file, as
//! pycocotools would compute it, printed as tables and optionally written as `metrics.json`.

use anyhow::{Context, Result};
use mrcnn_eval::{CocoGt, IouType, evaluate};
use std::path::Path;

use crate::outln;

pub fn run(gt: &Path, dets: &Path, types: &[IouType], metrics: Option<&Path>) -> Result<()> {
    let gt = CocoGt::from_file(gt)?;
    let dets = gt.load_results_file(dets)?;
    let mut results = Vec::new();
    for &t in types {
        let r = evaluate(&gt, &dets, t).with_context(|| format!("evaluating {}", t.as_str()))?;
        outln!("{}", r.table());
        outln!("{}", mrcnn_eval::report::per_class_table(&r));
        results.push(r);
    }
    if let Some(p) = metrics {
        mrcnn_eval::report::write_metrics_json(p, &results)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
