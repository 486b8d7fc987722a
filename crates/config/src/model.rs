//! `[model]`: which architecture to build and which weights to start from.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::dataset::by_name;
use crate::error::UnknownName;

/// The `[model]` section.
///
/// The architecture itself lives in its own TOML under `model_configs/` (all of its defaults are
/// in [`crate::ModelConfig`]); the experiment only names it and, if needed, changes a few of
/// its keys through `[model.overrides]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelSection {
    /// Required: the architecture TOML, e.g. `"model_configs/mask_rcnn_R_50_FPN.toml"`. Relative
    /// to the current directory, as Detectron2 resolves `MODEL.WEIGHTS` and dataset paths.
    pub config: PathBuf,
    /// Starting weights; `None` trains from scratch (torchvision's `weights=None`).
    pub weights: Option<PathBuf>,
    /// Layout of `weights`; `auto` decides by the file extension, see
    /// [`WeightsFormat::resolve`].
    pub weights_format: WeightsFormat,
    /// When the user's classes are COCO classes, carry the COCO-trained class rows of the box and
    /// mask predictors over by class name instead of re-initialising them. Default `true`.
    pub keep_coco_classes: bool,
    /// Deep-merged into the model TOML, e.g. `[model.overrides.backbone] depth = 101`. Default
    /// empty. Checked with the model config's schema when the experiment loads: a mistake is
    /// reported as `model.overrides.KEY`.
    pub overrides: toml::Table,
}

impl Default for ModelSection {
    fn default() -> Self {
        Self {
            config: PathBuf::new(),
            weights: None,
            weights_format: WeightsFormat::Auto,
            keep_coco_classes: true,
            overrides: toml::Table::new(),
        }
    }
}

impl ModelSection {
    /// The weights format with `auto` resolved by the extension of `weights`; `None` when there
    /// are no weights.
    pub fn resolved_weights_format(&self) -> Option<WeightsFormat> {
        self.weights
            .as_deref()
            .map(|w| self.weights_format.resolve(w))
    }
}

/// Layout (parameter names and conventions) of a weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightsFormat {
    /// By extension: `.pkl` is Detectron2, `.safetensors` and `.pth` are torchvision (an
    /// MMDetection `.pth` must say `mmdet`), a folder, `.index`, `.data-*`, `.ckpt` or `.pb` the
    /// TF OD API.
    #[default]
    Auto,
    /// torchvision's `maskrcnn_resnet50_fpn` state dict names.
    Torchvision,
    /// A Detectron2 model-zoo `.pkl`.
    Detectron2,
    /// An MMDetection checkpoint.
    Mmdet,
    /// A TensorFlow Object Detection API checkpoint (`model.ckpt` prefix, `.index`, its folder,
    /// or `frozen_inference_graph.pb`) of the C4 Faster/Mask R-CNN ResNet v1.
    #[serde(rename = "tf-od-api")]
    TfOdApi,
}

impl WeightsFormat {
    /// The names as written in TOML and on the command line.
    pub const NAMES: &'static [&'static str] =
        &["auto", "torchvision", "detectron2", "mmdet", "tf-od-api"];
    const ALL: [Self; 5] = [
        Self::Auto,
        Self::Torchvision,
        Self::Detectron2,
        Self::Mmdet,
        Self::TfOdApi,
    ];

    /// `self`, or for `Auto` the format that the extension of `path` implies.
    pub fn resolve(self, path: &Path) -> WeightsFormat {
        if self != WeightsFormat::Auto {
            return self;
        }
        let name = path.to_string_lossy();
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("pkl") => WeightsFormat::Detectron2,
            Some("index" | "pb" | "ckpt") => WeightsFormat::TfOdApi,
            _ if path.is_dir() || name.contains(".data-") || name.ends_with(".ckpt") => {
                WeightsFormat::TfOdApi
            }
            _ => WeightsFormat::Torchvision,
        }
    }
}

impl fmt::Display for WeightsFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = Self::ALL.iter().position(|v| v == self).expect("listed");
        f.write_str(Self::NAMES[i])
    }
}

impl FromStr for WeightsFormat {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        by_name(s, Self::NAMES, &Self::ALL, "weights format")
    }
}
