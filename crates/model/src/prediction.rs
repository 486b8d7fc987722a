//! [`Prediction`]: the detections of one image, with compact masks.
//!
//! torchvision returns each mask pasted into a full-image float map; for 100 detections on an
//! 800x1333 image that is 430 MB. A prediction keeps instead, per detection, the `M x M`
//! probabilities of its class (M = 28 by default) and its box, and pastes on demand, one mask at
//! a time, exactly as `paste_masks_in_image` does: as probabilities of the pixels the box covers
//! ([`Prediction::pasted_mask`]), as a full-image map ([`Prediction::mask_probabilities`], what
//! torchvision returns), thresholded to a bitmap of the box region ([`Prediction::mask_crop`])
//! or to the COCO RLE of the image ([`Prediction::mask_rle`]).

use crate::transform::ImageList;
use mrcnn_coco::{Detection, MaskCrop, Rle, Segmentation};
use mrcnn_config::ModelConfig;
use mrcnn_core::BoxXyxy;
use mrcnn_mask_head::{PastedMask, paste_mask_region, reframe_mask_region};
use mrcnn_roi_heads::Detections;

/// How a prediction's masks go into the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MaskPaste {
    /// torchvision's `paste_masks_in_image` of `mask_size x mask_size` masks.
    #[default]
    Torchvision,
    /// The TF OD API's `reframe_box_masks_to_image_masks` of `[height, width]` masks.
    TfOdApi {
        /// `[height, width]` of each mask.
        mask_hw: [usize; 2],
    },
}

/// Final detections of one image, in original image coordinates (parallel lists, as
/// torchvision's `boxes`, `labels`, `scores`, `masks`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prediction {
    /// `[x1, y1, x2, y2]` of each detection, in the original image's pixels.
    pub boxes: Vec<BoxXyxy>,
    /// Class of each detection, 1-based (0 is the background).
    pub labels: Vec<usize>,
    /// Class score of each detection, highest first within each class.
    pub scores: Vec<f32>,
    /// Per detection, the `mask_size x mask_size` probabilities of its class in its box's frame
    /// (row-major), before pasting.
    pub masks: Vec<Vec<f32>>,
    /// Side of each mask in `masks` (28 for torchvision's Mask R-CNN).
    pub mask_size: usize,
    /// The model's `mask_head.mask_threshold`: a pixel belongs to the object at or above it.
    pub mask_threshold: f32,
    /// The original image's height in pixels.
    pub height: usize,
    /// The original image's width in pixels.
    pub width: usize,
    /// How `masks` are pasted.
    pub paste: MaskPaste,
}

impl Prediction {
    /// The predictions of a batch: each image's detections (resized pixels) mapped back to its
    /// original size, with its masks (`mask_size` wide, pasted the `paste` way).
    pub fn of_batch(
        batch: &ImageList,
        dets: Vec<Detections>,
        masks: Vec<Vec<Vec<f32>>>,
        mask_size: usize,
        cfg: &ModelConfig,
        paste: MaskPaste,
    ) -> Vec<Prediction> {
        dets.into_iter()
            .zip(masks)
            .zip(batch.image_sizes.iter().zip(&batch.original_sizes))
            .map(|((d, masks), (r, o))| {
                let (ratio_h, ratio_w) = (o[0] as f32 / r[0] as f32, o[1] as f32 / r[1] as f32);
                Prediction {
                    boxes: d
                        .boxes
                        .iter()
                        .map(|b| mrcnn_core::boxes::rescale(b, ratio_h, ratio_w))
                        .collect(),
                    labels: d.labels,
                    scores: d.scores,
                    masks,
                    mask_size,
                    mask_threshold: cfg.mask_head.mask_threshold,
                    height: o[0],
                    width: o[1],
                    paste,
                }
            })
            .collect()
    }

    /// Number of detections.
    pub fn len(&self) -> usize {
        self.boxes.len()
    }

