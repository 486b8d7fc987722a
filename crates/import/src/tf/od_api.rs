//! The TensorFlow Object Detection API's Faster/Mask R-CNN ResNet v1 checkpoints (TF1
//! TensorBundle `model.ckpt`, or the constants of `frozen_inference_graph.pb`) in torchvision's
//! names and class layout, for the C4 model (`architecture = "c4"`):
//!
//! | OD API variable | here |
//! |---|---|
//! | `FirstStageFeatureExtractor/resnet_v1_N/{conv1,block1..3}/...` | `backbone.body.*` ([`super::slim`]) |
//! | `FirstStageFeatureExtractor/resnet_v1_N/block4/...` | unused by the model: ignored, with a note |
//! | `SecondStageFeatureExtractor/resnet_v1_N/block4/unit_U/...` | `roi_heads.res5.{U-1}.*` |
//! | `Conv/{weights,biases}` (the RPN's first conv) | `rpn.head.conv` |
//! | `FirstStageBoxPredictor/ClassPredictor` (background, object per anchor) | `rpn.head.cls_logits`: object minus background |
//! | `FirstStageBoxPredictor/BoxEncodingPredictor` (`ty, tx, th, tw` per anchor) | `rpn.head.bbox_pred` (`tx, ty, tw, th`) |
//! | `SecondStageBoxPredictor/ClassPredictor` (background first) | `roi_heads.box_predictor.cls_score` |
//! | `SecondStageBoxPredictor/BoxEncodingPredictor` (foreground classes) | `roi_heads.box_predictor.bbox_pred`, zero background rows |
//! | `SecondStageBoxPredictor/Conv`, `Conv_1`, ... (mask convs, the last is the predictor) | `roi_heads.mask_head.N.0`, `roi_heads.mask_predictor.mask_fcn_logits` (zero background channel) |
//!
//! The two-logit softmax of the first stage is the sigmoid of the logits' difference, so one
//! logit per anchor (weights and bias `object - background`) gives the same probabilities and,
//! in training, the same cross-entropy. The box codes' order is permuted row by row; the
//! coder's scale factors are the model config's `bbox_reg_weights`.

use std::collections::BTreeMap;
use std::path::Path;

use super::bundle::BundleTensor;
use super::slim;
use crate::converted::{Converted, preview};
use crate::error::{ImportError, Result};
use crate::tensors::{HostTensor, TensorMap};

/// `[rows, cols]` of a TensorFlow FC kernel `[in, out]` as PyTorch's `[out, in]`.
fn fc_to_linear(t: &BundleTensor) -> HostTensor {
    let (i, o) = (t.shape[0], t.shape[1]);
    let v = t.to_f32();
    let mut out = vec![0.0f32; v.len()];
    for r in 0..i {
        for c in 0..o {
            out[c * i + r] = v[r * o + c];
        }
    }
    HostTensor::new(vec![o, i], out)
}

/// A kernel as `[out, ...]` rows: 4-D HWIO transposed, 2-D `[in, out]` transposed, 1-D kept.
fn rows_first(t: &BundleTensor) -> HostTensor {
    match t.shape.len() {
        4 => slim::hwio_to_oihw(&t.shape, &t.to_f32()),
        2 => fc_to_linear(t),
        _ => HostTensor::new(t.shape.clone(), t.to_f32()),
    }
}

/// Rows `order[j]` of `t` as its row `j` (`None`: a zero row).
fn pick_rows(t: &HostTensor, order: &[Option<usize>]) -> HostTensor {
    t.gather_rows(order)
}

/// `(ty, tx, th, tw)` groups of 4 rows to `(tx, ty, tw, th)`, with `lead` zero groups first.
fn codes_to_deltas(t: &HostTensor, lead: usize) -> HostTensor {
    let groups = t.rows() / 4;
    let mut order = vec![None; 4 * lead];
    for g in 0..groups {
        order.extend([1, 0, 3, 2].map(|k| Some(4 * g + k)));
    }
    pick_rows(t, &order)
}

/// Per anchor, row `2a + 1` minus row `2a` (object minus background).
fn logit_difference(t: &HostTensor) -> HostTensor {
    let n = t.row_len();
    let anchors = t.rows() / 2;
    let mut data = Vec::with_capacity(anchors * n);
    for a in 0..anchors {
        let (bg, obj) = (t.row(2 * a), t.row(2 * a + 1));
        data.extend(obj.iter().zip(bg).map(|(o, b)| o - b));
    }
    let mut shape = t.shape.clone();
    shape[0] = anchors;
    HostTensor::new(shape, data)
}

