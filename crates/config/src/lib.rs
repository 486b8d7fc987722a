//! mrcnn-config: the one config system, for experiments and architectures.
//!
//! Two kinds of TOML, one loader: a model config (architecture, `model_configs/`,
//! [`ModelConfig`], every default torchvision's) and an experiment (`configs/`, [`Experiment`]).
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
//! every key and type against the schema and validates the values; then it loads the model
//! config the experiment names, with `[model.overrides]` merged in, through the same machinery
//! ([`load_model_config`] loads one alone). Errors are one line naming the file (or the `--set`
//! argument) and the dotted key as written (`model.overrides.rpn.nms_thresh`), with the nearest
//! valid key for typos.
//! [`Experiment::to_toml_string`] gives the effective config to write into the run folder.
//!
//! Paths are kept as written (relative to the current directory, as Detectron2 does), except
//! `base`, which is relative to the file that contains it.

// `load_experiment` returns `ConfigError` by value (the trainer's API); it is built once, on a
// cold path, so its size does not matter.
#![allow(clippy::result_large_err)]

mod backbone;
mod c4;
mod dataset;
mod device;
mod diagnose;
mod error;
mod experiment;
mod float;
mod input;
mod keys;
mod layers;
mod load;
mod model;
mod model_config;
mod pipeline;
mod run;
mod solver;
pub mod text_format;
mod validate;

pub use c4::{Architecture, C4Config};
pub use dataset::{
    ClassRule, DatasetFormat, DatasetSection, ExifPolicy, MaskFolderSection, OnBadSample,
    SynthSection,
};
pub use device::{DEVICE_NAMES, DeviceSpec, UnknownDevice, WgpuAdapter, WgpuApi};
pub use error::{ConfigError, InvalidValue, Origin, UnknownName};
pub use experiment::Experiment;
pub use input::{ColorJitter, InputSection};
pub use load::{load_experiment, load_model_config, model_config_from_str};
pub use model::{ModelSection, WeightsFormat};
pub use model_config::{
    AnchorConfig, BackboneConfig, BlockKind, DegenerateBoxes, FpnConfig, InputConfig,
    MaskHeadConfig, ModelConfig, PixelFormat, PoolerConfig, ResNetLayout, Resizer, RoiHeadsConfig,
    RpnConfig,
};
pub use pipeline::{
    NoteKind, PipelineError, PipelineNote, PipelineTranslation, label_map_class_names,
    translate_pipeline,
};
pub use run::{CheckpointSection, EvalSection, LoaderSection, LogSection};
pub use solver::{ScheduleKind, SolverSection};
