//! The class layout of the predictor layers. torchvision puts the background at class 0 and
//! has one box regressor and one mask channel per class *including* the background.
//! Detectron2 and MMDetection put the background score *last* (`K + 1` rows) and have box
//! regressors and mask channels for the `K` foreground classes only. Converting is exact:
//! softmax does not care about the row order, and torchvision never reads the background's
//! box deltas or mask channel (labels start at 1), so zero rows are filled in for them.

use crate::error::{ImportError, Result};
use crate::tensors::{HostTensor, TensorMap};
use std::path::Path;

/// torchvision names of the class-specific tensors.
pub const CLS_WEIGHT: &str = "roi_heads.box_predictor.cls_score.weight";
pub const CLS_BIAS: &str = "roi_heads.box_predictor.cls_score.bias";
pub const BOX_WEIGHT: &str = "roi_heads.box_predictor.bbox_pred.weight";
pub const BOX_BIAS: &str = "roi_heads.box_predictor.bbox_pred.bias";
pub const MASK_WEIGHT: &str = "roi_heads.mask_predictor.mask_fcn_logits.weight";
pub const MASK_BIAS: &str = "roi_heads.mask_predictor.mask_fcn_logits.bias";

/// Every class-specific tensor; the rest of a checkpoint is class-agnostic.
pub const CLASS_SPECIFIC: [&str; 6] = [
    CLS_WEIGHT,
    CLS_BIAS,
    BOX_WEIGHT,
    BOX_BIAS,
    MASK_WEIGHT,
    MASK_BIAS,
];

/// How many rows of each class-specific tensor belong to one class.
pub fn rows_per_class(key: &str) -> usize {
    if key == BOX_WEIGHT || key == BOX_BIAS {
        4
    } else {
        1
    }
}

/// Classes including the background, from the score layer of a torchvision-layout map.
pub fn num_classes(map: &TensorMap, origin: &Path) -> Result<usize> {
    map.get(CLS_WEIGHT)
        .map(HostTensor::rows)
        .ok_or_else(|| ImportError::Weights {
            path: origin.to_path_buf(),
            message: format!(
                "no class score layer ('{CLS_WEIGHT}' after renaming): not a Mask R-CNN checkpoint"
            ),
        })
}

/// Checks that every class-specific tensor has `rows_per_class` rows per class of the score
/// layer (torchvision layout), so surgery can index rows safely and a mismatch names its key.
pub fn validate(map: &TensorMap, origin: &Path) -> Result<usize> {
    let n = num_classes(map, origin)?;
    for key in CLASS_SPECIFIC {
        if let Some(t) = map.get(key) {
            let want = rows_per_class(key) * n;
            if t.shape.is_empty() || t.rows() != want {
                return Err(ImportError::Weights {
                    path: origin.to_path_buf(),
                    message: format!(
                        "'{key}' has shape {:?}; {n} classes (score layer) need {want} rows",
                        t.shape
                    ),
                });
            }
        }
    }
    Ok(n)
}

/// Converts the class-specific tensors of a background-last checkpoint (already renamed to
/// torchvision's names) to torchvision's layout, in place. Class-agnostic box regression (4
/// rows) and masks (1 channel) are copied to every class, which computes the same thing.
/// Returns the number of classes including the background, and notes for the report.
pub fn background_last_to_first(
    map: &mut TensorMap,
    origin: &Path,
) -> Result<(usize, Vec<String>)> {
    let n = num_classes(map, origin)?;
    let k = n - 1;
    let bad = |key: &str, rows: usize, want: String| ImportError::Weights {
        path: origin.to_path_buf(),
        message: format!("'{key}' has {rows} rows; with {k} classes (score layer) expected {want}"),
    };
    let mut notes = Vec::new();
    // Scores: the last row (background) moves to the front.
    let order: Vec<Option<usize>> = std::iter::once(Some(k)).chain((0..k).map(Some)).collect();
    for key in [CLS_WEIGHT, CLS_BIAS] {
        if let Some(t) = map.get_mut(key) {
            if t.rows() != n {
                return Err(bad(key, t.rows(), format!("{n}")));
            }
            *t = t.gather_rows(&order);
        }
    }
    notes.push(format!(
        "class scores: background row moved from last ({k}) to first"
    ));
    for (keys, per, what) in [
        ([BOX_WEIGHT, BOX_BIAS], 4, "box regression"),
        ([MASK_WEIGHT, MASK_BIAS], 1, "mask logits"),
    ] {
        let mut agnostic = false;
        for key in keys {
            let Some(t) = map.get_mut(key) else { continue };
            let rows: Vec<Option<usize>> = if t.rows() == per * k {
                // Zero rows for the background, then the classes in order.
                (0..per)
                    .map(|_| None)
                    .chain((0..per * k).map(Some))
                    .collect()
            } else if t.rows() == per && k > 1 {
                agnostic = true;
                (0..n).flat_map(|_| (0..per).map(Some)).collect()
            } else {
                return Err(bad(
                    key,
                    t.rows(),
                    format!("{} (per class) or {per} (class-agnostic)", per * k),
                ));
            };
            *t = t.gather_rows(&rows);
        }
        notes.push(if agnostic {
            format!("{what}: class-agnostic, copied to all {n} classes")
        } else {
            format!("{what}: zero background entry added in front ({k} -> {n} classes)")
        });
    }
    Ok((n, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_moves_first_and_boxes_get_zero_rows() {
        let mut m = TensorMap::new();
        m.insert(CLS_BIAS.into(), HostTensor::new(vec![3], vec![1., 2., 9.]));
        m.insert(
            CLS_WEIGHT.into(),
            HostTensor::new(vec![3, 1], vec![1., 2., 9.]),
        );
        m.insert(
            BOX_BIAS.into(),
            HostTensor::new(vec![8], (1..=8).map(|v| v as f32).collect()),
        );
        m.insert(MASK_BIAS.into(), HostTensor::new(vec![1], vec![7.]));
        let (n, _) = background_last_to_first(&mut m, Path::new("x")).unwrap();
        assert_eq!(n, 3);
        assert_eq!(m[CLS_BIAS].data, vec![9., 1., 2.]);
        assert_eq!(
            m[BOX_BIAS].data,
            vec![0., 0., 0., 0., 1., 2., 3., 4., 5., 6., 7., 8.]
        );
        assert_eq!(m[MASK_BIAS].data, vec![7., 7., 7.]); // class-agnostic mask
        assert_eq!(validate(&m, Path::new("x")).unwrap(), 3);
        m.insert(BOX_BIAS.into(), HostTensor::new(vec![4], vec![0.; 4]));
        let e = validate(&m, Path::new("x")).unwrap_err().to_string();
        assert!(e.contains(BOX_BIAS) && e.contains("12 rows"), "{e}");
    }
}
