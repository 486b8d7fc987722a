//! Reading COCO instances JSON: polygons, uncompressed and compressed RLE, iscrowd.
//!
//! The file is read with `mrcnn-coco`'s schema entry by entry ([`LenientInstances`]), so one
//! malformed image or annotation becomes a located [`Problem`] instead of failing the whole
//! file; then each entry is checked for training (files exist, boxes inside the image, masks
//! of the image's size and not empty).

use std::collections::HashMap;
use std::path::Path;

use mrcnn_coco::schema::{RawSegmentation, bbox4};
use mrcnn_coco::{LenientInstances, Rle, Segmentation};

use crate::error::{DataError, Invalid, Problem, ProblemKind, ProblemLog, Skipped};
use crate::model::{Category, Dataset, ImageRecord, ImageSource, Instance, mask_bbox_xyxy};

/// Read `json`; image files are looked up under `image_root`.
///
/// Images whose file does not exist are reported ([`ProblemKind::MissingFile`]);
/// decoding is left to [`crate::sample::load_sample`] and `dataset stats --check-images`.
pub fn read_coco(
    json: &Path,
    image_root: &Path,
    log: &mut ProblemLog,
) -> Result<Dataset, DataError> {
    let text = std::fs::read_to_string(json).map_err(|e| DataError::io(json, e))?;
    read_coco_str(&text, json, image_root, true, log)
}

