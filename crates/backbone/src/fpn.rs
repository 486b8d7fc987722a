//! Feature pyramid network (torchvision's `FeaturePyramidNetwork` + `LastLevelMaxPool`):
//! 1x1 lateral convs (`inner_blocks`), nearest top-down upsampling to the lateral's size, 3x3
//! output convs (`layer_blocks`), and P6 as a 1x1 max-pool with stride 2 of P5.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::prelude::*;
use burn::tensor::module::{interpolate, max_pool2d};
use burn::tensor::ops::{InterpolateMode, InterpolateOptions, MaxPoolOptions};
use mrcnn_core::conv::conv2d;

#[derive(Module, Debug)]
pub struct Fpn {
    pub inner_blocks: Vec<Conv2d>,
    pub layer_blocks: Vec<Conv2d>,
}

impl Fpn {
    pub fn new(in_channels: &[usize], out: usize, device: &Device) -> Self {
        let inner_blocks = in_channels
            .iter()
            .map(|&c| Conv2dConfig::new([c, out], [1, 1]).init(device))
            .collect();
        let layer_blocks = in_channels
            .iter()
            .map(|_| {
                Conv2dConfig::new([out, out], [3, 3])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device)
            })
            .collect();
        Self {
            inner_blocks,
            layer_blocks,
        }
    }

    /// From C2..C5 to P2..P6.
    pub fn forward(&self, c: Vec<Tensor<4>>) -> Vec<Tensor<4>> {
        let n = c.len();
        let mut results = Vec::with_capacity(n + 1);
        let mut last_inner = conv2d(&self.inner_blocks[n - 1], c[n - 1].clone());
        results.push(conv2d(&self.layer_blocks[n - 1], last_inner.clone()));
        for i in (0..n - 1).rev() {
            let lateral = conv2d(&self.inner_blocks[i], c[i].clone());
            let [_, _, h, w] = lateral.dims();
            let top_down = interpolate(
                last_inner,
                InterpolateOptions::new(InterpolateMode::Nearest).with_output_size([h, w]),
            );
            last_inner = lateral + top_down;
            results.push(conv2d(&self.layer_blocks[i], last_inner.clone()));
        }
        results.reverse();
        let p6 = max_pool2d(
            results[n - 1].clone(),
            MaxPoolOptions::new([1, 1]).with_stride([2, 2]),
        );
        results.push(p6);
        results
    }
}
