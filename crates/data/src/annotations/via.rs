//! VGG Image Annotator (VIA) 2 and 3 JSON.
//!
//! * VIA 2: a saved project (`_via_img_metadata`, `_via_attributes`) or the exported
//!   annotations (the `_via_img_metadata` map alone, as in Detectron2's balloon tutorial); a
//!   region list or VIA 1's region map. Shapes (`shape_attributes.name`): `polygon`,
//!   `polyline` (closed), `rect`, `circle`, `ellipse` (with `theta` when VIA wrote it);
//!   `point` has no area.
//! * VIA 3: a saved project (`file`, `view`, `metadata` with `xy = [shape, ...]`): 2 rectangle,
//!   3 circle, 4 ellipse, 6 polyline (closed), 7 polygon, 8 extreme rectangle (its box);
//!   1 point and 5 line have no area.
//!
//! The class is the value of one region attribute: `dataset.class_attribute`
//! (`--class-attribute`), else the first of `class`, `label`, `category`, `name`, `type`
//! (any case) the project has, else its only region attribute. Option ids are turned into
//! option names where the project lists them (VIA 3 stores ids). A project without region
//! attributes is one class, `object`, and the report says so. VIA stores no image size: it is
//! read from the image, with the EXIF orientation applied by default, as the browser VIA runs
//! in showed the photo.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::shapes::{Shape, leaves_image, rasterize, self_intersects};
use super::{Labelled, LabelledInstance, ToolOptions, ToolRead, checked_size, note};
use crate::error::{DataError, Problem, ProblemKind, ProblemLog, Skipped};

const CLASS_NAMES: &[&str] = &["class", "label", "category", "name", "type"];

/// One region before rasterising: its shape (or why it has none) and its attribute values.
struct Region {
    shape: Result<Option<Shape>, (ProblemKind, String)>,
    /// Attribute (name or VIA 3 id) -> value as text.
    attributes: BTreeMap<String, String>,
}

/// One image of the project.
struct ViaImage {
    file_name: String,
    regions: Vec<Region>,
}

fn num(v: &Value, key: &str) -> Result<f64, (ProblemKind, String)> {
    v.get(key).and_then(Value::as_f64).ok_or_else(|| {
        (
            ProblemKind::BadPolygon,
            format!("shape_attributes.{key} is missing or not a number"),
        )
    })
}

fn nums(v: &Value, key: &str) -> Result<Vec<f64>, (ProblemKind, String)> {
    v.get(key)
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
        .ok_or_else(|| {
            (
                ProblemKind::BadPolygon,
                format!("shape_attributes.{key} is missing or not a list of numbers"),
            )
        })
}

fn zip_points(xs: &[f64], ys: &[f64]) -> Result<Vec<[f64; 2]>, (ProblemKind, String)> {
    if xs.len() != ys.len() {
        return Err((
            ProblemKind::BadPolygon,
            format!("{} x values but {} y values", xs.len(), ys.len()),
        ));
    }
    Ok(xs.iter().zip(ys).map(|(&x, &y)| [x, y]).collect())
}

/// A VIA 2 `shape_attributes` object.
fn shape_v2(s: &Value) -> Result<Option<Shape>, (ProblemKind, String)> {
    let name = s.get("name").and_then(Value::as_str).unwrap_or("");
    Ok(Some(match name {
        "polygon" | "polyline" => Shape::Polygon(zip_points(
            &nums(s, "all_points_x")?,
            &nums(s, "all_points_y")?,
        )?),
        "rect" => {
            let (x, y) = (num(s, "x")?, num(s, "y")?);
            Shape::Rect {
                a: [x, y],
                b: [x + num(s, "width")?, y + num(s, "height")?],
            }
        }
        "circle" => Shape::Circle {
            c: [num(s, "cx")?, num(s, "cy")?],
            r: num(s, "r")?,
        },
        "ellipse" => Shape::Ellipse {
            c: [num(s, "cx")?, num(s, "cy")?],
            rx: num(s, "rx")?,
            ry: num(s, "ry")?,
            theta: s.get("theta").and_then(Value::as_f64).unwrap_or(0.0),
        },
        "point" => return Ok(None),
        other => {
            return Err((
                ProblemKind::UnknownShape,
                format!(
                    "shape '{other}' is not a VIA region shape (polygon, polyline, rect, circle, \
                     ellipse; point has no area)"
                ),
            ));
        }
    }))
}