/// Read COCO JSON text; `json` only names the file in messages. With
/// `check_files`, images missing from `image_root` are reported.
pub fn read_coco_str(
    text: &str,
    json: &Path,
    image_root: &Path,
    check_files: bool,
    log: &mut ProblemLog,
) -> Result<Dataset, DataError> {
    let top = LenientInstances::from_json_str(text).map_err(|e| {
        let msg = match e {
            mrcnn_coco::CocoError::Invalid { msg, .. } => msg,
            other => format!("not a COCO instances file: {other}"),
        };
        DataError::format(json, msg)
    })?;

    let mut categories = Vec::new();
    for (i, c) in top.categories.into_iter().enumerate() {
        let c = c.map_err(|e| DataError::format(json, format!("categories[{i}]: {e}")))?;
        let id = u32::try_from(c.id).map_err(|_| {
            DataError::format(
                json,
                format!("categories[{i}]: id {} is not in 1..=4294967295", c.id),
            )
        })?;
        categories.push(Category { id, name: c.name });
    }
    // Categories define the label space: a bad one is a file error, not a sample.
    let categories = crate::labelmap::validate(categories)
        .map_err(|m| DataError::format(json, format!("categories: {m}")))?;
    let mut ds = Dataset {
        categories,
        images: Vec::new(),
    };

    let mut index: HashMap<i64, usize> = HashMap::new();
    for (i, im) in top.images.into_iter().enumerate() {
        let bad = |kind, d: String| Problem::new(kind, json, d).record(i);
        let im = match im {
            Ok(im) => im,
            Err(e) => {
                log.bad(
                    bad(ProblemKind::BadRecord, format!("images[{i}]: {e}")),
                    Skipped::Image,
                )?;
                continue;
            }
        };
        let (Some(file_name), Ok(id)) = (im.file_name, u64::try_from(im.id)) else {
            let d = format!("images[{i}]: needs a file_name and a non-negative id");
            log.bad(bad(ProblemKind::BadRecord, d), Skipped::Image)?;
            continue;
        };
        if im.width == 0 || im.height == 0 {
            let d = format!("image {id} has size {}x{}", im.width, im.height);
            log.bad(bad(ProblemKind::BadRecord, d), Skipped::Image)?;
            continue;
        }
        if !mrcnn_coco::addressable(im.width, im.height) {
            let d = format!(
                "image {id} has size {}x{}: more than 2^32 pixels, more than COCO masks can address",
                im.width, im.height
            );
            log.bad(bad(ProblemKind::BadRecord, d), Skipped::Image)?;
            continue;
        }
        if index.contains_key(&im.id) {
            let d = format!("image id {id} appears twice");
            log.bad(bad(ProblemKind::DuplicateId, d), Skipped::Image)?;
            continue;
        }
        let path = image_root.join(&file_name);
        if check_files && !path.is_file() {
            let d = format!("image file {} not found", path.display());
            log.bad(bad(ProblemKind::MissingFile, d), Skipped::Image)?;
            // Mark the id as known so its annotations are not reported again.
            index.insert(im.id, usize::MAX);
            continue;
        }
        index.insert(im.id, ds.images.len());
        ds.images.push(ImageRecord {
            apply_exif: false,
            id,
            file_name,
            source: ImageSource::File(path),
            width: im.width,
            height: im.height,
            annotations: Vec::new(),
        });
    }

    for (i, a) in top.annotations.into_iter().enumerate() {
        let bad = |kind, d: String| Problem::new(kind, json, d).annotation(i);
        let a = match a {
            Ok(a) => a,
            Err(e) => {
                let p = bad(ProblemKind::BadRecord, format!("annotations[{i}]: {e}"));
                log.bad(p, Skipped::Annotation)?;
                continue;
            }
        };
        let Some(&img_idx) = index.get(&a.image_id) else {
            let d = format!("image_id {} is not in images", a.image_id);
            log.bad(bad(ProblemKind::UnknownImage, d), Skipped::Annotation)?;
            continue;
        };
        if img_idx == usize::MAX {
            continue; // its image was skipped (and reported) above
        }
        let label = u32::try_from(a.category_id)
            .ok()
            .and_then(|id| ds.label_of_id(id));
        let Some(label) = label else {
            let d = format!("category_id {} is not in categories", a.category_id);
            log.bad(bad(ProblemKind::UnknownClass, d), Skipped::Annotation)?;
            continue;
        };
        let img = &ds.images[img_idx];
        let (h, w) = (img.height, img.width);
        let mask = match decode_segmentation(a.segmentation, h, w) {
            Ok(m) => m,
            Err((kind, d)) => {
                log.bad(bad(kind, d).record(img_idx), Skipped::Annotation)?;
                continue;
            }
        };
        let mask_area = mask.area();
        if mask_area == 0 {
            let d = "segmentation covers no pixel".to_string();
            log.bad(bad(ProblemKind::EmptyMask, d), Skipped::Annotation)?;
            continue;
        }
        let bbox = match bbox4(a.bbox.as_deref())
            .map_err(|e| Invalid(e.to_string()))
            .and_then(|b| b.map(|b| check_box(b, w, h)).transpose())
        {
            Ok(Some(b)) => b,
            Ok(None) => mask_bbox_xyxy(&mask),
            Err(d) => {
                log.bad(bad(ProblemKind::BadBox, d.0), Skipped::Annotation)?;
                continue;
            }
        };
        let area = match a.area {
            None => mask_area as f64,
            Some(v) if !(v.is_finite() && v > 0.0) => {
                let d = format!(
                    "area {v} is not a positive number (the mask covers {mask_area} pixels)"
                );
                log.bad(bad(ProblemKind::BadArea, d), Skipped::Annotation)?;
                continue;
            }
            Some(v) if far_apart(v, mask_area as f64) => {
                let box_area = ((bbox[2] - bbox[0]) * (bbox[3] - bbox[1])) as f64;
                let hint = if (v - box_area).abs() <= 0.01 * box_area {
                    " (it is the box's area: some converters write that)"
                } else {
                    ""
                };
                let d = format!(
                    "area {v} is far from the {mask_area} pixels its segmentation covers{hint}; \
                     fix the area (COCO: the polygon's or mask's area) or the segmentation"
                );
                log.bad(bad(ProblemKind::BadArea, d), Skipped::Annotation)?;
                continue;
            }
            Some(v) => v,
        } as f32;
        ds.images[img_idx].annotations.push(Instance {
            category: label,
            bbox,
            mask,
            iscrowd: a.iscrowd,
            area,
        });
    }
    Ok(ds)
}

/// Whether a stated area and the pixel count of the mask disagree beyond what rasterising a
/// polygon explains: by more than a factor of 2 and by more than 32 pixels (a small object's
/// polygon area and pixel count differ by a border's worth).
fn far_apart(stated: f64, pixels: f64) -> bool {
    let (lo, hi) = (stated.min(pixels), stated.max(pixels));
    hi > 2.0 * lo && hi - lo > 32.0
}

