//! The TensorFlow Object Detection API's single-level Mask R-CNN (`architecture = "c4"`,
//! `FasterRCNNMetaArch` with a ResNet v1 feature extractor and `number_of_stages: 3`), built
//! from the same stages as the FPN model where the maths is the same:
//!
//! 1. the input resized by `keep_aspect_ratio_resizer` (`input.resizer`), the channel means
//!    subtracted (`input.pixel_mean`, RGB 0-255);
//! 2. the ResNet up to layer3 (block3; TF-slim layout, atrous at output stride 8);
//! 3. the RPN head (its first conv `c4.rpn_conv_*`, ReLU6) on block3, grid anchors
//!    ([`TfGridAnchors`]), proposals as `_postprocess_rpn` makes them
//!    ([`tf_od_api_proposals`]);
//! 4. TensorFlow's crop-and-resize of the proposals (normalised by the padded batch size) to
//!    `c4.initial_crop_size`, a max-pool, layer4 (block4) on the crops, a global average pool,
//!    the box predictor, softmax, and the OD API's per-class NMS ([`tf_od_api_detections`]);
//! 5. the same crops of the final detections through layer4 again, the upsampling mask head
//!    (`MaskHead::upsampling`, `MaskPredictor::conv3x3`), each detection's class channel through a sigmoid; the masks are
//!    pasted the OD API's way ([`MaskPaste::TfOdApi`]).
//!
//! Module paths follow torchvision's names where there is one (`backbone.body.*`,
//! `rpn.head.*`, `roi_heads.box_predictor.*`); layer4 on the crops is `roi_heads.res5.*` (as
//! Detectron2 names its C4 head).

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use mrcnn_backbone::ResNet;
use mrcnn_backbone::resnet::{Block, head_stage};
use mrcnn_config::{Architecture, InvalidValue, ModelConfig};
use mrcnn_core::anchors::TfGridAnchors;
use mrcnn_core::crop_and_resize::{Crop, crop_and_resize};
use mrcnn_core::{BoxXyxy, host};
use mrcnn_mask_head::{MaskHead, MaskPredictor, class_mask_probs};
use mrcnn_roi_heads::postprocess::tf_od_api_detections;
use mrcnn_roi_heads::{Detections, FastRcnnPredictor};
use mrcnn_rpn::head::{RpnHead, RpnHeadShape};
use mrcnn_rpn::proposals::{ProposalParams, Proposals, tf_od_api_proposals};

use crate::prediction::{MaskPaste, Prediction};
use crate::transform::{self, ImageInput, ImageList};

/// The ResNet body (`backbone.body.*`; layer4 empty: it runs on the crops).
#[derive(Module, Debug)]
pub struct C4Backbone {
    /// Stem, layer1..layer3.
    pub body: ResNet,
}

/// The first stage's head (`rpn.head.*`).
#[derive(Module, Debug)]
pub struct C4Rpn {
    /// The first conv (ReLU6), objectness and box convs.
    pub head: RpnHead,
}

/// The second and third stages (`roi_heads.*`).
#[derive(Module, Debug)]
pub struct C4RoiHeads {
    /// layer4 (block4) on the pooled crops.
    pub res5: Vec<Block>,
    /// Class logits and per-class deltas from the pooled box features.
    pub box_predictor: FastRcnnPredictor,
    /// The mask branch's convs on the same features (upsampled first).
    pub mask_head: MaskHead,
    /// Its 3x3 predictor (a channel per class, background included).
    pub mask_predictor: MaskPredictor,
}

/// The C4 Mask R-CNN.
#[derive(Module, Debug)]
pub struct C4MaskRcnn {
    /// The ResNet body.
    pub backbone: C4Backbone,
    /// The first stage.
    pub rpn: C4Rpn,
    /// The second and third stages.
    pub roi_heads: C4RoiHeads,
    /// The architecture the model was built from (`architecture = "c4"`).
    #[module(skip)]
    pub config: ModelConfig,
}

/// The first stage's outputs for a batch.
#[derive(Debug, Clone)]
pub struct C4FirstStage {
    /// block3 `[N, C, h, w]`, the map the crops are taken from.
    pub features: Tensor<4>,
    /// `[N, h*w*A]` objectness logits (object minus background).
    pub objectness: Tensor<2>,
    /// `[N, h*w*A, 4]` box deltas `(dx, dy, dw, dh)`.
    pub deltas: Tensor<3>,
    /// The anchors of the map, location-major (`[x1, y1, x2, y2]`, padded-batch pixels).
    pub anchors: Vec<BoxXyxy>,
}

