//! The annotation tools' formats: [`labelme`], [`via`] (VGG Image Annotator 2 and 3), [`cvat`]
//! (CVAT for images 1.1 XML) and [`voc`] (Pascal VOC instance PNGs), and what they share.
//!
//! Each reader turns its files into [`Labelled`] images (class names, full-image masks) and
//! [`assemble`] numbers the classes, checks them against a label map and draws the seeded
//! validation split, so that every format numbers and splits alike. Shapes become polygons by
//! the rules of [`shapes`]; masks are pycocotools' rasterisation of those polygons
//! ([`mrcnn_coco::Rle::from_polygons`]), which is what a COCO export of the same file gives in
//! Detectron2 or torchvision.

pub mod cvat;
pub mod labelme;
pub mod shapes;
pub mod via;
pub mod voc;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use mrcnn_coco::Rle;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::{DataError, Problem, ProblemKind, ProblemLog, Skipped};
use crate::image_info::{ImageInfo, image_info_file};
use crate::model::{Category, Dataset, ImageRecord, ImageSource, Instance};

/// How an annotation-tool dataset is read.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOptions {
    /// Apply the EXIF orientation (see [`mrcnn_config::DatasetFormat::default_exif`]).
    pub apply_exif: bool,
    /// Fraction of images drawn for validation (0 = none).
    pub val_fraction: f64,
    pub split_seed: u64,
    /// VIA: the region attribute that holds the class.
    pub class_attribute: Option<String>,
    /// CVAT, VIA: folder of the images (default: beside the annotation file, or its `images/`).
    pub images: Option<PathBuf>,
    /// The label map, when one is given: VOC class indices are named by it.
    pub label_map: Option<Vec<Category>>,
}

/// One instance as a tool gives it: a class name and its mask.
#[derive(Debug, Clone)]
pub struct LabelledInstance {
    pub class: String,
    pub mask: Rle,
    pub iscrowd: bool,
}

/// One image as a tool gives it.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// Name relative to the dataset root (writers reuse it).
    pub file_name: String,
    pub path: PathBuf,
    /// The size the annotations are drawn on (after the EXIF policy).
    pub width: u32,
    pub height: u32,
    pub instances: Vec<LabelledInstance>,
    /// Annotation file, for messages.
    pub origin: PathBuf,
    /// `Some(true/false)`: the tool's split (VOC `ImageSets`); `None`: drawn.
    pub is_val: Option<bool>,
}

/// What a reader found in one input.
#[derive(Debug, Default)]
pub struct ToolRead {
    pub images: Vec<Labelled>,
    /// Class names the tool's file lists (CVAT labels, VIA options, VOC classes), in order.
    pub declared: Vec<String>,
    /// What the reader noticed and kept or left out on purpose, for the report.
    pub notes: Vec<String>,
}

impl Labelled {
    /// An image at `path` (named relative to `root`) of the given size, read from `origin`,
    /// split by the seeded draw.
    pub fn new(
        path: PathBuf,
        root: &Path,
        (width, height): (u32, u32),
        instances: Vec<LabelledInstance>,
        origin: &Path,
    ) -> Labelled {
        Labelled {
            file_name: rel_name(&path, root),
            path,
            width,
            height,
            instances,
            origin: origin.to_path_buf(),
            is_val: None,
        }
    }
}

/// Training and validation sets of a tool's dataset (validation empty without a split).
#[derive(Debug)]
pub struct ToolData {
    pub train: Dataset,
    pub val: Dataset,
    /// What the readers noticed and kept (self-intersecting polygons, shapes without area, ...).
    pub notes: Vec<String>,
}

/// Reads the header of `path` and checks that the size the tool declared is the size the
/// image has under the EXIF policy; `None` after a bad sample under the skip policy.
pub fn checked_size(
    path: &Path,
    origin: &Path,
    declared: Option<(u32, u32)>,
    apply_exif: bool,
    log: &mut ProblemLog,
) -> Result<Option<(u32, u32)>, DataError> {
    let info = match header(path) {
        Ok(i) => i,
        Err(p) => {
            log.bad(p, Skipped::Image)?;
            return Ok(None);
        }
    };
    let size = info.size(apply_exif);
    if !mrcnn_coco::addressable(size.0, size.1) {
        let d = format!(
            "its header says {}x{} pixels: more than 2^32, more than COCO masks can address",
            size.0, size.1
        );
        log.bad(
            Problem::new(ProblemKind::CorruptImage, path, d),
            Skipped::Image,
        )?;
        return Ok(None);
    }
    if let Some((w, h)) = declared
        && (w, h) != size
    {
        let exif = match (info.orientation, apply_exif) {
            (1, _) => String::new(),
            (o, true) => format!(" after its EXIF orientation {o} (dataset.exif = \"apply\")"),
            (o, false) => format!(
                " as stored; its EXIF orientation {o} is not applied (dataset.exif = \"ignore\")"
            ),
        };
        let d = format!(
            "the annotation says the image is {w}x{h}, {} is {}x{}{exif}; a mask drawn for one \
             size does not fit the other, so it is not rescaled",
            path.display(),
            size.0,
            size.1
        );
        log.bad(
            Problem::new(ProblemKind::ImageSizeMismatch, origin, d),
            Skipped::Image,
        )?;
        return Ok(None);
    }
    Ok(Some(size))
}

