//! `mrcnn train`: from an experiment to a trained model. Sets up the run folder, the data, the
//! model (architecture TOML + experiment overrides + the dataset's classes, starting weights with
//! head surgery), the optimiser and schedule, burn-train's Learner with our checkpointers, and
//! runs [`IterationLoop`]; at the end writes `model_final.safetensors` (torchvision layout, what
//! `mrcnn predict` and `mrcnn eval` load), `metrics.json` and the training chart.
//!
//! Run folder: `config.toml` (effective experiment), `model.toml` (effective architecture),
//! `log.txt`, `metrics.jsonl`, `checkpoints/{model,optim,scheduler}-<iter>.bpk`,
//! `model_best.safetensors`, `model_final.safetensors`, `metrics.json`, `training.png`.

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress as LoaderProgress};
use burn::prelude::Device;
use burn_train::checkpoint::Checkpointer;
use burn_train::{Learner, SupervisedTraining, TrainingStrategy};
use mrcnn_config::{Experiment, ModelConfig, ScheduleKind};
use mrcnn_data::loader::{Loader, LoaderConfig};
use mrcnn_data::{Dataset, TransformConfig, Transforms};
use mrcnn_import::ImportOptions;
use mrcnn_model::Detector;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use crate::checkpoint::{AtomicFileCheckpointer, KeepLast, complete_checkpoints, latest_complete};
use crate::data::{Sets, load_sets};
use crate::error::TrainError;
use crate::metrics_log;
use crate::progress::QuietRenderer;
use crate::strategy::{EvalSetup, INTERRUPTS, IterationLoop, Outcome, StopReason};
use crate::trainee::{TrainBatch, Trainee};
use crate::{Decay, SgdSettings, WarmupLr};
use mrcnn_coco::files::write_atomic;

/// Command-line choices that are not part of the experiment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Continue from the newest complete checkpoint in the run folder.
    pub resume: bool,
    /// Show the progress bar (on a terminal).
    pub progress: bool,
    /// Stop (saving a checkpoint) once this many iterations are done, as Ctrl-C would.
    pub stop_after: Option<usize>,
}

/// What a finished (or cleanly interrupted) run leaves.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub run_dir: PathBuf,
    pub outcome: Outcome,
    pub max_iter: usize,
    /// `model_final.safetensors` when the run reached `max_iter`.
    pub final_weights: Option<PathBuf>,
}

/// The architecture of the run: the experiment's (model TOML, overrides, input sizes) with the
/// dataset's classes.
pub fn model_config(exp: &Experiment, train: &Dataset) -> Result<ModelConfig, TrainError> {
    let names = train.categories.iter().map(|c| c.name.clone()).collect();
    Ok(exp.architecture.clone().with_classes(names)?)
}

/// The starting model: weights imported with head surgery, or a fresh initialisation.
fn initial_model(
    exp: &Experiment,
    cfg: &ModelConfig,
    device: &Device,
) -> Result<Detector, TrainError> {
    let Some(w) = &exp.model.weights else {
        tracing::info!("no model.weights: training from a random initialisation");
        return Ok(Detector::new(cfg.clone(), device)?);
    };
    let opts = ImportOptions {
        seed: exp.seed,
        ..Default::default()
    };
    let (model, report) = Detector::import(exp.model.weights_format, w, cfg, device, &opts)?;
    for line in report.to_string().lines() {
        tracing::info!("{line}");
    }
    Ok(model)
}

fn schedule(exp: &Experiment, max_iter: usize) -> WarmupLr {
    let s = &exp.solver;
    let decay = match s.schedule {
        ScheduleKind::Constant => Decay::Constant,
        ScheduleKind::MultiStep => Decay::MultiStep {
            milestones: s.steps.clone(),
            gamma: s.gamma,
        },
        ScheduleKind::Cosine => Decay::Cosine {
            total_iters: max_iter,
            final_factor: s.cosine_final_factor,
        },
    };
    WarmupLr::new(s.base_lr, s.warmup_iters, s.warmup_factor, decay)
}

/// A data loader with nothing in it: the Learner's own loaders are unused (our loop reads the
/// seeded stream itself), but `SupervisedTraining` wants one of each.
struct NoLoader;

