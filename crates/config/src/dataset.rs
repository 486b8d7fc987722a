//! `[dataset]`: where the training and validation data come from. Its option types are the
//! ones `mrcnn-data` reads with (one definition for the experiment and the library).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::UnknownName;

/// The `[dataset]` section. Paths are kept as written, relative to the current directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatasetSection {
    /// On-disk format of `train` and `val`. Default `coco`.
    pub format: DatasetFormat,
    /// `coco`: annotation JSON files; `tfrecord`: files, globs or `prefix@N` shard specs;
    /// `mask-folder`: exactly one root folder, from which both train and val are taken.
    pub train: Vec<String>,
    /// The same for validation; empty for `mask-folder` (its split comes from
    /// `mask_folder.val_folders` / `mask_folder.val_fraction`).
    pub val: Vec<String>,
    /// COCO image root for `train`; `None` = `<folder of the JSON>/images` (decided by the
    /// reader).
    pub images: Option<PathBuf>,
    /// COCO image root for `val`; `None` as for `images`.
    pub val_images: Option<PathBuf>,
    /// Class names and ids: a TensorFlow Object Detection `.pbtxt` or a `.toml`.
    pub label_map: Option<PathBuf>,
    /// What a sample that cannot be read or has invalid annotations does. Default `error`.
    pub on_bad_sample: OnBadSample,
    /// Layout of a `mask-folder` dataset.
    pub mask_folder: MaskFolderSection,
    /// If present and the train data is missing, the trainer generates a synthetic shapes set
    /// with these settings first.
    pub synth: Option<SynthSection>,
    /// `labelme`, `via`, `cvat`, `voc-masks` with an empty `val`: the fraction of the images
    /// (drawn with `split_seed`) that form the validation set; these tools do not split.
    /// Default 0 (no validation set). `voc-masks` uses `ImageSets/Segmentation/*.txt` when
    /// present.
    pub val_fraction: f64,
    /// Seed of the `val_fraction` draw (by image). Default 0.
    pub split_seed: u64,
    /// EXIF orientation: `"apply"` rotates the image as a photo viewer shows it, `"ignore"`
    /// uses the stored pixels. Default: what the format's annotation tool showed when the
    /// polygons were drawn ([`DatasetFormat::default_exif`]).
    pub exif: Option<ExifPolicy>,
    /// `via`: the region attribute that holds the class name. Default: the first of `class`,
    /// `label`, `category`, `name`, `type` the project has, or its only region attribute.
    pub class_attribute: Option<String>,
}

impl Default for DatasetSection {
    fn default() -> Self {
        Self {
            format: DatasetFormat::Coco,
            train: Vec::new(),
            val: Vec::new(),
            images: None,
            val_images: None,
            label_map: None,
            on_bad_sample: OnBadSample::Error,
            mask_folder: MaskFolderSection::default(),
            synth: None,
            val_fraction: 0.0,
            split_seed: 0,
            exif: None,
            class_attribute: None,
        }
    }
}

/// `dataset.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetFormat {
    /// COCO instance-segmentation JSON (polygons or RLE).
    #[default]
    Coco,
    /// A folder of images with one mask image per object (see `data/README.md`).
    MaskFolder,
    /// TensorFlow Object Detection API TFRecords.
    Tfrecord,
    /// labelme: a folder (searched recursively) of images with a `.json` beside each.
    Labelme,
    /// VGG Image Annotator 2 or 3: a project or exported-annotations JSON, images beside it.
    Via,
    /// CVAT for images 1.1 XML (`annotations.xml`), images in `images/` beside it.
    Cvat,
    /// Pascal VOC instance PNGs: `JPEGImages/`, `SegmentationObject/`, `SegmentationClass/`.
    VocMasks,
}

impl DatasetFormat {
    /// The names as written in TOML and on the command line.
    pub const NAMES: &'static [&'static str] = &[
        "coco",
        "mask-folder",
        "tfrecord",
        "labelme",
        "via",
        "cvat",
        "voc-masks",
    ];
    const ALL: [Self; 7] = [
        Self::Coco,
        Self::MaskFolder,
        Self::Tfrecord,
        Self::Labelme,
        Self::Via,
        Self::Cvat,
        Self::VocMasks,
    ];

    /// The EXIF policy matching what the format's tool showed its annotator. labelme applies
    /// the orientation when it opens a photo (its `apply_exif_orientation`), VIA draws on the
    /// browser's `<img>`, which browsers orient (CSS `image-orientation: from-image`, the
    /// default since 2020), and CVAT rotates images by their tag when it makes a task. COCO,
    /// mask folders and TFRecords keep the stored pixels, as pycocotools, torchvision's
    /// readers and TensorFlow's `decode_jpeg` do; VOC's masks are aligned with the stored
    /// pixels.
    pub fn default_exif(self) -> ExifPolicy {
        match self {
            Self::Labelme | Self::Via | Self::Cvat => ExifPolicy::Apply,
            Self::Coco | Self::MaskFolder | Self::Tfrecord | Self::VocMasks => ExifPolicy::Ignore,
        }
    }

    /// Formats whose one input holds both splits (the validation set is drawn from it unless
    /// `val` is given): mask folders and the annotation tools' formats.
    pub fn splits_itself(self) -> bool {
        !matches!(self, Self::Coco | Self::Tfrecord)
    }
}

