//! labelme: a folder (searched recursively) of images, each annotated by a `.json` beside it.
//!
//! Shapes: `polygon`, `rectangle`, `circle` (centre and a point on the circle) and `mask` (a
//! base64 PNG over the box `points[0]`..`points[1]`, labelme >= 5.3) make instances; `line`,
//! `linestrip`, `point` and `points` have no area and are counted in a note. Shapes with the
//! same `label` and the same non-null `group_id` are the parts of one instance (their union), as
//! labelme's COCO exporter joins them. A shape flag `crowd` (or `iscrowd`) set to true makes
//! the instance a COCO crowd region. `imageWidth`/`imageHeight` must be the image's size with
//! its EXIF orientation applied, since labelme rotates photos by their tag before they are
//! drawn on (`dataset.exif = "apply"` is this format's default).

use std::path::{Path, PathBuf};

use base64::Engine;
use mrcnn_coco::Rle;
use serde::Deserialize;

use super::shapes::{Shape, leaves_image, rasterize, self_intersects};
use super::{Labelled, LabelledInstance, ToolOptions, ToolRead, checked_size, note};
use crate::error::{DataError, Problem, ProblemKind, ProblemLog, Skipped};

#[derive(Deserialize)]
struct LabelmeFile {
    shapes: Vec<LabelmeShape>,
    #[serde(rename = "imagePath")]
    image_path: String,
    #[serde(rename = "imageWidth")]
    image_width: Option<u32>,
    #[serde(rename = "imageHeight")]
    image_height: Option<u32>,
}

#[derive(Deserialize)]
struct LabelmeShape {
    label: String,
    points: Vec<Vec<f64>>,
    #[serde(default)]
    group_id: Option<serde_json::Value>,
    /// Absent in labelme before 3.x, where every shape was a polygon.
    #[serde(default)]
    shape_type: Option<String>,
    #[serde(default)]
    mask: Option<String>,
    #[serde(default)]
    flags: Option<serde_json::Map<String, serde_json::Value>>,
}

impl LabelmeShape {
    /// A shape flag `crowd` or `iscrowd` ticked in labelme (`--labelflags`) marks a COCO crowd
    /// region: a group of objects annotated as one, ignored by training and evaluation.
    fn is_crowd(&self) -> bool {
        self.flags.as_ref().is_some_and(|f| {
            ["crowd", "iscrowd"]
                .iter()
                .any(|k| f.get(*k).and_then(|v| v.as_bool()).unwrap_or(false))
        })
    }
}

const NO_AREA: &[&str] = &["line", "linestrip", "point", "points"];

/// All `.json` files under `dir`, sorted.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            json_files(&p, out)?;
        } else if p
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Images under `dir` without a JSON of the same stem (left out, and said so).
fn unannotated_images(dir: &Path, jsons: &[PathBuf], out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            unannotated_images(&p, jsons, out);
        } else if p.extension().is_some_and(|e| {
            ["png", "jpg", "jpeg"].contains(&e.to_string_lossy().to_ascii_lowercase().as_str())
        }) && !jsons.contains(&p.with_extension("json"))
        {
            out.push(p.display().to_string());
        }
    }
}

/// The image a labelme file names: `imagePath` relative to the JSON (Windows separators
/// accepted), else the file of that name beside the JSON (a folder that was moved).
fn image_path(json: &Path, image_path: &str) -> PathBuf {
    let dir = json.parent().unwrap_or(Path::new("."));
    let given = dir.join(image_path.replace('\\', "/"));
    if given.is_file() {
        return given;
    }
    match Path::new(&image_path.replace('\\', "/")).file_name() {
        Some(name) if dir.join(name).is_file() => dir.join(name),
        _ => given,
    }
}

/// A shape's part of an instance: a polygon to rasterise, or a ready mask.
enum Part {
    Polygon(Vec<f64>),
    Mask(Rle),
}