struct Empty<T>(std::marker::PhantomData<T>);

impl<T> Iterator for Empty<T> {
    type Item = Result<T, burn::data::dataset::DatasetError>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

impl<T> DataLoaderIterator<T> for Empty<T> {
    fn progress(&self) -> LoaderProgress {
        LoaderProgress::new(0, 0, None)
    }
}

impl<T: Send + 'static> DataLoader<T> for NoLoader {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<T> + 'a> {
        Box::new(Empty(std::marker::PhantomData))
    }
    fn num_items(&self) -> usize {
        0
    }
    fn to_device(&self, _: &Device) -> Arc<dyn DataLoader<T>> {
        Arc::new(NoLoader)
    }
    fn slice(&self, _: usize, _: usize) -> Arc<dyn DataLoader<T>> {
        Arc::new(NoLoader)
    }
}

/// Ctrl-C: the first press stops after the current iteration (saving a checkpoint), the second
/// quits at once.
fn install_ctrl_c() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let r = ctrlc::set_handler(|| {
            let n = INTERRUPTS.fetch_add(1, Ordering::SeqCst);
            if n == 0 {
                tracing::warn!(
                    "Ctrl-C: stopping after this iteration and saving a checkpoint \
                     (press again to quit without saving)"
                );
            } else {
                std::process::exit(130);
            }
        });
        if let Err(e) = r {
            tracing::warn!("Ctrl-C handler not installed: {e}");
        }
    });
}

/// Runs (or resumes) the experiment.
pub fn run_experiment(exp: &Experiment, opts: &RunOptions) -> Result<RunReport, TrainError> {
    crate::logging::init();
    let devices = exp
        .train_devices()
        .iter()
        .map(|name| mrcnn_core::device_by_name(name).map(|d| d.autodiff()))
        .collect::<Result<Vec<_>, _>>()?;
    let run_dir = exp.output_dir.clone();
    let ckpt_dir = run_dir.join("checkpoints");
    std::fs::create_dir_all(&run_dir).map_err(|e| TrainError::io(&run_dir, e))?;
    let existing = complete_checkpoints(&ckpt_dir);
    let resume_from = if opts.resume {
        match existing.last() {
            Some(&k) => Some(k),
            None => {
                return Err(TrainError::Setup(format!(
                    "--resume: no complete checkpoint in {}; run without --resume to start",
                    ckpt_dir.display()
                )));
            }
        }
    } else {
        if let Some(k) = existing.last() {
            return Err(TrainError::Setup(format!(
                "{} already holds a run (checkpoint at iteration {k}); add --resume to continue \
                 it, or set output_dir (or --set output_dir=...) to start a new one",
                run_dir.display()
            )));
        }
        None
    };
    crate::logging::set_log_file(Some(&run_dir.join("log.txt")))
        .map_err(|e| TrainError::io(&run_dir.join("log.txt"), e))?;
    let result = run_in(
        exp,
        opts,
        &devices,
        &run_dir,
        &ckpt_dir,
        resume_from,
        existing,
    );
    if let Err(e) = &result {
        crate::logging::file_only(&e.to_string());
    }
    let _ = crate::logging::set_log_file(None);
    result
}