/// `weights` -> `weight`, `biases` -> `bias`.
fn leaf(name: &str) -> Option<&'static str> {
    match name.rsplit('/').next()? {
        "weights" => Some("weight"),
        "biases" => Some("bias"),
        _ => None,
    }
}

/// Reads and converts a checkpoint: a `frozen_inference_graph.pb`, else a TensorBundle (prefix,
/// `.index`, `.data-*` or a folder holding one checkpoint).
pub fn read(path: &Path) -> Result<Converted> {
    if path.extension().is_some_and(|e| e == "pb") {
        // A frozen graph holds every constant of the graph, not only the weights: the ones that
        // map nowhere are listed as ignored (the model's own check then names any weight that
        // is missing).
        let consts = super::graph::read_frozen_graph(path)?;
        let (weights, others): (Vec<_>, Vec<_>) = consts.into_iter().partition(is_model_variable);
        let mut conv = convert(&weights, path)?;
        if !others.is_empty() {
            conv.notes.push(format!(
                "{} graph constants that are not weights ignored",
                others.len()
            ));
            conv.ignored.extend(others.into_iter().map(|c| c.name));
        }
        return Ok(conv);
    }
    convert(&super::bundle::read_bundle(path)?, path)
}

/// Whether a name is one of the model's variables (as opposed to another graph constant).
fn is_model_variable(t: &BundleTensor) -> bool {
    let n = t.name.as_str();
    let parts: Vec<&str> = n.split('/').collect();
    let layer = |l: &str| {
        l == "ClassPredictor"
            || l == "BoxEncodingPredictor"
            || l == "Conv"
            || l.strip_prefix("Conv_")
                .is_some_and(|i| i.parse::<usize>().is_ok())
    };
    slim::resnet_name(n).is_some()
        || match parts.as_slice() {
            ["Conv", "weights" | "biases"] => true,
            [
                "FirstStageBoxPredictor" | "SecondStageBoxPredictor",
                l,
                "weights" | "biases",
            ] => layer(l),
            _ => false,
        }
}

