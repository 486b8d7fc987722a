//! The assembled model. Inference runs the stages in torchvision's order; each stage is a
//! public method so the parity tests can compare them one by one.

use crate::transform::{self, ImageInput, ImageList};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, softmax};
use mrcnn_backbone::BackboneWithFpn;
use mrcnn_core::roi_align::Roi;
use mrcnn_core::{BoxXyxy, ModelConfig, boxes, host, poolers};
use mrcnn_mask_head::{MaskHead, MaskPredictor, paste_masks_in_image};
use mrcnn_roi_heads::{Detections, FastRcnnPredictor, TwoMlpHead, postprocess_detections};
use mrcnn_rpn::{Proposals, Rpn, RpnOutput, proposals_from_output};

/// Box and mask branches (torchvision names: `roi_heads.box_head`, `.box_predictor`,
/// `.mask_head`, `.mask_predictor`).
#[derive(Module, Debug)]
pub struct RoiHeads {
    pub box_head: TwoMlpHead,
    pub box_predictor: FastRcnnPredictor,
    pub mask_head: MaskHead,
    pub mask_predictor: MaskPredictor,
}

/// Mask R-CNN (module paths follow torchvision's state-dict names).
#[derive(Module, Debug)]
pub struct MaskRcnn {
    pub backbone: BackboneWithFpn,
    pub rpn: Rpn,
    pub roi_heads: RoiHeads,
    #[module(skip)]
    pub config: ModelConfig,
}

/// Final detections of one image, in original image coordinates.
#[derive(Debug, Clone, Default)]
pub struct Prediction {
    pub boxes: Vec<BoxXyxy>,
    pub labels: Vec<usize>,
    pub scores: Vec<f32>,
    /// Per detection, the pasted mask probabilities, row-major `height x width`.
    pub masks: Vec<Vec<f32>>,
    pub height: usize,
    pub width: usize,
}

/// Outputs of the box branch for a batch of proposals.
#[derive(Debug, Clone)]
pub struct BoxOutput {
    /// `[K, num_classes]` logits.
    pub class_logits: Tensor<2>,
    /// `[K, num_classes * 4]` deltas.
    pub box_regression: Tensor<2>,
}

impl MaskRcnn {
    /// A model with freshly initialised weights.
    pub fn new(config: ModelConfig, device: &Device) -> mrcnn_core::Result<Self> {
        config.validate()?;
        let c = config.fpn.out_channels;
        let rh = &config.roi_heads;
        let mh = &config.mask_head;
        let r = rh.pooler_resolution;
        let roi_heads = RoiHeads {
            box_head: TwoMlpHead::new(c * r * r, rh.representation_size, device),
            box_predictor: FastRcnnPredictor::new(
                rh.representation_size,
                config.num_classes,
                device,
            ),
            mask_head: MaskHead::new(c, &mh.conv_dims, mh.dilation, device),
            mask_predictor: MaskPredictor::new(
                *mh.conv_dims.last().expect("validated: non-empty"),
                mh.predictor_dim,
                config.num_classes,
                device,
            ),
        };
        Ok(Self {
            backbone: BackboneWithFpn::new(&config, device)?,
            rpn: Rpn::new(c, &config.anchors, device),
            roi_heads,
            config,
        })
    }

    /// Device of the weights.
    pub fn device(&self) -> Device {
        self.backbone.body.conv1.weight.device()
    }

    /// Normalise, resize (test size: the last `min_size`) and batch.
    pub fn transform(&self, images: &[ImageInput]) -> ImageList {
        let min = *self
            .config
            .input
            .min_size
            .last()
            .expect("validated: non-empty");
        transform::transform(images, &self.config.input, min, &self.device())
    }

    /// P2..P6.
    pub fn features(&self, batch: &ImageList) -> Vec<Tensor<4>> {
        self.backbone.forward(batch.tensor.clone())
    }

    /// RPN head outputs and anchors.
    pub fn rpn_output(&self, batch: &ImageList, features: &[Tensor<4>]) -> RpnOutput {
        let [_, _, h, w] = batch.tensor.dims();
        self.rpn.forward(features, [h, w], &self.config.anchors)
    }

    /// Proposals per image.
    pub fn proposals(&self, batch: &ImageList, rpn: &RpnOutput, training: bool) -> Vec<Proposals> {
        proposals_from_output(rpn, &batch.image_sizes, &self.config.rpn, training)
    }

    /// Box branch on the concatenated boxes of all images (`rois` carry the image index).
    pub fn box_branch(&self, features: &[Tensor<4>], rois: &[Roi]) -> BoxOutput {
        let pooled = poolers::multiscale_roi_align(
            &features[..4],
            rois,
            self.config.roi_heads.pooler_resolution,
            &self.config.roi_heads.pooler,
        );
        let x = self.roi_heads.box_head.forward(pooled);
        let (class_logits, box_regression) = self.roi_heads.box_predictor.forward(x);
        BoxOutput {
            class_logits,
            box_regression,
        }
    }

