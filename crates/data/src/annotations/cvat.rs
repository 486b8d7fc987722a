//! CVAT for images 1.1 XML (`annotations.xml` of CVAT's "CVAT for images" export).
//!
//! `<image name width height>` elements hold the shapes: `polygon` (`points="x,y;x,y;..."`),
//! `box` (`xtl ytl xbr ybr`) and `mask` (`rle` counts over the box `left top width height`,
//! row by row, starting with background), each with its `label`; `polyline`, `points`,
//! `skeleton` and `cuboid` have no area and are counted in a note. `occluded` and `z_order` are
//! read but do not change a mask: each instance is the shape as drawn, which is what CVAT's own
//! COCO export writes. The class list is the task's or project's `<labels>` in the order CVAT
//! lists them. Image names are relative to `images/` beside the XML (CVAT's export layout), or
//! the folder given as `--images`; the `width`/`height` CVAT wrote must be the image's size,
//! with the EXIF orientation applied (CVAT rotates photos by their tag when it makes a task).

use std::path::{Path, PathBuf};

use mrcnn_coco::Rle;

use super::shapes::{Shape, leaves_image, rasterize, self_intersects};
use super::{Labelled, LabelledInstance, ToolOptions, ToolRead, checked_size, note};
use crate::error::{DataError, Problem, ProblemKind, ProblemLog, Skipped};

const NO_AREA: &[&str] = &["polyline", "points", "skeleton", "cuboid", "tag"];

fn attr_f64(n: roxmltree::Node, key: &str) -> Result<f64, String> {
    let v = n
        .attribute(key)
        .ok_or_else(|| format!("no `{key}` attribute"))?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("`{key}` = \"{v}\" is not a number"))
}

fn points(s: &str) -> Result<Vec<[f64; 2]>, String> {
    s.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (x, y) = p
                .split_once(',')
                .ok_or_else(|| format!("point \"{p}\" is not x,y"))?;
            let parse = |v: &str| {
                v.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("point \"{p}\" is not x,y"))
            };
            Ok([parse(x)?, parse(y)?])
        })
        .collect()
}

/// A CVAT mask: run lengths over its box, row-major, background first.
fn mask(n: roxmltree::Node, w: u32, h: u32) -> Result<Rle, String> {
    let (left, top) = (attr_f64(n, "left")? as i64, attr_f64(n, "top")? as i64);
    let (bw, bh) = (attr_f64(n, "width")? as i64, attr_f64(n, "height")? as i64);
    let rle = n.attribute("rle").ok_or("no `rle` attribute")?;
    let counts: Vec<u64> = rle
        .split(',')
        .map(|c| c.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| "`rle` is not a list of counts".to_string())?;
    let total: u64 = counts.iter().sum();
    if bw <= 0 || bh <= 0 || total != (bw * bh) as u64 {
        return Err(format!(
            "`rle` counts sum to {total}, but the mask box is {bw}x{bh} = {} pixels",
            bw.max(0) * bh.max(0)
        ));
    }
    let mut full = vec![0u8; w as usize * h as usize];
    let (mut pos, mut fg) = (0i64, false);
    for c in counts {
        if fg {
            for k in pos..pos + c as i64 {
                let (x, y) = (left + k % bw, top + k / bw);
                if x >= 0 && y >= 0 && x < w as i64 && y < h as i64 {
                    full[y as usize * w as usize + x as usize] = 1;
                }
            }
        }
        pos += c as i64;
        fg = !fg;
    }
    Ok(Rle::encode(&full, h, w))
}

