//! The proposal matcher (torchvision's `det_utils.Matcher`): assigns each prediction (anchor or
//! proposal) the ground-truth box it overlaps most, or a negative code when that overlap is too
//! low. Runs on the host on a plain IoU matrix, so it is identical on every backend.
//!
//! Rules, as torchvision: the best gt per prediction is the *first* maximum (torch's `max(dim=0)`);
//! best IoU `< low` gives [`BELOW_LOW_THRESHOLD`], `low <= IoU < high` gives
//! [`BETWEEN_THRESHOLDS`]; with `allow_low_quality_matches` (the RPN), every prediction whose IoU
//! with some gt equals that gt's best IoU (ties included) gets its best gt back, even when the
//! IoU is below `low` (also when that best IoU is 0: a torchvision quirk kept for parity).

use crate::error::{Error, Result};

/// Code of a prediction whose best IoU is below the low threshold (background).
pub const BELOW_LOW_THRESHOLD: i64 = -1;
/// Code of a prediction whose best IoU is between the thresholds (ignored).
pub const BETWEEN_THRESHOLDS: i64 = -2;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matcher {
    pub high_threshold: f32,
    pub low_threshold: f32,
    pub allow_low_quality_matches: bool,
}

impl Matcher {
    /// A matcher; `low_threshold` must not exceed `high_threshold`.
    pub fn new(
        high_threshold: f32,
        low_threshold: f32,
        allow_low_quality_matches: bool,
    ) -> Result<Self> {
        if low_threshold > high_threshold || low_threshold.is_nan() || high_threshold.is_nan() {
            return Err(Error::Thresholds {
                low: low_threshold,
                high: high_threshold,
            });
        }
        Ok(Self {
            high_threshold,
            low_threshold,
            allow_low_quality_matches,
        })
    }

    /// Matches for `quality[g][n]` (the IoU of gt `g` and prediction `n`, every row of the same
    /// length): per prediction, a gt index or a negative code. An empty matrix gives an empty
    /// result; for an image without objects use [`background`](Self::background) (torchvision
    /// raises in the matcher and its callers special-case such images the same way).
    pub fn assign(&self, quality: &[Vec<f32>]) -> Vec<i64> {
        let Some(first) = quality.first() else {
            return Vec::new();
        };
        let n = first.len();
        let mut best_val = first.clone();
        let mut all_matches = vec![0i64; n];
        for (g, row) in quality.iter().enumerate().skip(1) {
            for (j, &v) in row.iter().enumerate() {
                // Strictly greater keeps the first maximum; a NaN propagates as torch's max does.
                if v > best_val[j] || (v.is_nan() && !best_val[j].is_nan()) {
                    best_val[j] = v;
                    all_matches[j] = g as i64;
                }
            }
        }
        let mut matches: Vec<i64> = best_val
            .iter()
            .zip(&all_matches)
            .map(|(&v, &m)| {
                if v < self.low_threshold {
                    BELOW_LOW_THRESHOLD
                } else if v < self.high_threshold {
                    BETWEEN_THRESHOLDS
                } else {
                    m
                }
            })
            .collect();
        if self.allow_low_quality_matches {
            for row in quality {
                let highest = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                for (j, &v) in row.iter().enumerate() {
                    if v == highest {
                        matches[j] = all_matches[j];
                    }
                }
            }
        }
        matches
    }

    /// Matches of `n` predictions in an image without objects: everything is background.
    pub fn background(n: usize) -> Vec<i64> {
        vec![BELOW_LOW_THRESHOLD; n]
    }
}

