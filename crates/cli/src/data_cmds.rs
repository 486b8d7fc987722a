//! `mrcnn convert`, `mrcnn synth` and `mrcnn dataset stats`: their flags, turned into
//! `mrcnn-data`'s option structs (the same types experiment TOMLs use).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use mrcnn_config::{
    ClassRule, DatasetFormat, ExifPolicy, MaskFolderSection, OnBadSample, SynthSection,
};
use mrcnn_data::{ConvertOptions, InputOptions, StatsOptions};

use crate::names;

/// Where to read a dataset from.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Input format: coco, mask-folder, tfrecord, labelme, via, cvat or voc-masks.
    #[arg(long = "from", value_parser = names::<DatasetFormat>(DatasetFormat::NAMES))]
    pub from: DatasetFormat,
    /// coco: JSON file(s), one split each (named after the file); mask-folder: the root folder;
    /// tfrecord: file, glob or `prefix@N`, one split each; labelme: folder(s) of images and
    /// JSONs; via: VIA 2/3 JSON file(s); cvat: annotations.xml file(s); voc-masks: the root
    /// folder (JPEGImages/, SegmentationObject/, SegmentationClass/).
    #[arg(long = "input", short = 'i', required = true, num_args = 1..)]
    pub input: Vec<String>,
    /// coco: image root (default: `<json folder>/images`); via: image folder (default: the
    /// JSON's folder); cvat: image folder (default: `images/` beside the XML).
    #[arg(long)]
    pub images: Option<PathBuf>,
    /// EXIF orientation: apply (rotate as a photo viewer does) or ignore (stored pixels).
    /// Default: what the format's tool showed its annotator (apply for labelme, via, cvat).
    #[arg(long, value_parser = names::<ExifPolicy>(ExifPolicy::NAMES))]
    pub exif: Option<ExifPolicy>,
    /// via: the region attribute that holds the class (default: class, label, category,
    /// name or type, or the only attribute).
    #[arg(long)]
    pub class_attribute: Option<String>,
    /// Label map (.pbtxt or .toml): fixes class ids and names.
    #[arg(long)]
    pub label_map: Option<PathBuf>,
    /// What to do with a bad image or annotation: error or skip.
    #[arg(long, default_value = "error", value_parser = names::<OnBadSample>(OnBadSample::NAMES))]
    pub on_bad_sample: OnBadSample,
    #[command(flatten)]
    pub mask_folder: MaskFolderArgs,
}

/// The layout of a mask-folder dataset.
#[derive(Args, Debug, Clone)]
pub struct MaskFolderArgs {
    /// Image folder name inside each sequence.
    #[arg(long, default_value = "images")]
    pub images_dir: String,
    /// Binary instance-mask folder name inside each sequence.
    #[arg(long, default_value = "masks")]
    pub masks_dir: String,
    /// Label-PNG folder name inside each sequence (used when it exists).
    #[arg(long, default_value = "labels")]
    pub labels_dir: String,
    /// Class rule REGEX=CLASS, matched against the mask path relative to the masks folder;
    /// first match wins. Repeatable.
    #[arg(long = "class-rule", value_name = "REGEX=CLASS", value_parser = class_rule)]
    pub class_rules: Vec<ClassRule>,
    /// TOML file of rules: `[[rule]]` with `pattern = "..."`, `class = "..."` (after the
    /// --class-rule ones).
    #[arg(long, value_name = "TOML")]
    pub class_rules_file: Option<PathBuf>,
    /// Sequences (sub-folders) that form the validation split, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub val_folders: Vec<String>,
    /// Else (and for labelme, via, cvat, voc-masks without ImageSets): this fraction of the
    /// images, drawn with --seed, is validation.
    #[arg(long, default_value_t = 0.0)]
    pub val_fraction: f64,
    /// Seed of the --val-fraction draw (by image).
    #[arg(long, visible_alias = "seed", default_value_t = 0)]
    pub split_seed: u64,
    /// A mask pixel is the object when its value is at least this; without it, masks must be
    /// binary (0 and one other value) and other masks are bad samples.
    #[arg(long)]
    pub mask_threshold: Option<u16>,
}

