//! Training samples of the ROI heads (torchvision's `RoIHeads.select_training_samples`), on the
//! host: the gt boxes are appended to each image's proposals (`add_gt_proposals`), every proposal
//! is matched to the gt (Matcher fg/bg thresholds, no low-quality matches), labelled with its
//! gt's class (0 below the low threshold, ignored between the thresholds), a balanced sample is
//! drawn, and the regression targets are encoded with the (10, 10, 5, 5) weights.

use mrcnn_config::RoiHeadsConfig;
use mrcnn_core::box_coder::BoxCoder;
use mrcnn_core::matcher::{BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS, Matcher};
use mrcnn_core::rand::Rng;
use mrcnn_core::sampler::BalancedPositiveNegativeSampler;
use mrcnn_core::{BoxXyxy, Result, boxes};

/// The sampled proposals of one image, in increasing index order of the proposals-plus-gt list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoiSamples {
    pub boxes: Vec<BoxXyxy>,
    /// Class of each sample, 0 = background.
    pub labels: Vec<usize>,
    /// The matched gt of each sample (0 for background samples, as torchvision's clamp).
    pub matched_gt: Vec<usize>,
    /// Encoded gt deltas of each sample; zeros for background samples, whose targets are never
    /// used (and would not be finite in an image without objects).
    pub regression_targets: Vec<[f32; 4]>,
}

impl RoiSamples {
    pub fn len(&self) -> usize {
        self.boxes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.boxes.is_empty()
    }

    /// Indices (into this image's samples) of the foreground samples.
    pub fn positives(&self) -> Vec<usize> {
        (0..self.labels.len())
            .filter(|&k| self.labels[k] > 0)
            .collect()
    }
}

/// Labels (`-1` ignored) and clamped gt matches of one image's proposals.
pub fn assign_targets_to_proposals(
    proposals: &[BoxXyxy],
    gt_boxes: &[BoxXyxy],
    gt_labels: &[usize],
    matcher: &Matcher,
) -> (Vec<i64>, Vec<usize>) {
    if gt_boxes.is_empty() {
        return (vec![0; proposals.len()], vec![0; proposals.len()]);
    }
    let matches = matcher.assign(&boxes::iou_matrix(gt_boxes, proposals));
    let labels = matches
        .iter()
        .map(|&m| match m {
            BELOW_LOW_THRESHOLD => 0,
            BETWEEN_THRESHOLDS => -1,
            // A gt without a label (callers validate this) counts as background.
            m => gt_labels.get(m as usize).map_or(0, |&l| l as i64),
        })
        .collect();
    (labels, matches.iter().map(|&m| m.max(0) as usize).collect())
}

/// Samples of every image. `proposals[i]` are the RPN proposals of image `i`; the gt boxes are
/// in the resized image's pixels with their labels (1..num_classes).
pub fn select_training_samples<R: Rng + ?Sized>(
    proposals: &[Vec<BoxXyxy>],
    gt_boxes: &[Vec<BoxXyxy>],
    gt_labels: &[Vec<usize>],
    cfg: &RoiHeadsConfig,
    bbox_xform_clip: f32,
    rng: &mut R,
) -> Result<Vec<RoiSamples>> {
    let matcher = Matcher::new(cfg.fg_iou_thresh, cfg.bg_iou_thresh, false)?;
    let sampler =
        BalancedPositiveNegativeSampler::new(cfg.batch_size_per_image, cfg.positive_fraction);
    let coder = BoxCoder::new(cfg.bbox_reg_weights, bbox_xform_clip);
    let mut out = Vec::with_capacity(proposals.len());
    for ((props, gt), labels) in proposals.iter().zip(gt_boxes).zip(gt_labels) {
        // add_gt_proposals: the gt boxes are candidates too, so every gt has a positive.
        let all: Vec<BoxXyxy> = props.iter().chain(gt).copied().collect();
        let (lab, matched) = assign_targets_to_proposals(&all, gt, labels, &matcher);
        let picked = sampler.sample(&lab, rng).all_sorted();
        let mut s = RoiSamples::default();
        for k in picked {
            let label = lab[k] as usize;
            s.boxes.push(all[k]);
            s.labels.push(label);
            s.matched_gt.push(matched[k]);
            s.regression_targets.push(if label > 0 {
                coder.encode(&gt[matched[k]], &all[k])
            } else {
                [0.0; 4]
            });
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mrcnn_core::rand::SeedableRng;

    #[test]
    fn gt_is_appended_matched_and_encoded() {
        let cfg = RoiHeadsConfig {
            batch_size_per_image: 1000,
            positive_fraction: 1.0,
            ..Default::default()
        };
        let proposals = vec![vec![
            [0.0, 0.0, 10.0, 10.0],
            [40.0, 40.0, 50.0, 50.0],
            [0.0, 0.0, 10.0, 18.0],
        ]];
        let gt = vec![vec![[0.0, 0.0, 10.0, 12.0]]];
        let mut rng = mrcnn_core::rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let s = select_training_samples(&proposals, &gt, &[vec![3]], &cfg, 4.0, &mut rng).unwrap();
        let s = &s[0];
        // IoUs 0.833, 0, 0.667, and the appended gt itself (1.0).
        assert_eq!(s.labels, vec![3, 0, 3, 3]);
        assert_eq!(s.boxes[3], gt[0][0]);
        assert_eq!(s.regression_targets[3], [0.0; 4]);
        assert_eq!(s.regression_targets[1], [0.0; 4]);
        assert!((s.regression_targets[0][3] - 5.0 * (12.0f32 / 10.0).ln()).abs() < 1e-5);
        assert_eq!(s.positives(), vec![0, 2, 3]);
    }

    #[test]
    fn image_without_objects_is_all_background() {
        let cfg = RoiHeadsConfig::default();
        let mut rng = mrcnn_core::rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let s = select_training_samples(
            &[vec![[0.0, 0.0, 5.0, 5.0]]],
            &[vec![]],
            &[vec![]],
            &cfg,
            4.0,
            &mut rng,
        )
        .unwrap();
        assert_eq!(s[0].labels, vec![0]);
        assert!(
            s[0].regression_targets
                .iter()
                .flatten()
                .all(|v| v.is_finite())
        );
    }
}
