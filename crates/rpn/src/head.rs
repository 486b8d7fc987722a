//! RPN head (torchvision's `RPNHead`): 3x3 conv + ReLU shared by all levels, then 1x1 convs for
//! the objectness logits (A per location) and box deltas (4A per location).
//!
//! The OD API's first stage is the same head with another first conv ([`RpnHeadShape`]): its own
//! depth (`first_stage_box_predictor_depth`), dilation (`first_stage_atrous_rate`) and ReLU6. Its
//! objectness is a softmax over (background, object), which is the sigmoid of the difference
//! of the two logits: the importer stores that difference as the one logit here.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use mrcnn_core::activation::relu;
use mrcnn_core::conv::conv2d;

#[derive(Module, Debug)]
pub struct RpnHead {
    pub conv: Conv2d,
    pub cls_logits: Conv2d,
    pub bbox_pred: Conv2d,
    /// The first conv's activation is ReLU6 (OD API) instead of ReLU.
    pub relu6: bool,
}

/// The first conv of the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpnHeadShape {
    pub in_channels: usize,
    pub conv_channels: usize,
    pub kernel_size: usize,
    pub dilation: usize,
    pub relu6: bool,
}

impl RpnHeadShape {
    /// torchvision's: a 3x3 conv keeping the channels, ReLU.
    pub fn torchvision(channels: usize) -> Self {
        Self {
            in_channels: channels,
            conv_channels: channels,
            kernel_size: 3,
            dilation: 1,
            relu6: false,
        }
    }
}

impl RpnHead {
    pub fn new(channels: usize, num_anchors: usize, device: &Device) -> Self {
        Self::with_shape(RpnHeadShape::torchvision(channels), num_anchors, device)
    }

    pub fn with_shape(shape: RpnHeadShape, num_anchors: usize, device: &Device) -> Self {
        let RpnHeadShape {
            in_channels,
            conv_channels: channels,
            kernel_size: k,
            dilation,
            relu6,
        } = shape;
        // torchvision: normal(std=0.01) weights, zero biases.
        let init = Initializer::Normal {
            mean: 0.0,
            std: 0.01,
        };
        let conv1x1 = |out: usize| {
            Conv2dConfig::new([channels, out], [1, 1])
                .with_initializer(init.clone())
                .init(device)
        };
        let mut head = Self {
            conv: {
                let p = dilation * (k / 2);
                Conv2dConfig::new([in_channels, channels], [k, k])
                    .with_dilation([dilation, dilation])
                    .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                    .with_initializer(init.clone())
                    .init(device)
            },
            cls_logits: conv1x1(num_anchors),
            bbox_pred: conv1x1(4 * num_anchors),
            relu6,
        };
        for c in [&mut head.conv, &mut head.cls_logits, &mut head.bbox_pred] {
            if let Some(b) = c.bias.as_ref() {
                let n = b.dims()[0];
                c.bias = Some(Param::from_tensor(Tensor::zeros([n], device)));
            }
        }
        head
    }

    /// One level: objectness `[N, H*W*A]` and deltas `[N, H*W*A, 4]`, in anchor order
    /// (location-major, then anchor).
    pub fn forward(&self, x: Tensor<4>) -> (Tensor<2>, Tensor<3>) {
        let t = relu(conv2d(&self.conv, x));
        let t = if self.relu6 { t.clamp_max(6.0) } else { t };
        let logits = conv2d(&self.cls_logits, t.clone());
        let deltas = conv2d(&self.bbox_pred, t);
        let [n, a, h, w] = logits.dims();
        let logits = logits.permute([0, 2, 3, 1]).reshape([n, h * w * a]);
        let deltas = deltas
            .reshape([n, a, 4, h, w])
            .permute([0, 3, 4, 1, 2])
            .reshape([n, h * w * a, 4]);
        (logits, deltas)
    }
}
