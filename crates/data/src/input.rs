//! Reading any supported format into named splits (shared by `convert` and `dataset stats`).

use std::path::{Path, PathBuf};

use mrcnn_config::{DatasetFormat, ExifPolicy, MaskFolderSection, OnBadSample};

use crate::annotations::{ToolData, ToolOptions, ToolRead, assemble};
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
    /// labelme, via, cvat, voc-masks: the fraction of images drawn for validation, and the
    /// seed of that draw.
    pub val_fraction: f64,
    pub split_seed: u64,
    /// EXIF orientation policy; `None` = the format's default.
    pub exif: Option<ExifPolicy>,
    /// via: the region attribute holding the class.
    pub class_attribute: Option<String>,
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
            push_train_val(&mut out, d.train, d.val);
        }
        DatasetFormat::Labelme
        | DatasetFormat::Via
        | DatasetFormat::Cvat
        | DatasetFormat::VocMasks => {
            let d = read_tool(args, label_map.as_deref(), log)?;
            notes.extend(d.notes);
            push_train_val(&mut out, d.train, d.val);
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

/// A format that splits itself gives "train" and, when it drew or found any, "val".
fn push_train_val(out: &mut Vec<Split>, train: Dataset, val: Dataset) {
    out.push(Split {
        name: "train".into(),
        dataset: train,
    });
    if !val.images.is_empty() {
        out.push(Split {
            name: "val".into(),
            dataset: val,
        });
    }
}

/// Reads every input of an annotation tool's format as one dataset: the classes are numbered
/// and the validation set drawn over all of them. With several inputs, each image name gets
/// its input's name in front, so that two folders' `0001.jpg` stay apart.
fn read_tool(
    args: &InputOptions,
    label_map: Option<&[Category]>,
    log: &mut ProblemLog,
) -> Result<ToolData, DataError> {
    use crate::annotations::{cvat, labelme, via, voc};
    let opts = ToolOptions {
        apply_exif: args.exif.unwrap_or(args.format.default_exif()) == ExifPolicy::Apply,
        val_fraction: args.val_fraction,
        split_seed: args.split_seed,
        class_attribute: args.class_attribute.clone(),
        images: args.images.clone(),
        label_map: label_map.map(<[Category]>::to_vec),
    };
    let Some(first) = args.inputs.first() else {
        return Err(DataError::Options(format!(
            "no input given for a {} dataset",
            args.format
        )));
    };
    let mut all = ToolRead::default();
    for spec in &args.inputs {
        let p = Path::new(spec);
        let mut r = match args.format {
            DatasetFormat::Labelme => labelme::read_labelme(p, &opts, log)?,
            DatasetFormat::Via => via::read_via(p, &opts, log)?,
            DatasetFormat::Cvat => cvat::read_cvat(p, &opts, log)?,
            _ => voc::read_voc(p, &opts, log)?,
        };
        if args.inputs.len() > 1 {
            let prefix = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            for img in &mut r.images {
                img.file_name = format!("{prefix}/{}", img.file_name);
            }
        }
        all.images.extend(r.images);
        for d in r.declared {
            if !all.declared.contains(&d) {
                all.declared.push(d);
            }
        }
        all.notes.extend(r.notes);
    }
    assemble(
        Path::new(first),
        all.images,
        &all.declared,
        label_map,
        &opts,
        log,
        all.notes,
    )
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
