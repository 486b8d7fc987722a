//! The model config (the architecture): every hyper-parameter with torchvision's Mask R-CNN
//! default, in one place. A TOML file in `model_configs/` states only what differs (and may name
//! a `base` file, as experiments do); it is read by the same layered loader as experiments, so
//! an unknown key or a wrong type gets the same one-line error with the nearest valid key
//! ([`crate::load_model_config`]).

use serde::{Deserialize, Serialize};

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
    /// Train the frozen batch norms' scale and shift (never their statistics), as the TF OD
    /// API's ResNet extractors do (TF-slim's `gamma`/`beta` stay trainable variables);
    /// torchvision, Detectron2 and MMDetection freeze them.
    pub norm_affine_trainable: bool,
    /// Number of trainable stages counted from layer4 (torchvision's `trainable_layers`, 0..5):
    /// 3 trains layer2..layer4 and freezes the stem and layer1.
    pub trainable_layers: usize,
    /// Where strides and projections sit: torchvision's ResNet or TF-slim's `resnet_v1`.
    pub layout: ResNetLayout,
    /// Total stride of the deepest stage: 32 (plain), 16 or 8. Strides beyond it become atrous
    /// (dilated) 3x3 convolutions, as TF-slim's `output_stride` (the OD API's
    /// `first_stage_features_stride`) and torchvision's `replace_stride_with_dilation` do.
    pub output_stride: usize,
}

/// Where a ResNet puts its strides, its projections and its stem padding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResNetLayout {
    /// torchvision, Detectron2, MMDetection: the stride in the first block of layer2..layer4, a
    /// 1x1 projection wherever the stride or the width changes, the stem's 3x3 max-pool padded by
    /// 1 on each side.
    Torchvision,
    /// TF-slim `resnet_v1` (the TensorFlow Object Detection API's Faster/Mask R-CNN): the stride
    /// in the 3x3 conv of the *last* unit of block1..block3, a projection only where the width
    /// changes (a strided unit keeps its width, so its shortcut is the input subsampled), the
    /// stem's max-pool with TensorFlow's SAME padding (the extra row and column at the end).
    TfSlim,
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
            norm_affine_trainable: false,
            trainable_layers: 3,
            layout: ResNetLayout::Torchvision,
            output_stride: 32,
        }
    }
}

impl BackboneConfig {
    /// Block counts and type of the four stages.
    pub fn stages(&self) -> Result<([usize; 4], BlockKind), InvalidValue> {
        if let Some(blocks) = self.blocks {
            if blocks.contains(&0) {
                return Err(InvalidValue::new(
                    "backbone.blocks",
                    format!("= {blocks:?}: every stage needs at least one block"),
                ));
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
                return Err(InvalidValue::new(
                    "backbone.depth",
                    format!("= {d}: use 18, 34, 50, 101 or 152, or give backbone.blocks"),
                ));
            }
        };
        Ok((b, self.block.unwrap_or(k)))
    }

    /// Output channels of layer1..layer4.
    pub fn stage_out_channels(&self) -> Result<[usize; 4], InvalidValue> {
        let (_, kind) = self.stages()?;
        let expansion = match kind {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        };
        Ok(std::array::from_fn(|i| (self.base_width * expansion) << i))
    }

    /// `(stride, dilation)` of every block of layer1..layer4, as TF-slim's `stack_blocks_dense`
    /// assigns them: the stem has stride 4; once the running stride reaches `output_stride`, a
    /// block's nominal stride becomes 1 and multiplies the dilation of the blocks after it.
    pub fn block_strides(&self) -> Result<[Vec<(usize, usize)>; 4], InvalidValue> {
        let (blocks, kind) = self.stages()?;
        if ![8, 16, 32].contains(&self.output_stride) {
            return Err(InvalidValue::new(
                "backbone.output_stride",
                format!("= {}: use 8, 16 or 32", self.output_stride),
            ));
        }
        if self.layout == ResNetLayout::TfSlim && kind == BlockKind::Basic {
            return Err(InvalidValue::new(
                "backbone.layout",
                "= \"tf_slim\" needs bottleneck blocks (TF-slim's resnet_v1 has no basic block)"
                    .to_string(),
            ));
        }
        let (mut current, mut rate) = (4, 1);
        Ok(std::array::from_fn(|stage| {
            (0..blocks[stage])
                .map(|i| {
                    let nominal = match self.layout {
                        ResNetLayout::Torchvision if stage > 0 && i == 0 => 2,
                        ResNetLayout::TfSlim if stage < 3 && i + 1 == blocks[stage] => 2,
                        _ => 1,
                    };
                    if current == self.output_stride {
                        let unit = (1, rate);
                        rate *= nominal;
                        unit
                    } else {
                        current *= nominal;
                        (nominal, 1)
                    }
                })
                .collect()
        }))
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

    #[test]
    fn block_strides_follow_tf_slim_stack_blocks_dense() {
        // resnet_v1_101 with output_stride 8: block1 ends with stride 2 (4 -> 8), block2's last
        // stride becomes rate 2 for block3, block3's last stride makes rate 4 (for block4).
        let mut b = BackboneConfig {
            depth: 101,
            layout: ResNetLayout::TfSlim,
            output_stride: 8,
            ..BackboneConfig::default()
        };
        let plan = b.block_strides().unwrap();
        assert_eq!(plan[0], vec![(1, 1), (1, 1), (2, 1)]);
        assert_eq!(plan[1], vec![(1, 1); 4]);
        assert_eq!(plan[2], vec![(1, 2); 23]);
        assert_eq!(plan[3], vec![(1, 4); 3]);
        b.output_stride = 16;
        let plan = b.block_strides().unwrap();
        assert_eq!(plan[1][3], (2, 1));
        assert_eq!(plan[2], vec![(1, 1); 23]);
        assert_eq!(plan[3], vec![(1, 2); 3]);
        // torchvision's replace_stride_with_dilation = [False, True, True]: the first block of
        // a dilated layer keeps the previous dilation.
        b.layout = ResNetLayout::Torchvision;
        b.output_stride = 8;
        let plan = b.block_strides().unwrap();
        assert_eq!(plan[1][0], (2, 1));
        assert_eq!(plan[2][0], (1, 1));
        assert_eq!(plan[2][1], (1, 2));
        assert_eq!(plan[3][0], (1, 2));
        assert_eq!(plan[3][1], (1, 4));
        b.output_stride = 32;
        let plan = b.block_strides().unwrap();
        assert_eq!(plan.map(|p| p[0]), [(1, 1), (2, 1), (2, 1), (2, 1)]);
        b.output_stride = 4;
        let e = b.block_strides().unwrap_err().to_string();
        assert!(
            e.contains("backbone.output_stride") && e.contains("8, 16 or 32"),
            "{e}"
        );
    }
}
