//! The model config (the architecture): every hyper-parameter with torchvision's Mask R-CNN
//! default, in one place. A TOML file in `model_configs/` states only what differs (and may name
//! a `base` file, as experiments do); it is read by the same layered loader as experiments, so
//! an unknown key or a wrong type gets the same one-line error with the nearest valid key
//! ([`crate::load_model_config`]).

use serde::{Deserialize, Serialize};

pub use crate::backbone::{BackboneConfig, BlockKind, ResNetLayout};
use crate::c4::{Architecture, C4Config};
use crate::error::InvalidValue;

/// The whole Mask R-CNN architecture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// `fpn` (the default) or the TensorFlow Object Detection API's single-level `c4`.
    pub architecture: Architecture,
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
    /// Values of the C4 architecture only.
    pub c4: C4Config,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            architecture: Architecture::Fpn,
            num_classes: 91,
            class_names: Vec::new(),
            input: InputConfig::default(),
            backbone: BackboneConfig::default(),
            fpn: FpnConfig::default(),
            anchors: AnchorConfig::default(),
            rpn: RpnConfig::default(),
            roi_heads: RoiHeadsConfig::default(),
            mask_head: MaskHeadConfig::default(),
            c4: C4Config::default(),
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
    /// RGB in [0, 255] (the TensorFlow Object Detection API).
    Rgb255,
}

/// How an image is resized to `input.min_size` / `input.max_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resizer {
    /// torchvision: scale `min(min_size / short, max_size / long)`, sides `floor(side * scale)`,
    /// bilinear with half-pixel centres (`align_corners = False`).
    Torchvision,
    /// The TensorFlow Object Detection API's `keep_aspect_ratio_resizer`: scale
    /// `min(min_size / short, max_size / long)`, sides rounded half to even (float32, as its
    /// graph computes them), TF1's bilinear without half-pixel centres.
    TfKeepAspectRatio,
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
    pub resizer: Resizer,
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
            resizer: Resizer::Torchvision,
            size_divisible: 32,
            degenerate_boxes: DegenerateBoxes::Error,
        }
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
    /// Weights of the box coder's (dx, dy, dw, dh): 1 in torchvision's RPN, 10/10/5/5 in the
    /// OD API's first stage.
    pub bbox_reg_weights: [f32; 4],
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
            bbox_reg_weights: [1.0; 4],
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

