//! `mrcnn eval --gt GT.json --dets DETS.json`: COCO evaluation of a results file, as pycocotools
//! would compute it, printed as tables and optionally written as `metrics.json`.
//! `mrcnn eval --config EXP.toml`: runs the experiment's model on its validation set (see
//! `eval_model.rs`).

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mrcnn_eval::{CocoGt, IouType, evaluate};
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
    /// With --config: cpu, wgpu, wgpu:N, wgpu:integrated:N, wgpu:virtual:N or wgpu:cpu (default:
    /// the experiment's device).
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
    let mut results = Vec::new();
    for (t, name) in types {
        let r = evaluate(&gt, &dets, *t).with_context(|| format!("evaluating {name}"))?;
        println!("{}", r.table());
        println!("{}", mrcnn_eval::report::per_class_table(&r));
        results.push(r);
    }
    if let Some(p) = &a.metrics {
        mrcnn_eval::report::write_metrics_json(p, &results)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}
