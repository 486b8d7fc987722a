//! Training the C4 model with the TensorFlow Object Detection API's semantics
//! (`FasterRCNNMetaArch.loss` of its v2.8.0, `number_of_stages: 3`), giving the same five
//! losses as the FPN model ([`Losses`], weighted):
//!
//! 1. **First stage.** Only the anchors lying fully inside the padded image take part
//!    (`_remove_invalid_anchors_and_predictions`). Each is matched to the ground truth by the
//!    OD API's `ArgMaxMatcher` (IoU `>= rpn.fg_iou_thresh` object, `< rpn.bg_iou_thresh`
//!    background, each gt forced onto its single best anchor), `c4.first_stage_minibatch_size`
//!    of them sampled with `c4.first_stage_positive_balance_fraction` positives. Objectness is the
//!    two-way softmax cross-entropy (the binary cross-entropy of the one logit here) of the
//!    sampled anchors, box regression the smooth L1 (Huber, delta 1) of the positives' codes;
//!    both summed and divided by the number of sampled anchors, averaged over the images, times
//!    `c4.first_stage_{objectness,localization}_loss_weight`.
//! 2. **Proposals** as at inference but from the kept anchors and with `rpn.post_nms_top_n_train`
//!    (`first_stage_max_proposals`); no gradient flows through them, and the ground truth is
//!    not added to them.
//! 3. **Second stage.** Proposals matched at `roi_heads.fg_iou_thresh` (no forcing), sampled
//!    (`c4.second_stage_batch_size`, `c4.second_stage_balance_fraction`) in their order, cropped,
//!    max-pooled, through block4 and the predictor. Softmax cross-entropy of every sampled
//!    proposal and smooth L1 of the positives' codes of their class, each divided by the
//!    image's sampled count times the batch size, summed; times the loss weights.
//! 4. **Masks** on the same box features (at training the mask head sees the sampled
//!    proposals): the matched gt mask cropped with `crop_and_resize` to the mask size (a soft
//!    target), sigmoid cross-entropy of the positives' class channel, divided by positives x
//!    mask pixels over the batch, times `c4.second_stage_mask_prediction_loss_weight`.
//!
//! Differences from torchvision's training (`training.rs`): the matcher's forcing rule, the
//! anchors pruned instead of all kept, no pre-NMS top-n, no gt boxes among the proposals, the
//! 10/10/5/5 box coder in the first stage, the normalisers and the soft mask targets.

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use mrcnn_core::box_coder::BoxCoder;
use mrcnn_core::crop_and_resize::{Crop, crop_and_resize};
use mrcnn_core::losses::{bce_with_logits_mean, cross_entropy_mean, smooth_l1_sum};
use mrcnn_core::matcher::tf_argmax_match;
use mrcnn_core::rand::Rng;
use mrcnn_core::sampler::BalancedPositiveNegativeSampler;
use mrcnn_core::{BoxXyxy, ResizedTarget, Result, boxes, host};
use mrcnn_rpn::proposals::{ProposalParams, tf_od_api_proposals};

use crate::c4::C4MaskRcnn;
use crate::targets::TrainTarget;
use crate::training::{Losses, choose_train_min_size, transform_train};
use crate::transform::{ImageInput, ImageList};

/// Sampler labels from matches: object `1`, background `0`, ignored `-1`.
fn labels(matches: &[i64]) -> Vec<i64> {
    matches
        .iter()
        .map(|&m| match m {
            m if m >= 0 => 1,
            -1 => 0,
            _ => -1,
        })
        .collect()
}

/// The encoded gt of each listed prediction, flattened `(dx, dy, dw, dh)`.
fn regression_targets(
    coder: &BoxCoder,
    rows: &[usize],
    matches: &[i64],
    gt: &[BoxXyxy],
    refs: &[BoxXyxy],
) -> Vec<f32> {
    rows.iter()
        .flat_map(|&r| coder.encode(&gt[matches[r] as usize], &refs[r]))
        .collect()
}

fn zero(device: &Device) -> Tensor<1> {
    Tensor::zeros([1], device)
}

impl C4MaskRcnn {
    /// The box coder of a stage (`FasterRcnnBoxCoder` with the stage's scale factors).
    fn tf_coder(weights: [f32; 4]) -> BoxCoder {
        BoxCoder {
            weights,
            ..BoxCoder::tf_od_api(None)
        }
    }