fn run_in(
    exp: &Experiment,
    opts: &RunOptions,
    devices: &[Device],
    run_dir: &Path,
    ckpt_dir: &Path,
    resume_from: Option<usize>,
    existing: Vec<usize>,
) -> Result<RunReport, TrainError> {
    let config_path = run_dir.join("config.toml");
    write_atomic(&config_path, exp.to_toml_string().as_bytes())
        .map_err(|e| TrainError::io(&config_path, e))?;

    let Sets {
        train,
        val,
        notes,
        skipped_val,
    } = load_sets(exp)?;
    for n in &notes {
        tracing::warn!("{n}");
    }
    let cfg = model_config(exp, &train)?;
    let model_toml = run_dir.join("model.toml");
    if resume_from.is_some() {
        same_architecture(&model_toml, &cfg)?;
    }
    let cfg_text = toml::to_string(&cfg).expect("a model config serialises to TOML");
    write_atomic(&model_toml, cfg_text.as_bytes()).map_err(|e| TrainError::io(&model_toml, e))?;
    if exp.solver.images_per_batch > train.images.len() {
        return Err(TrainError::Setup(format!(
            "solver.images_per_batch = {} but the training set holds {} image(s): lower \
             images_per_batch, or add images",
            exp.solver.images_per_batch,
            train.images.len()
        )));
    }
    if exp
        .train_devices()
        .iter()
        .all(|d| d == "cpu" || d == "flex")
        && let Some(msg) = crate::memory::check(&cfg, exp.solver.images_per_batch)
    {
        return Err(TrainError::Setup(msg));
    }
    let max_iter = exp.max_iter(train.images.len());
    tracing::info!(
        "{} training images, {} validation images, {} classes ({}); {} iterations of {} images",
        train.images.len(),
        val.as_ref().map_or(0, |v| v.images.len()),
        train.categories.len(),
        train
            .categories
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        max_iter,
        exp.solver.images_per_batch
    );

    // Random initialisation (and anything else drawn on the device) follows the run seed.
    let device = &devices[0];
    device.seed(exp.seed);
    if devices.len() > 1 {
        tracing::info!(
            "data parallel over {} devices ({}): each takes {} of the {} images of an iteration; \
             gradients are averaged on {}",
            devices.len(),
            exp.train_devices().join(", "),
            exp.solver.images_per_batch / devices.len(),
            exp.solver.images_per_batch,
            exp.train_devices()[0]
        );
    }
    let model = initial_model(exp, &cfg, device)?.freeze_backbone_stages();
    let settings = SgdSettings {
        momentum: exp.solver.momentum,
        weight_decay: exp.solver.weight_decay,
        weight_decay_norm_bias: exp.solver.weight_decay_norm_bias,
        clip_grad_norm: exp.solver.clip_grad_norm,
    };
    let trainee = Trainee {
        model,
        clip_grad_norm: exp.solver.clip_grad_norm,
    };
    let mut learner = Learner::new(trainee, settings.build(), schedule(exp, max_iter));

    let mut best_before = None;
    let jsonl = run_dir.join("metrics.jsonl");
    let start_iter = match resume_from {
        Some(_) => {
            let (k, (m, o, sch)) = restore_newest(ckpt_dir, &existing)?;
            learner.load_model(m);
            learner.load_optim(o);
            learner.load_scheduler(sch);
            metrics_log::truncate(&jsonl, k).map_err(|e| TrainError::io(&jsonl, e))?;
            let records = metrics_log::read_records(&jsonl, Some(k))
                .map_err(|e| TrainError::io(&jsonl, e))?;
            for r in records {
                if let (Some(i), Some(ap)) =
                    (r["iteration"].as_u64(), r["eval"]["segm"]["AP"].as_f64())
                    && best_before.is_none_or(|(_, b)| ap > b)
                {
                    best_before = Some((i as usize, ap));
                }
            }
            tracing::info!("resuming from iteration {k} ({})", ckpt_dir.display());
            k
        }
        None => {
            let _ = std::fs::remove_file(&jsonl);
            0
        }
    };
    if start_iter >= max_iter {
        tracing::info!("the run already reached iteration {max_iter}");
    }

    let train = Arc::new(train);
    let policy = exp.dataset.on_bad_sample;
    let transforms = Transforms::new(
        TransformConfig {
            min_sizes: Vec::new(),
            max_size: u32::MAX,
            hflip_prob: exp.input.hflip_prob,
            color_jitter: exp.input.color_jitter.as_ref().map(|c| {
                mrcnn_data::transforms::ColorJitter {
                    brightness: c.brightness,
                    contrast: c.contrast,
                    saturation: c.saturation,
                }
            }),
            resize: false,
        },
        exp.seed,
    );
    let loader = Loader::new(
        train.clone(),
        Some(transforms),
        LoaderConfig {
            batch_size: exp.solver.images_per_batch,
            workers: exp.loader.workers,
            prefetch: exp.loader.prefetch,
            shuffle: true,
            seed: exp.seed,
            on_bad_sample: policy,
        },
    );
    let eval = val.map(|v| EvalSetup {
        dataset: Arc::new(v),
        period: exp.eval.period,
        max_images: exp.eval.max_images,
        batch_size: exp.solver.images_per_batch,
        workers: exp.loader.workers,
        on_bad_sample: policy,
    });
    let outcome = Arc::new(Mutex::new(None));
    let lp = IterationLoop {
        loader,
        train_set: train.clone(),
        start_iter,
        max_iter,
        seed: exp.seed,
        log_period: exp.log.period,
        checkpoint_period: exp.checkpoint.period,
        eval,
        run_dir: run_dir.to_path_buf(),
        show_progress: opts.progress,
        stop_after: opts.stop_after,
        best_before,
        outcome: outcome.clone(),
        devices: devices.to_vec(),
        device_names: exp.train_devices(),
    };

    INTERRUPTS.store(0, Ordering::SeqCst);
    install_ctrl_c();
    let no_train: Arc<dyn DataLoader<TrainBatch>> = Arc::new(NoLoader);
    let no_valid: Arc<dyn DataLoader<Vec<mrcnn_model::ImageInput>>> = Arc::new(NoLoader);
    let result = SupervisedTraining::<Trainee>::new(run_dir, no_train, no_valid)
        .with_training_strategy(TrainingStrategy::Custom(Arc::new(lp)))
        .with_custom_checkpointers(
            AtomicFileCheckpointer::new(ckpt_dir, "model"),
            AtomicFileCheckpointer::new(ckpt_dir, "optim"),
            AtomicFileCheckpointer::new(ckpt_dir, "scheduler"),
        )
        .with_checkpointing_strategy(KeepLast::new(exp.checkpoint.keep_last, existing))
        .renderer(Box::new(QuietRenderer))
        .with_application_logger(None)
        .num_epochs(max_iter.max(1))
        .launch(learner);
    if let Some(e) = &result.error {
        return Err(TrainError::Stopped(format!("training failed: {e}")));
    }
    let outcome = outcome
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or_else(|| TrainError::Stopped("the training loop did not report".into()))?;
    let saved = match outcome.saved {
        Some(k) => format!(
            "the last checkpoint is iteration {k} in {}",
            ckpt_dir.display()
        ),
        None => match latest_complete(ckpt_dir) {
            Some(k) => format!(
                "the newest checkpoint on disk is iteration {k} in {} (--resume verifies it)",
                ckpt_dir.display()
            ),
            None => "no checkpoint was written".into(),
        },
    };
    match &outcome.reason {
        StopReason::NonFinite(m) => {
            return Err(TrainError::Stopped(format!(
                "training stopped: {m}; {saved}"
            )));
        }
        StopReason::Error(m) => {
            return Err(TrainError::Stopped(format!(
                "training stopped: {m}; {saved}"
            )));
        }
        StopReason::Interrupted => {
            if let Err(e) = crate::report::write_chart(run_dir) {
                tracing::warn!("{e}");
            }
            tracing::info!(
                "stopped at iteration {}/{max_iter}; {saved}; continue with --resume",
                outcome.iteration
            );
        }
        StopReason::Finished => {}
    }
    let mut final_weights = None;
    if outcome.reason == StopReason::Finished {
        let path = run_dir.join("model_final.safetensors");
        let model = result.model.model;
        model.save_safetensors(&path)?;
        tracing::info!("wrote {}", path.display());
        final_weights = Some(path);
        crate::report::write_run_report(run_dir, &outcome, &skipped_val)?;
    }
    Ok(RunReport {
        run_dir: run_dir.to_path_buf(),
        outcome,
        max_iter,
        final_weights,
    })
}

