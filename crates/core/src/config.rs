//! The model config: every architecture hyper-parameter with torchvision's Mask R-CNN default,
//! in one place. A TOML file in `model_configs/` states only what differs.
//!
//! Unknown keys and wrong types are errors that name the key and the file (serde's
//! `deny_unknown_fields` plus the TOML parser's line/column report).

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The whole Mask R-CNN architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Number of classes *including* the background (class 0), as torchvision counts them.
    pub num_classes: usize,
    /// Optional class names for labels 1..num_classes (used in outputs and overlays).
    pub class_names: Vec<String>,
    pub input: InputConfig,
    pub backbone: BackboneConfig,
    pub fpn: FpnConfig,
    pub anchors: AnchorConfig,
    pub rpn: RpnConfig,
    pub roi_heads: RoiHeadsConfig,
    pub mask_head: MaskHeadConfig,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            num_classes: 91,
            class_names: Vec::new(),
            input: InputConfig::default(),
            backbone: BackboneConfig::default(),
            fpn: FpnConfig::default(),
            anchors: AnchorConfig::default(),
            rpn: RpnConfig::default(),
            roi_heads: RoiHeadsConfig::default(),
            mask_head: MaskHeadConfig::default(),
        }
    }
}

/// How pixels are scaled before mean/std normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    /// RGB in [0, 1] (torchvision, MMDetection after its own scaling).
    Rgb01,
    /// BGR in [0, 255] (Detectron2's default).
    Bgr255,
}

/// The input transform (torchvision's `GeneralizedRCNNTransform`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// Shorter-side target sizes; inference uses the last one, training picks one at random.
    pub min_size: Vec<usize>,
    /// Upper bound on the longer side.
    pub max_size: usize,
    pub pixel_mean: [f32; 3],
    pub pixel_std: [f32; 3],
    pub format: PixelFormat,
    /// The batch is padded to a multiple of this.
    pub size_divisible: usize,
    /// Training: what to do with a gt box of zero width or height (after resizing).
    pub degenerate_boxes: DegenerateBoxes,
}

/// Policy for degenerate training boxes (`x2 <= x1` or `y2 <= y1`, or not finite).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegenerateBoxes {
    /// Fail the step with an error naming the image and box (torchvision raises too).
    Error,
    /// Drop the box (and its label and mask) with a warning on stderr.
    Drop,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            min_size: vec![800],
            max_size: 1333,
            pixel_mean: [0.485, 0.456, 0.406],
            pixel_std: [0.229, 0.224, 0.225],
            format: PixelFormat::Rgb01,
            size_divisible: 32,
            degenerate_boxes: DegenerateBoxes::Error,
        }
    }
}

/// Residual block type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockKind {
    Basic,
    Bottleneck,
}

/// ResNet body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneConfig {
    /// 18, 34, 50, 101 or 152; ignored when `blocks` is given.
    pub depth: usize,
    /// Explicit block counts of layer1..layer4 (overrides `depth`; small ones for tests).
    pub blocks: Option<[usize; 4]>,
    /// Block type when `blocks` is given (depth 18/34 imply basic, 50+ bottleneck).
    pub block: Option<BlockKind>,
    /// Output channels of the stem (`conv1`).
    pub stem_channels: usize,
    /// Inner width of layer1's blocks; doubles at each later stage (output = 4x for bottlenecks).
    pub base_width: usize,
    /// Stride in the 1x1 conv of a bottleneck (Detectron2 MSRA weights) instead of the 3x3.
    pub stride_in_1x1: bool,
    /// Frozen batch-norm epsilon: 1e-5, or 0.0 as torchvision's COCO weights use.
    pub norm_eps: f32,
    /// Number of trainable stages counted from layer4 (torchvision's `trainable_layers`, 0..5):
    /// 3 trains layer2..layer4 and freezes the stem and layer1.
    pub trainable_layers: usize,
}

impl Default for BackboneConfig {
    fn default() -> Self {
        Self {
            depth: 50,
            blocks: None,
            block: None,
            stem_channels: 64,
            base_width: 64,
            stride_in_1x1: false,
            norm_eps: 1e-5,
            trainable_layers: 3,
        }
    }
}

impl BackboneConfig {
    /// Block counts and type of the four stages.
    pub fn stages(&self) -> Result<([usize; 4], BlockKind)> {
        if let Some(blocks) = self.blocks {
            if blocks.contains(&0) {
                return Err(Error::InvalidConfig(format!(
                    "backbone.blocks = {blocks:?}: every stage needs at least one block"
                )));
            }
            return Ok((blocks, self.block.unwrap_or(BlockKind::Bottleneck)));
        }
        let (b, k) = match self.depth {
            18 => ([2, 2, 2, 2], BlockKind::Basic),
            34 => ([3, 4, 6, 3], BlockKind::Basic),
            50 => ([3, 4, 6, 3], BlockKind::Bottleneck),
            101 => ([3, 4, 23, 3], BlockKind::Bottleneck),
            152 => ([3, 8, 36, 3], BlockKind::Bottleneck),
            d => {
                return Err(Error::InvalidConfig(format!(
                    "backbone.depth = {d}: use 18, 34, 50, 101 or 152, or give backbone.blocks"
                )));
            }
        };
        Ok((b, self.block.unwrap_or(k)))
    }

