//! The experiment's datasets: reading the configured format into a training and a validation
//! set (and making the synthetic shapes set first when the experiment asks for it).

use mrcnn_config::{DatasetFormat, DatasetSection, Experiment};
use mrcnn_data::mask_folder::MaskFolderArgs;
use mrcnn_data::{Dataset, Format, InputArgs, OnBadSample, ProblemLog, read_input};
use std::path::PathBuf;

use crate::error::TrainError;

/// Training and validation sets with the same categories.
pub struct Sets {
    pub train: Dataset,
    pub val: Option<Dataset>,
    /// Problems skipped while reading (skip policy), already summarised for the log.
    pub notes: Vec<String>,
}

pub fn on_bad_sample(d: &DatasetSection) -> OnBadSample {
    match d.on_bad_sample {
        mrcnn_config::OnBadSample::Error => OnBadSample::Error,
        mrcnn_config::OnBadSample::Skip => OnBadSample::Skip,
    }
}

fn input_args(d: &DatasetSection, inputs: &[String], images: Option<PathBuf>) -> InputArgs {
    let mf = &d.mask_folder;
    InputArgs {
        from: match d.format {
            DatasetFormat::Coco => Format::Coco,
            DatasetFormat::MaskFolder => Format::MaskFolder,
            DatasetFormat::Tfrecord => Format::Tfrecord,
        },
        input: inputs.to_vec(),
        images,
        label_map: d.label_map.clone(),
        on_bad_sample: on_bad_sample(d),
        mask_folder: MaskFolderArgs {
            images_dir: mf.images_dir.clone(),
            masks_dir: mf.masks_dir.clone(),
            labels_dir: mf.labels_dir.clone(),
            class_rules: mf
                .class_rules
                .iter()
                .map(|r| format!("{}={}", r.pattern, r.class))
                .collect(),
            class_rules_file: None,
            val_folders: mf.val_folders.clone(),
            val_fraction: mf.val_fraction,
            split_seed: mf.split_seed,
        },
    }
}

/// Joins several splits (e.g. one COCO file per sequence) into one set; categories must agree.
fn join(mut splits: Vec<mrcnn_data::Split>, what: &str) -> Result<Dataset, TrainError> {
    let Some(first) = splits.first() else {
        return Err(TrainError::Config(format!(
            "dataset.{what}: no data given; list the files or folders to read"
        )));
    };
    let cats = first.dataset.categories.clone();
    let mut out = Dataset {
        categories: cats.clone(),
        images: Vec::new(),
    };
    let mut next_id = 1u64;
    let multi = splits.len() > 1;
    for s in splits.drain(..) {
        if s.dataset.categories != cats {
            return Err(TrainError::Config(format!(
                "dataset.{what}: split '{}' has other categories than the first one; \
                 give all files the same categories (or a label_map)",
                s.name
            )));
        }
        for mut img in s.dataset.images {
            if multi {
                img.id = next_id;
                next_id += 1;
            }
            out.images.push(img);
        }
    }
    Ok(out)
}

/// Makes the synthetic shapes set if the experiment asks for it and it is missing.
fn ensure_synth(exp: &Experiment) -> Result<(), TrainError> {
    let Some(s) = &exp.dataset.synth else {
        return Ok(());
    };
    let missing = exp
        .dataset
        .train
        .iter()
        .chain(&exp.dataset.val)
        .any(|p| !std::path::Path::new(p).exists());
    if !missing {
        return Ok(());
    }
    let args = mrcnn_data::SynthArgs {
        out: s.out.clone(),
        train: s.train_images,
        val: s.val_images,
        width: s.width,
        height: s.height,
        max_shapes: s.max_objects,
        seed: s.seed,
        ..Default::default()
    };
    tracing::info!(
        "making the synthetic shapes set in {} ({} training, {} validation images)",
        s.out.display(),
        s.train_images,
        s.val_images
    );
    mrcnn_data::run_synth(&args).map_err(|e| TrainError::Data(e.to_string()))?;
    Ok(())
}

/// Reads the training and validation sets.
pub fn load_sets(exp: &Experiment) -> Result<Sets, TrainError> {
    ensure_synth(exp)?;
    let d = &exp.dataset;
    for (key, list) in [("train", &d.train), ("val", &d.val)] {
        for p in list {
            let plain = !p.contains('*') && !p.contains('?') && !p.contains('@');
            if plain && !std::path::Path::new(p).exists() {
                return Err(TrainError::Config(format!(
                    "dataset.{key}: {p} does not exist (paths are relative to the current \
                     directory: run from the project root, or give an absolute path)"
                )));
            }
        }
    }
    let policy = on_bad_sample(d);
    let mut log = ProblemLog::new(policy);
    let mut notes = Vec::new();
    let data_err = |e: mrcnn_data::DataError| TrainError::Data(e.to_string());
    let (train, val) = match d.format {
        DatasetFormat::MaskFolder => {
            let mut splits = read_input(
                &input_args(d, &d.train, d.images.clone()),
                &mut log,
                &mut notes,
            )
            .map_err(data_err)?;
            let val = splits
                .iter()
                .position(|s| s.name == "val")
                .map(|i| splits.remove(i).dataset);
            (join(splits, "train")?, val)
        }
        _ => {
            let train = read_input(
                &input_args(d, &d.train, d.images.clone()),
                &mut log,
                &mut notes,
            )
            .map_err(data_err)?;
            let train = join(train, "train")?;
            let val = if d.val.is_empty() {
                None
            } else {
                let v = read_input(
                    &input_args(d, &d.val, d.val_images.clone()),
                    &mut log,
                    &mut notes,
                )
                .map_err(data_err)?;
                Some(join(v, "val")?)
            };
            (train, val)
        }
    };
    if let Some(v) = &val
        && v.categories != train.categories
    {
        return Err(TrainError::Config(
            "the validation set's categories differ from the training set's; \
             give both the same categories (or one label_map)"
                .into(),
        ));
    }
    if train.images.is_empty() {
        return Err(TrainError::Config(format!(
            "dataset.train ({}) holds no images",
            d.train.join(", ")
        )));
    }
    if !log.problems.is_empty() {
        notes.push(format!(
            "{} problem(s) while reading ({} images and {} annotations skipped); first: {}",
            log.problems.len(),
            log.skipped_images,
            log.skipped_annotations,
            log.problems[0]
        ));
    }
    Ok(Sets { train, val, notes })
}