/// A labelme `mask` shape: the base64 PNG placed at the box's top-left corner.
fn mask_part(s: &LabelmeShape, w: u32, h: u32) -> Result<Rle, String> {
    let data = s
        .mask
        .as_deref()
        .ok_or("a mask shape without its `mask` data")?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| format!("its mask is not base64: {e}"))?;
    let m = image::load_from_memory(&png)
        .map_err(|e| format!("its mask does not decode: {e}"))?
        .to_luma8();
    let [x0, y0] = match s.points.first().map(Vec::as_slice) {
        Some(&[x, y]) => [x.round() as i64, y.round() as i64],
        _ => return Err("a mask shape without its top-left point".into()),
    };
    let mut full = vec![0u8; w as usize * h as usize];
    for (x, y, p) in m.enumerate_pixels() {
        let (fx, fy) = (x0 + x as i64, y0 + y as i64);
        if p.0[0] > 0 && fx >= 0 && fy >= 0 && fx < w as i64 && fy < h as i64 {
            full[fy as usize * w as usize + fx as usize] = 1;
        }
    }
    Ok(Rle::encode(&full, h, w))
}

/// One shape as a polygon; `Ok(None)` for shapes without an area.
fn shape_part(s: &LabelmeShape, w: u32, h: u32) -> Result<Option<Part>, (ProblemKind, String)> {
    let kind = s.shape_type.as_deref().unwrap_or("polygon");
    let pts: Vec<[f64; 2]> = s
        .points
        .iter()
        .map(|p| match p.as_slice() {
            &[x, y] => Ok([x, y]),
            _ => Err((
                ProblemKind::BadPolygon,
                format!("a point has {} coordinates, expected [x, y]", p.len()),
            )),
        })
        .collect::<Result<_, _>>()?;
    let two = |what: &str| match pts.as_slice() {
        &[a, b] => Ok((a, b)),
        _ => Err((
            ProblemKind::BadPolygon,
            format!("a {what} needs 2 points, this one has {}", pts.len()),
        )),
    };
    let shape = match kind {
        "polygon" => Shape::Polygon(pts.clone()),
        "rectangle" => {
            let (a, b) = two("rectangle")?;
            Shape::Rect { a, b }
        }
        "circle" => {
            let (c, p) = two("circle (centre and a point on it)")?;
            let r = (p[0] - c[0]).hypot(p[1] - c[1]);
            Shape::Circle { c, r }
        }
        "mask" => {
            return mask_part(s, w, h)
                .map(|m| Some(Part::Mask(m)))
                .map_err(|e| (ProblemKind::BadRle, e));
        }
        k if NO_AREA.contains(&k) => return Ok(None),
        other => {
            return Err((
                ProblemKind::UnknownShape,
                format!(
                    "shape_type '{other}' is not one labelme makes (polygon, rectangle, circle, \
                     mask; line, linestrip, point and points have no area)"
                ),
            ));
        }
    };
    shape
        .polygon()
        .map(|p| Some(Part::Polygon(p)))
        .map_err(|e| (ProblemKind::BadPolygon, e.0))
}

/// What the notes collect while reading.
#[derive(Default)]
struct Seen {
    no_area: Vec<String>,
    self_intersecting: Vec<String>,
    clipped: Vec<String>,
    not_labelme: Vec<String>,
}