/// A VIA 3 `xy` list: shape id, then its numbers.
fn shape_v3(xy: &[f64]) -> Result<Option<Shape>, (ProblemKind, String)> {
    let bad = |what: &str| Err((ProblemKind::BadPolygon, format!("xy {xy:?}: {what}")));
    let Some((&id, v)) = xy.split_first() else {
        return bad("empty");
    };
    let points = |v: &[f64]| -> Vec<[f64; 2]> { v.chunks_exact(2).map(|c| [c[0], c[1]]).collect() };
    Ok(Some(match (id as i64, v) {
        (1 | 5, _) => return Ok(None),
        (2, &[x, y, w, h]) => Shape::Rect {
            a: [x, y],
            b: [x + w, y + h],
        },
        (3, &[cx, cy, r]) => Shape::Circle { c: [cx, cy], r },
        (4, &[cx, cy, rx, ry]) => Shape::Ellipse {
            c: [cx, cy],
            rx,
            ry,
            theta: 0.0,
        },
        (6 | 7, v) if v.len() % 2 == 0 => Shape::Polygon(points(v)),
        (8, v) if v.len() % 2 == 0 && !v.is_empty() => {
            let p = points(v);
            let min = |i: usize| p.iter().map(|q| q[i]).fold(f64::INFINITY, f64::min);
            let max = |i: usize| p.iter().map(|q| q[i]).fold(f64::NEG_INFINITY, f64::max);
            Shape::Rect {
                a: [min(0), min(1)],
                b: [max(0), max(1)],
            }
        }
        (2..=8, _) => return bad("the wrong number of values for its shape"),
        (other, _) => {
            return Err((
                ProblemKind::UnknownShape,
                format!(
                    "shape id {other} is not one VIA 3 makes into an area (2 rectangle, 3 circle, \
                     4 ellipse, 6 polyline, 7 polygon, 8 extreme rectangle)"
                ),
            ));
        }
    }))
}

/// A region attribute's value as text: strings as they are, a checkbox map by its ticked key.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(m) => {
            let on: Vec<&String> = m
                .iter()
                .filter(|(_, v)| v.as_bool().unwrap_or(false))
                .map(|(k, _)| k)
                .collect();
            match on.as_slice() {
                [one] => Some((*one).clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// VIA 2 (project or export): the images, the region attribute names and their options.
fn parse_v2(doc: &Value) -> (Vec<ViaImage>, Vec<(String, Vec<String>)>) {
    let meta = doc.get("_via_img_metadata").unwrap_or(doc);
    let mut attrs: Vec<(String, Vec<String>)> = doc
        .pointer("/_via_attributes/region")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, a)| {
                    let opts = a
                        .get("options")
                        .and_then(Value::as_object)
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default();
                    (k.clone(), opts)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut images = Vec::new();
    for entry in meta.as_object().into_iter().flat_map(|m| m.values()) {
        let Some(file_name) = entry.get("filename").and_then(Value::as_str) else {
            continue;
        };
        let regions: Vec<&Value> = match entry.get("regions") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(Value::Object(m)) => m.values().collect(),
            _ => Vec::new(),
        };
        let regions = regions
            .into_iter()
            .map(|r| {
                let attributes: BTreeMap<String, String> = r
                    .get("region_attributes")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| value_text(v).map(|t| (k.clone(), t)))
                            .collect()
                    })
                    .unwrap_or_default();
                for k in attributes.keys() {
                    if !attrs.iter().any(|(a, _)| a == k) {
                        attrs.push((k.clone(), Vec::new()));
                    }
                }
                Region {
                    shape: shape_v2(r.get("shape_attributes").unwrap_or(&Value::Null)),
                    attributes,
                }
            })
            .collect();
        images.push(ViaImage {
            file_name: file_name.to_string(),
            regions,
        });
    }
    (images, attrs)
}

