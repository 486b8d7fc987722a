//! The ResNet body of the model config (`[backbone]`): depth or explicit blocks, widths, where
//! the strides sit (torchvision's or TF-slim's layout), atrous output stride, frozen batch norm.

use serde::{Deserialize, Serialize};

use crate::error::InvalidValue;

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

#[cfg(test)]
mod tests {
    use super::*;

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
