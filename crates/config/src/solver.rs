//! `[solver]`: optimiser, learning-rate schedule and training length.
//!
//! The defaults are torchvision's detection references (`references/detection/train.py`: SGD,
//! lr 0.02 for 8 GPUs x 2 images, momentum 0.9, weight decay 1e-4, 1000 linear warm-up iterations
//! from 0.001, multi-step decay by 0.1), which are also Detectron2's `Base-RCNN-FPN.yaml` values.

use serde::{Deserialize, Serialize};

use crate::float;

/// The `[solver]` section. Exactly one of `max_iter` and `epochs` must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SolverSection {
    /// Peak learning rate. Default 0.02 (torchvision `--lr`, for 8 GPUs x 2 images = 16 per
    /// step; Detectron2 `SOLVER.BASE_LR` in `Base-RCNN-FPN.yaml`). Scale it linearly with
    /// `images_per_batch`.
    pub base_lr: f64,
    /// SGD momentum. Default 0.9 (torchvision `--momentum`, Detectron2 `SOLVER.MOMENTUM`).
    pub momentum: f64,
    /// Default 1e-4 (torchvision `--wd`, Detectron2 `SOLVER.WEIGHT_DECAY`).
    #[serde(serialize_with = "float::ser")]
    pub weight_decay: f32,
    /// Weight decay of normalisation weights and biases; `None` = `weight_decay` (torchvision
    /// `--norm-weight-decay` default; Detectron2 `WEIGHT_DECAY_BIAS = None`).
    #[serde(serialize_with = "float::ser_opt")]
    pub weight_decay_norm_bias: Option<f32>,
    /// Linear warm-up length in iterations. Default 1000 (Detectron2 `SOLVER.WARMUP_ITERS`;
    /// torchvision warms up for `min(1000, len(loader) - 1)` iterations of the first epoch).
    pub warmup_iters: usize,
    /// Learning-rate factor at iteration 0 of the warm-up. Default 0.001 (torchvision
    /// `warmup_factor = 1.0 / 1000`, Detectron2 `SOLVER.WARMUP_FACTOR`).
    pub warmup_factor: f64,
    /// Decay after the warm-up. Default `multi-step` (torchvision `--lr-scheduler multisteplr`,
    /// Detectron2 `WarmupMultiStepLR`).
    pub schedule: ScheduleKind,
    /// `multi-step` milestones in iterations, strictly increasing. Default empty (no decay).
    pub steps: Vec<usize>,
    /// Factor applied at each milestone. Default 0.1 (torchvision `--lr-gamma`, Detectron2
    /// `SOLVER.GAMMA`).
    pub gamma: f64,
    /// `cosine`: final learning rate as a fraction of `base_lr`. Default 0 (Detectron2
    /// `SOLVER.BASE_LR_END = 0.0`).
    pub cosine_final_factor: f64,
    /// Training length in iterations (Detectron2 style). Exclusive with `epochs`.
    pub max_iter: Option<usize>,
    /// Training length in passes over the train set (torchvision style), fractional allowed;
    /// see [`Experiment::max_iter`](crate::Experiment::max_iter). Exclusive with `max_iter`.
    pub epochs: Option<f64>,
    /// Images per optimiser step, at least 1. Default 2 (torchvision `-b 2`, per GPU).
    pub images_per_batch: usize,
    /// Clip the global gradient L2 norm to this; `None` = no clipping (Detectron2
    /// `CLIP_GRADIENTS.ENABLED = False`).
    #[serde(serialize_with = "float::ser_opt")]
    pub clip_grad_norm: Option<f32>,
}

impl Default for SolverSection {
    fn default() -> Self {
        Self {
            base_lr: 0.02,
            momentum: 0.9,
            weight_decay: 1e-4,
            weight_decay_norm_bias: None,
            warmup_iters: 1000,
            warmup_factor: 0.001,
            schedule: ScheduleKind::MultiStep,
            steps: Vec::new(),
            gamma: 0.1,
            cosine_final_factor: 0.0,
            max_iter: None,
            epochs: None,
            images_per_batch: 2,
            clip_grad_norm: None,
        }
    }
}

/// `solver.schedule`: the learning-rate curve after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScheduleKind {
    /// Multiply by `gamma` at each of `steps`.
    #[default]
    MultiStep,
    /// Half cosine from `base_lr` to `base_lr * cosine_final_factor` at `max_iter`.
    Cosine,
    /// Stay at `base_lr`.
    Constant,
}