/// A VIA 3 id: a string or a number.
fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// VIA 3 project: images (one per file listed in a view), attributes by name with options,
/// and the id -> name map of the attributes.
fn parse_v3(doc: &Value) -> (Vec<ViaImage>, Vec<(String, Vec<String>)>) {
    let empty = serde_json::Map::new();
    let obj = |k: &str| doc.get(k).and_then(Value::as_object).unwrap_or(&empty);
    // attribute id -> (name, option id -> option name)
    let mut attr_defs: BTreeMap<String, (String, BTreeMap<String, String>)> = BTreeMap::new();
    for (id, a) in obj("attribute") {
        let anchor = a.get("anchor_id").and_then(Value::as_str).unwrap_or("");
        if !anchor.contains("XY1") {
            continue; // a file or temporal attribute, not a region's
        }
        let name = a
            .get("aname")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_string();
        let options = a
            .get("options")
            .and_then(Value::as_object)
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or(k).to_string()))
                    .collect()
            })
            .unwrap_or_default();
        attr_defs.insert(id.clone(), (name, options));
    }
    let files = obj("file");
    let mut view_file: BTreeMap<String, String> = BTreeMap::new();
    for (vid, v) in obj("view") {
        if let Some(Value::Array(fids)) = v.get("fid_list")
            && let [fid] = fids.as_slice()
            && let Some(f) = files.get(&id_text(fid))
            && let Some(name) = f.get("fname").and_then(Value::as_str)
        {
            view_file.insert(vid.clone(), name.to_string());
        }
    }
    let mut by_view: BTreeMap<String, Vec<Region>> =
        view_file.keys().map(|v| (v.clone(), Vec::new())).collect();
    for m in obj("metadata").values() {
        let vid = m.get("vid").map(id_text).unwrap_or_default();
        let xy: Option<Vec<f64>> = m
            .get("xy")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_f64).collect());
        let Some(xy) = xy else { continue };
        if xy.is_empty() {
            continue; // a file-level (not spatial) metadata entry
        }
        let mut attributes = BTreeMap::new();
        for (aid, v) in m.get("av").and_then(Value::as_object).into_iter().flatten() {
            let Some((name, options)) = attr_defs.get(aid) else {
                continue;
            };
            let Some(text) = value_text(v) else { continue };
            let text = options.get(&text).cloned().unwrap_or(text);
            attributes.insert(name.clone(), text);
        }
        if let Some(list) = by_view.get_mut(&vid) {
            list.push(Region {
                shape: shape_v3(&xy),
                attributes,
            });
        }
    }
    let images = by_view
        .into_iter()
        .filter_map(|(vid, regions)| {
            view_file.get(&vid).map(|f| ViaImage {
                file_name: f.clone(),
                regions,
            })
        })
        .collect();
    let attrs = attr_defs
        .into_values()
        .map(|(name, options)| (name, options.into_values().collect()))
        .collect();
    (images, attrs)
}

/// The attribute that holds the class (see the module docs).
fn class_attribute(
    json: &Path,
    attrs: &[(String, Vec<String>)],
    chosen: Option<&str>,
) -> Result<Option<String>, DataError> {
    let names: Vec<&str> = attrs.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(c) = chosen {
        if names.contains(&c) {
            return Ok(Some(c.to_string()));
        }
        return Err(DataError::format(
            json,
            format!(
                "class attribute '{c}' is not a region attribute of this project (it has: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        ));
    }
    for want in CLASS_NAMES {
        if let Some(n) = names.iter().find(|n| n.eq_ignore_ascii_case(want)) {
            return Ok(Some(n.to_string()));
        }
    }
    match names.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.to_string())),
        many => Err(DataError::format(
            json,
            format!(
                "which region attribute is the class? This project has {}; name one with \
                 dataset.class_attribute (--class-attribute)",
                many.join(", ")
            ),
        )),
    }
}

