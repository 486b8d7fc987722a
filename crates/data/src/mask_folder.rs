//! Mask folders: images plus per-instance binary PNGs or per-image label PNGs.
//!
//! Layout (`--images-dir`, `--masks-dir`, `--labels-dir` rename the folders):
//! ```text
//! root/                      a root with images/ directly is one sequence
//!   seq1/
//!     images/frame000.png
//!     masks/<stem>/<any>.png      one binary PNG per instance, or
//!     masks/<any>/<stem>.png      EndoVis style: a folder per class/instrument
//!     labels/<stem>.png           or: one label PNG, pixel value = instance id
//!     labels/<stem>.json          optional {"1": "needle", "2": "clip"}
//!   seq2/ ...
//! ```
//! Classes: a binary mask's class comes from the first class rule whose regex
//! matches its path relative to the masks folder (`Prograsp=forceps` or a TOML
//! `[[rule]] pattern/class`). A label PNG's instance `v` gets its class from
//! the sidecar JSON, else from the label map entry with id `v`.
//! All-zero masks (EndoVis writes one per class per frame) are counted and
//! ignored. Split: `--val-folders seq4` or a seeded `--val-fraction`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use image::GrayImage;
use mrcnn_coco::Rle;
use mrcnn_config::{ClassRule, MaskFolderSection};
use regex::Regex;

use crate::annotations::rel_name;
use crate::error::{DataError, Invalid, Problem, ProblemKind, ProblemLog, Skipped};
use crate::model::{Category, Dataset, ImageRecord, ImageSource, Instance};

/// A class rule with its pattern compiled.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    pub pattern: Regex,
    pub class: String,
}

#[derive(serde::Deserialize)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<ClassRule>,
}

/// Reads a TOML file of rules: `[[rule]]` tables with `pattern = "..."` and `class = "..."`.
pub fn read_class_rules_file(path: &Path) -> Result<Vec<ClassRule>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let rf: RuleFile = toml::from_str(&text).map_err(|e| DataError::format(path, e.to_string()))?;
    Ok(rf.rule)
}

/// Compiles the rules' patterns (regular expressions matched against the mask path relative to
/// the masks folder); an error names the rule.
pub fn compile_rules(rules: &[ClassRule]) -> Result<Vec<CompiledRule>, DataError> {
    rules
        .iter()
        .map(|r| {
            let pattern = Regex::new(&r.pattern).map_err(|e| {
                DataError::Options(format!("class rule regex '{}': {e}", r.pattern))
            })?;
            let class = r.class.trim().to_string();
            if class.is_empty() {
                return Err(DataError::Options(format!(
                    "class rule '{}' has an empty class",
                    r.pattern
                )));
            }
            Ok(CompiledRule { pattern, class })
        })
        .collect()
}

/// Train and validation splits read from a mask folder.
#[derive(Debug)]
pub struct MaskFolderData {
    pub train: Dataset,
    pub val: Dataset,
    /// All-zero mask files that were ignored.
    pub empty_masks: usize,
}

/// Names → ids: a fixed label map, or classes numbered in order of first use
/// (rule order first, so numbering does not depend on which files exist).
struct Names {
    fixed: bool,
    cats: Vec<Category>,
}

