//! The run-time sections: `[loader]`, `[eval]`, `[checkpoint]`, `[log]`.

use serde::{Deserialize, Serialize};

use crate::float;

/// `[loader]`: background data loading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderSection {
    /// Decoding/augmentation threads. Default 2 (torchvision `-j 4`, Detectron2
    /// `DATALOADER.NUM_WORKERS = 4`; lower here because the CPU also trains).
    pub workers: usize,
    /// Batches prepared ahead of the training step. Default 4.
    pub prefetch: usize,
}

impl Default for LoaderSection {
    fn default() -> Self {
        Self {
            workers: 2,
            prefetch: 4,
        }
    }
}

/// `[eval]`: COCO evaluation on the val split during and after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSection {
    /// Evaluate every `period` iterations; 0 (default) = only at the end (Detectron2
    /// `TEST.EVAL_PERIOD = 0`).
    pub period: usize,
    /// Evaluate on at most this many val images; `None` (default) = all.
    pub max_images: Option<usize>,
    /// Number of val images drawn with their predictions into the run folder. Default 8.
    pub overlays: usize,
    /// Lowest score drawn in those overlays. Default 0.5 (Detectron2 demo
    /// `--confidence-threshold`).
    #[serde(serialize_with = "float::ser")]
    pub score_threshold: f32,
}

impl Default for EvalSection {
    fn default() -> Self {
        Self {
            period: 0,
            max_images: None,
            overlays: 8,
            score_threshold: 0.5,
        }
    }
}

/// `[checkpoint]`: periodic saving of the training state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointSection {
    /// Save every `period` iterations (and at the end). Default 1000 (Detectron2
    /// `SOLVER.CHECKPOINT_PERIOD` is 5000, for longer runs).
    pub period: usize,
    /// Periodic checkpoints kept on disk, older ones are deleted. Default 2.
    pub keep_last: usize,
}

impl Default for CheckpointSection {
    fn default() -> Self {
        Self {
            period: 1000,
            keep_last: 2,
        }
    }
}

/// `[log]`: training metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// Log losses and learning rate every `period` iterations. Default 20 (Detectron2's
    /// writer period, torchvision `--print-freq`).
    pub period: usize,
}

impl Default for LogSection {
    fn default() -> Self {
        Self { period: 20 }
    }
}
