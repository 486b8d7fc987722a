//! Importing COCO-pretrained weights from Detectron2 (`.pkl`, `.pth`), MMDetection (`.pth`)
//! and torchvision (`.pth`, `.safetensors`, old and current key names), without Python.
//!
//! Every importer produces the same thing: a host tensor map in torchvision's current
//! state-dict names and class layout (background first). Head surgery then fits the
//! class-specific layers to the model config's classes, and the map is applied to a fresh
//! model through burn-store with the same remapper and checks as `load_torchvision_weights`,
//! so a checkpoint that does not fit the config fails with one error listing every problem.
//! `save_safetensors` writes the result in torchvision's names, loadable by
//! `load_torchvision_weights` (and by torchvision itself).

pub mod args;
pub mod coco;
pub mod detectron2;
pub mod globals;
pub mod layout;
pub mod mmdet;
pub mod ndarray;
pub mod pickle;
pub mod semantics;
pub mod surgery;
pub mod tensors;
pub mod torchvision;
pub mod value;

pub use args::{ImportArgs, run_import};
pub use surgery::SurgeryReport;
pub use tensors::{HostTensor, TensorMap};

use crate::MaskRcnn;
use crate::weights::torchvision_remapper;
use burn::prelude::*;
use burn::store::{
    BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore,
};
use mrcnn_core::{Error, ModelConfig, Result};
use std::fmt;
use std::path::{Path, PathBuf};

/// Which framework wrote a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightFormat {
    /// Detectron2: model zoo `.pkl` (numpy pickle) or its checkpointer's `.pth`.
    Detectron2,
    /// MMDetection `.pth` (`state_dict` + `meta`).
    Mmdet,
    /// torchvision `.pth` / `.safetensors`, old (2019) or current key names.
    Torchvision,
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WeightFormat::Detectron2 => "detectron2",
            WeightFormat::Mmdet => "mmdet",
            WeightFormat::Torchvision => "torchvision",
        })
    }
}

/// Knobs of an import beyond the file and the config.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Foreground class names of the checkpoint (label 1 first), overriding what the file
    /// says or what its class count implies (80 = COCO for Detectron2/MMDetection, 91 = COCO
    /// for torchvision).
    pub source_class_names: Option<Vec<String>>,
    /// Seed of the re-initialised predictor rows.
    pub seed: u64,
}

/// A checkpoint converted to torchvision's names and class layout.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub tensors: TensorMap,
    /// Classes including the background.
    pub num_classes: usize,
    /// Foreground class names, when known.
    pub class_names: Option<Vec<String>>,
    /// Source keys that hold no weight.
    pub ignored: Vec<String>,
    pub notes: Vec<String>,
}

/// Reads and converts a checkpoint (no model needed).
pub fn read_checkpoint(
    format: WeightFormat,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Checkpoint> {
    if !path.is_file() {
        return Err(Error::Weights {
            path: path.to_path_buf(),
            message: "no such file".into(),
        });
    }
    let (conv, file_names) = match format {
        WeightFormat::Detectron2 => (detectron2::read(path)?, None),
        WeightFormat::Mmdet => mmdet::read(path)?,
        WeightFormat::Torchvision => (torchvision::read(path)?, None),
    };
    let num_classes = layout::validate(&conv.tensors, path)?;
    let mut notes = conv.notes;
    let class_names = match (&opts.source_class_names, file_names) {
        (Some(n), _) => {
            if n.len() + 1 != num_classes {
                return Err(Error::Weights {
                    path: path.to_path_buf(),
                    message: format!(
                        "{} source class names given, but the checkpoint has {} foreground classes",
                        n.len(),
                        num_classes - 1
                    ),
                });
            }
            Some(n.clone())
        }
        (None, Some(n)) if n.len() + 1 == num_classes => {
            notes.push(format!(
                "class names read from the checkpoint's meta ({} classes)",
                n.len()
            ));
            Some(n)
        }
        _ => match (format, num_classes) {
            (WeightFormat::Detectron2 | WeightFormat::Mmdet, 81) => {
                notes.push(
                    "81 classes: assuming the 80 COCO classes in Detectron2/MMDetection order"
                        .into(),
                );
                Some(coco::coco_80())
            }
            (WeightFormat::Torchvision, 91) => {
                notes.push("91 classes: assuming torchvision's COCO labels".into());
                Some(coco::coco_91())
            }
            _ => None,
        },
    };
    Ok(Checkpoint {
        tensors: conv.tensors,
        num_classes,
        class_names,
        ignored: conv.ignored,
        notes,
    })
}

/// What an import did, printable.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub format: WeightFormat,
    pub source: PathBuf,
    /// Tensors applied to the model.
    pub applied: usize,
    pub ignored: Vec<String>,
    pub notes: Vec<String>,
    pub surgery: SurgeryReport,
    /// Config values that differ from the format's usual semantics (see `semantics.rs`).
    pub hints: Vec<String>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "imported {} ({} format): {} tensors",
            self.source.display(),
            self.format,
            self.applied
        )?;
        if !self.ignored.is_empty() {
            writeln!(
                f,
                "ignored {} non-weight entries: {}",
                self.ignored.len(),
                detectron2::preview(&self.ignored)
            )?;
        }
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        write!(f, "{}", self.surgery)?;
        for h in &self.hints {
            writeln!(f, "hint: {h}")?;
        }
        Ok(())
    }
}

