//! The experiment's datasets: reading the configured format into a training and a validation
//! set (and making the synthetic shapes set first when the experiment asks for it).

use mrcnn_config::{DatasetSection, Experiment};
use mrcnn_data::{Dataset, InputOptions, ProblemLog, read_input};
use std::path::PathBuf;

use crate::error::TrainError;

/// Training and validation sets with the same categories.
pub struct Sets {
    pub train: Dataset,
    pub val: Option<Dataset>,
    /// Problems skipped while reading (skip policy), already summarised for the log.
    pub notes: Vec<String>,
    /// Validation images left out (unreadable, skip policy), each with why.
    pub skipped_val: Vec<String>,
}

fn input_options(d: &DatasetSection, inputs: &[String], images: Option<PathBuf>) -> InputOptions {
    InputOptions {
        format: d.format,
        inputs: inputs.to_vec(),
        images,
        label_map: d.label_map.clone(),
        on_bad_sample: d.on_bad_sample,
        mask_folder: d.mask_folder.clone(),
        val_fraction: d.val_fraction,
        split_seed: d.split_seed,
        exif: d.exif,
        class_attribute: d.class_attribute.clone(),
    }
}

/// Joins several splits (e.g. one COCO file per sequence) into one set; categories must agree.
fn join(mut splits: Vec<mrcnn_data::Split>, what: &str) -> Result<Dataset, TrainError> {
    let Some(first) = splits.first() else {
        return Err(TrainError::Setup(format!(
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
            return Err(TrainError::Setup(format!(
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
    tracing::info!(
        "making the synthetic shapes set in {} ({} training, {} validation images)",
        s.out.display(),
        s.train_images,
        s.val_images
    );
    mrcnn_data::synth(s)?;
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
                return Err(TrainError::Setup(format!(
                    "dataset.{key}: {p} does not exist (paths are relative to the current \
                     directory: run from the project root, or give an absolute path)"
                )));
            }
        }
    }
    let mut log = ProblemLog::new(d.on_bad_sample);
    let mut notes = Vec::new();
    let (train, val) = match d.format {
        f if f.splits_itself() && d.val.is_empty() => {
            let mut splits = read_input(
                &input_options(d, &d.train, d.images.clone()),
                &mut log,
                &mut notes,
            )?;
            let val = splits
                .iter()
                .position(|s| s.name == "val")
                .map(|i| splits.remove(i).dataset);
            (join(splits, "train")?, val)
        }
        _ => {
            let train = read_input(
                &input_options(d, &d.train, d.images.clone()),
                &mut log,
                &mut notes,
            )?;
            let train = join(train, "train")?;
            let val = if d.val.is_empty() {
                None
            } else {
                let v = read_input(
                    &input_options(d, &d.val, d.val_images.clone()),
                    &mut log,
                    &mut notes,
                )?;
                Some(join(v, "val")?)
            };
            (train, val)
        }
    };
    if let Some(v) = &val
        && v.categories != train.categories
    {
        return Err(TrainError::Setup(
            "the validation set's categories differ from the training set's; \
             give both the same categories (or one label_map)"
                .into(),
        ));
    }
    if train.images.is_empty() {
        return Err(TrainError::Setup(format!(
            "dataset.train ({}) holds no images",
            d.train.join(", ")
        )));
    }
    // Every validation image is decoded now, not at the first evaluation hours later: under the
    // error policy a bad one stops the run before it trains; under skip it is left out, counted
    // and named (log, metrics.json).
    let mut val = val;
    let mut skipped_val = Vec::new();
    if let Some(v) = val.as_mut() {
        let mut val_log = ProblemLog::new(d.on_bad_sample);
        mrcnn_data::sample::keep_decodable(v, &mut val_log)?;
        skipped_val = val_log.problems.iter().map(ToString::to_string).collect();
        if !skipped_val.is_empty() {
            notes.push(format!(
                "{} validation image(s) cannot be read and are left out of every evaluation: {}",
                skipped_val.len(),
                skipped_val.join("; ")
            ));
        }
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
    Ok(Sets {
        train,
        val,
        notes,
        skipped_val,
    })
}
