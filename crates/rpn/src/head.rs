//! RPN head (torchvision's `RPNHead`): 3x3 conv + ReLU shared by all levels, then 1x1 convs for
//! the objectness logits (A per location) and box deltas (4A per location).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

#[derive(Module, Debug)]
pub struct RpnHead {
    pub conv: Conv2d,
    pub cls_logits: Conv2d,
    pub bbox_pred: Conv2d,
}

impl RpnHead {
    pub fn new(channels: usize, num_anchors: usize, device: &Device) -> Self {
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
            conv: Conv2dConfig::new([channels, channels], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_initializer(init.clone())
                .init(device),
            cls_logits: conv1x1(num_anchors),
            bbox_pred: conv1x1(4 * num_anchors),
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
        let t = relu(self.conv.forward(x));
        let logits = self.cls_logits.forward(t.clone());
        let deltas = self.bbox_pred.forward(t);
        let [n, a, h, w] = logits.dims();
        let logits = logits.permute([0, 2, 3, 1]).reshape([n, h * w * a]);
        let deltas = deltas
            .reshape([n, a, 4, h, w])
            .permute([0, 3, 4, 1, 2])
            .reshape([n, h * w * a, 4]);
        (logits, deltas)
    }
}