/// Imports a checkpoint into a model built from `cfg`, with head surgery to `cfg`'s classes.
pub fn import_weights(
    format: WeightFormat,
    path: &Path,
    cfg: &ModelConfig,
    device: &Device,
) -> Result<(MaskRcnn, ImportReport)> {
    import_weights_with(format, path, cfg, device, &ImportOptions::default())
}

/// [`import_weights`] with options.
pub fn import_weights_with(
    format: WeightFormat,
    path: &Path,
    cfg: &ModelConfig,
    device: &Device,
    opts: &ImportOptions,
) -> Result<(MaskRcnn, ImportReport)> {
    let mut ck = read_checkpoint(format, path, opts)?;
    let mut surgery = surgery::plan(
        ck.num_classes,
        ck.class_names.as_deref(),
        cfg.num_classes,
        &cfg.class_names,
    );
    surgery::apply(&mut ck.tensors, &mut surgery, opts.seed);
    let model = MaskRcnn::new(cfg.clone(), device)?;
    let (model, applied) = apply_tensors(model, &ck.tensors, path)?;
    let report = ImportReport {
        format,
        source: path.to_path_buf(),
        applied,
        ignored: ck.ignored,
        notes: ck.notes,
        surgery,
        hints: semantics::hints(format, cfg),
    };
    Ok((model, report))
}

/// Applies a torchvision-layout tensor map to `model`; every model tensor must be given and
/// every given tensor used. Returns the model and the number of tensors applied.
pub fn apply_tensors(
    mut model: MaskRcnn,
    map: &TensorMap,
    origin: &Path,
) -> Result<(MaskRcnn, usize)> {
    let bytes = tensors::to_safetensors_bytes(map)?;
    let mut store = SafetensorsStore::from_bytes(Some(bytes))
        .with_from_adapter(PyTorchToBurnAdapter)
        .remap(torchvision_remapper())
        .allow_partial(true)
        .validate(false);
    let fail = |m: String| Error::Weights {
        path: origin.to_path_buf(),
        message: m,
    };
    let result = model
        .load_from(&mut store)
        .map_err(|e| fail(e.to_string()))?;
    let mut problems = Vec::new();
    let missing: Vec<String> = result.missing.iter().map(|(p, _)| p.clone()).collect();
    if !missing.is_empty() {
        problems.push(format!(
            "model tensors missing from the checkpoint ({}): {}",
            missing.len(),
            detectron2::preview(&missing)
        ));
    }
    if !result.unused.is_empty() {
        problems.push(format!(
            "checkpoint tensors with no place in the model ({}): {}",
            result.unused.len(),
            detectron2::preview(&result.unused)
        ));
    }
    if !result.errors.is_empty() {
        let errs: Vec<String> = result.errors.iter().map(ToString::to_string).collect();
        problems.push(format!(
            "{} error(s): {}",
            errs.len(),
            detectron2::preview(&errs)
        ));
    }
    if !problems.is_empty() {
        return Err(fail(format!(
            "does not fit the model config ({}); check depth, FPN channels, head sizes and num_classes",
            problems.join("; ")
        )));
    }
    Ok((model, result.applied.len()))
}

/// Our module paths back to torchvision's current state-dict names (the inverse of
/// `torchvision_remapper`).
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

/// Writes the model's weights as a safetensors file in torchvision's names and layout
/// (overwriting `out`), loadable with `load_torchvision_weights`.
pub fn save_safetensors(model: &MaskRcnn, out: &Path) -> Result<()> {
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let mut store = SafetensorsStore::from_file(out)
        .with_to_adapter(BurnToPyTorchAdapter)
        .remap(module_to_torchvision_remapper())
        .metadata("format", "pt")
        .metadata("layout", "torchvision maskrcnn state_dict")
        .metadata("num_classes", model.config.num_classes.to_string())
        .overwrite(true);
    model.save_into(&mut store).map_err(|e| Error::Weights {
        path: out.to_path_buf(),
        message: format!("cannot write: {e}"),
    })
}