impl C4MaskRcnn {
    /// A model with freshly initialised weights.
    pub fn new(config: ModelConfig, device: &Device) -> mrcnn_core::Result<Self> {
        config.validate()?;
        if config.architecture != Architecture::C4 {
            return Err(InvalidValue::new(
                "architecture",
                "is not \"c4\": build the FPN model (MaskRcnn) from this config",
            )
            .into());
        }
        let c4 = &config.c4;
        let bb = &config.backbone;
        let outs = bb.stage_out_channels()?;
        let rpn = RpnHead::with_shape(
            RpnHeadShape {
                in_channels: outs[2],
                conv_channels: c4.rpn_conv_depth,
                kernel_size: c4.rpn_conv_kernel_size,
                dilation: c4.rpn_atrous_rate,
                relu6: true,
            },
            c4.num_anchors(),
            device,
        );
        let depth = c4.mask_conv_depth(outs[3], config.num_classes - 1);
        let dims = vec![depth; c4.mask_prediction_num_conv_layers - 1];
        let predictor_in = if dims.is_empty() { outs[3] } else { depth };
        Ok(Self {
            backbone: C4Backbone {
                body: ResNet::with_stages(bb, 3, device)?,
            },
            rpn: C4Rpn { head: rpn },
            roi_heads: C4RoiHeads {
                res5: head_stage(bb, device)?,
                box_predictor: FastRcnnPredictor::new(outs[3], config.num_classes, device),
                mask_head: MaskHead::upsampling(outs[3], &dims, c4.mask_size, device),
                mask_predictor: MaskPredictor::conv3x3(predictor_in, config.num_classes, device),
            },
            config,
        })
    }

    /// Device of the weights.
    pub fn device(&self) -> Device {
        self.backbone.body.conv1.weight.device()
    }

    /// Resize (test size: the last `min_size`), subtract the means, batch.
    pub fn transform(&self, images: &[ImageInput]) -> ImageList {
        let min = *self.config.input.min_size.last().expect("validated");
        transform::transform(images, &self.config.input, min, &self.device())
    }

    /// The grid anchors of a `[h, w]` feature map.
    pub fn anchors(&self, grid: [usize; 2]) -> Vec<BoxXyxy> {
        let c4 = &self.config.c4;
        TfGridAnchors {
            scales: c4.anchor_scales.clone(),
            aspect_ratios: c4.anchor_aspect_ratios.clone(),
            base_size: c4.anchor_base_size,
            stride: c4.anchor_stride,
            offset: c4.anchor_offset,
        }
        .generate(grid)
    }

    /// block3, the RPN head's outputs and the anchors.
    pub fn first_stage(&self, batch: &ImageList) -> C4FirstStage {
        let features = self
            .backbone
            .body
            .forward_stages(batch.tensor.clone(), 3)
            .pop()
            .expect("three stages");
        let [_, _, h, w] = features.dims();
        let (objectness, deltas) = self.rpn.head.forward(features.clone());
        C4FirstStage {
            features,
            objectness,
            deltas,
            anchors: self.anchors([h, w]),
        }
    }

    /// Proposals of each image (resized pixels).
    pub fn proposals(&self, batch: &ImageList, first: &C4FirstStage) -> Vec<Proposals> {
        let [_, _, ph, pw] = batch.tensor.dims();
        let objectness = host::to_vec(first.objectness.clone().detach());
        let deltas = host::to_vec(first.deltas.clone().detach());
        let m = first.anchors.len();
        let params = ProposalParams::from_config(&self.config.rpn, false);
        batch
            .image_sizes
            .iter()
            .enumerate()
            .map(|(i, &hw)| {
                tf_od_api_proposals(
                    &objectness[i * m..(i + 1) * m],
                    &deltas[i * m * 4..(i + 1) * m * 4],
                    &first.anchors,
                    [ph, pw],
                    hw,
                    &params,
                )
            })
            .collect()
    }