    /// No detection.
    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }

    /// Keeps the detections with `keep(score)` true, in order.
    pub fn retain_scores(&mut self, keep: impl Fn(f32) -> bool) {
        let kept: Vec<bool> = self.scores.iter().map(|&s| keep(s)).collect();
        let mut k = kept.iter();
        self.boxes
            .retain(|_| *k.next().expect("one flag per detection"));
        let mut k = kept.iter();
        self.labels
            .retain(|_| *k.next().expect("one flag per detection"));
        let mut k = kept.iter();
        self.masks
            .retain(|_| *k.next().expect("one flag per detection"));
        let mut k = kept.iter();
        self.scores
            .retain(|_| *k.next().expect("one flag per detection"));
    }

    /// Detection `i`'s mask pasted into the image: the probabilities of the pixels it covers.
    pub fn pasted_mask(&self, i: usize) -> PastedMask {
        match self.paste {
            MaskPaste::Torchvision => paste_mask_region(
                &self.masks[i],
                self.mask_size,
                &self.boxes[i],
                self.height,
                self.width,
            ),
            MaskPaste::TfOdApi { mask_hw } => reframe_mask_region(
                &self.masks[i],
                mask_hw,
                &self.boxes[i],
                self.height,
                self.width,
            ),
        }
    }

    /// Detection `i`'s mask as a full `height x width` map of probabilities (row-major), as
    /// torchvision returns it.
    pub fn mask_probabilities(&self, i: usize) -> Vec<f32> {
        self.pasted_mask(i).to_full(self.height, self.width)
    }

    /// Detection `i`'s binary mask (probability >= `mask_threshold`), kept in its box region.
    pub fn mask_crop(&self, i: usize) -> MaskCrop {
        let p = self.pasted_mask(i);
        MaskCrop {
            x: p.x as u32,
            y: p.y as u32,
            width: p.width as u32,
            height: p.height as u32,
            data: p
                .probs
                .iter()
                .map(|&v| u8::from(v >= self.mask_threshold))
                .collect(),
        }
    }

    /// Detection `i`'s binary mask as the COCO RLE of the image.
    pub fn mask_rle(&self, i: usize) -> Rle {
        self.mask_crop(i)
            .to_rle(self.height as u32, self.width as u32)
    }

    /// The detections as COCO results of image `image_id`: box `x, y, w, h`, score, the mask as
    /// compressed RLE, the category id `category_of(label)` (detections whose label has none are
    /// left out).
    pub fn to_coco(
        &self,
        image_id: i64,
        category_of: impl Fn(usize) -> Option<i64>,
    ) -> Vec<Detection> {
        (0..self.len())
            .filter_map(|d| {
                let category_id = category_of(self.labels[d])?;
                let b = self.boxes[d];
                Some(Detection {
                    image_id,
                    category_id,
                    score: self.scores[d] as f64,
                    bbox: Some([
                        b[0] as f64,
                        b[1] as f64,
                        (b[2] - b[0]) as f64,
                        (b[3] - b[1]) as f64,
                    ]),
                    segmentation: Some(Segmentation::Rle(self.mask_rle(d))),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Prediction {
        Prediction {
            boxes: vec![[2.0, 3.0, 12.0, 9.0], [20.0, 1.0, 30.0, 28.0]],
            labels: vec![1, 2],
            scores: vec![0.9, 0.3],
            masks: vec![
                (0..28 * 28).map(|v| (v % 28) as f32 / 27.0).collect(),
                vec![0.7; 28 * 28],
            ],
            mask_size: 28,
            mask_threshold: 0.5,
            height: 30,
            width: 40,
            paste: MaskPaste::Torchvision,
        }
    }

    #[test]
    fn compact_masks_give_the_full_maps_and_rles() {
        let p = two();
        for i in 0..p.len() {
            let full = p.mask_probabilities(i);
            let bits: Vec<u8> = full.iter().map(|&v| u8::from(v >= 0.5)).collect();
            assert_eq!(p.mask_rle(i), Rle::encode(&bits, 30, 40));
            assert_eq!(p.mask_crop(i).to_full(30, 40), bits);
        }
    }

    #[test]
    fn coco_results_and_filtering() {
        let mut p = two();
        let dets = p.to_coco(7, |l| (l == 2).then_some(18));
        assert_eq!(dets.len(), 1);
        assert_eq!(dets[0].category_id, 18);
        assert_eq!(dets[0].bbox, Some([20.0, 1.0, 10.0, 27.0]));
        p.retain_scores(|s| s >= 0.5);
        assert_eq!((p.len(), p.labels.clone(), p.masks.len()), (1, vec![1], 1));
    }
}