    /// Output channels of layer1..layer4.
    pub fn stage_out_channels(&self) -> Result<[usize; 4]> {
        let (_, kind) = self.stages()?;
        let expansion = match kind {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        };
        Ok(std::array::from_fn(|i| self.base_width * expansion << i))
    }
}

/// Feature pyramid (P2-P5 from layer1..layer4, P6 by max-pooling P5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FpnConfig {
    pub out_channels: usize,
}

impl Default for FpnConfig {
    fn default() -> Self {
        Self { out_channels: 256 }
    }
}

/// Anchor generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnchorConfig {
    /// Anchor sizes of each pyramid level P2..P6 (one list per level).
    pub sizes: Vec<Vec<f32>>,
    /// Height / width ratios, shared by all levels.
    pub aspect_ratios: Vec<f32>,
    /// Round the cell anchors to integers as torchvision does (Detectron2 does not).
    pub rounded: bool,
}

impl Default for AnchorConfig {
    fn default() -> Self {
        Self {
            sizes: vec![
                vec![32.0],
                vec![64.0],
                vec![128.0],
                vec![256.0],
                vec![512.0],
            ],
            aspect_ratios: vec![0.5, 1.0, 2.0],
            rounded: true,
        }
    }
}

impl AnchorConfig {
    /// Anchors per location (the same on every level).
    pub fn num_anchors(&self) -> usize {
        self.sizes.first().map_or(0, Vec::len) * self.aspect_ratios.len()
    }
}

/// Region proposal network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpnConfig {
    pub pre_nms_top_n_train: usize,
    pub pre_nms_top_n_test: usize,
    pub post_nms_top_n_train: usize,
    pub post_nms_top_n_test: usize,
    pub nms_thresh: f32,
    pub score_thresh: f32,
    /// Proposals smaller than this (width or height, pixels) are removed.
    pub min_size: f32,
    pub fg_iou_thresh: f32,
    pub bg_iou_thresh: f32,
    pub batch_size_per_image: usize,
    pub positive_fraction: f32,
    /// Clamp on dw/dh before exp (log(1000/16)).
    pub bbox_xform_clip: f32,
    /// Smooth-L1 beta of the box loss (torchvision 1/9; 0 = Detectron2's L1).
    pub smooth_l1_beta: f32,
}

impl Default for RpnConfig {
    fn default() -> Self {
        Self {
            pre_nms_top_n_train: 2000,
            pre_nms_top_n_test: 1000,
            post_nms_top_n_train: 2000,
            post_nms_top_n_test: 1000,
            nms_thresh: 0.7,
            score_thresh: 0.0,
            min_size: 1e-3,
            fg_iou_thresh: 0.7,
            bg_iou_thresh: 0.3,
            batch_size_per_image: 256,
            positive_fraction: 0.5,
            bbox_xform_clip: (1000.0f32 / 16.0).ln(),
            smooth_l1_beta: 1.0 / 9.0,
        }
    }
}

/// Multi-scale RoIAlign settings of one branch (the output resolution is the branch's own key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolerConfig {
    /// Samples per bin side; 0 = adaptive (ceil(roi size / resolution)), as Detectron2.
    pub sampling_ratio: usize,
    /// Half-pixel offset (Detectron2's ROIAlignV2); torchvision's Mask R-CNN uses false.
    pub aligned: bool,
    pub canonical_scale: f32,
    pub canonical_level: u32,
}

impl Default for PoolerConfig {
    fn default() -> Self {
        Self {
            sampling_ratio: 2,
            aligned: false,
            canonical_scale: 224.0,
            canonical_level: 4,
        }
    }
}

/// Box branch: pooler, two-layer MLP head, predictor and post-processing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoiHeadsConfig {
    /// RoIAlign output size of the box branch.
    pub pooler_resolution: usize,
    pub pooler: PoolerConfig,
    pub representation_size: usize,
    pub bbox_reg_weights: [f32; 4],
    pub score_thresh: f32,
    pub nms_thresh: f32,
    pub detections_per_img: usize,
    /// Detections smaller than this (pixels) are removed.
    pub min_size: f32,
    pub fg_iou_thresh: f32,
    pub bg_iou_thresh: f32,
    pub batch_size_per_image: usize,
    pub positive_fraction: f32,
    /// Smooth-L1 beta of the box loss (torchvision 1/9; 0 = Detectron2's L1).
    pub smooth_l1_beta: f32,
}

impl Default for RoiHeadsConfig {
    fn default() -> Self {
        Self {
            pooler_resolution: 7,
            pooler: PoolerConfig::default(),
            representation_size: 1024,
            bbox_reg_weights: [10.0, 10.0, 5.0, 5.0],
            score_thresh: 0.05,
            nms_thresh: 0.5,
            detections_per_img: 100,
            min_size: 1e-2,
            fg_iou_thresh: 0.5,
            bg_iou_thresh: 0.5,
            batch_size_per_image: 512,
            positive_fraction: 0.25,
            smooth_l1_beta: 1.0 / 9.0,
        }
    }
}