/// The TensorFlow Object Detection API's `ArgMaxMatcher` (with
/// `negatives_lower_than_unmatched`): per prediction the first gt of highest IoU; best IoU
/// `< unmatched` gives [`BELOW_LOW_THRESHOLD`], `unmatched <= IoU < matched` gives
/// [`BETWEEN_THRESHOLDS`]. With `force_match_for_each_row` (its first stage), each gt then
/// takes its single best prediction (the first on ties, whatever the IoU; a prediction claimed
/// by several gts goes to the first of them), where torchvision's low-quality rule takes every
/// tied prediction. `similarity[g][n]`, rows of equal length; no gt gives all negatives.
pub fn tf_argmax_match(
    similarity: &[Vec<f32>],
    n: usize,
    matched: f32,
    unmatched: f32,
    force_match_for_each_row: bool,
) -> Vec<i64> {
    if similarity.is_empty() {
        return vec![BELOW_LOW_THRESHOLD; n];
    }
    let mut out: Vec<i64> = (0..n)
        .map(|j| {
            let (mut best, mut val) = (0usize, similarity[0][j]);
            for (g, row) in similarity.iter().enumerate().skip(1) {
                if row[j] > val {
                    (best, val) = (g, row[j]);
                }
            }
            if val < unmatched {
                BELOW_LOW_THRESHOLD
            } else if val < matched {
                BETWEEN_THRESHOLDS
            } else {
                best as i64
            }
        })
        .collect();
    if force_match_for_each_row {
        let mut forced = vec![None; n];
        for (g, row) in similarity.iter().enumerate() {
            let mut best = 0;
            for (j, &v) in row.iter().enumerate() {
                if v > row[best] {
                    best = j;
                }
            }
            forced[best].get_or_insert(g);
        }
        for (o, f) in out.iter_mut().zip(forced) {
            if let Some(g) = f {
                *o = g as i64;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_and_first_maximum() {
        let m = Matcher::new(0.7, 0.3, false).unwrap();
        // 2 gts x 5 predictions.
        let q = vec![
            vec![0.9, 0.5, 0.1, 0.6, 0.7],
            vec![0.9, 0.2, 0.2, 0.65, 0.1],
        ];
        // pred 0: tie at 0.9 -> first gt (0); pred 3 best 0.65 -> between; pred 4: 0.7 -> gt 0.
        assert_eq!(
            m.assign(&q),
            vec![
                0,
                BETWEEN_THRESHOLDS,
                BELOW_LOW_THRESHOLD,
                BETWEEN_THRESHOLDS,
                0
            ]
        );
    }

    #[test]
    fn low_quality_matches_include_ties() {
        let m = Matcher::new(0.7, 0.3, true).unwrap();
        // gt 1's best IoU is 0.4 at predictions 1 and 3 (a tie): both get matched to their best gt.
        let q = vec![vec![0.8, 0.1, 0.0, 0.2], vec![0.0, 0.4, 0.1, 0.4]];
        assert_eq!(m.assign(&q), vec![0, 1, BELOW_LOW_THRESHOLD, 1]);
    }

    #[test]
    fn low_quality_match_keeps_best_gt_of_the_prediction() {
        let m = Matcher::new(0.7, 0.3, true).unwrap();
        // gt 0's best prediction is 1 (IoU 0.5), but prediction 1 overlaps gt 1 more (0.6):
        // torchvision assigns it its own best gt (1), not gt 0.
        let q = vec![vec![0.1, 0.5, 0.0], vec![0.0, 0.6, 0.9]];
        assert_eq!(m.assign(&q), vec![BELOW_LOW_THRESHOLD, 1, 1]);
    }

    #[test]
    fn roi_heads_matcher_has_no_between_band() {
        let m = Matcher::new(0.5, 0.5, false).unwrap();
        let q = vec![vec![0.5, 0.49999, 0.0]];
        assert_eq!(
            m.assign(&q),
            vec![0, BELOW_LOW_THRESHOLD, BELOW_LOW_THRESHOLD]
        );
    }

    #[test]
    fn rejects_inverted_thresholds_and_handles_empty() {
        assert!(Matcher::new(0.3, 0.7, false).is_err());
        let m = Matcher::new(0.7, 0.3, true).unwrap();
        assert!(m.assign(&[]).is_empty());
        assert_eq!(Matcher::background(2), vec![-1, -1]);
    }

    #[test]
    fn tf_argmax_forces_one_prediction_per_gt() {
        // gt 0 overlaps predictions 0 and 1 equally (0.2), gt 1 overlaps 2 at 0.8.
        let sim = vec![vec![0.2, 0.2, 0.0, 0.4], vec![0.0, 0.1, 0.8, 0.5]];
        // No forcing: 0.2 and 0.1 are below 0.3, 0.4/0.5 between, 0.8 matched.
        assert_eq!(
            tf_argmax_match(&sim, 4, 0.7, 0.3, false),
            vec![-1, -1, 1, BETWEEN_THRESHOLDS]
        );
        // Forcing: gt 0 takes its first best (prediction 3 at 0.4), torchvision would also
        // have taken every tie; gt 1 keeps prediction 2.
        assert_eq!(tf_argmax_match(&sim, 4, 0.7, 0.3, true), vec![-1, -1, 1, 0]);
        assert_eq!(tf_argmax_match(&[], 2, 0.5, 0.5, false), vec![-1, -1]);
    }
}
