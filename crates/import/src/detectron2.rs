//! Detectron2 checkpoints: the model zoo's `.pkl` files (a pickle of
//! `{"model": {name: numpy array}, "__author__": ...}`, read by the safe reader in
//! `pickle.rs`) and `.pth` files written by Detectron2's own checkpointer
//! (`{"model": state_dict, "iteration": ...}`). Names are mapped onto torchvision's and the
//! predictors converted from background-last (see `layout.rs`).
//!
//! Detectron2's FPN numbers its convs by the ResNet stage they follow: `fpn_lateral2` reads
//! `res2`, the finest level, as torchvision's `inner_blocks.0` reads `layer1`.

use crate::converted::{Converted, preview};
use crate::error::{ImportError, Result};
use crate::layout;
use crate::ndarray::NdArray;
use crate::pickle::{self, Value};
use crate::tensors::{self, HostTensor, TensorMap};
use std::path::Path;

/// Reads a Detectron2 `.pkl` or `.pth` and converts it.
pub fn read(path: &Path) -> Result<Converted> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (raw, mut ignored) = if ext == "pkl" || ext == "pickle" {
        read_pkl(path)?
    } else {
        tensors::read_torch(path, &["model"])?
    };
    let mut notes = Vec::new();
    let mut out = TensorMap::new();
    let mut unknown = Vec::new();
    for (name, t) in raw {
        if is_ignorable(&name) {
            ignored.push(name);
        } else if let Some(tv) = torchvision_name(&name) {
            out.insert(tv, t);
        } else {
            unknown.push(name);
        }
    }
    if !unknown.is_empty() {
        return Err(ImportError::Weights {
            path: path.to_path_buf(),
            message: format!(
                "{} Detectron2 key(s) have no place in a ResNet-FPN Mask R-CNN (other heads, GN/SyncBN \
                 layers or a non-ResNet backbone are not supported): {}",
                unknown.len(),
                preview(&unknown)
            ),
        });
    }
    fill_missing_bn_stats(&mut out, &mut notes);
    let (_, layout_notes) = layout::background_last_to_first(&mut out, path)?;
    notes.extend(layout_notes);
    Ok(Converted {
        tensors: out,
        ignored,
        notes,
    })
}

/// Loads the pickle and takes the arrays under `"model"` (or the root dict).
fn read_pkl(path: &Path) -> Result<(TensorMap, Vec<String>)> {
    let fail = |m: String| ImportError::weights(path, m);
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let root = pickle::load(&bytes).map_err(|source| ImportError::Pickle {
        path: path.to_path_buf(),
        source,
    })?;
    if root.get("blobs").is_some() {
        return Err(fail(
            "a Detectron (v1, Caffe2) 'blobs' pickle; only Detectron2 checkpoints are supported"
                .into(),
        ));
    }
    let model = root.get("model").unwrap_or(root);
    let items = model.dict_items().ok_or_else(|| {
        fail(format!(
            "expected a dict of arrays under 'model', found a {}",
            model.type_name()
        ))
    })?;
    let mut map = TensorMap::new();
    let mut ignored = Vec::new();
    for (k, v) in items {
        let name = k.as_str().ok_or_else(|| {
            fail(format!(
                "a key of 'model' is a {}, not a string",
                k.type_name()
            ))
        })?;
        let array: Option<NdArray> = match &v {
            Value::Array(a) => a.borrow().clone(),
            _ => None,
        };
        match array {
            Some(a) if a.is_float() => {
                map.insert(
                    name.to_string(),
                    HostTensor::new(a.shape.clone(), a.to_f32()),
                );
            }
            Some(_) => ignored.push(name.to_string()),
            None if matches!(v, Value::Array(_)) => {
                return Err(fail(format!("'{name}': array without data")));
            }
            None => ignored.push(name.to_string()),
        }
    }
    if map.is_empty() {
        return Err(fail("no float arrays under 'model'".into()));
    }
    Ok((map, ignored))
}

/// Buffers Detectron2 saves that are not weights (input normalisation, cached anchors).
fn is_ignorable(name: &str) -> bool {
    name == "pixel_mean"
        || name == "pixel_std"
        || name.ends_with("num_batches_tracked")
        || name.starts_with("proposal_generator.anchor_generator.")
}