impl Names {
    fn id(&mut self, name: &str) -> Option<u32> {
        if let Some(c) = self.cats.iter().find(|c| c.name == name) {
            return Some(c.id);
        }
        if self.fixed {
            return None;
        }
        let id = self.cats.len() as u32 + 1;
        self.cats.push(Category {
            id,
            name: name.to_string(),
        });
        Some(id)
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension().is_some_and(|e| {
            let e = e.to_string_lossy().to_ascii_lowercase();
            e == "png" || e == "jpg" || e == "jpeg"
        })
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Decode a mask/label PNG keeping its stored values (8- or 16-bit grey).
/// Other colour types are reduced to grey, which keeps zero/nonzero (fine
/// for binary masks) but not the values, so label PNGs must be grey.
fn read_u16(path: &Path, need_values: bool) -> Result<(u32, u32, Vec<u16>), Invalid> {
    use image::DynamicImage as D;
    let img = image::open(path).map_err(|e| e.to_string())?;
    let (w, h) = (img.width(), img.height());
    let px = match img {
        D::ImageLuma8(m) => m.into_raw().into_iter().map(u16::from).collect(),
        D::ImageLuma16(m) => m.into_raw(),
        _ if need_values => {
            return Err(
                "label PNGs must be 8- or 16-bit greyscale (palette/RGB PNGs are not supported)"
                    .into(),
            );
        }
        other => other.to_luma16().into_raw(),
    };
    Ok((w, h, px))
}

/// Read `root` (see the module docs).
pub fn read_mask_folder(
    root: &Path,
    args: &MaskFolderSection,
    label_map: Option<&[Category]>,
    log: &mut ProblemLog,
) -> Result<MaskFolderData, DataError> {
    let rules = compile_rules(&args.class_rules)?;
    let mut names = Names {
        fixed: label_map.is_some(),
        cats: label_map.map(<[Category]>::to_vec).unwrap_or_default(),
    };
    if label_map.is_none() {
        for r in &rules {
            names.id(&r.class);
        }
    }
    // Sequences: root itself if it has the images folder, else its sub-folders that do.
    let seqs: Vec<(String, PathBuf)> = if root.join(&args.images_dir).is_dir() {
        vec![(String::new(), root.to_path_buf())]
    } else {
        sorted_entries(root)?
            .into_iter()
            .filter(|p| p.join(&args.images_dir).is_dir())
            .map(|p| (stem_dir(&p), p))
            .collect()
    };
    if seqs.is_empty() {
        return Err(DataError::format(
            root,
            format!("no '{}' folder here or in any sub-folder", args.images_dir),
        ));
    }
    for v in &args.val_folders {
        if !seqs.iter().any(|(n, _)| n == v) {
            return Err(DataError::Options(format!(
                "validation folder '{v}': no such sequence under {}",
                root.display()
            )));
        }
    }
    let mut empty_masks = 0;
    let mut mask_folders = 0;
    let mut all: Vec<(bool, ImageRecord)> = Vec::new();
    for (seq_name, seq) in &seqs {
        let is_val = args.val_folders.contains(seq_name);
        let img_dir = seq.join(&args.images_dir);
        let mut images: BTreeMap<String, ImageRecord> = BTreeMap::new();
        for (i, p) in sorted_entries(&img_dir)?
            .into_iter()
            .filter(|p| is_image(p))
            .enumerate()
        {
            match image::image_dimensions(&p) {
                Ok((w, h)) => {
                    images.insert(
                        stem(&p),
                        ImageRecord {
                            apply_exif: false,
                            id: 0,
                            file_name: rel_name(&p, root),
                            source: ImageSource::File(p),
                            width: w,
                            height: h,
                            annotations: Vec::new(),
                        },
                    );
                }
                Err(e) => {
                    log.bad(
                        Problem::new(ProblemKind::CorruptImage, &p, e.to_string()).record(i),
                        Skipped::Image,
                    )?;
                }
            }
        }
        let labels_dir = seq.join(&args.labels_dir);
        let masks_dir = seq.join(&args.masks_dir);
        if labels_dir.is_dir() {
            read_label_pngs(&labels_dir, &mut images, &mut names, log)?;
            mask_folders += 1;
        } else if masks_dir.is_dir() {
            empty_masks += read_instance_pngs(
                &masks_dir,
                &mut images,
                &rules,
                args.threshold,
                &mut names,
                log,
            )?;
            mask_folders += 1;
        }
        all.extend(images.into_values().map(|r| (is_val, r)));
    }
    if mask_folders == 0 {
        return Err(DataError::format(
            root,
            format!(
                "no '{}' folder (binary masks) nor '{}' folder (label images) next to the '{}' \
                 folder of any sequence; set dataset.mask_folder.masks_dir (--masks-dir) to the \
                 folder that holds the masks",
                args.masks_dir, args.labels_dir, args.images_dir
            ),
        ));
    }
    if all.iter().all(|(_, r)| r.annotations.is_empty()) && !all.is_empty() {
        return Err(DataError::format(
            root,
            format!(
                "{} image(s) and not one object: no mask matched an image, or every mask is \
                 empty (masks are matched to images by file name or by folder name; see \
                 data/README.md)",
                all.len()
            ),
        ));
    }
    for (k, (_, r)) in all.iter_mut().enumerate() {
        r.id = k as u64 + 1;
    }
    if args.val_folders.is_empty() && args.val_fraction > 0.0 {
        let drawn = crate::annotations::draw_val(all.len(), args.val_fraction, args.split_seed)?;
        for (a, v) in all.iter_mut().zip(drawn) {
            a.0 |= v;
        }
    }
    let mut cats = names.cats;
    cats.sort_by_key(|c| c.id);
    let label: HashMap<u32, u32> = cats
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i as u32 + 1))
        .collect();
    let (mut train, mut val) = (
        Dataset {
            categories: cats.clone(),
            images: vec![],
        },
        Dataset {
            categories: cats,
            images: vec![],
        },
    );
    for (is_val, mut r) in all {
        for a in &mut r.annotations {
            a.category = label.get(&a.category).copied().unwrap_or(0);
        }
        if is_val {
            val.images.push(r)
        } else {
            train.images.push(r)
        }
    }
    Ok(MaskFolderData {
        train,
        val,
        empty_masks,
    })
}