impl ModelConfig {
    /// Checks the values that serde cannot: sizes of zero, empty lists, thresholds outside
    /// [0, 1], a longer-side cap below the shorter-side target. The error names the key.
    pub fn validate(&self) -> Result<(), InvalidValue> {
        let bad = |key: &str, reason: String| Err(InvalidValue::new(key, reason));
        if self.num_classes < 2 {
            return bad(
                "num_classes",
                format!(
                    "= {}: it counts the background, so it must be at least 2",
                    self.num_classes
                ),
            );
        }
        if !self.class_names.is_empty() && self.class_names.len() != self.num_classes - 1 {
            return bad(
                "class_names",
                format!(
                    "has {} names but num_classes = {} needs {} (background excluded)",
                    self.class_names.len(),
                    self.num_classes,
                    self.num_classes - 1
                ),
            );
        }
        self.backbone.block_strides()?;
        let at_least_one = [
            ("backbone.stem_channels", self.backbone.stem_channels),
            ("backbone.base_width", self.backbone.base_width),
            ("fpn.out_channels", self.fpn.out_channels),
            ("input.max_size", self.input.max_size),
            ("input.size_divisible", self.input.size_divisible),
            ("rpn.pre_nms_top_n_train", self.rpn.pre_nms_top_n_train),
            ("rpn.pre_nms_top_n_test", self.rpn.pre_nms_top_n_test),
            ("rpn.post_nms_top_n_train", self.rpn.post_nms_top_n_train),
            ("rpn.post_nms_top_n_test", self.rpn.post_nms_top_n_test),
            ("rpn.batch_size_per_image", self.rpn.batch_size_per_image),
            (
                "roi_heads.pooler_resolution",
                self.roi_heads.pooler_resolution,
            ),
            (
                "roi_heads.representation_size",
                self.roi_heads.representation_size,
            ),
            (
                "roi_heads.detections_per_img",
                self.roi_heads.detections_per_img,
            ),
            (
                "roi_heads.batch_size_per_image",
                self.roi_heads.batch_size_per_image,
            ),
            (
                "mask_head.pooler_resolution",
                self.mask_head.pooler_resolution,
            ),
            ("mask_head.dilation", self.mask_head.dilation),
            ("mask_head.predictor_dim", self.mask_head.predictor_dim),
        ];
        for (key, v) in at_least_one {
            if v == 0 {
                return bad(key, "= 0: it must be at least 1".into());
            }
        }
        if self.architecture == Architecture::Fpn
            && (self.backbone.layout != ResNetLayout::Torchvision
                || self.backbone.output_stride != 32)
        {
            return bad(
                "backbone.layout",
                "/ backbone.output_stride: the FPN takes layer1..layer4 at strides 4, 8, 16 and \
                 32, so it needs layout = \"torchvision\" and output_stride = 32 (the TF-slim \
                 layout and atrous strides are for the OD API's single-level C4 model)"
                    .into(),
            );
        }
        if self.backbone.trainable_layers > 5 {
            return bad(
                "backbone.trainable_layers",
                format!("= {}: use 0..=5", self.backbone.trainable_layers),
            );
        }
        if self.architecture == Architecture::C4 {
            self.c4.validate()?;
        } else if self.anchors.sizes.len() != 5 {
            return bad(
                "anchors.sizes",
                format!(
                    "has {} levels; the FPN has 5 (P2-P6)",
                    self.anchors.sizes.len()
                ),
            );
        }
        let n = self.anchors.sizes.first().map_or(0, Vec::len);
        if self.architecture == Architecture::Fpn
            && (n == 0 || self.anchors.sizes.iter().any(|s| s.len() != n))
        {
            return bad(
                "anchors.sizes",
                "needs the same, non-zero number of sizes on every level".into(),
            );
        }
        let positive = |v: &f32| *v > 0.0 && v.is_finite();
        if !self.anchors.sizes.iter().flatten().all(positive) {
            return bad(
                "anchors.sizes",
                format!(
                    "= {:?}: every size must be a positive number",
                    self.anchors.sizes
                ),
            );
        }
        if self.anchors.aspect_ratios.is_empty() || !self.anchors.aspect_ratios.iter().all(positive)
        {
            return bad(
                "anchors.aspect_ratios",
                format!(
                    "= {:?}: give at least one, each a positive number",
                    self.anchors.aspect_ratios
                ),
            );
        }
        let min = &self.input.min_size;
        if min.is_empty() || min.contains(&0) {
            return bad(
                "input.min_size",
                format!("= {min:?}: give at least one shorter-side size, each at least 1"),
            );
        }
        let largest = *min.iter().max().expect("not empty");
        if self.input.max_size < largest {
            return bad(
                "input.max_size",
                format!(
                    "= {} is below the shorter-side size {largest} of input.min_size: every image \
                     would be capped by its longer side; raise max_size (torchvision: 1333 with \
                     800)",
                    self.input.max_size
                ),
            );
        }
        if !self.input.pixel_std.iter().all(positive) {
            return bad(
                "input.pixel_std",
                format!("= {:?}: every value must be positive", self.input.pixel_std),
            );
        }
        if !self.input.pixel_mean.iter().all(|v| v.is_finite()) {
            return bad("input.pixel_mean", "must hold finite numbers".into());
        }
        if self.mask_head.conv_dims.is_empty() || self.mask_head.conv_dims.contains(&0) {
            return bad(
                "mask_head.conv_dims",
                format!(
                    "= {:?}: give at least one conv, each with at least 1 channel",
                    self.mask_head.conv_dims
                ),
            );
        }
        let unit = [
            ("rpn.nms_thresh", self.rpn.nms_thresh),
            ("rpn.score_thresh", self.rpn.score_thresh),
            ("rpn.fg_iou_thresh", self.rpn.fg_iou_thresh),
            ("rpn.bg_iou_thresh", self.rpn.bg_iou_thresh),
            ("rpn.positive_fraction", self.rpn.positive_fraction),
            ("roi_heads.score_thresh", self.roi_heads.score_thresh),
            ("roi_heads.nms_thresh", self.roi_heads.nms_thresh),
            ("roi_heads.fg_iou_thresh", self.roi_heads.fg_iou_thresh),
            ("roi_heads.bg_iou_thresh", self.roi_heads.bg_iou_thresh),
            (
                "roi_heads.positive_fraction",
                self.roi_heads.positive_fraction,
            ),
            ("mask_head.mask_threshold", self.mask_head.mask_threshold),
        ];
        for (key, v) in unit {
            if !(0.0..=1.0).contains(&v) {
                return bad(key, format!("= {v}: it must be in [0, 1]"));
            }
        }
        for (key, fg, bg) in [
            (
                "rpn.bg_iou_thresh",
                self.rpn.fg_iou_thresh,
                self.rpn.bg_iou_thresh,
            ),
            (
                "roi_heads.bg_iou_thresh",
                self.roi_heads.fg_iou_thresh,
                self.roi_heads.bg_iou_thresh,
            ),
        ] {
            if bg > fg {
                return bad(
                    key,
                    format!("= {bg} is above the foreground threshold {fg}; it must not be"),
                );
            }
        }
        let non_negative = [
            ("rpn.min_size", self.rpn.min_size),
            ("rpn.smooth_l1_beta", self.rpn.smooth_l1_beta),
            ("roi_heads.min_size", self.roi_heads.min_size),
            ("roi_heads.smooth_l1_beta", self.roi_heads.smooth_l1_beta),
        ];
        for (key, v) in non_negative {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(key, format!("= {v}: it must be a number >= 0"));
            }
        }
        if !positive(&self.rpn.bbox_xform_clip) {
            return bad(
                "rpn.bbox_xform_clip",
                format!("= {}: it must be positive", self.rpn.bbox_xform_clip),
            );
        }
        if !self.roi_heads.bbox_reg_weights.iter().all(positive) {
            return bad(
                "roi_heads.bbox_reg_weights",
                format!(
                    "= {:?}: every weight must be positive",
                    self.roi_heads.bbox_reg_weights
                ),
            );
        }
        for (key, p) in [
            ("roi_heads.pooler.canonical_scale", &self.roi_heads.pooler),
            ("mask_head.pooler.canonical_scale", &self.mask_head.pooler),
        ] {
            if !positive(&p.canonical_scale) {
                return bad(key, format!("= {}: it must be positive", p.canonical_scale));
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

    /// This architecture for a dataset's classes (names of labels 1..=K): `num_classes` and
    /// `class_names` set, then validated.
    pub fn with_classes(mut self, names: Vec<String>) -> Result<Self, InvalidValue> {
        self.num_classes = names.len() + 1;
        self.class_names = names;
        self.validate()?;
        Ok(self)
    }
}

impl crate::diagnose::Schema for ModelConfig {
    fn fully_populated() -> Self {
        let mut c = ModelConfig::default();
        c.backbone.blocks = Some([1, 1, 1, 1]);
        c.backbone.block = Some(BlockKind::Bottleneck);
        c.class_names = vec!["a".into()];
        c
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
        c.validate().unwrap();
    }

    #[test]
    fn values_no_one_could_mean_name_their_key() {
        type Break = fn(&mut ModelConfig);
        let cases: [(&str, Break); 6] = [
            ("num_classes", |c| c.num_classes = 0),
            ("fpn.out_channels", |c| c.fpn.out_channels = 0),
            ("input.min_size", |c| c.input.min_size = vec![0]),
            ("input.max_size", |c| c.input.max_size = 0),
            ("input.max_size", |c| c.input.max_size = 600),
            ("rpn.nms_thresh", |c| c.rpn.nms_thresh = 1.5),
        ];
        for (key, break_it) in cases {
            let mut c = ModelConfig::default();
            break_it(&mut c);
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
    }

    #[test]
    fn explicit_blocks() {
        let c = crate::model_config_from_str(
            "num_classes = 4\n[backbone]\nblocks = [1,1,1,1]\nstem_channels = 16\nbase_width = 8\n",
            std::path::Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(c.backbone.stage_out_channels().unwrap(), [32, 64, 128, 256]);
    }
}
