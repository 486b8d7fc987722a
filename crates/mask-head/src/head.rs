//! `MaskRCNNHeads` and `MaskRCNNPredictor`.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

/// torchvision initialises the mask branch with Kaiming normal (mode fan_out, ReLU gain) and
/// zero biases; torch's fan_out is `weight.size(0) * kh * kw` for convs and transposed convs.
fn kaiming_fan_out(
    weight: &Param<Tensor<4>>,
    bias: &mut Option<Param<Tensor<1>>>,
    device: &Device,
) -> Param<Tensor<4>> {
    let [a, b, kh, kw] = weight.dims();
    if let Some(bp) = bias.as_ref() {
        let n = bp.dims()[0];
        *bias = Some(Param::from_tensor(Tensor::zeros([n], device)));
    }
    Initializer::KaimingNormal {
        gain: 2f64.sqrt(),
        fan_out_only: true,
    }
    .init_with([a, b, kh, kw], Some(b * kh * kw), Some(a * kh * kw), device)
}

#[derive(Module, Debug)]
pub struct MaskHead {
    pub convs: Vec<Conv2d>,
}

impl MaskHead {
    pub fn new(in_channels: usize, dims: &[usize], dilation: usize, device: &Device) -> Self {
        let mut cin = in_channels;
        let convs = dims
            .iter()
            .map(|&d| {
                let mut c = Conv2dConfig::new([cin, d], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(
                        dilation, dilation, dilation, dilation,
                    ))
                    .with_dilation([dilation, dilation])
                    .init(device);
                c.weight = kaiming_fan_out(&c.weight, &mut c.bias, device);
                cin = d;
                c
            })
            .collect();
        Self { convs }
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        for c in &self.convs {
            x = relu(c.forward(x));
        }
        x
    }
}

#[derive(Module, Debug)]
pub struct MaskPredictor {
    pub conv5_mask: ConvTranspose2d,
    pub mask_fcn_logits: Conv2d,
}

impl MaskPredictor {
    pub fn new(in_channels: usize, dim: usize, num_classes: usize, device: &Device) -> Self {
        let mut conv5_mask = ConvTranspose2dConfig::new([in_channels, dim], [2, 2])
            .with_stride([2, 2])
            .init(device);
        conv5_mask.weight = kaiming_fan_out(&conv5_mask.weight, &mut conv5_mask.bias, device);
        let mut mask_fcn_logits = Conv2dConfig::new([dim, num_classes], [1, 1]).init(device);
        mask_fcn_logits.weight =
            kaiming_fan_out(&mask_fcn_logits.weight, &mut mask_fcn_logits.bias, device);
        Self {
            conv5_mask,
            mask_fcn_logits,
        }
    }

    /// Mask logits `[K, num_classes, 2r, 2r]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.mask_fcn_logits
            .forward(relu(self.conv5_mask.forward(x)))
    }
}
