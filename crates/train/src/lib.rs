//! Training: the optimiser (SGD with momentum and weight decay as torch defines them, optional
//! global gradient-norm clipping), learning-rate schedules with linear warm-up (multi-step,
//! cosine), one training step of Mask R-CNN, and `mrcnn train`: burn-train's Learner driven by an
//! iteration loop with checkpoints, resume, evaluation and reports.

pub mod checkpoint;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod logging;
pub mod memory;
pub mod metrics_log;
pub mod optimizer;
pub mod parallel;
pub mod progress;
pub mod report;
pub mod run;
pub mod schedule;
pub mod step;
pub mod strategy;
pub mod trainee;

pub use error::TrainError;
pub use optimizer::{SgdSettings, clip_grad_norm, grad_norm, sgd_step};
pub use run::{RunOptions, RunReport, run_experiment};
pub use schedule::{Decay, WarmupLr};
pub use step::{StepOutput, train_step};