/// `REGEX=CLASS` (the last `=` separates them, so the pattern may hold one).
fn class_rule(s: &str) -> Result<ClassRule, String> {
    let (pattern, class) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("'{s}' is not REGEX=CLASS"))?;
    Ok(ClassRule {
        pattern: pattern.to_string(),
        class: class.trim().to_string(),
    })
}

impl InputArgs {
    pub fn options(&self) -> Result<InputOptions> {
        let m = &self.mask_folder;
        let mut class_rules = m.class_rules.clone();
        if let Some(f) = &m.class_rules_file {
            class_rules.extend(mrcnn_data::mask_folder::read_class_rules_file(f)?);
        }
        Ok(InputOptions {
            format: self.from,
            inputs: self.input.clone(),
            images: self.images.clone(),
            label_map: self.label_map.clone(),
            on_bad_sample: self.on_bad_sample,
            mask_folder: MaskFolderSection {
                images_dir: m.images_dir.clone(),
                masks_dir: m.masks_dir.clone(),
                labels_dir: m.labels_dir.clone(),
                class_rules,
                val_folders: m.val_folders.clone(),
                val_fraction: m.val_fraction,
                split_seed: m.split_seed,
                threshold: m.mask_threshold,
            },
            val_fraction: if self.from == DatasetFormat::MaskFolder {
                0.0
            } else {
                m.val_fraction
            },
            split_seed: m.split_seed,
            exif: self.exif,
            class_attribute: self.class_attribute.clone(),
        })
    }
}

/// `mrcnn convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format: coco or tfrecord.
    #[arg(long, value_parser = names::<DatasetFormat>(DatasetFormat::NAMES))]
    pub to: DatasetFormat,
    /// Output folder.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// TFRecord shards per split.
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
}

/// `mrcnn dataset stats`.
#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Decode every image and mask (finds corrupt files; slower).
    #[arg(long)]
    pub check_images: bool,
}

/// `mrcnn synth`.
#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Output folder.
    #[arg(long, default_value = "data/shapes")]
    pub out: PathBuf,
    /// Number of training images.
    #[arg(long, default_value_t = 200)]
    pub train: usize,
    /// Number of validation images.
    #[arg(long, default_value_t = 50)]
    pub val: usize,
    /// Image width in pixels.
    #[arg(long, default_value_t = 128)]
    pub width: u32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 128)]
    pub height: u32,
    /// Fewest shapes painted per image (before occlusion drops).
    #[arg(long, default_value_t = 1)]
    pub min_shapes: usize,
    /// Most shapes painted per image.
    #[arg(long, default_value_t = 4)]
    pub max_shapes: usize,
    /// Shapes with fewer visible pixels are removed.
    #[arg(long, default_value_t = 40)]
    pub min_area: u64,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn convert(a: &ConvertArgs) -> Result<mrcnn_data::Report> {
    Ok(mrcnn_data::convert(&ConvertOptions {
        input: a.input.options()?,
        to: a.to,
        out: a.out.clone(),
        shards: a.shards,
    })?)
}

pub fn stats(a: &StatsArgs) -> Result<mrcnn_data::Report> {
    Ok(mrcnn_data::stats(&StatsOptions {
        input: a.input.options()?,
        check_images: a.check_images,
    })?)
}

pub fn synth(a: &SynthArgs) -> Result<mrcnn_data::Report> {
    Ok(mrcnn_data::synth(&SynthSection {
        out: a.out.clone(),
        train_images: a.train,
        val_images: a.val,
        width: a.width,
        height: a.height,
        min_objects: a.min_shapes,
        max_objects: a.max_shapes,
        min_area: a.min_area,
        seed: a.seed,
    })?)
}
