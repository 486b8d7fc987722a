//! `TwoMLPHead` (flatten, fc6 + ReLU, fc7 + ReLU) and `FastRCNNPredictor` (class logits and
//! per-class box deltas, background = class 0).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use mrcnn_core::activation::relu;

#[derive(Module, Debug)]
pub struct TwoMlpHead {
    pub fc6: Linear,
    pub fc7: Linear,
}

impl TwoMlpHead {
    pub fn new(in_features: usize, representation: usize, device: &Device) -> Self {
        Self {
            fc6: LinearConfig::new(in_features, representation).init(device),
            fc7: LinearConfig::new(representation, representation).init(device),
        }
    }

    /// `[K, C, r, r]` pooled features to `[K, representation]`.
    pub fn forward(&self, pooled: Tensor<4>) -> Tensor<2> {
        let x: Tensor<2> = pooled.flatten(1, 3);
        relu(self.fc7.forward(relu(self.fc6.forward(x))))
    }
}

#[derive(Module, Debug)]
pub struct FastRcnnPredictor {
    pub cls_score: Linear,
    pub bbox_pred: Linear,
}

impl FastRcnnPredictor {
    pub fn new(in_features: usize, num_classes: usize, device: &Device) -> Self {
        Self {
            cls_score: LinearConfig::new(in_features, num_classes).init(device),
            bbox_pred: LinearConfig::new(in_features, num_classes * 4).init(device),
        }
    }

    /// Class logits `[K, num_classes]` and box deltas `[K, num_classes * 4]`.
    pub fn forward(&self, x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        (self.cls_score.forward(x.clone()), self.bbox_pred.forward(x))
    }
}