/// Reads a VIA 2 or VIA 3 JSON file; images are looked for in `opts.images`, else beside it.
pub fn read_via(
    json: &Path,
    opts: &ToolOptions,
    log: &mut ProblemLog,
) -> Result<ToolRead, DataError> {
    let text = std::fs::read_to_string(json).map_err(|e| DataError::io(json, e))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| DataError::format(json, format!("not JSON: {e}")))?;
    let v3 = doc.get("project").is_some() && doc.get("metadata").is_some();
    let (images, attrs) = if v3 { parse_v3(&doc) } else { parse_v2(&doc) };
    if images.is_empty() {
        return Err(DataError::format(
            json,
            "no image in this file: a VIA 2 project has `_via_img_metadata`, an export is a map \
             of entries with `filename` and `regions`, a VIA 3 project has `file`, `view` and \
             `metadata`",
        ));
    }
    let attr = class_attribute(json, &attrs, opts.class_attribute.as_deref())?;
    let declared: Vec<String> = attr
        .as_ref()
        .and_then(|a| attrs.iter().find(|(n, _)| n == a))
        .map(|(_, o)| o.clone())
        .unwrap_or_default();
    let root: PathBuf = opts
        .images
        .clone()
        .unwrap_or_else(|| json.parent().unwrap_or(Path::new(".")).to_path_buf());
    let (mut no_area, mut crossing, mut clipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    for img in images {
        let path = root.join(&img.file_name);
        let Some((w, h)) = checked_size(&path, json, None, opts.apply_exif, log)? else {
            continue;
        };
        let mut instances = Vec::new();
        for (i, r) in img.regions.iter().enumerate() {
            let at = format!("{} region {i}", img.file_name);
            let problem =
                |kind, d: String| Problem::new(kind, json, format!("{at}: {d}")).annotation(i);
            let shape = match &r.shape {
                Ok(Some(s)) => s,
                Ok(None) => {
                    no_area.push(at);
                    continue;
                }
                Err((kind, d)) => {
                    log.bad(problem(*kind, d.clone()), Skipped::Annotation)?;
                    continue;
                }
            };
            let poly = match shape.polygon() {
                Ok(p) => p,
                Err(e) => {
                    log.bad(problem(ProblemKind::BadPolygon, e.0), Skipped::Annotation)?;
                    continue;
                }
            };
            let class = match &attr {
                None => "object".to_string(),
                Some(a) => match r
                    .attributes
                    .get(a)
                    .map(|s| s.trim())
                    .filter(|s| !s.is_empty())
                {
                    Some(c) => c.to_string(),
                    None => {
                        let d = format!("no value for the class attribute '{a}'");
                        log.bad(problem(ProblemKind::UnknownClass, d), Skipped::Annotation)?;
                        continue;
                    }
                },
            };
            if self_intersects(&poly) {
                crossing.push(at.clone());
            }
            if leaves_image(&poly, w, h) {
                clipped.push(at.clone());
            }
            instances.push(LabelledInstance {
                class,
                mask: rasterize(&[poly], w, h),
                iscrowd: false,
            });
        }
        out.push(Labelled::new(path, &root, (w, h), instances, json));
    }
    let mut notes: Vec<String> = [
        note(
            "region(s) without an area (point, line), not used",
            &no_area,
        ),
        note(
            "self-intersecting polygon(s), kept and rasterised as pycocotools does",
            &crossing,
        ),
        note(
            "region(s) reaching outside the image, clipped to it",
            &clipped,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    if attr.is_none() {
        notes.push(format!(
            "{}: no region attribute, so every region is class 'object' (add a 'class' \
             attribute in VIA for several classes)",
            json.display()
        ));
    }
    Ok(ToolRead {
        images: out,
        declared,
        notes,
    })
}
