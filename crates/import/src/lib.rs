//! mrcnn-import: reading COCO-pretrained weights of other frameworks, Detectron2 (`.pkl`,
//! `.pth`), MMDetection (`.pth`) and torchvision (`.pth`, `.safetensors`, old and current key
//! names), without Python and without running anything a pickle names.
//!
//! Every reader produces the same thing ([`read_checkpoint`]): a host tensor map in
//! torchvision's current state-dict names and class layout (background first). [`surgery`]
//! then fits the class-specific rows to a model config's classes, and [`semantics`] says where
//! the config differs from what the framework's weights expect. `mrcnn-model` applies the map to
//! a model (`MaskRcnn::load`).
//!
//! [`tf`] reads TensorFlow checkpoints (TensorBundle: the OD API's `model.ckpt`, or a frozen
//! graph's constants) and maps the OD API's C4 Faster/Mask R-CNN onto torchvision's names.
//!
//! Modules depend one way: `ndarray` <- `value` <- `globals` <- `pickle` <- `detectron2`; the
//! framework readers <- `layout`, `tensors`; this file uses them all.

pub mod coco;
mod converted;
pub mod detectron2;
mod error;
pub mod globals;
pub mod layout;
pub mod mmdet;
pub mod ndarray;
pub mod pickle;
pub mod semantics;
pub mod surgery;
pub mod tensors;
pub mod tf;
pub mod torchvision;
pub mod value;

pub use converted::{Converted, preview};
pub use error::{ImportError, Result};
pub use mrcnn_config::WeightsFormat;
pub use surgery::SurgeryReport;
pub use tensors::{HostTensor, TensorMap};

use std::fmt;
use std::path::{Path, PathBuf};

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
    /// The framework it was read as (never `Auto`).
    pub format: WeightsFormat,
    pub tensors: TensorMap,
    /// Classes including the background.
    pub num_classes: usize,
    /// Foreground class names, when known.
    pub class_names: Option<Vec<String>>,
    /// Source keys that hold no weight.
    pub ignored: Vec<String>,
    pub notes: Vec<String>,
}

/// Reads and converts a checkpoint (no model needed). `format` is resolved by the file's
/// extension when it is `Auto`.
pub fn read_checkpoint(
    format: WeightsFormat,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Checkpoint> {
    let format = format.resolve(path);
    if format != WeightsFormat::TfOdApi && !path.is_file() {
        return Err(ImportError::weights(path, "no such file"));
    }
    let (conv, file_names) = match format {
        WeightsFormat::Detectron2 => (detectron2::read(path)?, None),
        WeightsFormat::Mmdet => mmdet::read(path)?,
        WeightsFormat::TfOdApi => (tf::od_api::read(path)?, None),
        WeightsFormat::Torchvision | WeightsFormat::Auto => (torchvision::read(path)?, None),
    };
    let num_classes = layout::validate(&conv.tensors, path)?;
    let mut notes = conv.notes;
    let class_names = match (&opts.source_class_names, file_names) {
        (Some(n), _) => {
            if n.len() + 1 != num_classes {
                return Err(ImportError::Weights {
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
            (WeightsFormat::Detectron2 | WeightsFormat::Mmdet, 81) => {
                notes.push(
                    "81 classes: assuming the 80 COCO classes in Detectron2/MMDetection order"
                        .into(),
                );
                Some(coco::coco_80())
            }
            (WeightsFormat::Torchvision, 91) => {
                notes.push("91 classes: assuming torchvision's COCO labels".into());
                Some(coco::coco_91())
            }
            _ => None,
        },
    };
    Ok(Checkpoint {
        format,
        tensors: conv.tensors,
        num_classes,
        class_names,
        ignored: conv.ignored,
        notes,
    })
}

impl Checkpoint {
    /// Fits the class-specific rows to a model's classes (`num_classes` with the background,
    /// `class_names` of labels 1..): rows of classes the checkpoint knows by name are carried
    /// over, the others re-initialised as Detectron2 does (seeded). Returns what was done.
    pub fn fit_classes(
        &mut self,
        num_classes: usize,
        class_names: &[String],
        seed: u64,
    ) -> SurgeryReport {
        let mut report = surgery::plan(
            self.num_classes,
            self.class_names.as_deref(),
            num_classes,
            class_names,
        );
        surgery::apply(&mut self.tensors, &mut report, seed);
        report
    }
}

/// What an import did, printable.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub format: WeightsFormat,
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
                preview(&self.ignored)
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
