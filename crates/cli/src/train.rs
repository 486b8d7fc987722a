//! `mrcnn train --config EXP.toml [--resume] [--device ...] [--set key=value ...]`.

use anyhow::Result;
use clap::Args;
use mrcnn_train::{RunOptions, run_experiment};
use std::path::PathBuf;

use crate::outln;

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Experiment TOML (configs/...).
    #[arg(long)]
    pub config: PathBuf,
    /// Continue the run in the experiment's output_dir from its newest checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// cpu, wgpu, wgpu:N, wgpu:integrated:N, wgpu:virtual:N or wgpu:cpu; several, comma
    /// separated (wgpu:0,wgpu:1), train data-parallel. Overrides the experiment's `device` and
    /// `devices`.
    #[arg(long)]
    pub device: Option<String>,
    /// Override a key of the experiment, e.g. --set solver.base_lr=0.01 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Stop after this many iterations (saving a checkpoint, as Ctrl-C does); --resume continues.
    #[arg(long)]
    pub stop_after: Option<usize>,
    /// No progress bar (log lines instead).
    #[arg(long)]
    pub no_progress: bool,
}

pub fn run(a: &TrainArgs) -> Result<()> {
    let mut sets = a.sets.clone();
    if let Some(d) = &a.device {
        let names: Vec<&str> = d.split(',').map(str::trim).collect();
        sets.push(format!("device=\"{}\"", names[0]));
        let list: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        if names.len() > 1 {
            sets.push(format!("devices=[{}]", list.join(", ")));
        } else {
            sets.push("devices=[]".into());
        }
    }
    let exp = mrcnn_config::load_experiment(&a.config, &sets)?;
    let report = run_experiment(
        &exp,
        &RunOptions {
            resume: a.resume,
            progress: !a.no_progress,
            stop_after: a.stop_after,
        },
    )?;
    let o = &report.outcome;
    if let Some(e) = o.evals.last() {
        outln!(
            "iteration {}: box AP {:.3} AP50 {:.3} AP75 {:.3} | mask AP {:.3} AP50 {:.3} AP75 {:.3}",
            e.iteration,
            e.bbox[0],
            e.bbox[1],
            e.bbox[2],
            e.segm[0],
            e.segm[1],
            e.segm[2]
        );
    }
    match &report.final_weights {
        Some(w) => outln!(
            "done: {} iterations ({:.2} s/iteration); weights {}; run folder {}",
            o.iteration,
            o.seconds_per_iter,
            w.display(),
            report.run_dir.display()
        ),
        None => outln!(
            "stopped at iteration {}/{}; continue with: mrcnn train --config {} --resume",
            o.iteration,
            report.max_iter,
            a.config.display()
        ),
    }
    Ok(())
}