/// The header of an image file, or the problem that stops it being read.
fn header(path: &Path) -> Result<ImageInfo, Problem> {
    let info = image_info_file(path).map_err(|e| {
        let kind = if e.kind() == std::io::ErrorKind::NotFound {
            ProblemKind::MissingFile
        } else {
            ProblemKind::CorruptImage
        };
        Problem::new(kind, path, e.to_string())
    })?;
    info.map_err(|e| Problem::new(ProblemKind::CorruptImage, path, e.to_string()))
}

/// `true` for the images drawn into validation: `round(n * fraction)` of `n`, by a seeded
/// shuffle (ChaCha8), the same for every format and the same on every machine.
pub fn draw_val(n: usize, fraction: f64, seed: u64) -> Result<Vec<bool>, DataError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(DataError::Options(format!(
            "validation fraction {fraction}: it must be in [0, 1)"
        )));
    }
    let n_val = (n as f64 * fraction).round() as usize;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let mut val = vec![false; n];
    for &i in &idx[..n_val] {
        val[i] = true;
    }
    Ok(val)
}

/// `k` of the indices `0..n` (all of them when `k >= n`), drawn with `seed` and returned in
/// increasing order: which images `mrcnn dataset show` draws.
pub fn seeded_pick(n: usize, k: usize, seed: u64) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

/// Numbers the classes, splits, and builds the datasets.
///
/// Classes: with a label map, its ids and names (an instance of another class is a bad
/// annotation); else the tool's declared list (`declared`, e.g. CVAT's labels, in its order)
/// followed by any other name in alphabetical order, numbered from 1.
pub fn assemble(
    root: &Path,
    images: Vec<Labelled>,
    declared: &[String],
    label_map: Option<&[Category]>,
    opts: &ToolOptions,
    log: &mut ProblemLog,
    notes: Vec<String>,
) -> Result<ToolData, DataError> {
    if images.is_empty() {
        return Err(DataError::format(
            root,
            "no image with annotations found here (see data/README.md, \"Bring your own \
             labels\", for the layout each tool's format has)",
        ));
    }
    let categories: Vec<Category> = match label_map {
        Some(lm) => {
            let mut c = lm.to_vec();
            c.sort_by_key(|c| c.id);
            c
        }
        None => {
            let mut names: Vec<String> = Vec::new();
            for d in declared {
                if !names.contains(d) {
                    names.push(d.clone());
                }
            }
            let found: BTreeSet<&String> = images
                .iter()
                .flat_map(|i| i.instances.iter().map(|a| &a.class))
                .collect();
            for f in found {
                if !names.contains(f) {
                    names.push(f.clone());
                }
            }
            names
                .into_iter()
                .enumerate()
                .map(|(i, name)| Category {
                    id: i as u32 + 1,
                    name,
                })
                .collect()
        }
    };
    if images.iter().all(|i| i.instances.is_empty()) {
        return Err(DataError::format(
            root,
            format!(
                "{} image(s) and not one instance with an area (polygons, rectangles, circles, \
                 masks): nothing to train on",
                images.len()
            ),
        ));
    }
    let drawn = draw_val(images.len(), opts.val_fraction, opts.split_seed)?;
    let empty = || Dataset {
        categories: categories.clone(),
        images: Vec::new(),
    };
    let (mut train, mut val) = (empty(), empty());
    for (k, (img, drawn_val)) in images.into_iter().zip(drawn).enumerate() {
        let mut annotations = Vec::new();
        for (j, a) in img.instances.into_iter().enumerate() {
            if a.mask.area() == 0 {
                let d = format!(
                    "a '{}' shape of {} covers no pixel of the {}x{} image (it lies outside it, \
                     or is thinner than a pixel)",
                    a.class, img.file_name, img.width, img.height
                );
                log.bad(
                    Problem::new(ProblemKind::EmptyMask, &img.origin, d).annotation(j),
                    Skipped::Annotation,
                )?;
                continue;
            }
            match categories.iter().position(|c| c.name == a.class) {
                Some(p) => annotations.push(Instance::from_mask(p as u32 + 1, a.mask, a.iscrowd)),
                None => {
                    let d = format!(
                        "class '{}' of {} is not in the label map (its classes: {})",
                        a.class,
                        img.file_name,
                        categories
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    log.bad(
                        Problem::new(ProblemKind::UnknownClass, &img.origin, d).annotation(j),
                        Skipped::Annotation,
                    )?;
                }
            }
        }
        let rec = ImageRecord {
            id: k as u64 + 1,
            file_name: img.file_name,
            source: ImageSource::File(img.path),
            width: img.width,
            height: img.height,
            annotations,
            apply_exif: opts.apply_exif,
        };
        if img.is_val.unwrap_or(drawn_val) {
            val.images.push(rec);
        } else {
            train.images.push(rec);
        }
    }
    Ok(ToolData { train, val, notes })
}

/// `p` relative to `root`, with `/` separators (the name writers reuse); an image outside the
/// root (`../photos/a.jpg`) is named by its file name, so a writer never leaves its folder.
pub fn rel_name(p: &Path, root: &Path) -> String {
    use std::path::Component;
    let r = p.strip_prefix(root).unwrap_or(p);
    if r.components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    r.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// A note naming up to 5 examples: "3 self-intersecting polygon(s) kept ... (a.json, b.json)".
pub fn note(what: &str, files: &[String]) -> Option<String> {
    if files.is_empty() {
        return None;
    }
    let mut shown: Vec<&str> = files.iter().take(5).map(String::as_str).collect();
    if files.len() > 5 {
        shown.push("...");
    }
    Some(format!("{} {what} ({})", files.len(), shown.join(", ")))
}