/// `dataset.exif`: what an image's EXIF orientation tag does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExifPolicy {
    /// Use the pixels as stored; the tag is reported, not applied.
    Ignore,
    /// Rotate/flip the image as the tag says (as phone galleries show it).
    Apply,
}

impl ExifPolicy {
    /// The names as written in TOML and on the command line.
    pub const NAMES: &'static [&'static str] = &["ignore", "apply"];
    const ALL: [Self; 2] = [Self::Ignore, Self::Apply];
}

impl fmt::Display for ExifPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ignore => "ignore",
            Self::Apply => "apply",
        })
    }
}

impl FromStr for ExifPolicy {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        by_name(s, Self::NAMES, &Self::ALL, "EXIF policy")
    }
}

impl fmt::Display for DatasetFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = Self::ALL.iter().position(|v| v == self).expect("listed");
        f.write_str(Self::NAMES[i])
    }
}

impl FromStr for DatasetFormat {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        by_name(s, Self::NAMES, &Self::ALL, "dataset format")
    }
}

/// The value of `all` whose name in `names` is `s`.
pub(crate) fn by_name<T: Copy>(
    s: &str,
    names: &'static [&'static str],
    all: &[T],
    what: &'static str,
) -> Result<T, UnknownName> {
    names
        .iter()
        .position(|n| *n == s)
        .map(|i| all[i])
        .ok_or_else(|| UnknownName {
            what,
            found: s.to_string(),
            allowed: names,
        })
}

/// `dataset.on_bad_sample`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnBadSample {
    /// Stop with an error naming the sample.
    #[default]
    Error,
    /// Log it and leave it out.
    Skip,
}

impl OnBadSample {
    /// The names as written in TOML and on the command line.
    pub const NAMES: &'static [&'static str] = &["error", "skip"];
    const ALL: [Self; 2] = [Self::Error, Self::Skip];
}

impl fmt::Display for OnBadSample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Skip => "skip",
        })
    }
}

impl FromStr for OnBadSample {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, UnknownName> {
        by_name(s, Self::NAMES, &Self::ALL, "bad-sample policy")
    }
}

/// `[dataset.mask_folder]`: the layout of a `mask-folder` dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskFolderSection {
    /// Sub-folder with the images. Default `"images"`.
    pub images_dir: String,
    /// Sub-folder with the per-object masks. Default `"masks"`.
    pub masks_dir: String,
    /// Sub-folder with optional per-object label files. Default `"labels"`.
    pub labels_dir: String,
    /// Mask file name pattern to class name, first match wins (`[[dataset.mask_folder.class_rules]]`).
    pub class_rules: Vec<ClassRule>,
    /// Folders (under the root) that form the validation split.
    pub val_folders: Vec<String>,
    /// Otherwise the fraction of images drawn for validation. Default 0.
    pub val_fraction: f64,
    /// Seed of that draw. Default 0.
    pub split_seed: u64,
    /// How a binary mask's pixels become the object: `None` (default) = the mask must be
    /// binary (0 and one other value); a mask with more values is a bad sample, since a
    /// JPEG-compressed or anti-aliased mask would otherwise grow by every faint pixel. `Some(t)`
    /// = a pixel is the object when its value is at least `t` (e.g. 128 for 8-bit masks).
    pub threshold: Option<u16>,
}

impl Default for MaskFolderSection {
    fn default() -> Self {
        Self {
            images_dir: "images".into(),
            masks_dir: "masks".into(),
            labels_dir: "labels".into(),
            class_rules: Vec::new(),
            val_folders: Vec::new(),
            val_fraction: 0.0,
            split_seed: 0,
            threshold: None,
        }
    }
}

/// One `[[dataset.mask_folder.class_rules]]` entry; both keys are required.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    /// Pattern matched against the mask file name.
    pub pattern: String,
    /// Class name given to matching masks.
    pub class: String,
}

/// `[dataset.synth]`: the synthetic shapes set (also `mrcnn synth`'s options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SynthSection {
    /// Output folder. Default `"data/shapes"`.
    pub out: PathBuf,
    /// Default 200.
    pub train_images: usize,
    /// Default 50.
    pub val_images: usize,
    /// Default 128.
    pub width: u32,
    /// Default 128.
    pub height: u32,
    /// Fewest objects painted per image (before occlusion removes some). Default 1.
    pub min_objects: usize,
    /// Most objects per image. Default 4.
    pub max_objects: usize,
    /// Objects left with fewer visible pixels are removed from the picture. Default 40.
    pub min_area: u64,
    /// Default 0.
    pub seed: u64,
}

impl Default for SynthSection {
    fn default() -> Self {
        Self {
            out: PathBuf::from("data/shapes"),
            train_images: 200,
            val_images: 50,
            width: 128,
            height: 128,
            min_objects: 1,
            max_objects: 4,
            min_area: 40,
            seed: 0,
        }
    }
}