/// The three records of a checkpoint.
type Records = (
    burn::store::ModuleRecord,
    burn::optim::OptimizerRecord,
    burn::lr_scheduler::LrSchedulerRecord,
);

/// The newest checkpoint of `candidates` (ascending) that verifies against its checksums
/// and loads; a damaged one is named in a warning and moved into
/// `checkpoints/damaged-<iteration>/`, never deleted.
fn restore_newest(ckpt_dir: &Path, candidates: &[usize]) -> Result<(usize, Records), TrainError> {
    let mut damaged = Vec::new();
    for &k in candidates.iter().rev() {
        let problem = match crate::checkpoint::verify(ckpt_dir, k) {
            Ok(verified) => {
                if verified == crate::checkpoint::Verified::Unchecked {
                    tracing::warn!(
                        "checkpoint at iteration {k} has no checksums (written by an older \
                         mrcnn): loading it unverified"
                    );
                }
                match restore(ckpt_dir, k) {
                    Ok(records) => {
                        if !damaged.is_empty() {
                            tracing::warn!(
                                "resuming from iteration {k}, the newest checkpoint that verifies"
                            );
                        }
                        return Ok((k, records));
                    }
                    Err(e) => e.to_string(),
                }
            }
            Err(d) => d.to_string(),
        };
        let moved = match crate::checkpoint::set_aside(ckpt_dir, k) {
            Ok(dir) => format!("its files are kept in {}", dir.display()),
            Err(e) => format!("its files are left in place (cannot move them: {e})"),
        };
        tracing::warn!("checkpoint at iteration {k} is damaged: {problem}; {moved}");
        damaged.push(format!("iteration {k}: {problem}"));
    }
    Err(TrainError::Setup(format!(
        "--resume: no checkpoint in {} verifies ({}); run without --resume to start again",
        ckpt_dir.display(),
        damaged.join("; ")
    )))
}