    /// The five losses of a training batch (images and targets in their original pixels);
    /// `rng` picks the training size and drives the samplers.
    pub fn forward_train<R: Rng + ?Sized>(
        &self,
        images: &[ImageInput],
        targets: &[TrainTarget],
        rng: &mut R,
    ) -> Result<Losses> {
        let min_size = choose_train_min_size(&self.config, rng);
        let (batch, targets) =
            transform_train(&self.config, &self.device(), images, targets, min_size)?;
        self.forward_train_batch(&batch, &targets, rng)
    }

    /// The five losses of an already transformed batch (targets in the batch's pixels);
    /// `rng` drives the two samplers.
    pub fn forward_train_batch<R: Rng + ?Sized>(
        &self,
        batch: &ImageList,
        targets: &[ResizedTarget],
        rng: &mut R,
    ) -> Result<Losses> {
        let cfg = &self.config;
        let c4 = &cfg.c4;
        let dev = self.device();
        let first = self.first_stage(batch);
        let [n, _, ph, pw] = batch.tensor.dims();
        let (phf, pwf) = (ph as f32, pw as f32);
        let kept: Vec<usize> = (0..first.anchors.len())
            .filter(|&i| {
                let a = first.anchors[i];
                a[0] >= 0.0 && a[1] >= 0.0 && a[2] <= pwf && a[3] <= phf
            })
            .collect();
        let anchors: Vec<BoxXyxy> = kept.iter().map(|&i| first.anchors[i]).collect();
        let k = kept.len();
        let kept_idx = host::indices(&kept, &dev);
        let objectness = first.objectness.clone().select(1, kept_idx.clone());
        let deltas = first.deltas.clone().select(1, kept_idx);

        // First stage.
        let rpn_coder = Self::tf_coder(cfg.rpn.bbox_reg_weights);
        let sampler = BalancedPositiveNegativeSampler::new(
            c4.first_stage_minibatch_size,
            c4.first_stage_positive_balance_fraction,
        );
        let (mut obj_loss, mut loc_loss) = (zero(&dev), zero(&dev));
        for (i, t) in targets.iter().enumerate() {
            let iou = boxes::iou_matrix(&t.boxes, &anchors);
            let m = tf_argmax_match(&iou, k, cfg.rpn.fg_iou_thresh, cfg.rpn.bg_iou_thresh, true);
            let s = sampler.sample(&labels(&m), rng);
            let sampled = s.all_sorted();
            let normalizer = sampled.len().max(1) as f32;
            if !sampled.is_empty() {
                let logits = objectness
                    .clone()
                    .slice([i..i + 1, 0..k])
                    .reshape([k])
                    .select(0, host::indices(&sampled, &dev));
                let y: Vec<f32> = sampled.iter().map(|&r| f32::from(m[r] >= 0)).collect();
                let y = host::tensor(y, [sampled.len()], &dev);
                obj_loss = obj_loss
                    + bce_with_logits_mean(logits, y) * (sampled.len() as f32 / normalizer);
            }
            if !s.positives.is_empty() {
                let p = s.positives.len();
                let pred = deltas
                    .clone()
                    .slice([i..i + 1, 0..k, 0..4])
                    .reshape([k, 4])
                    .select(0, host::indices(&s.positives, &dev));
                let tgt = regression_targets(&rpn_coder, &s.positives, &m, &t.boxes, &anchors);
                let tgt = host::tensor(tgt, [p, 4], &dev);
                loc_loss = loc_loss + smooth_l1_sum(pred, tgt, 1.0) / normalizer;
            }
        }
        let images = n as f32;
        let objectness_loss = obj_loss * (c4.first_stage_objectness_loss_weight / images);
        let rpn_box_loss = loc_loss * (c4.first_stage_localization_loss_weight / images);

        // Proposals (no gradient) and the second stage's sample of them.
        let obj_host = host::to_vec(objectness.detach());
        let del_host = host::to_vec(deltas.detach());
        let params = ProposalParams::from_config(&cfg.rpn, true);
        let sampler = BalancedPositiveNegativeSampler::new(
            c4.second_stage_batch_size,
            c4.second_stage_balance_fraction,
        );
        let mut sampled_boxes = Vec::with_capacity(n);
        let mut sampled_matches = Vec::with_capacity(n);
        for (i, t) in targets.iter().enumerate() {
            let props = tf_od_api_proposals(
                &obj_host[i * k..(i + 1) * k],
                &del_host[i * k * 4..(i + 1) * k * 4],
                &anchors,
                [ph, pw],
                batch.image_sizes[i],
                &params,
            )
            .boxes;
            let m = tf_argmax_match(
                &boxes::iou_matrix(&t.boxes, &props),
                props.len(),
                cfg.roi_heads.fg_iou_thresh,
                cfg.roi_heads.bg_iou_thresh,
                false,
            );
            let chosen = sampler.sample(&labels(&m), rng).all_sorted();
            sampled_boxes.push(chosen.iter().map(|&r| props[r]).collect::<Vec<_>>());
            sampled_matches.push(chosen.iter().map(|&r| m[r]).collect::<Vec<_>>());
        }

        // Second stage on the samples.
        let total: usize = sampled_boxes.iter().map(Vec::len).sum();
        if total == 0 {
            let z = zero(&dev);
            return Ok(Losses {
                objectness: objectness_loss,
                rpn_box_reg: rpn_box_loss,
                classifier: z.clone(),
                box_reg: z.clone(),
                mask: z,
            });
        }
        let frames = vec![[ph, pw]; n];
        let features = self.box_features(self.crops(&first.features, &frames, &sampled_boxes));
        let heads = &self.roi_heads;
        let mask_logits = heads
            .mask_predictor
            .forward(heads.mask_head.forward(features.clone()));
        let (logits, codes) = self.box_predictions(features);
        let classes = cfg.num_classes;
        let box_coder = Self::tf_coder(cfg.roi_heads.bbox_reg_weights);
        let [_, _, mh, mw] = mask_logits.dims();
        let (mut cls_loss, mut box_loss) = (zero(&dev), zero(&dev));
        let mut mask_rows = Vec::new();
        let mut mask_crops: Vec<Crop> = Vec::new();
        let mut gt_masks: Vec<f32> = Vec::new();
        let mut gt_count = 0;
        let mut start = 0;
        for (i, t) in targets.iter().enumerate() {
            let (props, m) = (&sampled_boxes[i], &sampled_matches[i]);
            let count = props.len();
            let normalizer = count.max(1) as f32 * images;
            if count > 0 {
                let rows = start..start + count;
                let y: Vec<usize> = m
                    .iter()
                    .map(|&g| if g >= 0 { t.labels[g as usize] } else { 0 })
                    .collect();
                let l = logits.clone().slice([rows.clone(), 0..classes]);
                cls_loss = cls_loss + cross_entropy_mean(l, &y) * (count as f32 / normalizer);
                let pos: Vec<usize> = (0..count).filter(|&r| m[r] >= 0).collect();
                if !pos.is_empty() {
                    // Each positive's codes of its gt class: flat rows `r * classes + label`.
                    let flat: Vec<usize> =
                        pos.iter().map(|&r| (start + r) * classes + y[r]).collect();
                    let pred = codes
                        .clone()
                        .reshape([total * classes, 4])
                        .select(0, host::indices(&flat, &dev));
                    let tgt = regression_targets(&box_coder, &pos, m, &t.boxes, props);
                    let tgt = host::tensor(tgt, [pos.len(), 4], &dev);
                    box_loss = box_loss + smooth_l1_sum(pred, tgt, 1.0) / normalizer;
                    for &r in &pos {
                        mask_rows.push((start + r) * classes + y[r]);
                        let b = props[r];
                        let g = gt_count + m[r] as usize;
                        mask_crops.push((g, [b[1] / phf, b[0] / pwf, b[3] / phf, b[2] / pwf]));
                    }
                }
            }
            // The image's gt masks on the padded batch frame, as floats.
            let [h, w] = [t.height, t.width];
            for mask in &t.masks {
                let mut full = vec![0.0f32; ph * pw];
                for y in 0..h.min(ph) {
                    for x in 0..w.min(pw) {
                        full[y * pw + x] = f32::from(mask[y * w + x]);
                    }
                }
                gt_masks.extend(full);
            }
            gt_count += t.masks.len();
            start += count;
        }
        let classifier = cls_loss * c4.second_stage_classification_loss_weight;
        let box_reg = box_loss * c4.second_stage_localization_loss_weight;
        let mask = if mask_rows.is_empty() {
            zero(&dev)
        } else {
            let p = mask_rows.len();
            let gt = host::tensor(gt_masks, [gt_count, 1, ph, pw], &dev);
            let target = crop_and_resize(gt, &mask_crops, [mh, mw], 0.0)
                .reshape([p, mh * mw])
                .detach();
            let x = mask_logits
                .reshape([total * classes, mh * mw])
                .select(0, host::indices(&mask_rows, &dev));
            // Sigmoid cross-entropy summed, over positives x mask pixels.
            let per = (target.ones_like() - target) * x.clone() - log_sigmoid(x);
            per.sum() * (c4.second_stage_mask_prediction_loss_weight / (p * mh * mw) as f32)
        };
        Ok(Losses {
            objectness: objectness_loss,
            rpn_box_reg: rpn_box_loss,
            classifier,
            box_reg,
            mask,
        })
    }
}
