//! Mapping between [`ImageRecord`]s and OD API `tf.train.Example`s, and whole-file I/O.

use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Cursor};
use std::path::{Path, PathBuf};

use image::{GrayImage, ImageFormat};
use mrcnn_coco::Rle;

use super::framing::{FrameError, Records, write_record};
use super::proto::{Example, Feature, decode_example, encode_example};
use super::shards::shard_paths;
use crate::error::{DataError, Invalid, Problem, ProblemKind, ProblemLog, Skipped};
use crate::model::{Category, Dataset, ImageRecord, ImageSource, Instance};

/// Assigns class ids: from a fixed label map, or discovered from the records.
struct Classes {
    fixed: bool,
    cats: Vec<Category>,
}

impl Classes {
    /// Original class id for a (label, text) pair.
    fn resolve(&mut self, label: Option<i64>, text: Option<&str>) -> Result<u32, Invalid> {
        let text = text.filter(|t| !t.is_empty());
        if let Some(l) = label {
            let id = u32::try_from(l)
                .ok()
                .filter(|&i| i > 0)
                .ok_or(format!("class label {l} is not ≥ 1"))?;
            if self.cats.iter().any(|c| c.id == id) {
                return Ok(id);
            }
            if self.fixed {
                return Err(format!("class label {id} is not in the label map").into());
            }
            let name = text.map(str::to_string).unwrap_or(format!("class_{id}"));
            if self.cats.iter().any(|c| c.name == name) {
                return Err(format!("class '{name}' appears with two labels").into());
            }
            self.cats.push(Category { id, name });
            return Ok(id);
        }
        let Some(t) = text else {
            return Err("instance has neither class/label nor class/text".into());
        };
        if let Some(c) = self.cats.iter().find(|c| c.name == t) {
            return Ok(c.id);
        }
        if self.fixed {
            return Err(format!("class '{t}' is not in the label map").into());
        }
        let id = self.cats.iter().map(|c| c.id).max().unwrap_or(0) + 1;
        self.cats.push(Category {
            id,
            name: t.to_string(),
        });
        Ok(id)
    }
}

fn ints<'a>(ex: &'a Example, k: &str) -> &'a [i64] {
    match ex.get(k) {
        Some(Feature::Int64(v)) => v,
        _ => &[],
    }
}
fn floats<'a>(ex: &'a Example, k: &str) -> &'a [f32] {
    match ex.get(k) {
        Some(Feature::Float(v)) => v,
        _ => &[],
    }
}
fn bytes<'a>(ex: &'a Example, k: &str) -> &'a [Vec<u8>] {
    match ex.get(k) {
        Some(Feature::Bytes(v)) => v,
        _ => &[],
    }
}
fn string(ex: &Example, k: &str) -> String {
    bytes(ex, k)
        .first()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// Normalised coordinates are stored as f32; snap values that were integers
/// before normalisation back to them, so pixel boxes survive a round trip.
fn denorm(v: f32, size: u32) -> f32 {
    let x = v as f64 * size as f64;
    let r = x.round();
    if (x - r).abs() < 1e-3 {
        r as f32
    } else {
        x as f32
    }
}

/// Read all `files` (already expanded, see [`super::expand_input`]) into one dataset.
/// With `label_map`, class labels/texts must be in it; without, classes are
/// collected from the records.
pub fn read_tfrecords(
    files: &[PathBuf],
    label_map: Option<&[Category]>,
    log: &mut ProblemLog,
) -> Result<Dataset, DataError> {
    let mut classes = Classes {
        fixed: label_map.is_some(),
        cats: label_map.map(<[Category]>::to_vec).unwrap_or_default(),
    };
    let mut images = Vec::new();
    let mut source_ids = Vec::new();
    let mut names = HashSet::new();
    for file in files {
        let buf = std::fs::read(file).map_err(|e| DataError::io(file, e))?;
        for (i, rec) in Records::new(&buf).enumerate() {
            let data = match rec {
                Ok(d) => d,
                Err(e) => {
                    let (kind, d) = match e {
                        FrameError::Truncated { offset } => (
                            ProblemKind::TruncatedRecord,
                            format!("file ends inside the record at byte {offset}"),
                        ),
                        FrameError::LengthCrc { offset } => (
                            ProblemKind::CrcMismatch,
                            format!(
                                "length CRC mismatch at byte {offset}; the rest of the file is unreadable"
                            ),
                        ),
                        FrameError::DataCrc { offset } => (
                            ProblemKind::CrcMismatch,
                            format!("data CRC mismatch in the record at byte {offset}"),
                        ),
                    };
                    log.bad(Problem::new(kind, file, d).record(i), Skipped::Image)?;
                    continue;
                }
            };
            let ex = match decode_example(data) {
                Ok(ex) => ex,
                Err(d) => {
                    let p = Problem::new(
                        ProblemKind::BadRecord,
                        file,
                        format!("not a tf.train.Example: {d}"),
                    );
                    log.bad(p.record(i), Skipped::Image)?;
                    continue;
                }
            };
            let Some(mut img) = parse_example(&ex, file, i, &mut classes, log)? else {
                continue;
            };
            if img.file_name.is_empty() || !names.insert(img.file_name.clone()) {
                let stem = file
                    .file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let ext = match &img.source {
                    ImageSource::Encoded { format, .. } if format == "jpeg" || format == "jpg" => {
                        "jpg"
                    }
                    _ => "png",
                };
                img.file_name = format!("{stem}_{i:06}.{ext}");
                names.insert(img.file_name.clone());
            }
            source_ids.push(string(&ex, "image/source_id"));
            images.push(img);
        }
    }
    // Keep numeric source ids as image ids when they are unique and fit COCO's (JSON int64)
    // ids; else number the images.
    let parsed: Option<Vec<u64>> = source_ids
        .iter()
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .ok()
                .filter(|&v| v <= i64::MAX as u64)
        })
        .collect();
    let unique = parsed
        .as_ref()
        .is_some_and(|p| p.iter().collect::<HashSet<_>>().len() == p.len());
    for (k, img) in images.iter_mut().enumerate() {
        img.id = match (&parsed, unique) {
            (Some(p), true) => p[k],
            _ => k as u64 + 1,
        };
    }
    let mut cats = classes.cats;
    cats.sort_by_key(|c| c.id);
    let label: HashMap<u32, u32> = cats
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id, i as u32 + 1))
        .collect();
    for img in &mut images {
        for a in &mut img.annotations {
            a.category = label.get(&a.category).copied().unwrap_or(0);
        }
    }
    Ok(Dataset {
        categories: cats,
        images,
    })
}

