//! The region proposal network: a shared 3x3 conv head predicting objectness and box deltas for
//! every anchor, and the proposal filter (top-n per level, decoding, clipping, small-box removal,
//! per-level NMS, top-n per image).

pub mod head;
pub mod loss;
pub mod proposals;

use burn::prelude::*;
use mrcnn_config::{AnchorConfig, RpnConfig};
use mrcnn_core::{BoxXyxy, anchors, host};

pub use head::RpnHead;
pub use proposals::{ProposalParams, Proposals, filter_proposals};

/// The RPN module (torchvision names: `rpn.head.*`).
#[derive(Module, Debug)]
pub struct Rpn {
    pub head: RpnHead,
}

/// Raw RPN outputs of a batch, flattened in anchor order, kept on the device for the losses.
#[derive(Debug, Clone)]
pub struct RpnOutput {
    /// Per level `[N, H*W*A]` objectness logits.
    pub objectness: Vec<Tensor<2>>,
    /// Per level `[N, H*W*A, 4]` box deltas.
    pub deltas: Vec<Tensor<3>>,
    /// Per level anchors (the same for every image of the batch).
    pub anchors: Vec<Vec<BoxXyxy>>,
}

impl Rpn {
    pub fn new(in_channels: usize, anchors: &AnchorConfig, device: &Device) -> Self {
        Self {
            head: RpnHead::new(in_channels, anchors.num_anchors(), device),
        }
    }

    /// Runs the head on every level and builds the anchors for the padded batch `[h, w]`.
    pub fn forward(
        &self,
        features: &[Tensor<4>],
        batch_hw: [usize; 2],
        anchor_cfg: &AnchorConfig,
    ) -> RpnOutput {
        let mut objectness = Vec::with_capacity(features.len());
        let mut deltas = Vec::with_capacity(features.len());
        let mut grids = Vec::with_capacity(features.len());
        for f in features {
            let [_, _, h, w] = f.dims();
            grids.push([h, w]);
            let (o, d) = self.head.forward(f.clone());
            objectness.push(o);
            deltas.push(d);
        }
        let anchors = anchors::anchors_per_level(anchor_cfg, batch_hw, &grids);
        RpnOutput {
            objectness,
            deltas,
            anchors,
        }
    }
}

/// Proposals for each image of the batch (detached), from the RPN outputs.
pub fn proposals_from_output(
    out: &RpnOutput,
    image_sizes: &[[usize; 2]],
    cfg: &RpnConfig,
    training: bool,
) -> Vec<Proposals> {
    let n = image_sizes.len();
    let objectness: Vec<Vec<f32>> = out
        .objectness
        .iter()
        .map(|t| host::to_vec(t.clone().detach()))
        .collect();
    let deltas: Vec<Vec<f32>> = out
        .deltas
        .iter()
        .map(|t| host::to_vec(t.clone().detach()))
        .collect();
    let params = ProposalParams::from_config(cfg, training);
    (0..n)
        .map(|i| {
            let per_level: Vec<(&[f32], &[f32])> = objectness
                .iter()
                .zip(&deltas)
                .zip(&out.anchors)
                .map(|((o, d), a)| {
                    let m = a.len();
                    (&o[i * m..(i + 1) * m], &d[i * m * 4..(i + 1) * m * 4])
                })
                .collect();
            filter_proposals(&per_level, &out.anchors, image_sizes[i], &params)
        })
        .collect()
}