/// Reads one labelme file into an image; `None` after a bad sample under the skip policy.
fn read_one(
    root: &Path,
    json: &Path,
    opts: &ToolOptions,
    log: &mut ProblemLog,
    seen: &mut Seen,
) -> Result<Option<Labelled>, DataError> {
    let text = std::fs::read_to_string(json).map_err(|e| DataError::io(json, e))?;
    let value: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            let p = Problem::new(ProblemKind::BadRecord, json, format!("not JSON: {e}"));
            log.bad(p, Skipped::Image)?;
            return Ok(None);
        }
    };
    if value.get("shapes").is_none() && value.get("imagePath").is_none() {
        seen.not_labelme.push(json.display().to_string());
        return Ok(None);
    }
    let file: LabelmeFile = match serde_json::from_value(value) {
        Ok(f) => f,
        Err(e) => {
            let p = Problem::new(
                ProblemKind::BadRecord,
                json,
                format!("not a labelme file: {e}"),
            );
            log.bad(p, Skipped::Image)?;
            return Ok(None);
        }
    };
    let path = image_path(json, &file.image_path);
    let declared = file.image_width.zip(file.image_height);
    let Some((w, h)) = checked_size(&path, json, declared, opts.apply_exif, log)? else {
        return Ok(None);
    };
    // (label, group) -> crowd, parts, in order of first appearance.
    let mut groups: Vec<(String, Option<String>, bool, Vec<Part>)> = Vec::new();
    for (i, s) in file.shapes.iter().enumerate() {
        let part = match shape_part(s, w, h) {
            Ok(Some(p)) => p,
            Ok(None) => {
                seen.no_area.push(format!("{} shape {i}", json.display()));
                continue;
            }
            Err((kind, d)) => {
                let d = format!("shape {i} ('{}'): {d}", s.label);
                log.bad(
                    Problem::new(kind, json, d).annotation(i),
                    Skipped::Annotation,
                )?;
                continue;
            }
        };
        if let Part::Polygon(p) = &part {
            if self_intersects(p) {
                seen.self_intersecting
                    .push(format!("{} shape {i}", json.display()));
            }
            if leaves_image(p, w, h) {
                seen.clipped.push(format!("{} shape {i}", json.display()));
            }
        }
        let group = s
            .group_id
            .as_ref()
            .filter(|g| !g.is_null())
            .map(|g| g.to_string());
        let label = s.label.trim().to_string();
        match groups
            .iter_mut()
            .find(|(l, g, _, _)| group.is_some() && *l == label && *g == group)
        {
            Some((_, _, crowd, parts)) => {
                *crowd |= s.is_crowd();
                parts.push(part)
            }
            None => groups.push((label, group, s.is_crowd(), vec![part])),
        }
    }
    let instances = groups
        .into_iter()
        .map(|(class, _, iscrowd, parts)| {
            let polys: Vec<Vec<f64>> = parts
                .iter()
                .filter_map(|p| match p {
                    Part::Polygon(v) => Some(v.clone()),
                    Part::Mask(_) => None,
                })
                .collect();
            let mut masks: Vec<Rle> = parts
                .into_iter()
                .filter_map(|p| match p {
                    Part::Mask(m) => Some(m),
                    Part::Polygon(_) => None,
                })
                .collect();
            if !polys.is_empty() {
                masks.push(rasterize(&polys, w, h));
            }
            LabelledInstance {
                class,
                mask: Rle::merge(&masks, false),
                iscrowd,
            }
        })
        .collect();
    Ok(Some(Labelled::new(path, root, (w, h), instances, json)))
}

/// Reads the labelme folder `root`.
pub fn read_labelme(
    root: &Path,
    opts: &ToolOptions,
    log: &mut ProblemLog,
) -> Result<ToolRead, DataError> {
    if !root.is_dir() {
        return Err(DataError::format(
            root,
            "a labelme dataset is a folder of images with a .json beside each; this is not a \
             folder",
        ));
    }
    let mut jsons = Vec::new();
    json_files(root, &mut jsons)?;
    let mut seen = Seen::default();
    let mut images = Vec::new();
    for json in &jsons {
        if let Some(img) = read_one(root, json, opts, log, &mut seen)? {
            images.push(img);
        }
    }
    let mut unannotated = Vec::new();
    unannotated_images(root, &jsons, &mut unannotated);
    let notes = [
        note(
            "image(s) without a labelme .json beside them, left out (labelme writes no file \
             for an image nobody annotated)",
            &unannotated,
        ),
        note(
            "JSON file(s) that are not labelme files, ignored",
            &seen.not_labelme,
        ),
        note(
            "shape(s) without an area (line, linestrip, point, points), not used",
            &seen.no_area,
        ),
        note(
            "self-intersecting polygon(s), kept and rasterised as pycocotools does",
            &seen.self_intersecting,
        ),
        note(
            "polygon(s) reaching outside the image, clipped to it",
            &seen.clipped,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(ToolRead {
        images,
        declared: Vec::new(),
        notes,
    })
}