/// One Example → image record (instance `category` holds the original id for now).
/// `None` when the record was skipped (already logged).
fn parse_example(
    ex: &Example,
    file: &Path,
    rec: usize,
    classes: &mut Classes,
    log: &mut ProblemLog,
) -> Result<Option<ImageRecord>, DataError> {
    let bad = |kind, d: String| Problem::new(kind, file, d).record(rec);
    let encoded = bytes(ex, "image/encoded")
        .first()
        .cloned()
        .unwrap_or_default();
    if encoded.is_empty() {
        log.bad(
            bad(ProblemKind::BadRecord, "no image/encoded".into()),
            Skipped::Image,
        )?;
        return Ok(None);
    }
    // The header gives the true size; cheap, and catches corrupt images early.
    let dims = image::ImageReader::new(Cursor::new(&encoded))
        .with_guessed_format()
        .ok()
        .and_then(|r| r.into_dimensions().ok());
    let Some((iw, ih)) = dims else {
        log.bad(
            bad(
                ProblemKind::CorruptImage,
                "image/encoded is not a readable image".into(),
            ),
            Skipped::Image,
        )?;
        return Ok(None);
    };
    if !mrcnn_coco::addressable(iw, ih) {
        let d = format!(
            "its image header says {iw}x{ih}: more than 2^32 pixels, more than COCO masks can \
             address"
        );
        log.bad(bad(ProblemKind::CorruptImage, d), Skipped::Image)?;
        return Ok(None);
    }
    let (w, h) = (
        ints(ex, "image/width").first().copied(),
        ints(ex, "image/height").first().copied(),
    );
    if w.is_some_and(|w| w != iw as i64) || h.is_some_and(|h| h != ih as i64) {
        let d = format!("image/width,height say {w:?}x{h:?} but the image is {iw}x{ih}");
        log.bad(bad(ProblemKind::BadRecord, d), Skipped::Image)?;
        return Ok(None);
    }
    let format = match string(ex, "image/format").to_ascii_lowercase().as_str() {
        "" => image::guess_format(&encoded)
            .ok()
            .and_then(|f| f.extensions_str().first().copied())
            .unwrap_or("png")
            .to_string(),
        f => f.to_string(),
    };

    let (xmin, xmax) = (
        floats(ex, "image/object/bbox/xmin"),
        floats(ex, "image/object/bbox/xmax"),
    );
    let (ymin, ymax) = (
        floats(ex, "image/object/bbox/ymin"),
        floats(ex, "image/object/bbox/ymax"),
    );
    let labels = ints(ex, "image/object/class/label");
    let texts = bytes(ex, "image/object/class/text");
    let png_masks = bytes(ex, "image/object/mask");
    let dense = floats(ex, "image/object/mask");
    let crowd = ints(ex, "image/object/is_crowd");
    let area = floats(ex, "image/object/area");
    let n = xmin.len().max(labels.len()).max(texts.len());
    let npix = iw as usize * ih as usize;
    let n_masks = if dense.is_empty() {
        png_masks.len()
    } else {
        dense.len() / npix.max(1)
    };
    let lens_ok = [xmax.len(), ymin.len(), ymax.len()]
        .iter()
        .all(|&l| l == xmin.len())
        && (xmin.is_empty() || xmin.len() == n)
        && (labels.is_empty() || labels.len() == n)
        && (texts.is_empty() || texts.len() == n)
        && n_masks == n
        && (dense.is_empty() || dense.len() == n * npix)
        && (crowd.is_empty() || crowd.len() == n)
        && (area.is_empty() || area.len() == n);
    if !lens_ok {
        let d = format!(
            "per-object lists disagree: {} xmin, {} xmax, {} ymin, {} ymax, {} labels, {} texts, {} masks",
            xmin.len(),
            xmax.len(),
            ymin.len(),
            ymax.len(),
            labels.len(),
            texts.len(),
            n_masks
        );
        log.bad(bad(ProblemKind::BadRecord, d), Skipped::Image)?;
        return Ok(None);
    }

    let mut anns = Vec::with_capacity(n);
    for k in 0..n {
        let bad = |kind, d: String| Problem::new(kind, file, d).record(rec).annotation(k);
        let text = texts
            .get(k)
            .map(|t| String::from_utf8_lossy(t).into_owned());
        let id = match classes.resolve(labels.get(k).copied(), text.as_deref()) {
            Ok(id) => id,
            Err(d) => {
                log.bad(bad(ProblemKind::UnknownClass, d.0), Skipped::Annotation)?;
                continue;
            }
        };
        let mask: Vec<u8> = if dense.is_empty() {
            match decode_mask_png(&png_masks[k]) {
                Ok(m) if m.dimensions() == (iw, ih) => m.into_raw(),
                Ok(m) => {
                    let d = format!("mask is {}x{}, image {iw}x{ih}", m.width(), m.height());
                    log.bad(bad(ProblemKind::MaskSizeMismatch, d), Skipped::Annotation)?;
                    continue;
                }
                Err(d) => {
                    log.bad(
                        bad(ProblemKind::CorruptImage, format!("mask PNG: {d}")),
                        Skipped::Annotation,
                    )?;
                    continue;
                }
            }
        } else {
            dense[k * npix..(k + 1) * npix]
                .iter()
                .map(|&v| (v > 0.5) as u8)
                .collect()
        };
        let rle = Rle::encode(&mask, ih, iw);
        if rle.area() == 0 {
            log.bad(
                bad(ProblemKind::EmptyMask, "mask covers no pixel".into()),
                Skipped::Annotation,
            )?;
            continue;
        }
        let mut inst = Instance::from_mask(id, rle, crowd.get(k).is_some_and(|&c| c != 0));
        if !xmin.is_empty() {
            let b = [xmin[k], ymin[k], xmax[k], ymax[k]];
            let tol = 1e-3;
            if !b
                .iter()
                .all(|v| v.is_finite() && *v >= -tol && *v <= 1.0 + tol)
                || b[2] <= b[0]
                || b[3] <= b[1]
            {
                let d = format!(
                    "normalised box [xmin {}, ymin {}, xmax {}, ymax {}] is empty or outside [0, 1]",
                    b[0], b[1], b[2], b[3]
                );
                log.bad(bad(ProblemKind::BadBox, d), Skipped::Annotation)?;
                continue;
            }
            inst.bbox = [
                denorm(b[0], iw),
                denorm(b[1], ih),
                denorm(b[2], iw),
                denorm(b[3], ih),
            ];
        }
        if let Some(&a) = area.get(k) {
            inst.area = a;
        }
        anns.push(inst);
    }
    Ok(Some(ImageRecord {
        apply_exif: false,
        id: 0,
        file_name: string(ex, "image/filename"),
        source: ImageSource::Encoded {
            bytes: encoded,
            format,
            origin: format!("{} record {rec}", file.display()),
        },
        width: iw,
        height: ih,
        annotations: anns,
    }))
}

