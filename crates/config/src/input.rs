//! `[input]`: training-time resizing and augmentation.

use serde::{Deserialize, Serialize};

use crate::float;

/// The `[input]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputSection {
    /// Shorter-side sizes drawn from per image during training (Detectron2
    /// `INPUT.MIN_SIZE_TRAIN` with `MIN_SIZE_TRAIN_SAMPLING = "choice"`, e.g. `[640, 672, 704,
    /// 736, 768, 800]`); inference uses the last. They replace the model config's
    /// `input.min_size` for this run (the one definition of the sizes; errors about them name
    /// this key). Empty (default) = the model config's own.
    pub min_sizes: Vec<usize>,
    /// Longer-side cap, replacing the model config's `input.max_size` (1333 in both torchvision
    /// and Detectron2) for this run; `None` (default) = the model config's own.
    pub max_size: Option<usize>,
    /// Probability of a horizontal flip, in [0, 1]. Default 0.5 (torchvision
    /// `RandomHorizontalFlip(0.5)`, Detectron2 `RandomFlip()`).
    #[serde(serialize_with = "float::ser")]
    pub hflip_prob: f32,
    /// Photometric jitter; `None` (default) = off, as in both references.
    pub color_jitter: Option<ColorJitter>,
}

impl Default for InputSection {
    fn default() -> Self {
        Self {
            min_sizes: Vec::new(),
            max_size: None,
            hflip_prob: 0.5,
            color_jitter: None,
        }
    }
}

/// `[input.color_jitter]`: each factor is drawn uniformly from `[1 - x, 1 + x]`, as in
/// torchvision's `ColorJitter`; 0 (default) leaves that property alone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ColorJitter {
    /// Default 0.
    #[serde(serialize_with = "float::ser")]
    pub brightness: f32,
    /// Default 0.
    #[serde(serialize_with = "float::ser")]
    pub contrast: f32,
    /// Default 0.
    #[serde(serialize_with = "float::ser")]
    pub saturation: f32,
}
