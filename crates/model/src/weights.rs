//! Weights in and out of a [`MaskRcnn`]: torchvision-layout `state_dict`s (`.safetensors`, torch
//! `.pth`) through burn-store, other frameworks' checkpoints through `mrcnn-import` with head
//! surgery to the model's classes, and one call for any of them ([`MaskRcnn::load`]). Missing,
//! unexpected and mis-shaped keys are collected and reported together in one error.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{
    ApplyResult, BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter,
    PytorchStore, SafetensorsStore,
};
use mrcnn_config::{ConfigError, ModelConfig, WeightsFormat};
use mrcnn_import::{
    ImportError, ImportOptions, ImportReport, TensorMap, preview, read_checkpoint, semantics,
    tensors,
};

use crate::{C4MaskRcnn, MaskRcnn};

/// Why weights cannot be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The checkpoint was read but does not fit the model (keys, shapes).
    #[error("weights {}: {message}", path.display())]
    Fit {
        /// The weights file.
        path: PathBuf,
        /// What does not fit (missing, unexpected, mis-shaped keys) and what to check.
        message: String,
    },
    /// The weights could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// burn-store could not read or write the file.
    #[error("weights {}: {what}: {source}", path.display())]
    Store {
        /// The weights file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// burn-store's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another framework's checkpoint could not be read or converted.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The model could not be built (its config is invalid).
    #[error(transparent)]
    Model(#[from] mrcnn_core::Error),
    /// The model config file could not be loaded (boxed: a config error is large).
    #[error(transparent)]
    Config(Box<ConfigError>),
}

impl From<ConfigError> for WeightsError {
    fn from(e: ConfigError) -> Self {
        WeightsError::Config(Box::new(e))
    }
}

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

/// Our module paths back to torchvision's current state-dict names (the inverse of
/// [`torchvision_remapper`]).
fn module_to_torchvision_remapper() -> KeyRemapper {
    KeyRemapper::from_patterns(vec![
        (r"\.downsample\.conv\.", ".downsample.0."),
        (r"\.downsample\.bn\.", ".downsample.1."),
        (
            r"^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.",
            "backbone.fpn.${1}_blocks.$2.0.",
        ),
        (r"^rpn\.head\.conv\.", "rpn.head.conv.0.0."),
        (
            r"^roi_heads\.mask_head\.convs\.(\d+)\.",
            "roi_heads.mask_head.$1.0.",
        ),
    ])
    .expect("the patterns are valid regexes")
}

/// Keys in torchvision files that carry no weights.
fn ignorable(key: &str) -> bool {
    key.ends_with("num_batches_tracked")
}

/// Turns an apply result into one error listing every problem, or Ok.
fn check(result: &ApplyResult, path: &Path) -> Result<(), WeightsError> {
    let mut problems = Vec::new();
    let missing: Vec<String> = result.missing.iter().map(|(p, _)| p.clone()).collect();
    if !missing.is_empty() {
        problems.push(format!(
            "missing keys ({}): {}",
            missing.len(),
            preview(&missing)
        ));
    }
    let unused: Vec<String> = result
        .unused
        .iter()
        .filter(|k| !ignorable(k))
        .cloned()
        .collect();
    if !unused.is_empty() {
        problems.push(format!(
            "unexpected keys ({}): {}",
            unused.len(),
            preview(&unused)
        ));
    }
    if !result.errors.is_empty() {
        let errs: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
        problems.push(format!("{} error(s): {}", errs.len(), preview(&errs)));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(WeightsError::Fit {
        path: path.to_path_buf(),
        message: format!(
            "does not fit the model config ({}); check that the model config matches the \
             checkpoint (depth, num_classes, FPN channels, head sizes)",
            problems.join("; ")
        ),
    })
}

fn store_error(
    path: &Path,
    what: &'static str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> WeightsError {
    move |source| WeightsError::Store {
        path: path.to_path_buf(),
        what,
        source,
    }
}

/// Tensors of `model` that hold NaN or infinite values, by module path, with their counts.
fn non_finite<M: Module>(model: &M) -> Vec<(String, usize, usize)> {
    use burn::module::{ModuleVisitor, Param};
    #[derive(Default)]
    struct Scan {
        path: Vec<String>,
        bad: Vec<(String, usize, usize)>,
    }
    impl ModuleVisitor for Scan {
        fn enter_module(&mut self, name: &str, _: &str) {
            self.path.push(name.to_string());
        }
        fn exit_module(&mut self, _: &str, _: &str) {
            self.path.pop();
        }
        fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
            let values = mrcnn_core::host::to_vec(p.val());
            let n = values.iter().filter(|v| !v.is_finite()).count();
            if n > 0 {
                self.bad.push((self.path.join("."), n, values.len()));
            }
        }
    }
    let mut scan = Scan::default();
    model.visit(&mut scan);
    scan.bad
}

/// Refuses weights with NaN or infinite values, naming the tensors.
fn check_finite<M: Module>(model: &M, path: &Path) -> Result<(), WeightsError> {
    let bad = non_finite(model);
    if bad.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = bad
        .iter()
        .map(|(name, n, total)| format!("'{name}' ({n} of {total} values)"))
        .collect();
    Err(WeightsError::Fit {
        path: path.to_path_buf(),
        message: format!(
            "{} tensor(s) hold NaN or infinite values: {}; the file is damaged, or the training \
             that wrote it diverged",
            bad.len(),
            preview(&names)
        ),
    })
}

/// Loads a torchvision-layout checkpoint into `model` (`.safetensors`, or `.pth`/`.pt`/`.bin`
/// written by `torch.save`, optionally nested under `state_dict` or `model`).
pub fn load_torchvision_weights<M: Module>(mut model: M, path: &Path) -> Result<M, WeightsError> {
    if !path.is_file() {
        return Err(WeightsError::Fit {
            path: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let result = match ext.as_str() {
        "safetensors" => {
            let mut store = SafetensorsStore::from_file(path)
                .with_from_adapter(PyTorchToBurnAdapter)
                .remap(torchvision_remapper())
                .allow_partial(true)
                .validate(false);
            model
                .load_from(&mut store)
                .map_err(|e| store_error(path, "not a readable safetensors file")(Box::new(e)))?
        }
        "pth" | "pt" | "bin" => {
            let mut last: Option<Box<dyn std::error::Error + Send + Sync>> = None;
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
                        last = Some(
                            format!("no tensor matched ({} unused keys)", r.unused.len()).into(),
                        )
                    }
                    Err(e) => last = Some(Box::new(e)),
                }
            }
            match loaded {
                Some(r) => r,
                None => {
                    return Err(store_error(path, "not a readable torch checkpoint")(
                        last.unwrap_or_else(|| "nothing to read".into()),
                    ));
                }
            }
        }
        _ => {
            return Err(WeightsError::Fit {
                path: path.to_path_buf(),
                message: format!(
                    "unknown weight format '.{ext}': use .safetensors or .pth, or name the \
                     framework (detectron2, mmdet) to import its checkpoint"
                ),
            });
        }
    };
    check(&result, path)?;
    check_finite(&model, path)?;
    Ok(model)
}

/// Applies a torchvision-layout tensor map to `model` (the FPN or the C4 model); every model
/// tensor must be given and every given tensor used. Returns the model and the number of
/// tensors applied.
pub fn apply_tensors<M: Module>(
    mut model: M,
    map: &TensorMap,
    origin: &Path,
) -> Result<(M, usize), WeightsError> {
    let bytes = tensors::to_safetensors_bytes(map)?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .with_from_adapter(PyTorchToBurnAdapter)
        .remap(torchvision_remapper())
        .allow_partial(true)
        .validate(false);
    let result = model
        .load_from(&mut store)
        .map_err(|e| store_error(origin, "cannot apply the converted tensors")(Box::new(e)))?;
    check(&result, origin)?;
    check_finite(&model, origin)?;
    Ok((model, result.applied.len()))
}

/// Imports a checkpoint of any supported framework into a model built from `cfg`, with head
/// surgery to `cfg`'s classes; returns the model and what was done.
pub fn import_weights(
    format: WeightsFormat,
    path: &Path,
    cfg: &ModelConfig,
    device: &Device,
    opts: &ImportOptions,
) -> Result<(MaskRcnn, ImportReport), WeightsError> {
    import_into(MaskRcnn::new(cfg.clone(), device)?, format, path, cfg, opts)
}

/// [`import_weights`] for the C4 model (`architecture = "c4"`, the OD API's checkpoints).
pub fn import_c4_weights(
    format: WeightsFormat,
    path: &Path,
    cfg: &ModelConfig,
    device: &Device,
    opts: &ImportOptions,
) -> Result<(C4MaskRcnn, ImportReport), WeightsError> {
    import_into(
        C4MaskRcnn::new(cfg.clone(), device)?,
        format,
        path,
        cfg,
        opts,
    )
}

/// Reads a checkpoint, fits its classes to `cfg` and applies it to `model` (built from `cfg`).
fn import_into<M: Module>(
    model: M,
    format: WeightsFormat,
    path: &Path,
    cfg: &ModelConfig,
    opts: &ImportOptions,
) -> Result<(M, ImportReport), WeightsError> {
    let mut ck = read_checkpoint(format, path, opts)?;
    let surgery = ck.fit_classes(cfg.num_classes, &cfg.class_names, opts.seed);
    let (model, applied) = apply_tensors(model, &ck.tensors, path)?;
    let report = ImportReport {
        format: ck.format,
        source: path.to_path_buf(),
        applied,
        ignored: ck.ignored,
        notes: ck.notes,
        surgery,
        hints: semantics::hints(ck.format, cfg),
    };
    Ok((model, report))
}

/// Writes the model's weights as a safetensors file in torchvision's names and layout
/// (overwriting `out`, atomically), loadable with [`load_torchvision_weights`] and torchvision.
pub fn save_safetensors(model: &MaskRcnn, out: &Path) -> Result<(), WeightsError> {
    save_module(model, model.config.num_classes, out)
}

/// [`save_safetensors`] of any model (the C4 model's names are torchvision's where it has them).
pub fn save_module<M: Module>(
    model: &M,
    num_classes: usize,
    out: &Path,
) -> Result<(), WeightsError> {
    mrcnn_coco::files::write_atomic_with(out, |tmp| {
        let mut store = SafetensorsStore::from_file(tmp)
            .with_to_adapter(BurnToPyTorchAdapter)
            .remap(module_to_torchvision_remapper())
            .metadata("format", "pt")
            .metadata("layout", "torchvision maskrcnn state_dict")
            .metadata("num_classes", num_classes.to_string())
            .overwrite(true);
        model.save_into(&mut store).map_err(std::io::Error::other)
    })
    .map_err(|source| WeightsError::Write {
        path: out.to_path_buf(),
        source,
    })
}

impl MaskRcnn {
    /// The model of `config` with the weights of `path`, in one call: torchvision-layout
    /// `.safetensors`/`.pth` as they are, Detectron2 (`.pkl`, or `format = Detectron2`) and
    /// MMDetection (`format = Mmdet`) checkpoints imported, class rows fitted to `config`'s
    /// classes. `format` `Auto` decides by the extension.
    pub fn load(
        config: ModelConfig,
        path: &Path,
        format: WeightsFormat,
        device: &Device,
    ) -> Result<MaskRcnn, WeightsError> {
        match format.resolve(path) {
            WeightsFormat::Torchvision | WeightsFormat::Auto => {
                load_torchvision_weights(MaskRcnn::new(config, device)?, path)
            }
            f => Ok(import_weights(f, path, &config, device, &ImportOptions::default())?.0),
        }
    }

    /// [`MaskRcnn::load`] of a model config TOML and a weights file (format by extension).
    pub fn from_files(
        model_config: &Path,
        weights: &Path,
        device: &Device,
    ) -> Result<MaskRcnn, WeightsError> {
        let config = ModelConfig::load(model_config)?;
        Self::load(config, weights, WeightsFormat::Auto, device)
    }
}