/// Mask branch: pooler, conv head, predictor and pasting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskHeadConfig {
    /// RoIAlign output size of the mask branch (the predicted masks are twice this).
    pub pooler_resolution: usize,
    pub pooler: PoolerConfig,
    /// Output channels of each 3x3 conv of the head.
    pub conv_dims: Vec<usize>,
    pub dilation: usize,
    /// Channels of the 2x2 transposed conv.
    pub predictor_dim: usize,
    /// Probability threshold of the binary mask.
    pub mask_threshold: f32,
}

impl Default for MaskHeadConfig {
    fn default() -> Self {
        Self {
            pooler_resolution: 14,
            pooler: PoolerConfig::default(),
            conv_dims: vec![256; 4],
            dilation: 1,
            predictor_dim: 256,
            mask_threshold: 0.5,
        }
    }
}

/// A TOML error as one line: `line L, column C: message` (the parser's own report spans several
/// lines with a source excerpt).
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let col = before.len() - line_start + 1;
            let source = text[line_start..].lines().next().unwrap_or("").trim();
            format!("line {line}, column {col} (`{source}`): {msg}")
        }
        None => msg,
    }
}

impl ModelConfig {
    /// Parses a TOML model config; `origin` names the file in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Self> {
        let cfg: ModelConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            message: one_line(text, &e),
        })?;
        cfg.validate().map_err(|e| Error::Config {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(cfg)
    }

    /// Reads and parses a TOML model config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Checks the values that serde cannot.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if self.num_classes < 2 {
            return bad(format!(
                "num_classes = {}: it counts the background, so it must be at least 2",
                self.num_classes
            ));
        }
        if !self.class_names.is_empty() && self.class_names.len() != self.num_classes - 1 {
            return bad(format!(
                "class_names has {} names but num_classes = {} needs {} (background excluded)",
                self.class_names.len(),
                self.num_classes,
                self.num_classes - 1
            ));
        }
        self.backbone.stages()?;
        if self.anchors.sizes.len() != 5 {
            return bad(format!(
                "anchors.sizes has {} levels; the FPN has 5 (P2-P6)",
                self.anchors.sizes.len()
            ));
        }
        let n = self.anchors.sizes[0].len();
        if n == 0 || self.anchors.sizes.iter().any(|s| s.len() != n) {
            return bad(
                "anchors.sizes: every level needs the same, non-zero number of sizes".into(),
            );
        }
        if self.anchors.aspect_ratios.is_empty() {
            return bad("anchors.aspect_ratios is empty".into());
        }
        if self.input.min_size.is_empty() {
            return bad("input.min_size is empty".into());
        }
        if self.input.size_divisible == 0 {
            return bad("input.size_divisible must be at least 1".into());
        }
        if self.input.pixel_std.contains(&0.0) {
            return bad("input.pixel_std has a zero".into());
        }
        if self.backbone.trainable_layers > 5 {
            return bad(format!(
                "backbone.trainable_layers = {}: use 0..=5",
                self.backbone.trainable_layers
            ));
        }
        if self.mask_head.conv_dims.is_empty() {
            return bad("mask_head.conv_dims is empty".into());
        }
        for (name, r) in [
            (
                "roi_heads.pooler_resolution",
                self.roi_heads.pooler_resolution,
            ),
            (
                "mask_head.pooler_resolution",
                self.mask_head.pooler_resolution,
            ),
        ] {
            if r == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        Ok(())
    }

    /// Name of class `label` (1-based), or its number when no names are configured.
    pub fn class_name(&self, label: usize) -> String {
        self.class_names
            .get(label.wrapping_sub(1))
            .cloned()
            .unwrap_or_else(|| format!("class {label}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_torchvision_r50() {
        let c = ModelConfig::default();
        assert_eq!(c.backbone.stages().unwrap().0, [3, 4, 6, 3]);
        assert_eq!(
            c.backbone.stage_out_channels().unwrap(),
            [256, 512, 1024, 2048]
        );
        assert_eq!(c.anchors.num_anchors(), 3);
        assert!((c.rpn.bbox_xform_clip - 4.135_166_6).abs() < 1e-6);
    }

    #[test]
    fn unknown_key_names_key_and_file() {
        let e = ModelConfig::from_toml_str("[rpn]\nnms_treshold = 0.5\n", Path::new("m.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("m.toml") && e.contains("nms_treshold"), "{e}");
    }

    #[test]
    fn wrong_type_names_key() {
        let e = ModelConfig::from_toml_str("num_classes = \"three\"\n", Path::new("x.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("num_classes"), "{e}");
    }

    #[test]
    fn explicit_blocks() {
        let c = ModelConfig::from_toml_str(
            "num_classes = 4\n[backbone]\nblocks = [1,1,1,1]\nstem_channels = 16\nbase_width = 8\n",
            Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(c.backbone.stage_out_channels().unwrap(), [32, 64, 128, 256]);
    }
}
