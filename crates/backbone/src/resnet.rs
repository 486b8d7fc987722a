//! ResNet body (torchvision layer names: `conv1`, `bn1`, `layer1..layer4`, blocks with
//! `conv1..conv3`, `bn1..bn3`, `downsample`), returning the outputs of layer1..layer4 (C2-C5).
//!
//! Two layouts share it (`backbone.layout`): torchvision's, and TF-slim's `resnet_v1` as the
//! TensorFlow Object Detection API builds it (stride at the end of a stage, subsampled shortcuts,
//! SAME max-pool). `backbone.output_stride` turns late strides into dilations in either. TF-slim
//! pads a strided convolution explicitly by `(k - 1) / 2` on each side (`conv2d_same`) and a
//! stride-1 one with SAME, which for odd kernels is the same symmetric padding used here.

use crate::frozen_bn::FrozenBatchNorm2d;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use mrcnn_config::{BackboneConfig, BlockKind, ResNetLayout};
use mrcnn_core::activation::{add_relu, relu};

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    dilated_conv(cin, cout, k, stride, 1, device)
}

fn dilated_conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    device: &Device,
) -> Conv2d {
    let p = dilation * (k / 2);
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_dilation([dilation, dilation])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
}

/// The shape of one block: widths, stride, dilation and where things sit.
#[derive(Debug, Clone, Copy)]
struct BlockShape {
    kind: BlockKind,
    cin: usize,
    width: usize,
    cout: usize,
    stride: usize,
    dilation: usize,
    stride_in_1x1: bool,
    layout: ResNetLayout,
    eps: f32,
    /// Batch-norm scale and shift trainable.
    affine: bool,
}

/// The 1x1 projection of a block whose shape changes (torchvision `downsample.0`, `.1`).
#[derive(Module, Debug)]
pub struct Downsample {
    pub conv: Conv2d,
    pub bn: FrozenBatchNorm2d,
}

/// A residual block, basic (two 3x3) or bottleneck (1x1, 3x3, 1x1).
#[derive(Module, Debug)]
pub struct Block {
    pub conv1: Conv2d,
    pub bn1: FrozenBatchNorm2d,
    pub conv2: Conv2d,
    pub bn2: FrozenBatchNorm2d,
    pub conv3: Option<Conv2d>,
    pub bn3: Option<FrozenBatchNorm2d>,
    pub downsample: Option<Downsample>,
    /// Stride of the shortcut when it is the input itself (TF-slim's `subsample`), else 1.
    pub subsample: usize,
}

impl Block {
    fn new(b: BlockShape, device: &Device) -> Self {
        let BlockShape {
            kind,
            cin,
            width,
            cout,
            stride,
            dilation,
            eps,
            ..
        } = b;
        // torchvision projects whenever the shape changes; TF-slim only when the width does, and
        // subsamples the input (a 1x1 max-pool with the stride) when only the size does.
        let project = match b.layout {
            ResNetLayout::Torchvision => stride != 1 || cin != cout,
            ResNetLayout::TfSlim => cin != cout,
        };
        let downsample = project.then(|| Downsample {
            conv: conv(cin, cout, 1, stride, device),
            bn: FrozenBatchNorm2d::new(cout, eps, device).with_trainable_affine(b.affine),
        });
        let subsample = if project { 1 } else { stride };
        match kind {
            BlockKind::Basic => Self {
                conv1: dilated_conv(cin, width, 3, stride, dilation, device),
                bn1: FrozenBatchNorm2d::new(width, eps, device).with_trainable_affine(b.affine),
                conv2: dilated_conv(width, width, 3, 1, dilation, device),
                bn2: FrozenBatchNorm2d::new(width, eps, device).with_trainable_affine(b.affine),
                conv3: None,
                bn3: None,
                downsample,
                subsample,
            },
            BlockKind::Bottleneck => {
                let (s1, s3) = if b.stride_in_1x1 {
                    (stride, 1)
                } else {
                    (1, stride)
                };
                Self {
                    conv1: conv(cin, width, 1, s1, device),
                    bn1: FrozenBatchNorm2d::new(width, eps, device).with_trainable_affine(b.affine),
                    conv2: dilated_conv(width, width, 3, s3, dilation, device),
                    bn2: FrozenBatchNorm2d::new(width, eps, device).with_trainable_affine(b.affine),
                    conv3: Some(conv(width, cout, 1, 1, device)),
                    bn3: Some(
                        FrozenBatchNorm2d::new(cout, eps, device).with_trainable_affine(b.affine),
                    ),
                    downsample,
                    subsample,
                }
            }
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.after(&d.conv, x.clone()),
            None if self.subsample > 1 => max_pool2d(
                x.clone(),
                MaxPoolOptions::new([1, 1]).with_stride([self.subsample, self.subsample]),
            ),
            None => x.clone(),
        };
        let mut out = relu(self.bn1.after(&self.conv1, x));
        out = self.bn2.after(&self.conv2, out);
        if let (Some(c3), Some(b3)) = (&self.conv3, &self.bn3) {
            out = b3.after(c3, relu(out));
        }
        add_relu(out, identity)
    }
}

