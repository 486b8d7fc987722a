//! The training loop, as a burn-train learning strategy: Detectron2-style iterations (not epochs)
//! over an infinite, seeded batch stream, with checkpoints every `checkpoint.period` iterations
//! through the Learner's checkpointer, COCO evaluation every `eval.period`, a stop on Ctrl-C that
//! saves first, and a stop on a non-finite loss that saves nothing (the last good checkpoint
//! stays the newest).
//!
//! burn-train's own strategies count epochs and checkpoint only at an epoch's end, after
//! validation; fine-tuning detectors is counted in iterations, so this strategy plugs into
//! `SupervisedTraining` as `TrainingStrategy::Custom` and reuses the Learner (model, optimiser,
//! scheduler), its `LearningCheckpointer` and its `Interrupter`. Checkpoint "epochs" are
//! iteration counts.

use burn::module::Module;
use burn_train::{
    Learner, SupervisedLearningStrategy, SupervisedTrainingEventProcessor, TrainLoader,
    TrainingComponents, ValidLoader,
};
use mrcnn_data::Dataset;
use mrcnn_data::loader::Loader;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::error::TrainError;
use crate::evaluate::{Evaluation, evaluate_model};
use crate::metrics_log::MetricsLog;
use crate::parallel::DataParallel;
use crate::progress::Progress;
use crate::trainee::{TrainBatch, Trainee, step_seed, train_pair};

/// Ctrl-C presses seen since the run started (the handler is process-wide; see `run.rs`).
pub static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    Finished,
    /// Ctrl-C (or `stop_after`): a checkpoint was saved at `iteration`.
    Interrupted,
    /// A loss was NaN or infinite at this iteration: nothing saved from it.
    NonFinite(String),
    /// A data or target error; the model was saved as it was before the failing step.
    Error(String),
}

/// Evaluation settings inside the loop.
pub struct EvalSetup {
    pub dataset: Arc<Dataset>,
    /// Every this many iterations (0: only at the end).
    pub period: usize,
    pub max_images: Option<usize>,
    pub batch_size: usize,
    pub workers: usize,
    pub on_bad_sample: mrcnn_data::OnBadSample,
}

/// One evaluation's headline numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalSummary {
    pub iteration: usize,
    pub bbox: [f64; 12],
    pub segm: [f64; 12],
}

/// What the loop reports back to `run`.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub reason: StopReason,
    /// Iterations done (the model's state).
    pub iteration: usize,
    /// The newest complete checkpoint written by this run, if any.
    pub saved: Option<usize>,
    pub evals: Vec<EvalSummary>,
    /// Best mask AP so far and its iteration (its weights are `model_best.safetensors`).
    pub best: Option<(usize, f64)>,
    pub skipped_samples: usize,
    pub seconds_per_iter: f64,
    /// The last evaluation's full bbox and segm results.
    pub last_results: Option<Vec<mrcnn_eval::EvalResult>>,
}

/// The iteration loop and what it needs.
pub struct IterationLoop {
    pub loader: Loader,
    /// The training set the loader reads (for naming images in errors).
    pub train_set: Arc<Dataset>,
    pub start_iter: usize,
    pub max_iter: usize,
    pub seed: u64,
    pub log_period: usize,
    pub checkpoint_period: usize,
    pub eval: Option<EvalSetup>,
    pub run_dir: PathBuf,
    pub show_progress: bool,
    /// Behave as if Ctrl-C were pressed after this many iterations (tests, `--max-iter`-style
    /// partial runs).
    pub stop_after: Option<usize>,
    /// Best mask AP before this run segment (from a resumed run's history).
    pub best_before: Option<(usize, f64)>,
    pub outcome: Arc<Mutex<Option<Outcome>>>,
    /// The devices to train on, the main one first (where the learner's model lives). More than
    /// one: each batch is split over them (see `parallel.rs`).
    pub devices: Vec<burn::prelude::Device>,
    /// Their names in the experiment (for messages).
    pub device_names: Vec<String>,
}