/// The torchvision name of a Detectron2 Mask R-CNN R-FPN key, or `None`.
pub fn torchvision_name(name: &str) -> Option<String> {
    let p: Vec<&str> = name.split('.').collect();
    let s = |v: &str| v.to_string();
    Some(match p.as_slice() {
        ["backbone", "bottom_up", "stem", "conv1", "weight"] => s("backbone.body.conv1.weight"),
        ["backbone", "bottom_up", "stem", "conv1", "norm", f] => {
            format!("backbone.body.bn1.{}", bn_field(f)?)
        }
        ["backbone", "bottom_up", res, block, rest @ ..] => {
            let stage: usize = res
                .strip_prefix("res")?
                .parse()
                .ok()
                .filter(|s| (2..=5).contains(s))?;
            let prefix = format!(
                "backbone.body.layer{}.{}",
                stage - 1,
                block.parse::<usize>().ok()?
            );
            match rest {
                [conv @ ("conv1" | "conv2" | "conv3"), "weight"] => {
                    format!("{prefix}.{conv}.weight")
                }
                [conv @ ("conv1" | "conv2" | "conv3"), "norm", f] => {
                    format!("{prefix}.bn{}.{}", &conv[4..], bn_field(f)?)
                }
                ["shortcut", "weight"] => format!("{prefix}.downsample.0.weight"),
                ["shortcut", "norm", f] => format!("{prefix}.downsample.1.{}", bn_field(f)?),
                _ => return None,
            }
        }
        ["backbone", conv, f @ ("weight" | "bias")] => {
            let (kind, lvl) = if let Some(l) = conv.strip_prefix("fpn_lateral") {
                ("inner", l)
            } else {
                ("layer", conv.strip_prefix("fpn_output")?)
            };
            let lvl: usize = lvl.parse().ok().filter(|l| (2..=5).contains(l))?;
            format!("backbone.fpn.{kind}_blocks.{}.0.{f}", lvl - 2)
        }
        [
            "proposal_generator",
            "rpn_head",
            layer,
            f @ ("weight" | "bias"),
        ] => match *layer {
            "conv" => format!("rpn.head.conv.0.0.{f}"),
            "objectness_logits" => format!("rpn.head.cls_logits.{f}"),
            "anchor_deltas" => format!("rpn.head.bbox_pred.{f}"),
            _ => return None,
        },
        ["roi_heads", "box_head", fc, f @ ("weight" | "bias")] => match *fc {
            "fc1" => format!("roi_heads.box_head.fc6.{f}"),
            "fc2" => format!("roi_heads.box_head.fc7.{f}"),
            _ => return None,
        },
        [
            "roi_heads",
            "box_predictor",
            layer @ ("cls_score" | "bbox_pred"),
            f @ ("weight" | "bias"),
        ] => {
            format!("roi_heads.box_predictor.{layer}.{f}")
        }
        ["roi_heads", "mask_head", layer, f @ ("weight" | "bias")] => match *layer {
            "deconv" => format!("roi_heads.mask_predictor.conv5_mask.{f}"),
            "predictor" => format!("roi_heads.mask_predictor.mask_fcn_logits.{f}"),
            l => {
                let i: usize = l
                    .strip_prefix("mask_fcn")?
                    .parse()
                    .ok()
                    .filter(|&i| i >= 1)?;
                format!("roi_heads.mask_head.{}.0.{f}", i - 1)
            }
        },
        _ => return None,
    })
}

fn bn_field(f: &str) -> Option<&str> {
    matches!(f, "weight" | "bias" | "running_mean" | "running_var").then_some(f)
}

/// Detectron2's `FrozenBatchNorm2d` loads old checkpoints that lack running statistics with
/// mean 0 and variance 1; do the same so such files import.
fn fill_missing_bn_stats(map: &mut TensorMap, notes: &mut Vec<String>) {
    let norms: Vec<String> = map
        .keys()
        .filter_map(|k| k.strip_suffix(".weight"))
        .filter(|p| map.contains_key(&format!("{p}.bias")) && is_bn_prefix(p))
        .map(str::to_string)
        .collect();
    let mut filled = 0;
    for p in norms {
        let c = map[&format!("{p}.weight")].data.len();
        for (field, v) in [("running_mean", 0.0), ("running_var", 1.0)] {
            map.entry(format!("{p}.{field}")).or_insert_with(|| {
                filled += 1;
                HostTensor::new(vec![c], vec![v; c])
            });
        }
    }
    if filled > 0 {
        notes.push(format!("{filled} missing FrozenBN running statistics filled with mean 0 / var 1 (as Detectron2 does)"));
    }
}

fn is_bn_prefix(p: &str) -> bool {
    p.starts_with("backbone.body.")
        && (p.ends_with("bn1")
            || p.ends_with("bn2")
            || p.ends_with("bn3")
            || p.ends_with("downsample.1"))
}

#[cfg(test)]
mod tests {
    use super::torchvision_name as tv;

    #[test]
    fn names() {
        assert_eq!(
            tv("backbone.bottom_up.stem.conv1.norm.running_var").unwrap(),
            "backbone.body.bn1.running_var"
        );
        assert_eq!(
            tv("backbone.bottom_up.res4.22.conv2.norm.bias").unwrap(),
            "backbone.body.layer3.22.bn2.bias"
        );
        assert_eq!(
            tv("backbone.bottom_up.res2.0.shortcut.weight").unwrap(),
            "backbone.body.layer1.0.downsample.0.weight"
        );
        assert_eq!(
            tv("backbone.fpn_lateral2.weight").unwrap(),
            "backbone.fpn.inner_blocks.0.0.weight"
        );
        assert_eq!(
            tv("backbone.fpn_output5.bias").unwrap(),
            "backbone.fpn.layer_blocks.3.0.bias"
        );
        assert_eq!(
            tv("proposal_generator.rpn_head.anchor_deltas.bias").unwrap(),
            "rpn.head.bbox_pred.bias"
        );
        assert_eq!(
            tv("roi_heads.mask_head.mask_fcn4.weight").unwrap(),
            "roi_heads.mask_head.3.0.weight"
        );
        assert_eq!(
            tv("roi_heads.mask_head.deconv.weight").unwrap(),
            "roi_heads.mask_predictor.conv5_mask.weight"
        );
        assert!(tv("backbone.bottom_up.res6.0.conv1.weight").is_none());
        assert!(tv("roi_heads.keypoint_head.conv_fcn1.weight").is_none());
    }
}
