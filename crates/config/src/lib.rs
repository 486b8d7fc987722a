//! mrcnn-config: experiment TOMLs.
//!
//! An experiment file (under `configs/`) names a model config (under `model_configs/`) and states
//! only what differs from the defaults, which all live in this crate's section structs
//! (Detectron2's style: "all defaults in one place, experiments state only deltas"):
//!
//! ```toml
//! base = "base.toml"              # optional; relative to this file; may chain
//! [model]
//! config = "model_configs/mask_rcnn_R_50_FPN.toml"
//! weights = "pretrained_model/maskrcnn_resnet50_fpn_coco.safetensors"
//! [dataset]
//! train = ["data/shapes/train.json"]
//! val = ["data/shapes/val.json"]
//! [solver]
//! base_lr = 0.0025
//! max_iter = 3000
//! steps = [2000, 2600]
//! ```
//!
//! [`load_experiment`] reads the file and its `base` chain (a deep merge of TOML tables: later
//! files win per key, arrays are replaced), applies `--set key.path=value` overrides, checks
//! every key and type against the schema and validates the values. Errors are one line naming the
//! file (or the `--set` argument) and the dotted key, with the nearest valid key for typos.
//! [`Experiment::to_toml_string`] gives the effective config to write into the run folder.
//!
//! Paths are kept as written (relative to the current directory, as Detectron2 does), except
//! `base`, which is relative to the file that contains it.

// `load_experiment` returns `ConfigError` by value (the trainer's API); it is built once, on a
// cold path, so its size does not matter.
#![allow(clippy::result_large_err)]

mod dataset;
mod device;
mod diagnose;
mod error;
mod experiment;
mod float;
mod input;
mod layers;
mod model;
mod run;
mod solver;
mod validate;

use std::path::{Path, PathBuf};

pub use dataset::{
    ClassRule, DatasetFormat, DatasetSection, MaskFolderSection, OnBadSample, SynthSection,
};
pub use device::{DEVICE_NAMES, DeviceSpec, WgpuAdapter};
pub use error::{ConfigError, Origin};
pub use experiment::Experiment;
pub use input::{ColorJitter, InputSection};
pub use model::{ModelSection, WeightsFormat};
pub use run::{CheckpointSection, EvalSection, LoaderSection, LogSection};
pub use solver::{ScheduleKind, SolverSection};

/// Loads the experiment at `path` with its `base` chain, applies the `--set KEY=VALUE`
/// arguments `sets` in order, and validates the result.
///
/// A `--set` VALUE is parsed as a TOML value (`0.01`, `[640, 800]`, `true`, `"x"`) and taken as
/// a bare string when it is not one (`device=wgpu:1`). An empty `output_dir` becomes
/// `runs/<stem of path>`.
pub fn load_experiment(path: &Path, sets: &[String]) -> Result<Experiment, ConfigError> {
    let mut layers = layers::Layers::load(path)?;
    for arg in sets {
        layers.apply_set(arg)?;
    }
    let mut exp = diagnose::deserialize(&layers)?;
    validate::validate(&exp, &layers)?;
    if exp.output_dir.as_os_str().is_empty() {
        let stem = path.file_stem().unwrap_or_default();
        exp.output_dir = PathBuf::from("runs").join(stem);
    }
    Ok(exp)
}