/// The blocks of one stage (0-based) with the given `(stride, dilation)` per block.
fn stage_blocks(
    cfg: &BackboneConfig,
    stage: usize,
    units: &[(usize, usize)],
    device: &Device,
) -> mrcnn_core::Result<Vec<Block>> {
    let (_, kind) = cfg.stages()?;
    let outs = cfg.stage_out_channels()?;
    let mut cin = if stage == 0 {
        cfg.stem_channels
    } else {
        outs[stage - 1]
    };
    let width = cfg.base_width << stage;
    Ok(units
        .iter()
        .map(|&(stride, dilation)| {
            let shape = BlockShape {
                kind,
                cin,
                width,
                cout: outs[stage],
                stride,
                dilation,
                stride_in_1x1: cfg.stride_in_1x1,
                layout: cfg.layout,
                eps: cfg.norm_eps,
                affine: cfg.norm_affine_trainable,
            };
            cin = outs[stage];
            Block::new(shape, device)
        })
        .collect())
}

/// layer4 as a box head on pooled crops (the C4 model's second stage): no dilation, and the
/// stride of a plain ResNet (TF-slim's block4 has none; torchvision's layer4 halves the crop, as
/// Detectron2's `res5` head does).
pub fn head_stage(cfg: &BackboneConfig, device: &Device) -> mrcnn_core::Result<Vec<Block>> {
    let plain = BackboneConfig {
        output_stride: 32,
        ..cfg.clone()
    };
    let plan = plain.block_strides()?;
    stage_blocks(&plain, 3, &plan[3], device)
}

#[derive(Module, Debug)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: FrozenBatchNorm2d,
    pub layer1: Vec<Block>,
    pub layer2: Vec<Block>,
    pub layer3: Vec<Block>,
    pub layer4: Vec<Block>,
    /// The stem's max-pool uses TensorFlow's SAME padding (TF-slim layout).
    pub same_pool: bool,
}

impl ResNet {
    pub fn new(cfg: &BackboneConfig, device: &Device) -> mrcnn_core::Result<Self> {
        Self::with_stages(cfg, 4, device)
    }

    /// The stem and the first `stages` stages (the later ones left empty): the C4 model's
    /// body stops at layer3, its layer4 runs on the crops ([`head_stage`]).
    pub fn with_stages(
        cfg: &BackboneConfig,
        stages: usize,
        device: &Device,
    ) -> mrcnn_core::Result<Self> {
        let plan = cfg.block_strides()?;
        let mut layers: Vec<Vec<Block>> = (0..4)
            .map(|stage| {
                if stage < stages {
                    stage_blocks(cfg, stage, &plan[stage], device)
                } else {
                    Ok(Vec::new())
                }
            })
            .collect::<mrcnn_core::Result<_>>()?;
        let mut next = || layers.remove(0);
        Ok(Self {
            conv1: conv(3, cfg.stem_channels, 7, 2, device),
            bn1: FrozenBatchNorm2d::new(cfg.stem_channels, cfg.norm_eps, device)
                .with_trainable_affine(cfg.norm_affine_trainable),
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
            same_pool: cfg.layout == ResNetLayout::TfSlim,
        })
    }

    /// The stem: conv1, frozen BN, ReLU and the 3x3 stride-2 max-pool (torchvision pads it by 1
    /// on each side; TensorFlow's SAME pads `max(0, (ceil(n/2) - 1) * 2 + 3 - n)` split with the
    /// larger half at the end: `(0, 1)` for an even side, `(1, 1)` for an odd one).
    pub fn stem(&self, x: Tensor<4>) -> Tensor<4> {
        let x = relu(self.bn1.after(&self.conv1, x));
        let [_, _, h, w] = x.dims();
        let same = |n: usize| {
            let total = ((n.div_ceil(2) - 1) * 2 + 3).saturating_sub(n);
            (total / 2, total - total / 2)
        };
        let mut options = MaxPoolOptions::new([3, 3]).with_stride([2, 2]);
        options.padding = if self.same_pool {
            [same(h), same(w)]
        } else {
            [(1, 1), (1, 1)]
        };
        max_pool2d(x, options)
    }

    /// The stem and the first `stages` stages (1..=4); returns each stage's output.
    pub fn forward_stages(&self, x: Tensor<4>, stages: usize) -> Vec<Tensor<4>> {
        let mut x = self.stem(x);
        let mut outs = Vec::with_capacity(stages);
        for layer in [&self.layer1, &self.layer2, &self.layer3, &self.layer4]
            .into_iter()
            .take(stages)
        {
            for block in layer {
                x = block.forward(x);
            }
            outs.push(x.clone());
        }
        outs
    }

    /// C2, C3, C4, C5.
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        self.forward_stages(x, 4)
    }
}
