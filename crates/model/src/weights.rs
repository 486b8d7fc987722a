//! Loading torchvision-layout weights (a `state_dict` by parameter name) from `.safetensors` or
//! torch `.pth` files through burn-store. Missing, unexpected and mis-shaped keys are collected
//! and reported together in one error.

use crate::MaskRcnn;
use burn::store::{
    ApplyResult, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use mrcnn_core::{Error, Result};
use std::path::Path;

/// Maps torchvision state-dict names (current and older ones) onto this model's module paths.
pub fn torchvision_remapper() -> KeyRemapper {
    let mut patterns: Vec<(String, String)> = vec![
        (r"\.downsample\.0\.".into(), ".downsample.conv.".into()),
        (r"\.downsample\.1\.".into(), ".downsample.bn.".into()),
        // torchvision >= 0.13 wraps FPN and head convs in Conv2dNormActivation (`.N.0.`).
        (
            r"^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.0\.".into(),
            "backbone.fpn.${1}_blocks.$2.".into(),
        ),
        (r"^rpn\.head\.conv\.0\.0\.".into(), "rpn.head.conv.".into()),
        (
            r"^roi_heads\.mask_head\.(\d+)\.0\.".into(),
            "roi_heads.mask_head.convs.$1.".into(),
        ),
    ];
    // Older torchvision names the mask head convs `mask_fcn1..N`.
    for i in 1..=8 {
        patterns.push((
            format!(r"^roi_heads\.mask_head\.mask_fcn{i}\."),
            format!("roi_heads.mask_head.convs.{}.", i - 1),
        ));
    }
    KeyRemapper::from_patterns(patterns).expect("the patterns are valid regexes")
}

/// Keys in torchvision files that carry no weights.
fn ignorable(key: &str) -> bool {
    key.ends_with("num_batches_tracked")
}

/// Turns an apply result into one error listing every problem, or Ok.
fn check(result: &ApplyResult, path: &Path) -> Result<()> {
    let mut problems = Vec::new();
    let missing: Vec<&str> = result.missing.iter().map(|(p, _)| p.as_str()).collect();
    if !missing.is_empty() {
        problems.push(format!(
            "missing keys ({}): {}",
            missing.len(),
            list(&missing)
        ));
    }
    let unused: Vec<&str> = result
        .unused
        .iter()
        .map(String::as_str)
        .filter(|k| !ignorable(k))
        .collect();
    if !unused.is_empty() {
        problems.push(format!(
            "unexpected keys ({}): {}",
            unused.len(),
            list(&unused)
        ));
    }
    if !result.errors.is_empty() {
        let errs: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
        let errs: Vec<&str> = errs.iter().map(String::as_str).collect();
        problems.push(format!("{} error(s): {}", errs.len(), list(&errs)));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Error::Weights {
        path: path.to_path_buf(),
        message: format!(
            "does not fit the model config ({}); check that the model config matches the checkpoint \
             (depth, num_classes, FPN channels)",
            problems.join("; ")
        ),
    })
}

fn list(items: &[&str]) -> String {
    const SHOWN: usize = 8;
    let mut s = items
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > SHOWN {
        s.push_str(&format!(", ... ({} more)", items.len() - SHOWN));
    }
    s
}

/// Loads a torchvision-layout checkpoint into `model` (`.safetensors`, or `.pth`/`.pt`/`.bin`
/// written by `torch.save`, optionally nested under `state_dict` or `model`).
pub fn load_torchvision_weights(mut model: MaskRcnn, path: &Path) -> Result<MaskRcnn> {
    if !path.is_file() {
        return Err(Error::Weights {
            path: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let fail = |m: String| Error::Weights {
        path: path.to_path_buf(),
        message: m,
    };
    let result = match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .remap(torchvision_remapper())
                .allow_partial(true)
                .validate(false);
            model
                .load_from(&mut store)
                .map_err(|e| fail(format!("not a readable safetensors file: {e}")))?
        }
        "pth" | "pt" | "bin" => {
            let mut last = None;
            let mut loaded = None;
            for key in [None, Some("state_dict"), Some("model")] {
                let mut store = PytorchStore::from_file(path)
                    .remap(torchvision_remapper())
                    .map_indices_contiguous(false)
                    .allow_partial(true)
                    .validate(false);
                if let Some(k) = key {
                    store = store.with_top_level_key(k);
                }
                match model.load_from(&mut store) {
                    Ok(r) if !r.applied.is_empty() => {
                        loaded = Some(r);
                        break;
                    }
                    Ok(r) => {
                        last = Some(format!(
                            "no tensor matched ({} unused keys)",
                            r.unused.len()
                        ))
                    }
                    Err(e) => last = Some(e.to_string()),
                }
            }
            loaded.ok_or_else(|| {
                fail(format!(
                    "not a readable torch checkpoint: {}",
                    last.unwrap_or_default()
                ))
            })?
        }
        _ => {
            return Err(fail(format!(
                "unknown weight format '.{ext}': use .safetensors or .pth (import Detectron2/MMDetection files first)"
            )));
        }
    };
    check(&result, path)?;
    Ok(model)
}
