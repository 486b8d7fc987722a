//! torchvision checkpoints, current and old. torchvision renamed some Mask R-CNN keys when it
//! wrapped convs in `Conv2dNormActivation` (0.13): its 2019 COCO file
//! (`maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth`) has `backbone.fpn.inner_blocks.0.weight`,
//! `rpn.head.conv.weight` and `roi_heads.mask_head.mask_fcn1.weight` where current torchvision
//! has `...inner_blocks.0.0.weight`, `rpn.head.conv.0.0.weight` and `roi_heads.mask_head.0.0.weight`
//! (torchvision's `_load_from_state_dict` version hooks do the same renaming). Everything is
//! brought to the current names here; the predictors are already background-first.

use crate::converted::Converted;
use crate::error::{ImportError, Result};
use crate::tensors::{self, TensorMap};
use std::path::Path;

/// Reads a torchvision `.pth` (plain state dict, or under `state_dict`/`model`) or
/// `.safetensors` file and brings its keys to current torchvision names.
pub fn read(path: &Path) -> Result<Converted> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (raw, mut ignored) = if ext == "safetensors" {
        (read_safetensors(path)?, Vec::new())
    } else {
        tensors::read_torch(path, &["state_dict", "model"])?
    };
    if raw
        .keys()
        .any(|k| k.starts_with("roi_heads.box_head.0.") || k.starts_with("rpn.head.conv.1."))
    {
        return Err(ImportError::Weights {
            path: path.to_path_buf(),
            message:
                "a torchvision v2 Mask R-CNN (conv box head with batch norm, two-conv RPN head); \
                      only the v1 architecture is implemented"
                    .into(),
        });
    }
    let mut out = TensorMap::new();
    let mut renamed = 0;
    for (name, t) in raw {
        if name.ends_with("num_batches_tracked") {
            ignored.push(name);
            continue;
        }
        let current = current_name(&name);
        renamed += usize::from(current != name);
        if out.insert(current.clone(), t).is_some() {
            return Err(ImportError::Weights {
                path: path.to_path_buf(),
                message: format!("'{name}' and another key both map to '{current}'"),
            });
        }
    }
    let mut notes = Vec::new();
    if renamed > 0 {
        notes.push(format!(
            "{renamed} old-style torchvision key(s) renamed to current names"
        ));
    }
    Ok(Converted {
        tensors: out,
        ignored,
        notes,
    })
}

/// The current torchvision name of a (possibly pre-0.13) key.
pub fn current_name(name: &str) -> String {
    let p: Vec<&str> = name.split('.').collect();
    match p.as_slice() {
        [
            "backbone",
            "fpn",
            blocks @ ("inner_blocks" | "layer_blocks"),
            i,
            f @ ("weight" | "bias"),
        ] => {
            format!("backbone.fpn.{blocks}.{i}.0.{f}")
        }
        ["rpn", "head", "conv", f @ ("weight" | "bias")] => format!("rpn.head.conv.0.0.{f}"),
        ["roi_heads", "mask_head", l, f @ ("weight" | "bias")] if l.starts_with("mask_fcn") => {
            match l["mask_fcn".len()..].parse::<usize>() {
                Ok(i) if i >= 1 => format!("roi_heads.mask_head.{}.0.{f}", i - 1),
                _ => name.to_string(),
            }
        }
        _ => name.to_string(),
    }
}

/// A safetensors file as f32 tensors (torchvision layout written by `safetensors.torch`).
fn read_safetensors(path: &Path) -> Result<TensorMap> {
    use safetensors::{Dtype, SafeTensors};
    let fail = |m: String| ImportError::weights(path, m);
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let st = SafeTensors::deserialize(&bytes).map_err(|source| ImportError::Safetensors {
        path: path.to_path_buf(),
        source,
    })?;
    let mut map = TensorMap::new();
    for (name, view) in st.tensors() {
        let d = view.data();
        let data: Vec<f32> = match view.dtype() {
            Dtype::F32 => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            Dtype::F16 => d
                .chunks_exact(2)
                .map(|c| crate::ndarray::f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            Dtype::BF16 => d
                .chunks_exact(2)
                .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
                .collect(),
            Dtype::F64 => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                .collect(),
            other => {
                return Err(fail(format!(
                    "tensor '{name}' has dtype {other:?}; expected a float type"
                )));
            }
        };
        map.insert(name, tensors::HostTensor::new(view.shape().to_vec(), data));
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::current_name as c;

    #[test]
    fn old_names() {
        assert_eq!(
            c("backbone.fpn.inner_blocks.3.weight"),
            "backbone.fpn.inner_blocks.3.0.weight"
        );
        assert_eq!(
            c("backbone.fpn.layer_blocks.0.0.bias"),
            "backbone.fpn.layer_blocks.0.0.bias"
        );
        assert_eq!(c("rpn.head.conv.bias"), "rpn.head.conv.0.0.bias");
        assert_eq!(
            c("roi_heads.mask_head.mask_fcn1.weight"),
            "roi_heads.mask_head.0.0.weight"
        );
        assert_eq!(
            c("backbone.body.layer1.0.downsample.0.weight"),
            "backbone.body.layer1.0.downsample.0.weight"
        );
    }
}
