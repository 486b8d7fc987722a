//! `mrcnn eval`: COCO metrics of a model on its experiment's validation set (`--config`, see
//! `eval_model.rs`) or of a results file against a ground truth (`--gt --dets`, see
//! `eval_results.rs`).

use anyhow::Result;
use clap::{Args, ValueEnum};
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
        let mut sets = a.sets.clone();
        if let Some(d) = &a.device {
            sets.push(format!("device=\"{d}\""));
            sets.push("devices=[]".into());
        }
        return crate::eval_model::run(&crate::eval_model::ModelEval {
            config,
            sets: &sets,
            weights: a.weights.as_deref(),
            out: a.out.as_deref(),
        });
    }
    let (Some(gt), Some(dets)) = (&a.gt, &a.dets) else {
        anyhow::bail!("give --config EXP.toml, or --gt GT.json with --dets DETS.json");
    };
    let types: &[mrcnn_eval::IouType] = match a.iou_type {
        IouArg::Bbox => &[mrcnn_eval::IouType::Bbox],
        IouArg::Segm => &[mrcnn_eval::IouType::Segm],
        IouArg::Both => &[mrcnn_eval::IouType::Bbox, mrcnn_eval::IouType::Segm],
    };
    crate::eval_results::run(gt, dets, types, a.metrics.as_deref())
}