/// Converts the variables of an OD API Faster/Mask R-CNN ResNet v1 checkpoint (`origin` for
/// messages). Unknown variables are one error listing them.
pub fn convert(vars: &[BundleTensor], origin: &Path) -> Result<Converted> {
    let mut out = TensorMap::new();
    let (mut ignored, mut unknown, mut notes) = (Vec::new(), Vec::new(), Vec::new());
    let mut first_block4 = 0;
    // Mask convs by their slim index (`Conv` = 0, `Conv_1` = 1, ...).
    let mut mask_convs: BTreeMap<usize, BTreeMap<&'static str, &BundleTensor>> = BTreeMap::new();
    for v in vars {
        let name = v.name.as_str();
        if slim::is_ignorable(name) {
            ignored.push(v.name.clone());
            continue;
        }
        if let Some(tv) = slim::resnet_name(name) {
            let second = name.starts_with("SecondStageFeatureExtractor/");
            let block4 = tv.starts_with("backbone.body.layer4.");
            let t = rows_first(v);
            match (second, block4) {
                (false, false) => {
                    out.insert(tv, t);
                }
                (true, true) => {
                    let rest = &tv["backbone.body.layer4.".len()..];
                    out.insert(format!("roi_heads.res5.{rest}"), t);
                }
                (false, true) => {
                    first_block4 += 1;
                    ignored.push(v.name.clone());
                }
                (true, false) => unknown.push(v.name.clone()),
            }
            continue;
        }
        let mapped = match (name, leaf(name)) {
            (n, Some(l)) if n.starts_with("Conv/") && n.split('/').count() == 2 => {
                Some((format!("rpn.head.conv.{l}"), rows_first(v)))
            }
            (n, Some(l)) if n.starts_with("FirstStageBoxPredictor/ClassPredictor/") => Some((
                format!("rpn.head.cls_logits.{l}"),
                logit_difference(&rows_first(v)),
            )),
            (n, Some(l)) if n.starts_with("FirstStageBoxPredictor/BoxEncodingPredictor/") => {
                Some((
                    format!("rpn.head.bbox_pred.{l}"),
                    codes_to_deltas(&rows_first(v), 0),
                ))
            }
            (n, Some(l)) if n.starts_with("SecondStageBoxPredictor/ClassPredictor/") => Some((
                format!("roi_heads.box_predictor.cls_score.{l}"),
                rows_first(v),
            )),
            (n, Some(l)) if n.starts_with("SecondStageBoxPredictor/BoxEncodingPredictor/") => {
                Some((
                    format!("roi_heads.box_predictor.bbox_pred.{l}"),
                    codes_to_deltas(&rows_first(v), 1),
                ))
            }
            (n, Some(l)) => {
                let conv = n
                    .strip_prefix("SecondStageBoxPredictor/Conv")
                    .and_then(|r| r.split_once('/'))
                    .and_then(|(idx, _)| match idx {
                        "" => Some(0),
                        i => i.strip_prefix('_')?.parse().ok(),
                    });
                if let Some(i) = conv {
                    mask_convs.entry(i).or_default().insert(l, v);
                    continue;
                }
                None
            }
            _ => None,
        };
        match mapped {
            Some((k, t)) => {
                out.insert(k, t);
            }
            None => unknown.push(v.name.clone()),
        }
    }
    if !unknown.is_empty() {
        return Err(ImportError::weights(
            origin,
            format!(
                "{} variable(s) have no place in the OD API's Faster/Mask R-CNN ResNet v1 (C4) \
                 model (another feature extractor or meta-architecture?): {}",
                unknown.len(),
                preview(&unknown)
            ),
        ));
    }
    if first_block4 > 0 {
        notes.push(format!(
            "{first_block4} variables of the first stage's block4 ignored: the model runs block4 \
             only on the crops (SecondStageFeatureExtractor)"
        ));
    }
    // The mask branch: every conv but the last has ReLU; the last predicts the foreground masks.
    let last = mask_convs.keys().next_back().copied();
    for (pos, (i, parts)) in mask_convs.iter().enumerate() {
        for (l, v) in parts {
            let t = rows_first(v);
            if Some(*i) == last {
                let mut order = vec![None];
                order.extend((0..t.rows()).map(Some));
                out.insert(
                    format!("roi_heads.mask_predictor.mask_fcn_logits.{l}"),
                    pick_rows(&t, &order),
                );
            } else {
                out.insert(format!("roi_heads.mask_head.{pos}.0.{l}"), t);
            }
        }
    }
    Ok(Converted {
        tensors: out,
        ignored,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_graph_weights_are_told_from_other_constants() {
        let t = |name: &str| BundleTensor {
            name: name.into(),
            dtype: super::super::TfDtype::F32,
            shape: vec![1],
            bytes: vec![0; 4],
        };
        for w in [
            "Conv/weights",
            "FirstStageBoxPredictor/ClassPredictor/biases",
            "SecondStageBoxPredictor/Conv_3/weights",
            "FirstStageFeatureExtractor/resnet_v1_101/conv1/BatchNorm/gamma",
        ] {
            assert!(is_model_variable(&t(w)), "{w}");
        }
        for c in [
            "SecondStageBoxPredictor/Reshape/shape",
            "Preprocessor/sub/y",
            "Conv/Conv2D/dilation_rate",
            "FirstStageBoxPredictor/ClassPredictor/Reshape/shape",
        ] {
            assert!(!is_model_variable(&t(c)), "{c}");
        }
    }

    #[test]
    fn first_stage_logits_and_codes() {
        // 2 anchors, 1 input channel: rows (bg0, obj0, bg1, obj1).
        let cls = HostTensor::new(vec![4, 1], vec![1.0, 3.0, -2.0, 5.0]);
        assert_eq!(logit_difference(&cls).data, vec![2.0, 7.0]);
        let codes = HostTensor::new(vec![4], vec![10.0, 11.0, 12.0, 13.0]);
        assert_eq!(
            codes_to_deltas(&codes, 0).data,
            vec![11.0, 10.0, 13.0, 12.0]
        );
        assert_eq!(
            codes_to_deltas(&codes, 1).data,
            vec![0.0, 0.0, 0.0, 0.0, 11.0, 10.0, 13.0, 12.0]
        );
    }
}