    /// The pooled crops `[K, C, r, r]` of `boxes` (per image, resized pixels): TensorFlow's
    /// crop-and-resize of the boxes divided by `frames[i]` (`[h, w]` they are normalised by),
    /// then the max-pool.
    pub fn crops(
        &self,
        features: &Tensor<4>,
        frames: &[[usize; 2]],
        boxes: &[Vec<BoxXyxy>],
    ) -> Tensor<4> {
        let crops: Vec<Crop> = boxes
            .iter()
            .zip(frames)
            .enumerate()
            .flat_map(|(i, (b, f))| {
                // `box_list_ops.to_normalized_coordinates` multiplies by the reciprocals.
                let (ry, rx) = (1.0 / f[0] as f32, 1.0 / f[1] as f32);
                b.iter()
                    .map(move |b| (i, [b[1] * ry, b[0] * rx, b[3] * ry, b[2] * rx]))
            })
            .collect();
        let c4 = &self.config.c4;
        let size = c4.initial_crop_size;
        let cropped = crop_and_resize(features.clone(), &crops, [size, size], 0.0);
        let (k, s) = (c4.maxpool_kernel_size, c4.maxpool_stride);
        max_pool2d(cropped, MaxPoolOptions::new([k, k]).with_stride([s, s]))
    }

    /// layer4 on pooled crops: the box classifier's features `[K, C, r', r']`.
    pub fn box_features(&self, pooled: Tensor<4>) -> Tensor<4> {
        let mut x = pooled;
        for block in &self.roi_heads.res5 {
            x = block.forward(x);
        }
        x
    }

    /// Class logits `[K, num_classes]` and deltas `[K, num_classes * 4]` from box features
    /// (global average pool, then the predictor).
    pub fn box_predictions(&self, features: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let [k, c, _, _] = features.dims();
        let pooled: Tensor<2> = features.mean_dim(3).mean_dim(2).reshape([k, c]);
        self.roi_heads.box_predictor.forward(pooled)
    }

    /// Detections per image (resized pixels).
    pub fn detections(
        &self,
        batch: &ImageList,
        first: &C4FirstStage,
        proposals: &[Vec<BoxXyxy>],
    ) -> Vec<Detections> {
        let [_, _, ph, pw] = batch.tensor.dims();
        if proposals.iter().all(Vec::is_empty) {
            return proposals.iter().map(|_| Detections::default()).collect();
        }
        // Proposals are normalised by the padded batch (`_postprocess_rpn`).
        let frames = vec![[ph, pw]; proposals.len()];
        let pooled = self.crops(&first.features, &frames, proposals);
        let (logits, deltas) = self.box_predictions(self.box_features(pooled));
        let probs = host::to_vec(softmax(logits, 1));
        let deltas = host::to_vec(deltas);
        let k = self.config.num_classes;
        let mut start = 0;
        proposals
            .iter()
            .zip(&batch.image_sizes)
            .map(|(p, &hw)| {
                let n = p.len();
                let d = tf_od_api_detections(
                    &probs[start * k..(start + n) * k],
                    &deltas[start * k * 4..(start + n) * k * 4],
                    p,
                    k,
                    hw,
                    &self.config.roi_heads,
                    self.config.c4.max_detections_per_class,
                );
                start += n;
                d
            })
            .collect()
    }

    /// Mask probabilities (`mask_size`, row-major) of each detection's class, per image.
    pub fn mask_probs(
        &self,
        batch: &ImageList,
        first: &C4FirstStage,
        dets: &[Detections],
    ) -> Vec<Vec<Vec<f32>>> {
        let boxes: Vec<Vec<BoxXyxy>> = dets.iter().map(|d| d.boxes.clone()).collect();
        if boxes.iter().all(Vec::is_empty) {
            return dets.iter().map(|_| Vec::new()).collect();
        }
        // Detections are normalised by the true image size (`change_coordinate_frame`), and
        // `_predict_third_stage` crops them as they are.
        let pooled = self.crops(&first.features, &batch.image_sizes, &boxes);
        let heads = &self.roi_heads;
        let logits = heads
            .mask_predictor
            .forward(heads.mask_head.forward(self.box_features(pooled)));
        // Channel `label` (the predictor has the background's channel too).
        let labels: Vec<Vec<usize>> = dets.iter().map(|d| d.labels.clone()).collect();
        class_mask_probs(logits, &labels)
    }

    /// Full inference on a batch of images.
    pub fn predict(&self, images: &[ImageInput]) -> Vec<Prediction> {
        if images.is_empty() {
            return Vec::new();
        }
        let batch = self.transform(images);
        let first = self.first_stage(&batch);
        let proposals: Vec<Vec<BoxXyxy>> = self
            .proposals(&batch, &first)
            .into_iter()
            .map(|p| p.boxes)
            .collect();
        let dets = self.detections(&batch, &first, &proposals);
        let masks = self.mask_probs(&batch, &first, &dets);
        let mask_hw = self.config.c4.mask_size;
        let paste = MaskPaste::TfOdApi { mask_hw };
        Prediction::of_batch(&batch, dets, masks, mask_hw[0], &self.config, paste)
    }
}
