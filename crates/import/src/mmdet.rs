//! MMDetection checkpoints (`torch.save({"state_dict": ..., "meta": {...}})`, read through
//! burn-store's `PytorchReader`). Names are mapped onto torchvision's and the predictors
//! converted from background-last (see `layout.rs`). The class names the checkpoint records in
//! `meta` (`CLASSES` in MMDetection 2.x, `dataset_meta.classes` in 3.x) are returned so head
//! surgery can carry classes over by name.

use crate::converted::{Converted, preview};
use crate::error::{ImportError, Result};
use crate::layout;
use crate::tensors::{self, TensorMap};
use burn::store::pytorch_reader::{PickleValue, PytorchReader};
use std::path::Path;

/// Reads an MMDetection Mask R-CNN checkpoint and converts it; also returns its class names.
pub fn read(path: &Path) -> Result<(Converted, Option<Vec<String>>)> {
    let (raw, mut ignored) = tensors::read_torch(path, &["state_dict", "model"])?;
    let mut out = TensorMap::new();
    let mut unknown = Vec::new();
    for (name, t) in raw {
        if name.ends_with("num_batches_tracked") || name.starts_with("data_preprocessor.") {
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
                "{} MMDetection key(s) have no place in a ResNet-FPN Mask R-CNN (other necks/heads, \
                 extra FPN convs, DCN or GN layers are not supported): {}",
                unknown.len(),
                preview(&unknown)
            ),
        });
    }
    let (_, notes) = layout::background_last_to_first(&mut out, path)?;
    Ok((
        Converted {
            tensors: out,
            ignored,
            notes,
        },
        class_names(path),
    ))
}

/// The torchvision name of an MMDetection Mask R-CNN key (2.x/3.x `roi_head.`, or 1.x with the
/// heads at the top level), or `None`.
pub fn torchvision_name(name: &str) -> Option<String> {
    let p: Vec<&str> = name.split('.').collect();
    let p: &[&str] = match p.as_slice() {
        ["roi_head", rest @ ..] => rest,
        all => all,
    };
    Some(match p {
        ["backbone", "conv1", "weight"] => "backbone.body.conv1.weight".into(),
        ["backbone", "bn1", f] => format!("backbone.body.bn1.{}", bn_field(f)?),
        ["backbone", layer, block, rest @ ..] if layer.starts_with("layer") => {
            let l: usize = layer[5..].parse().ok().filter(|l| (1..=4).contains(l))?;
            let b: usize = block.parse().ok()?;
            let tail = match rest {
                [conv @ ("conv1" | "conv2" | "conv3"), "weight"] => format!("{conv}.weight"),
                [bn @ ("bn1" | "bn2" | "bn3"), f] => format!("{bn}.{}", bn_field(f)?),
                ["downsample", "0", "weight"] => "downsample.0.weight".into(),
                ["downsample", "1", f] => format!("downsample.1.{}", bn_field(f)?),
                _ => return None,
            };
            format!("backbone.body.layer{l}.{b}.{tail}")
        }
        ["neck", convs, i, "conv", f @ ("weight" | "bias")] => {
            let i: usize = i.parse().ok().filter(|i| *i < 4)?;
            let kind = match *convs {
                "lateral_convs" => "inner",
                "fpn_convs" => "layer",
                _ => return None,
            };
            format!("backbone.fpn.{kind}_blocks.{i}.0.{f}")
        }
        ["rpn_head", layer, f @ ("weight" | "bias")] => match *layer {
            "rpn_conv" => format!("rpn.head.conv.0.0.{f}"),
            "rpn_cls" => format!("rpn.head.cls_logits.{f}"),
            "rpn_reg" => format!("rpn.head.bbox_pred.{f}"),
            _ => return None,
        },
        ["bbox_head", "shared_fcs", i, f @ ("weight" | "bias")] => match *i {
            "0" => format!("roi_heads.box_head.fc6.{f}"),
            "1" => format!("roi_heads.box_head.fc7.{f}"),
            _ => return None,
        },
        ["bbox_head", "fc_cls", f @ ("weight" | "bias")] => {
            format!("roi_heads.box_predictor.cls_score.{f}")
        }
        ["bbox_head", "fc_reg", f @ ("weight" | "bias")] => {
            format!("roi_heads.box_predictor.bbox_pred.{f}")
        }
        ["mask_head", "convs", i, "conv", f @ ("weight" | "bias")] => {
            format!("roi_heads.mask_head.{}.0.{f}", i.parse::<usize>().ok()?)
        }
        ["mask_head", "upsample", f @ ("weight" | "bias")] => {
            format!("roi_heads.mask_predictor.conv5_mask.{f}")
        }
        ["mask_head", "conv_logits", f @ ("weight" | "bias")] => {
            format!("roi_heads.mask_predictor.mask_fcn_logits.{f}")
        }
        _ => return None,
    })
}

fn bn_field(f: &str) -> Option<&str> {
    matches!(f, "weight" | "bias" | "running_mean" | "running_var").then_some(f)
}

/// Class names from the checkpoint's `meta`, when it records them.
fn class_names(path: &Path) -> Option<Vec<String>> {
    let meta = PytorchReader::read_pickle_data(path, Some("meta")).ok()?;
    let PickleValue::Dict(meta) = meta else {
        return None;
    };
    let list = match (meta.get("CLASSES"), meta.get("dataset_meta")) {
        (Some(c), _) => c.clone(),
        (None, Some(PickleValue::Dict(d))) => d.get("classes")?.clone(),
        _ => return None,
    };
    let PickleValue::List(items) = list else {
        return None;
    };
    items
        .into_iter()
        .map(|v| match v {
            PickleValue::String(s) => Some(s),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::torchvision_name as tv;

    #[test]
    fn names() {
        assert_eq!(
            tv("backbone.layer3.22.downsample.1.running_mean").unwrap(),
            "backbone.body.layer3.22.downsample.1.running_mean"
        );
        assert_eq!(
            tv("neck.lateral_convs.0.conv.weight").unwrap(),
            "backbone.fpn.inner_blocks.0.0.weight"
        );
        assert_eq!(
            tv("neck.fpn_convs.3.conv.bias").unwrap(),
            "backbone.fpn.layer_blocks.3.0.bias"
        );
        assert_eq!(
            tv("roi_head.bbox_head.shared_fcs.1.weight").unwrap(),
            "roi_heads.box_head.fc7.weight"
        );
        assert_eq!(
            tv("bbox_head.fc_reg.bias").unwrap(),
            "roi_heads.box_predictor.bbox_pred.bias"
        );
        assert_eq!(
            tv("roi_head.mask_head.convs.2.conv.weight").unwrap(),
            "roi_heads.mask_head.2.0.weight"
        );
        assert!(tv("neck.fpn_convs.4.conv.weight").is_none());
        assert!(tv("backbone.layer2.0.conv2.conv_offset.weight").is_none());
    }
}