/// A PNG mask as 0/1 bytes; 16-bit masks are read at full depth so that small
/// nonzero values are not rounded away.
fn decode_mask_png(data: &[u8]) -> Result<GrayImage, Invalid> {
    let img = image::load_from_memory(data).map_err(|e| e.to_string())?;
    let m16 = img.to_luma16();
    let (w, h) = m16.dimensions();
    Ok(GrayImage::from_fn(w, h, |x, y| {
        image::Luma([(m16.get_pixel(x, y).0[0] != 0) as u8])
    }))
}

fn encode_png(mask: &GrayImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Cursor::new(Vec::new());
    mask.write_to(&mut out, ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// The OD API Example of one image of `ds`.
pub fn example_of(ds: &Dataset, img: &ImageRecord) -> Result<Example, DataError> {
    let encoded = img.source.read_bytes()?;
    let format = match &img.source {
        ImageSource::Encoded { format, .. } => format.clone(),
        ImageSource::File(p) => match p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
        {
            Some(e) if e == "jpg" || e == "jpeg" => "jpeg".into(),
            Some(e) => e,
            None => "png".into(),
        },
    };
    let (w, h) = (img.width as f32, img.height as f32);
    let n = img.annotations.len();
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut text, mut label, mut masks, mut crowd, mut area) =
        (vec![], vec![], vec![], vec![], vec![]);
    for a in &img.annotations {
        xmin.push(a.bbox[0] / w);
        ymin.push(a.bbox[1] / h);
        xmax.push(a.bbox[2] / w);
        ymax.push(a.bbox[3] / h);
        let cat = ds.category(a.category).ok_or_else(|| {
            DataError::format(
                &img.file_name,
                format!("instance label {} has no category", a.category),
            )
        })?;
        text.push(cat.name.as_bytes().to_vec());
        label.push(cat.id as i64);
        let m = GrayImage::from_raw(a.mask.w, a.mask.h, a.mask.decode())
            .ok_or_else(|| DataError::format(&img.file_name, "mask decodes to the wrong length"))?;
        masks.push(encode_png(&m).map_err(|e| DataError::format(&img.file_name, e.to_string()))?);
        crowd.push(a.iscrowd as i64);
        area.push(a.area);
    }
    let s = |v: &str| Feature::Bytes(vec![v.as_bytes().to_vec()]);
    Ok(Example::from([
        ("image/encoded".to_string(), Feature::Bytes(vec![encoded])),
        ("image/format".to_string(), s(&format)),
        (
            "image/height".to_string(),
            Feature::Int64(vec![img.height as i64]),
        ),
        (
            "image/width".to_string(),
            Feature::Int64(vec![img.width as i64]),
        ),
        ("image/filename".to_string(), s(&img.file_name)),
        ("image/source_id".to_string(), s(&img.id.to_string())),
        ("image/object/bbox/xmin".to_string(), Feature::Float(xmin)),
        ("image/object/bbox/xmax".to_string(), Feature::Float(xmax)),
        ("image/object/bbox/ymin".to_string(), Feature::Float(ymin)),
        ("image/object/bbox/ymax".to_string(), Feature::Float(ymax)),
        ("image/object/class/text".to_string(), Feature::Bytes(text)),
        (
            "image/object/class/label".to_string(),
            Feature::Int64(label),
        ),
        ("image/object/mask".to_string(), Feature::Bytes(masks)),
        ("image/object/is_crowd".to_string(), Feature::Int64(crowd)),
        ("image/object/area".to_string(), Feature::Float(area)),
    ]))
}

/// Write `ds` as `shards` files named after `prefix` (see [`shard_paths`]);
/// image `i` goes to shard `i % shards`, as the OD API's sharded writers do.
pub fn write_tfrecords(
    ds: &Dataset,
    prefix: &Path,
    shards: usize,
) -> Result<Vec<PathBuf>, DataError> {
    let paths = shard_paths(prefix, shards.max(1));
    if let Some(parent) = prefix.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let mut writers = Vec::with_capacity(paths.len());
    for p in &paths {
        let f = std::fs::File::create(p).map_err(|e| DataError::io(p, e))?;
        writers.push(BufWriter::new(f));
    }
    for (i, img) in ds.images.iter().enumerate() {
        let ex = example_of(ds, img)?;
        let k = i % paths.len();
        write_record(&mut writers[k], &encode_example(&ex))
            .map_err(|e| DataError::io(&paths[k], e))?;
    }
    for (w, p) in writers.into_iter().zip(&paths) {
        w.into_inner()
            .map_err(|e| DataError::io(p, e.into_error()))?;
    }
    Ok(paths)
}
