//! ResNet body (torchvision layer names: `conv1`, `bn1`, `layer1..layer4`, blocks with
//! `conv1..conv3`, `bn1..bn3`, `downsample`), returning the outputs of layer1..layer4 (C2-C5).

use crate::frozen_bn::FrozenBatchNorm2d;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use mrcnn_config::{BackboneConfig, BlockKind};

fn conv(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_bias(false)
        .init(device)
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
}

impl Block {
    #[allow(clippy::too_many_arguments)]
    fn new(
        kind: BlockKind,
        cin: usize,
        width: usize,
        cout: usize,
        stride: usize,
        stride_in_1x1: bool,
        eps: f32,
        device: &Device,
    ) -> Self {
        let downsample = (stride != 1 || cin != cout).then(|| Downsample {
            conv: conv(cin, cout, 1, stride, device),
            bn: FrozenBatchNorm2d::new(cout, eps, device),
        });
        match kind {
            BlockKind::Basic => Self {
                conv1: conv(cin, width, 3, stride, device),
                bn1: FrozenBatchNorm2d::new(width, eps, device),
                conv2: conv(width, width, 3, 1, device),
                bn2: FrozenBatchNorm2d::new(width, eps, device),
                conv3: None,
                bn3: None,
                downsample,
            },
            BlockKind::Bottleneck => {
                let (s1, s3) = if stride_in_1x1 {
                    (stride, 1)
                } else {
                    (1, stride)
                };
                Self {
                    conv1: conv(cin, width, 1, s1, device),
                    bn1: FrozenBatchNorm2d::new(width, eps, device),
                    conv2: conv(width, width, 3, s3, device),
                    bn2: FrozenBatchNorm2d::new(width, eps, device),
                    conv3: Some(conv(width, cout, 1, 1, device)),
                    bn3: Some(FrozenBatchNorm2d::new(cout, eps, device)),
                    downsample,
                }
            }
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let identity = match &self.downsample {
            Some(d) => d.bn.forward(d.conv.forward(x.clone())),
            None => x.clone(),
        };
        let mut out = relu(self.bn1.forward(self.conv1.forward(x)));
        out = self.bn2.forward(self.conv2.forward(out));
        if let (Some(c3), Some(b3)) = (&self.conv3, &self.bn3) {
            out = b3.forward(c3.forward(relu(out)));
        }
        relu(out + identity)
    }
}

#[derive(Module, Debug)]
pub struct ResNet {
    pub conv1: Conv2d,
    pub bn1: FrozenBatchNorm2d,
    pub layer1: Vec<Block>,
    pub layer2: Vec<Block>,
    pub layer3: Vec<Block>,
    pub layer4: Vec<Block>,
}

impl ResNet {
    pub fn new(cfg: &BackboneConfig, device: &Device) -> mrcnn_core::Result<Self> {
        let (blocks, kind) = cfg.stages()?;
        let outs = cfg.stage_out_channels()?;
        let eps = cfg.norm_eps;
        let mut cin = cfg.stem_channels;
        let mut layers: Vec<Vec<Block>> = Vec::with_capacity(4);
        for (stage, (&n, &cout)) in blocks.iter().zip(&outs).enumerate() {
            let width = cfg.base_width << stage;
            let stride = if stage == 0 { 1 } else { 2 };
            let mut layer = Vec::with_capacity(n);
            for i in 0..n {
                let s = if i == 0 { stride } else { 1 };
                layer.push(Block::new(
                    kind,
                    cin,
                    width,
                    cout,
                    s,
                    cfg.stride_in_1x1,
                    eps,
                    device,
                ));
                cin = cout;
            }
            layers.push(layer);
        }
        let mut it = layers.into_iter();
        let mut next = || it.next().expect("four stages");
        Ok(Self {
            conv1: conv(3, cfg.stem_channels, 7, 2, device),
            bn1: FrozenBatchNorm2d::new(cfg.stem_channels, eps, device),
            layer1: next(),
            layer2: next(),
            layer3: next(),
            layer4: next(),
        })
    }

    /// C2, C3, C4, C5.
    pub fn forward(&self, x: Tensor<4>) -> Vec<Tensor<4>> {
        let x = relu(self.bn1.forward(self.conv1.forward(x)));
        let mut x = max_pool2d(
            x,
            MaxPoolOptions::new([3, 3])
                .with_stride([2, 2])
                .with_padding([1, 1]),
        );
        let mut outs = Vec::with_capacity(4);
        for layer in [&self.layer1, &self.layer2, &self.layer3, &self.layer4] {
            for block in layer {
                x = block.forward(x);
            }
            outs.push(x.clone());
        }
        outs
    }
}