/// A COCO `[x, y, w, h]` box as xyxy, rejecting empty boxes and boxes outside
/// the image (half a pixel of slack for float rounding in exported files).
fn check_box(b: [f64; 4], w: u32, h: u32) -> Result<[f32; 4], Invalid> {
    let [x, y, bw, bh] = b;
    if !b.iter().all(|v| v.is_finite()) || bw <= 0.0 || bh <= 0.0 {
        return Err(format!("bbox {b:?} has zero or negative size").into());
    }
    let tol = 0.5;
    if x < -tol || y < -tol || x + bw > w as f64 + tol || y + bh > h as f64 + tol {
        return Err(format!("bbox {b:?} lies outside the {w}x{h} image").into());
    }
    let cl = |v: f64, m: u32| v.clamp(0.0, m as f64) as f32;
    Ok([cl(x, w), cl(y, h), cl(x + bw, w), cl(y + bh, h)])
}

/// Polygons or an RLE of the image's size → the mask of an `h x w` image. Polygons need at
/// least 3 points; an RLE must be valid and of the image's size.
pub(crate) fn decode_segmentation(
    seg: Option<RawSegmentation>,
    h: u32,
    w: u32,
) -> Result<Rle, (ProblemKind, String)> {
    let Some(seg) = seg else {
        return Err((
            ProblemKind::EmptyMask,
            "annotation has no segmentation".into(),
        ));
    };
    if let RawSegmentation::Rle { size: [rh, rw], .. } = &seg
        && (*rh, *rw) != (h, w)
    {
        let d = format!("RLE size {rh}x{rw} but the image is {h}x{w}");
        return Err((ProblemKind::MaskSizeMismatch, d));
    }
    match seg.decode() {
        Ok(Segmentation::Rle(r)) => Ok(r),
        Err(e) => Err((ProblemKind::BadRle, e.to_string())),
        Ok(Segmentation::Polygons(polys)) => {
            if polys.is_empty() {
                return Err((ProblemKind::BadPolygon, "empty polygon list".into()));
            }
            for (k, pts) in polys.iter().enumerate() {
                if pts.len() < 6 || pts.len() % 2 != 0 {
                    let d = format!(
                        "polygon {k} has {} values; need ≥ 3 (x, y) points",
                        pts.len()
                    );
                    return Err((ProblemKind::BadPolygon, d));
                }
            }
            Ok(Rle::from_polygons(&polys, h, w))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OnBadSample;

    /// Fuzzing regression (`fuzz/`, target `coco_json`): a 70000x70000 image's
    /// polygon came back with runs summing to 4294911355 instead of 4.9e9.
    #[test]
    fn images_past_32_bit_pixel_positions_are_refused() {
        let text = r#"{"images": [{"id": 1, "file_name": "a.png", "width": 70000, "height": 70000},
                                 {"id": 2, "file_name": "b.png", "width": 65536, "height": 65535}],
            "categories": [{"id": 1, "name": "a"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 1,
                             "segmentation": [[60000, 60000, 69000, 60000, 69000, 69000]]},
                            {"id": 2, "image_id": 2, "category_id": 1, "area": 12500000,
                             "segmentation": [[60000, 60000, 65000, 60000, 65000, 65000]]}]}"#;
        let (json, root) = (Path::new("big.json"), Path::new("."));
        let mut log = ProblemLog::new(OnBadSample::Skip);
        let ds = read_coco_str(text, json, root, false, &mut log).unwrap();
        assert_eq!(ds.images.len(), 1, "65536x65535 < 2^32 is kept");
        let m = &ds.images[0].annotations[0].mask;
        let sum: u64 = m.counts.iter().map(|&c| c as u64).sum();
        assert_eq!(sum, 65536 * 65535);
        assert_eq!(log.problems[0].kind, ProblemKind::BadRecord);
        assert!(
            log.problems[0].to_string().contains("2^32 pixels"),
            "{}",
            log.problems[0]
        );
        let mut strict = ProblemLog::new(OnBadSample::Error);
        assert!(read_coco_str(text, json, root, false, &mut strict).is_err());
    }

    #[test]
    fn an_area_that_is_the_boxs_is_named_so() {
        let text = r#"{"images": [{"id": 1, "file_name": "a.png", "width": 128, "height": 128}],
            "categories": [{"id": 1, "name": "a"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "area": 10000,
                             "bbox": [0, 0, 100, 100],
                             "segmentation": [[0, 0, 4, 0, 100, 96, 100, 100]]}]}"#;
        let mut log = ProblemLog::new(OnBadSample::Skip);
        read_coco_str(text, Path::new("a.json"), Path::new("."), false, &mut log).unwrap();
        let p = log.problems[0].to_string();
        assert_eq!(log.problems[0].kind, ProblemKind::BadArea);
        assert!(p.contains("it is the box's area"), "{p}");
    }
}
