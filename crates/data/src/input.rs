//! Reading any supported format into named splits (shared by `convert` and `dataset stats`).

use std::path::{Path, PathBuf};

use mrcnn_config::{DatasetFormat, MaskFolderSection, OnBadSample};

use crate::error::{DataError, ProblemLog};
use crate::mask_folder::read_mask_folder;
use crate::model::{Category, Dataset};

/// Where and how to read a dataset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputOptions {
    pub format: DatasetFormat,
    /// coco: JSON file(s), one split each (named after the file); mask-folder: the root
    /// folder; tfrecord: file, glob or `prefix@N`, one split each.
    pub inputs: Vec<String>,
    /// coco: image root (default: `<json folder>/images`).
    pub images: Option<PathBuf>,
    /// Label map (.pbtxt or .toml): fixes class ids and names.
    pub label_map: Option<PathBuf>,
    /// What to do with a bad image or annotation.
    pub on_bad_sample: OnBadSample,
    /// The layout of a mask-folder dataset.
    pub mask_folder: MaskFolderSection,
}

/// A named split.
#[derive(Debug)]
pub struct Split {
    pub name: String,
    pub dataset: Dataset,
}

/// Read the input into splits; problems go to `log`, notes (e.g. ignored empty masks) to `notes`.
pub fn read_input(
    args: &InputOptions,
    log: &mut ProblemLog,
    notes: &mut Vec<String>,
) -> Result<Vec<Split>, DataError> {
    let label_map: Option<Vec<Category>> = match &args.label_map {
        Some(p) => Some(crate::labelmap::read_label_map(p)?),
        None => None,
    };
    let mut out = Vec::new();
    match args.format {
        DatasetFormat::Coco => {
            for spec in &args.inputs {
                let json = Path::new(spec);
                let root = match &args.images {
                    Some(r) => r.clone(),
                    None => json.parent().unwrap_or(Path::new(".")).join("images"),
                };
                let mut ds = crate::coco::read_coco(json, &root, log)?;
                if let Some(lm) = &label_map {
                    check_same_classes(&ds.categories, lm, json)?;
                }
                ds.normalize_categories();
                let name = json
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or("data".into());
                out.push(Split { name, dataset: ds });
            }
        }
        DatasetFormat::MaskFolder => {
            let [root] = args.inputs.as_slice() else {
                return Err(DataError::Options(format!(
                    "a mask-folder dataset is one root folder, {} given",
                    args.inputs.len()
                )));
            };
            let d = read_mask_folder(
                Path::new(root),
                &args.mask_folder,
                label_map.as_deref(),
                log,
            )?;
            if d.empty_masks > 0 {
                notes.push(format!("{} all-zero mask file(s) ignored", d.empty_masks));
            }
            out.push(Split {
                name: "train".into(),
                dataset: d.train,
            });
            if !d.val.images.is_empty() {
                out.push(Split {
                    name: "val".into(),
                    dataset: d.val,
                });
            }
        }
        DatasetFormat::Tfrecord => {
            for spec in &args.inputs {
                let files = crate::tfrecord::expand_input(spec)?;
                let ds = crate::tfrecord::read_tfrecords(&files, label_map.as_deref(), log)?;
                out.push(Split {
                    name: crate::tfrecord::split_name(spec),
                    dataset: ds,
                });
            }
        }
    }
    Ok(out)
}

/// A COCO file's categories must agree with a given label map (ids and names).
fn check_same_classes(cats: &[Category], lm: &[Category], file: &Path) -> Result<(), DataError> {
    for c in cats {
        if !lm.iter().any(|l| l == c) {
            return Err(DataError::format(
                file,
                format!("category {} '{}' is not in the label map", c.id, c.name),
            ));
        }
    }
    Ok(())
}