fn losses_json(values: &[(&'static str, f32)]) -> serde_json::Value {
    let m: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    serde_json::Value::Object(m)
}

/// One evaluation of the current weights; logs and records it.
fn run_eval(setup: &EvalSetup, learner: &Learner<Trainee>) -> Result<Evaluation, TrainError> {
    let model = learner.model().valid().model;
    evaluate_model(
        &model,
        &setup.dataset,
        setup.max_images,
        setup.batch_size,
        setup.workers,
        setup.on_bad_sample,
        0,
    )
}

impl SupervisedLearningStrategy<Trainee> for IterationLoop {
    fn fit(
        &self,
        components: TrainingComponents<Trainee>,
        mut learner: Learner<Trainee>,
        _train: TrainLoader<Trainee>,
        _valid: ValidLoader<Trainee>,
        _starting_epoch: usize,
    ) -> (Trainee, SupervisedTrainingEventProcessor<Trainee>) {
        let mut checkpointer = components.checkpointer;
        let store = components.event_store.clone();
        let interrupter = components.interrupter.clone();
        let mut jsonl = MetricsLog::open(&self.run_dir.join("metrics.jsonl")).ok();
        let progress = Progress::new(self.start_iter, self.max_iter, self.show_progress);
        let log = |msg: String| progress.suspend(|| tracing::info!("{msg}"));

        let mut out = Outcome {
            reason: StopReason::Finished,
            iteration: self.start_iter,
            saved: None,
            evals: Vec::new(),
            best: self.best_before,
            skipped_samples: 0,
            seconds_per_iter: 0.0,
            last_results: None,
        };
        let mut save = |learner: &Learner<Trainee>, it: usize, out: &mut Outcome| {
            if let Some(c) = checkpointer.as_mut() {
                c.checkpoint(learner, it, &store);
                out.saved = Some(it);
            }
        };

        let parallel = (self.devices.len() > 1)
            .then(|| DataParallel::named(self.devices.clone(), self.device_names.clone()));
        let mut stream = self.loader.stream(self.start_iter as u64);
        let t0 = Instant::now();
        let mut timed = 0usize;
        let mut smooth: Option<f32> = None;
        let mut it = self.start_iter;
        while it < self.max_iter {
            let batch = match stream.next() {
                Some(Ok(b)) => b,
                Some(Err(p)) => {
                    out.reason = StopReason::Error(format!("iteration {}: {p}", it + 1));
                    break;
                }
                None => {
                    out.reason = StopReason::Error("the data loader stopped early".into());
                    break;
                }
            };
            for p in &batch.skipped {
                log(format!("skipped a bad sample: {p}"));
            }
            out.skipped_samples += batch.skipped.len();
            learner.lr_step();
            let lr = learner.lr_current().base();
            if batch.samples.is_empty() {
                log(format!(
                    "iteration {}: every sample of the batch was skipped",
                    it + 1
                ));
                it += 1;
                continue;
            }
            let (images, targets): (Vec<_>, Vec<_>) = batch.samples.iter().map(train_pair).unzip();
            let input = TrainBatch::new(images, targets, step_seed(self.seed, it as u64));
            let step = match &parallel {
                Some(dp) => dp.step(&learner.model(), input),
                None => learner.train_step(input),
            };
            if let Some(e) = &step.item.error {
                let files: Vec<String> = batch
                    .indices
                    .iter()
                    .map(|&i| self.train_set.images[i].file_name.clone())
                    .collect();
                out.reason = StopReason::Error(format!(
                    "iteration {} (images {}): {e}",
                    it + 1,
                    files.join(", ")
                ));
                break;
            }
            if let Some((name, v)) = step.item.non_finite() {
                out.reason = StopReason::NonFinite(format!(
                    "{name} is {v} at iteration {} (learning rate {lr:.3e}); no weights from this \
                     step were saved. Lower solver.base_lr, raise solver.warmup_iters or set \
                     solver.clip_grad_norm, then resume from the last checkpoint",
                    it + 1
                ));
                break;
            }
            learner.optimizer_step(step.grads);
            it += 1;
            timed += 1;
            out.iteration = it;
            let total = step.item.total;
            smooth = Some(smooth.map_or(total, |s| 0.9 * s + 0.1 * total));
            let spi = t0.elapsed().as_secs_f64() / timed as f64;
            out.seconds_per_iter = spi;
            let eta = spi * (self.max_iter - it) as f64;
            progress.update(
                it,
                format!(
                    "loss {:.3} (avg {:.3}) lr {lr:.2e}",
                    total,
                    smooth.unwrap_or(total)
                ),
            );
            if it == self.start_iter + 1
                || it.is_multiple_of(self.log_period.max(1))
                || it == self.max_iter
            {
                let rec = json!({
                    "iteration": it,
                    "loss": total,
                    "losses": losses_json(&step.item.values),
                    "lr": lr,
                    "seconds_per_iter": spi,
                    "eta_seconds": eta,
                });
                if let Some(j) = jsonl.as_mut() {
                    let _ = j.write(&rec);
                }
                if !progress.is_visible() {
                    let parts: Vec<String> = step
                        .item
                        .values
                        .iter()
                        .map(|(n, v)| format!("{n} {v:.4}"))
                        .collect();
                    log(format!(
                        "iter {it}/{}  loss {total:.4}  ({})  lr {lr:.3e}  {spi:.2} s/it  ETA {:.0} s",
                        self.max_iter,
                        parts.join(", "),
                        eta
                    ));
                }
            }
            let stop_now = INTERRUPTS.load(Ordering::SeqCst) > 0
                || interrupter.should_stop()
                || self.stop_after.is_some_and(|s| it >= s);
            let checkpoint_due =
                self.checkpoint_period > 0 && it.is_multiple_of(self.checkpoint_period);
            if checkpoint_due || stop_now {
                save(&learner, it, &mut out);
            }
            if let Some(e) = &self.eval
                && e.period > 0
                && it.is_multiple_of(e.period)
                && it < self.max_iter
                && !stop_now
            {
                let rec =
                    progress.suspend(|| evaluation_step(e, &learner, it, &mut out, &self.run_dir));
                if let Some(j) = jsonl.as_mut() {
                    let _ = j.write(&rec);
                }
            }
            if stop_now {
                out.reason = StopReason::Interrupted;
                break;
            }
        }
        if matches!(out.reason, StopReason::Error(_)) && out.saved != Some(out.iteration) {
            // The model is as it was before the failing step: keep it.
            save(&learner, out.iteration, &mut out);
        }
        if out.reason == StopReason::Finished {
            if out.saved != Some(it) {
                save(&learner, it, &mut out);
            }
            if let Some(e) = &self.eval {
                let rec =
                    progress.suspend(|| evaluation_step(e, &learner, it, &mut out, &self.run_dir));
                if let Some(j) = jsonl.as_mut() {
                    let _ = j.write(&rec);
                }
            }
        }
        progress.finish();
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(out);
        (learner.model(), components.event_processor)
    }
}

/// Evaluates, logs the COCO tables, keeps the best weights; returns the JSONL record.
fn evaluation_step(
    setup: &EvalSetup,
    learner: &Learner<Trainee>,
    it: usize,
    out: &mut Outcome,
    run_dir: &std::path::Path,
) -> serde_json::Value {
    let t = Instant::now();
    match run_eval(setup, learner) {
        Ok(ev) => {
            let (b, s) = (ev.bbox.stats, ev.segm.stats);
            tracing::info!(
                "evaluation at iteration {it} ({} images, {:.1} s): box AP {:.3} AP50 {:.3} | mask AP {:.3} AP50 {:.3}",
                ev.images,
                t.elapsed().as_secs_f64(),
                b[0],
                b[1],
                s[0],
                s[1]
            );
            out.evals.push(EvalSummary {
                iteration: it,
                bbox: b,
                segm: s,
            });
            out.last_results = Some(vec![ev.bbox.clone(), ev.segm.clone()]);
            if out.best.is_none_or(|(_, ap)| s[0] > ap) {
                let path = run_dir.join("model_best.safetensors");
                let model = learner.model().valid().model;
                match model.save_safetensors(&path) {
                    Ok(()) => out.best = Some((it, s[0])),
                    Err(e) => tracing::warn!("could not keep the best weights: {e}"),
                }
            }
            json!({
                "iteration": it,
                "eval": {
                    "images": ev.images,
                    "bbox": {"AP": b[0], "AP50": b[1], "AP75": b[2]},
                    "segm": {"AP": s[0], "AP50": s[1], "AP75": s[2]},
                }
            })
        }
        Err(e) => {
            tracing::warn!("evaluation at iteration {it} failed: {e}");
            json!({"iteration": it, "eval_error": e.to_string()})
        }
    }
}
