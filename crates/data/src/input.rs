//! Reading any supported format into named splits (shared by `convert` and `dataset stats`).

use std::path::{Path, PathBuf};

use crate::error::{DataError, OnBadSample, ProblemLog};
use crate::mask_folder::{MaskFolderArgs, read_mask_folder};
use crate::model::{Category, Dataset};

/// A dataset format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// COCO instances JSON.
    Coco,
    /// Image folder + binary instance PNGs or label PNGs (read only).
    MaskFolder,
    /// TF Object Detection API TFRecords.
    Tfrecord,
}

/// Where to read a dataset from.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct InputArgs {
    /// Input format.
    #[arg(long = "from", value_enum)]
    pub from: Format,
    /// coco: JSON file(s), one split each (named after the file);
    /// mask-folder: the root folder; tfrecord: file, glob or `prefix@N`, one split each.
    #[arg(long = "input", short = 'i', required = true, num_args = 1..)]
    pub input: Vec<String>,
    /// coco: image root (default: `<json folder>/images`).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// Label map (.pbtxt or .toml): fixes class ids and names.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
    /// What to do with a bad image or annotation.
    #[arg(long, value_enum, default_value = "error")]
    pub on_bad_sample: OnBadSample,
    #[command(flatten)]
    pub mask_folder: MaskFolderArgs,
}

/// A named split.
#[derive(Debug)]
pub struct Split {
    pub name: String,
    pub dataset: Dataset,
}

/// Read the input into splits; problems go to `log`, notes (e.g. ignored empty masks) to `notes`.
pub fn read_input(
    args: &InputArgs,
    log: &mut ProblemLog,
    notes: &mut Vec<String>,
) -> Result<Vec<Split>, DataError> {
    let label_map: Option<Vec<Category>> = match &args.label_map {
        Some(p) => Some(crate::labelmap::read_label_map(p)?),
        None => None,
    };
    let mut out = Vec::new();
    match args.from {
        Format::Coco => {
            for spec in &args.input {
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
        Format::MaskFolder => {
            let [root] = args.input.as_slice() else {
                return Err(DataError::Args(
                    "--from mask-folder takes exactly one --input folder".into(),
                ));
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
        Format::Tfrecord => {
            for spec in &args.input {
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
