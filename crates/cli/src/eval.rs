//! `mrcnn eval --gt GT.json --dets DETS.json`: COCO evaluation of a results file, as pycocotools
//! would compute it, printed as tables and optionally written as `metrics.json`.
//! `mrcnn eval --config EXP.toml`: runs the experiment's model on its validation set (see
//! `eval_model.rs`).

use crate::predict::write_atomic;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mrcnn_eval::{CocoGt, EvalResult, IouType, evaluate};
use serde_json::json;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum IouArg {
    Bbox,
    Segm,
    Both,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Evaluate the experiment's model on its validation set (instead of --gt/--dets).
    #[arg(long, conflicts_with_all = ["gt", "dets"])]
    pub config: Option<PathBuf>,
    /// With --config: weights to evaluate (default: the run's model_final.safetensors).
    #[arg(long, requires = "config")]
    pub weights: Option<PathBuf>,
    /// With --config: cpu, wgpu or wgpu:N (default: the experiment's device).
    #[arg(long, requires = "config")]
    pub device: Option<String>,
    /// With --config: override an experiment key (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "config")]
    pub sets: Vec<String>,
    /// With --config: output folder (default: <output_dir>/eval).
    #[arg(long, requires = "config")]
    pub out: Option<PathBuf>,
    /// Ground truth: a COCO instances JSON.
    #[arg(long, required_unless_present = "config", requires = "dets")]
    pub gt: Option<PathBuf>,
    /// Detections: a COCO results JSON (as `mrcnn predict` writes).
    #[arg(long, required_unless_present = "config", requires = "gt")]
    pub dets: Option<PathBuf>,
    /// Which metrics.
    #[arg(long, value_enum, default_value = "both")]
    pub iou_type: IouArg,
    /// Write the numbers as JSON here.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
}

fn to_json(r: &EvalResult) -> serde_json::Value {
    const NAMES: [&str; 12] = [
        "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
    ];
    let stats: serde_json::Map<String, serde_json::Value> = NAMES
        .iter()
        .zip(r.stats)
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    let per: Vec<_> = r
        .per_category
        .iter()
        .map(|c| json!({"category_id": c.category_id, "name": c.name, "AP": c.ap, "AP50": c.ap50, "AP75": c.ap75}))
        .collect();
    let s = &r.simple;
    json!({
        "stats": stats,
        "per_category": per,
        "at_iou_0.5": {"precision": s.precision, "recall": s.recall, "mean_iou": s.mean_iou, "tp": s.tp, "fp": s.fp, "num_gt": s.num_gt},
    })
}

pub fn run(a: &EvalArgs) -> Result<()> {
    if let Some(config) = &a.config {
        return crate::eval_model::run(a, config);
    }
    let (Some(gt), Some(dets)) = (&a.gt, &a.dets) else {
        anyhow::bail!("give --config EXP.toml, or --gt GT.json with --dets DETS.json");
    };
    let gt = CocoGt::from_file(gt)?;
    let dets = gt.load_results_file(dets)?;
    let types: &[(IouType, &str)] = match a.iou_type {
        IouArg::Bbox => &[(IouType::Bbox, "bbox")],
        IouArg::Segm => &[(IouType::Segm, "segm")],
        IouArg::Both => &[(IouType::Bbox, "bbox"), (IouType::Segm, "segm")],
    };
    let mut out = serde_json::Map::new();
    for (t, name) in types {
        let r = evaluate(&gt, &dets, *t).with_context(|| format!("evaluating {name}"))?;
        println!("{}", r.table());
        out.insert(name.to_string(), to_json(&r));
    }
    if let Some(p) = &a.metrics {
        write_atomic(p, serde_json::to_string_pretty(&out)?.as_bytes())?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