/// Reads a CVAT for images XML file.
pub fn read_cvat(
    xml: &Path,
    opts: &ToolOptions,
    log: &mut ProblemLog,
) -> Result<ToolRead, DataError> {
    let text = std::fs::read_to_string(xml).map_err(|e| DataError::io(xml, e))?;
    let doc = roxmltree::Document::parse(&text)
        .map_err(|e| DataError::format(xml, format!("not XML: {e}")))?;
    let top = doc.root_element();
    if top.tag_name().name() != "annotations" {
        return Err(DataError::format(
            xml,
            format!(
                "the top element is <{}>, not <annotations>: export the task as \"CVAT for \
                 images 1.1\"",
                top.tag_name().name()
            ),
        ));
    }
    let declared: Vec<String> = top
        .descendants()
        .filter(|n| n.has_tag_name("labels"))
        .take(1)
        .flat_map(|labels| labels.children().filter(|n| n.has_tag_name("label")))
        .filter_map(|l| {
            l.children()
                .find(|c| c.has_tag_name("name"))
                .and_then(|c| c.text())
                .map(|t| t.trim().to_string())
        })
        .collect();
    let root: PathBuf = opts
        .images
        .clone()
        .unwrap_or_else(|| xml.parent().unwrap_or(Path::new(".")).join("images"));
    let (mut no_area, mut crossing, mut clipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut out = Vec::new();
    for (k, img) in top
        .children()
        .filter(|n| n.has_tag_name("image"))
        .enumerate()
    {
        let name = img.attribute("name").unwrap_or("").to_string();
        let declared_size = match (attr_f64(img, "width"), attr_f64(img, "height")) {
            (Ok(w), Ok(h)) => Some((w as u32, h as u32)),
            _ => None,
        };
        let path = root.join(&name);
        let Some((w, h)) = checked_size(&path, xml, declared_size, opts.apply_exif, log)? else {
            continue;
        };
        let mut instances = Vec::new();
        for (i, s) in img.children().filter(|n| n.is_element()).enumerate() {
            let kind = s.tag_name().name();
            let at = format!("image {k} ({name}) <{kind}> {i}");
            let bad = |pk, d: String| {
                Problem::new(pk, xml, format!("{at}: {d}"))
                    .record(k)
                    .annotation(i)
            };
            let class = s.attribute("label").unwrap_or("").trim().to_string();
            let m: Result<Rle, (ProblemKind, String)> = match kind {
                "polygon" | "box" => {
                    let shape = if kind == "polygon" {
                        points(s.attribute("points").unwrap_or("")).map(Shape::Polygon)
                    } else {
                        (|| {
                            Ok(Shape::Rect {
                                a: [attr_f64(s, "xtl")?, attr_f64(s, "ytl")?],
                                b: [attr_f64(s, "xbr")?, attr_f64(s, "ybr")?],
                            })
                        })()
                    };
                    shape
                        .and_then(|sh| sh.polygon().map_err(|e| e.0))
                        .map(|poly| {
                            if self_intersects(&poly) {
                                crossing.push(at.clone());
                            }
                            if leaves_image(&poly, w, h) {
                                clipped.push(at.clone());
                            }
                            rasterize(&[poly], w, h)
                        })
                        .map_err(|e| (ProblemKind::BadPolygon, e))
                }
                "mask" => mask(s, w, h).map_err(|e| (ProblemKind::BadRle, e)),
                k if NO_AREA.contains(&k) => {
                    no_area.push(at.clone());
                    continue;
                }
                other => Err((
                    ProblemKind::UnknownShape,
                    format!(
                        "<{other}> is not a CVAT shape with an area (polygon, box, mask; \
                         polyline, points, skeleton, cuboid, tag have none)"
                    ),
                )),
            };
            match m {
                Ok(_) if class.is_empty() => {
                    log.bad(
                        bad(ProblemKind::UnknownClass, "no `label`".into()),
                        Skipped::Annotation,
                    )?;
                }
                Ok(mask) => instances.push(LabelledInstance {
                    class,
                    mask,
                    iscrowd: false,
                }),
                Err((pk, d)) => log.bad(bad(pk, d), Skipped::Annotation)?,
            }
        }
        out.push(Labelled::new(path, &root, (w, h), instances, xml));
    }
    if out.is_empty() && top.children().all(|n| !n.has_tag_name("image")) {
        return Err(DataError::format(
            xml,
            "no <image> element: this is a CVAT export of another kind (video tracks?); export \
             the task as \"CVAT for images 1.1\"",
        ));
    }
    let notes = [
        note(
            "shape(s) without an area (polyline, points, ...), not used",
            &no_area,
        ),
        note(
            "self-intersecting polygon(s), kept and rasterised as pycocotools does",
            &crossing,
        ),
        note(
            "shape(s) reaching outside the image, clipped to it",
            &clipped,
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(ToolRead {
        images: out,
        declared,
        notes,
    })
}