fn stem_dir(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Binary instance PNGs; returns the number of all-zero masks ignored.
fn read_instance_pngs(
    masks_dir: &Path,
    images: &mut BTreeMap<String, ImageRecord>,
    rules: &[CompiledRule],
    threshold: Option<u16>,
    names: &mut Names,
    log: &mut ProblemLog,
) -> Result<usize, DataError> {
    let mut files = Vec::new();
    for p in sorted_entries(masks_dir)? {
        if p.is_dir() {
            files.extend(sorted_entries(&p)?.into_iter().filter(|f| is_image(f)));
        } else if is_image(&p) {
            files.push(p);
        }
    }
    let mut empty = 0;
    for (i, f) in files.iter().enumerate() {
        let bad = |kind, d: String| Problem::new(kind, f, d).annotation(i);
        let rel = rel_name(f, masks_dir);
        let parent = f.parent().filter(|p| *p != masks_dir).map(stem_dir);
        let key = if images.contains_key(&stem(f)) {
            stem(f)
        } else if let Some(p) = parent.filter(|p| images.contains_key(p)) {
            p
        } else {
            let d = format!(
                "mask {rel} matches no image (neither its name nor its folder is an image stem)"
            );
            log.bad(bad(ProblemKind::UnknownImage, d), Skipped::Annotation)?;
            continue;
        };
        let Some(class) = rules
            .iter()
            .find(|r| r.pattern.is_match(&rel))
            .map(|r| r.class.clone())
        else {
            let d = format!("no class rule matches '{rel}'");
            log.bad(bad(ProblemKind::UnknownClass, d), Skipped::Annotation)?;
            continue;
        };
        let Some(id) = names.id(&class) else {
            let d = format!("class '{class}' (from '{rel}') is not in the label map");
            log.bad(bad(ProblemKind::UnknownClass, d), Skipped::Annotation)?;
            continue;
        };
        let (w, h, px) = match read_u16(f, false) {
            Ok(x) => x,
            Err(e) => {
                log.bad(bad(ProblemKind::CorruptImage, e.0), Skipped::Annotation)?;
                continue;
            }
        };
        let Some(img) = images.get_mut(&key) else {
            continue;
        };
        if (w, h) != (img.width, img.height) {
            let d = format!(
                "mask is {w}x{h}, image {} is {}x{}",
                img.file_name, img.width, img.height
            );
            log.bad(bad(ProblemKind::MaskSizeMismatch, d), Skipped::Annotation)?;
            continue;
        }
        let m: Vec<u8> = match threshold {
            Some(t) => px.iter().map(|&v| u8::from(v >= t)).collect(),
            None => {
                let top = px.iter().copied().max().unwrap_or(0);
                let other = px.iter().filter(|&&v| v != 0 && v != top).count();
                if other > 0 {
                    let d = format!(
                        "{other} pixel(s) are neither 0 nor {top}; set \
                         dataset.mask_folder.threshold (--mask-threshold) to the value from \
                         which a pixel is the object, e.g. {}",
                        top.div_ceil(2).max(1)
                    );
                    log.bad(bad(ProblemKind::NotBinary, d), Skipped::Annotation)?;
                    continue;
                }
                px.iter().map(|&v| u8::from(v != 0)).collect()
            }
        };
        let rle = Rle::encode(&m, h, w);
        if rle.area() == 0 {
            empty += 1;
            continue;
        }
        img.annotations.push(Instance::from_mask(id, rle, false));
    }
    Ok(empty)
}

/// Label PNGs (pixel = instance id) with optional JSON sidecars.
fn read_label_pngs(
    labels_dir: &Path,
    images: &mut BTreeMap<String, ImageRecord>,
    names: &mut Names,
    log: &mut ProblemLog,
) -> Result<(), DataError> {
    let files: Vec<PathBuf> = sorted_entries(labels_dir)?
        .into_iter()
        .filter(|p| is_image(p))
        .collect();
    for (i, f) in files.iter().enumerate() {
        let bad = |kind, d: String| Problem::new(kind, f, d).record(i);
        let Some(img) = images.get_mut(&stem(f)) else {
            let d = format!("label image {} matches no image", rel_name(f, labels_dir));
            log.bad(bad(ProblemKind::UnknownImage, d), Skipped::Image)?;
            continue;
        };
        let (w, h, px) = match read_u16(f, true) {
            Ok(x) => x,
            Err(e) => {
                log.bad(bad(ProblemKind::CorruptImage, e.0), Skipped::Image)?;
                continue;
            }
        };
        if (w, h) != (img.width, img.height) {
            let d = format!(
                "label image is {w}x{h}, image {} is {}x{}",
                img.file_name, img.width, img.height
            );
            log.bad(bad(ProblemKind::MaskSizeMismatch, d), Skipped::Image)?;
            continue;
        }
        let sidecar = f.with_extension("json");
        let classes: Option<HashMap<String, String>> = if sidecar.is_file() {
            let text = std::fs::read_to_string(&sidecar).map_err(|e| DataError::io(&sidecar, e))?;
            match serde_json::from_str(&text) {
                Ok(m) => Some(m),
                Err(e) => {
                    let p = Problem::new(
                        ProblemKind::BadRecord,
                        &sidecar,
                        format!("expected {{\"<instance id>\": \"<class>\"}}: {e}"),
                    );
                    log.bad(p, Skipped::Image)?;
                    continue;
                }
            }
        } else {
            None
        };
        let mut ids: Vec<u16> = px.iter().copied().filter(|&v| v != 0).collect();
        ids.sort_unstable();
        ids.dedup();
        for (k, v) in ids.into_iter().enumerate() {
            let bad = |kind, d: String| Problem::new(kind, f, d).record(i).annotation(k);
            let id = match &classes {
                Some(m) => match m.get(&v.to_string()) {
                    Some(name) => names.id(name).ok_or(format!(
                        "class '{name}' of instance {v} is not in the label map"
                    )),
                    None => Err(format!("instance {v} is not in {}", sidecar.display())),
                },
                None => names
                    .cats
                    .iter()
                    .find(|c| c.id == v as u32)
                    .map(|c| c.id)
                    .ok_or(format!(
                        "instance value {v} has no sidecar JSON and no label-map entry with id {v}"
                    )),
            };
            let id = match id {
                Ok(id) => id,
                Err(d) => {
                    log.bad(bad(ProblemKind::UnknownClass, d), Skipped::Annotation)?;
                    continue;
                }
            };
            let m: Vec<u8> = px.iter().map(|&p| (p == v) as u8).collect();
            img.annotations
                .push(Instance::from_mask(id, Rle::encode(&m, h, w), false));
        }
    }
    Ok(())
}

/// Write a binary mask PNG (0/255, easy to look at); used by tests and tools.
pub fn save_binary_mask(path: &Path, mask: &[u8], w: u32, h: u32) -> Result<(), DataError> {
    let img = GrayImage::from_raw(
        w,
        h,
        mask.iter().map(|&v| if v != 0 { 255 } else { 0 }).collect(),
    )
    .ok_or_else(|| DataError::format(path, "mask length is not w*h"))?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    img.save(path)
        .map_err(|e| DataError::format(path, e.to_string()))
}
