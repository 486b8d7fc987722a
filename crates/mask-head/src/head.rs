//! `MaskRCNNHeads` and `MaskRCNNPredictor`, and the TensorFlow Object Detection API's C4 mask
//! branch built from the same parts (`MaskRCNNMaskHead` with `convolve_then_upsample = False`):
//! the features resized bilinearly with aligned corners to the mask size first
//! ([`MaskHead::upsampling`]), then 3x3 convs with ReLU, then a 3x3 predictor without the
//! transposed conv ([`MaskPredictor::conv3x3`]).

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{Initializer, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use mrcnn_core::activation::relu;
use mrcnn_core::conv::{conv_transpose2d, conv2d};
use mrcnn_core::host;

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

/// The `[n, 2]`-tap rows of aligned-corners bilinear resampling from `from` to `to` samples
/// (`src = i * (from - 1) / (to - 1)`, TensorFlow's `resize_bilinear(align_corners=True)`), as a
/// `[to, from]` matrix.
fn aligned_corners_matrix(from: usize, to: usize) -> Vec<f32> {
    let mut m = vec![0.0f32; to * from];
    let scale = if to > 1 {
        (from - 1) as f32 / (to - 1) as f32
    } else {
        0.0
    };
    for i in 0..to {
        let src = i as f32 * scale;
        let lo = (src.floor() as usize).min(from - 1);
        let hi = (lo + 1).min(from - 1);
        let f = src - lo as f32;
        m[i * from + lo] += 1.0 - f;
        m[i * from + hi] += f;
    }
    m
}

/// Bilinear resize with aligned corners of `[K, C, h, w]` to `size`, as two matrix products
/// (`R_y X R_x^T`). Burn's `interpolate` computes the same values, but its bilinear backward is
/// missing on the wgpu backend (burn-cubecl 0.22.1 "Bilinear interpolation backward is not
/// supported"); matrix products have a backward everywhere.
pub fn resize_aligned_corners(x: Tensor<4>, size: [usize; 2]) -> Tensor<4> {
    let [k, c, h, w] = x.dims();
    let [oh, ow] = size;
    let device = x.device();
    // Two plain matrix products over all rows at once (a batched product of K*C tiny matrices
    // costs more in dispatch than in arithmetic): columns first, then rows.
    let rxt: Tensor<2> = host::tensor(aligned_corners_matrix(w, ow), [ow, w], &device).transpose();
    let ryt: Tensor<2> = host::tensor(aligned_corners_matrix(h, oh), [oh, h], &device).transpose();
    let cols = x.reshape([k * c * h, w]).matmul(rxt); // [K*C*h, ow]
    let t = cols
        .reshape([k * c, h, ow])
        .swap_dims(1, 2)
        .reshape([k * c * ow, h]);
    let rows = t.matmul(ryt); // [K*C*ow, oh]
    rows.reshape([k * c, ow, oh])
        .swap_dims(1, 2)
        .reshape([k, c, oh, ow])
}

#[derive(Module, Debug)]
pub struct MaskHead {
    pub convs: Vec<Conv2d>,
    /// `[height, width]` the input is first resized to (0: not resized).
    pub upsample_height: usize,
    pub upsample_width: usize,
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
        Self {
            convs,
            upsample_height: 0,
            upsample_width: 0,
        }
    }

    /// The OD API's C4 head: resize to `size` (bilinear, aligned corners:
    /// [`resize_aligned_corners`]), then the convs.
    pub fn upsampling(
        in_channels: usize,
        dims: &[usize],
        size: [usize; 2],
        device: &Device,
    ) -> Self {
        Self {
            upsample_height: size[0],
            upsample_width: size[1],
            ..Self::new(in_channels, dims, 1, device)
        }
    }

    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        if self.upsample_height > 0 {
            x = resize_aligned_corners(x, [self.upsample_height, self.upsample_width]);
        }
        for c in &self.convs {
            x = relu(conv2d(c, x));
        }
        x
    }
}

#[derive(Module, Debug)]
pub struct MaskPredictor {
    /// The 2x2 transposed conv (torchvision); none in the OD API's C4 head.
    pub conv5_mask: Option<ConvTranspose2d>,
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
            conv5_mask: Some(conv5_mask),
            mask_fcn_logits,
        }
    }

    /// The OD API's C4 predictor: one 3x3 conv, no activation (a channel per class, the
    /// background's included so the class layout is torchvision's).
    pub fn conv3x3(in_channels: usize, num_classes: usize, device: &Device) -> Self {
        Self {
            conv5_mask: None,
            mask_fcn_logits: Conv2dConfig::new([in_channels, num_classes], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
        }
    }

    /// Mask logits `[K, num_classes, 2r, 2r]` (`[K, num_classes, r, r]` for the C4 head).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = match &self.conv5_mask {
            Some(up) => relu(conv_transpose2d(up, x)),
            None => x,
        };
        conv2d(&self.mask_fcn_logits, x)
    }
}

/// Each detection's mask probabilities from the mask logits `[K, classes, h, w]` of the
/// detections of all images in order: the sigmoid of channel `labels[i][j]` of row
/// `sum(earlier images) + j`, row-major `h x w`, grouped per image.
pub fn class_mask_probs(logits: Tensor<4>, labels: &[Vec<usize>]) -> Vec<Vec<Vec<f32>>> {
    let [n, c, h, w] = logits.dims();
    let flat: Vec<usize> = labels
        .iter()
        .flatten()
        .enumerate()
        .map(|(r, &l)| r * c + l)
        .collect();
    let device = logits.device();
    let picked = logits
        .reshape([n * c, h * w])
        .select(0, host::indices(&flat, &device));
    let probs = host::to_vec(sigmoid(picked));
    let mut it = probs.chunks_exact(h * w).map(<[f32]>::to_vec);
    labels
        .iter()
        .map(|l| it.by_ref().take(l.len()).collect())
        .collect()
}