/// Loads the three records of checkpoint `k`.
fn restore(ckpt_dir: &Path, k: usize) -> Result<Records, TrainError> {
    let load = |name: &str| AtomicFileCheckpointer::new(ckpt_dir, name);
    let err = |name: &str, source| TrainError::Checkpoint {
        path: AtomicFileCheckpointer::path(ckpt_dir, name, k),
        source,
    };
    let m = Checkpointer::<burn::store::ModuleRecord>::restore(&load("model"), k)
        .map_err(|e| err("model", e))?;
    let o = Checkpointer::<burn::optim::OptimizerRecord>::restore(&load("optim"), k)
        .map_err(|e| err("optim", e))?;
    let s = Checkpointer::<burn::lr_scheduler::LrSchedulerRecord>::restore(&load("scheduler"), k)
        .map_err(|e| err("scheduler", e))?;
    Ok((m, o, s))
}

/// A resumed run must build the model its checkpoints hold: the architecture written into the
/// run folder when it started (`model.toml`) must equal this one, classes included.
fn same_architecture(model_toml: &Path, cfg: &ModelConfig) -> Result<(), TrainError> {
    let Ok(text) = std::fs::read_to_string(model_toml) else {
        return Ok(()); // a run folder from before model.toml: nothing to compare
    };
    let before: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(_) => return Ok(()),
    };
    let now = toml::Table::try_from(cfg).expect("a model config serialises to TOML");
    let mut diffs = Vec::new();
    diff_tables("", &before, &now, &mut diffs);
    if diffs.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = diffs.iter().take(6).map(String::as_str).collect();
    Err(TrainError::Setup(format!(
        "--resume: the model differs from the one the checkpoints hold ({}{}); the dataset's \
         classes or the model config changed since the run started. Resume with the same \
         model and classes, or start a new run (another output_dir) from the weights of this \
         one (model.weights = \"{}\")",
        shown.join("; "),
        if diffs.len() > shown.len() {
            format!("; {} more", diffs.len() - shown.len())
        } else {
            String::new()
        },
        model_toml
            .with_file_name("model_final.safetensors")
            .display()
    )))
}

/// `key: before -> now` for every value that differs between two TOML tables.
fn diff_tables(prefix: &str, a: &toml::Table, b: &toml::Table, out: &mut Vec<String>) {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (a.get(k), b.get(k)) {
            (Some(toml::Value::Table(x)), Some(toml::Value::Table(y))) => {
                diff_tables(&key, x, y, out)
            }
            (x, y) if x != y => {
                let show = |v: Option<&toml::Value>| {
                    let s = v.map_or("(none)".to_string(), ToString::to_string);
                    if s.chars().count() > 60 {
                        format!("{}...", s.chars().take(57).collect::<String>())
                    } else {
                        s
                    }
                };
                out.push(format!("{key}: {} -> {}", show(x), show(y)));
            }
            _ => {}
        }
    }
}