    /// Mask logits `[K, num_classes, 2r, 2r]` for `rois`.
    pub fn mask_logits(&self, features: &[Tensor<4>], rois: &[Roi]) -> Tensor<4> {
        let pooled = poolers::multiscale_roi_align(
            &features[..4],
            rois,
            self.config.mask_head.pooler_resolution,
            &self.config.mask_head.pooler,
        );
        let x = self.roi_heads.mask_head.forward(pooled);
        self.roi_heads.mask_predictor.forward(x)
    }

    /// Detections per image (resized coordinates) from the box branch outputs.
    pub fn detections(
        &self,
        batch: &ImageList,
        proposals: &[Proposals],
        out: &BoxOutput,
    ) -> Vec<Detections> {
        let k = self.config.num_classes;
        let probs = host::to_vec(softmax(out.class_logits.clone(), 1));
        let deltas = host::to_vec(out.box_regression.clone());
        let mut start = 0;
        proposals
            .iter()
            .zip(&batch.image_sizes)
            .map(|(p, &hw)| {
                let n = p.boxes.len();
                let d = postprocess_detections(
                    &probs[start * k..(start + n) * k],
                    &deltas[start * k * 4..(start + n) * k * 4],
                    &p.boxes,
                    k,
                    hw,
                    &self.config.roi_heads,
                    self.config.rpn.bbox_xform_clip,
                );
                start += n;
                d
            })
            .collect()
    }

    /// Mask probabilities `m x m` of each detection's class, per image.
    pub fn mask_probs(&self, features: &[Tensor<4>], dets: &[Detections]) -> Vec<Vec<Vec<f32>>> {
        let rois: Vec<Roi> = dets
            .iter()
            .enumerate()
            .flat_map(|(i, d)| d.boxes.iter().map(move |b| (i, *b)))
            .collect();
        if rois.is_empty() {
            return dets.iter().map(|_| Vec::new()).collect();
        }
        let logits = self.mask_logits(features, &rois);
        let [n, c, m, _] = logits.dims();
        let labels: Vec<usize> = dets.iter().flat_map(|d| d.labels.iter().copied()).collect();
        // Pick each detection's class channel: row r, channel labels[r].
        let flat_idx: Vec<usize> = labels.iter().enumerate().map(|(r, &l)| r * c + l).collect();
        let picked = logits
            .reshape([n * c, m * m])
            .select(0, host::indices(&flat_idx, &self.device()));
        let probs = host::to_vec(sigmoid(picked));
        let mut it = probs.chunks_exact(m * m).map(<[f32]>::to_vec);
        dets.iter()
            .map(|d| it.by_ref().take(d.len()).collect())
            .collect()
    }

    /// Maps detections back to the original images and pastes their masks.
    pub fn postprocess(
        &self,
        batch: &ImageList,
        dets: Vec<Detections>,
        masks: Vec<Vec<Vec<f32>>>,
    ) -> Vec<Prediction> {
        let m = 2 * self.config.mask_head.pooler_resolution;
        dets.into_iter()
            .zip(masks)
            .zip(batch.image_sizes.iter().zip(&batch.original_sizes))
            .map(|((d, mk), (r, o))| {
                let ratio_h = o[0] as f32 / r[0] as f32;
                let ratio_w = o[1] as f32 / r[1] as f32;
                let bxs: Vec<BoxXyxy> = d
                    .boxes
                    .iter()
                    .map(|b| boxes::rescale(b, ratio_h, ratio_w))
                    .collect();
                let masks = paste_masks_in_image(&mk, m, &bxs, o[0], o[1]);
                Prediction {
                    boxes: bxs,
                    labels: d.labels,
                    scores: d.scores,
                    masks,
                    height: o[0],
                    width: o[1],
                }
            })
            .collect()
    }

    /// Full inference on a batch of images.
    pub fn predict(&self, images: &[ImageInput]) -> Vec<Prediction> {
        if images.is_empty() {
            return Vec::new();
        }
        let batch = self.transform(images);
        let features = self.features(&batch);
        let rpn = self.rpn_output(&batch, &features);
        let proposals = self.proposals(&batch, &rpn, false);
        let rois = rois_of(&proposals);
        let dets = if rois.is_empty() {
            proposals.iter().map(|_| Detections::default()).collect()
        } else {
            let out = self.box_branch(&features, &rois);
            self.detections(&batch, &proposals, &out)
        };
        let masks = self.mask_probs(&features, &dets);
        self.postprocess(&batch, dets, masks)
    }
}

/// The proposals of all images as `(image index, box)` rows.
pub fn rois_of(proposals: &[Proposals]) -> Vec<Roi> {
    proposals
        .iter()
        .enumerate()
        .flat_map(|(i, p)| p.boxes.iter().map(move |b| (i, *b)))
        .collect()
}
