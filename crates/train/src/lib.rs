//! Training: the optimiser (SGD with momentum and weight decay as torch defines them, optional
//! global gradient-norm clipping), learning-rate schedules with linear warm-up (multi-step,
//! cosine), and one training step of Mask R-CNN.

pub mod optimizer;
pub mod schedule;
pub mod step;

pub use optimizer::{SgdSettings, clip_grad_norm, grad_norm, sgd_step};
pub use schedule::{Decay, WarmupLr};
pub use step::{StepOutput, train_step};
