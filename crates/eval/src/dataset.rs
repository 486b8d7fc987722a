//! Loading COCO ground truth (instances JSON) and detection results JSON.
//!
//! Mirrors what `COCO()` and `COCO.loadRes()` read, with validation: malformed
//! JSON, missing fields, bad RLE strings and results on unknown images are
//! errors that say what is wrong and where (JSON line/column, or the list index
//! and id of the offending entry), never panics.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use crate::error::EvalError;
use crate::rle::Rle;

/// An entry of `images`.
#[derive(Clone, Debug, PartialEq)]
pub struct CocoImage {
    pub id: i64,
    pub height: u32,
    pub width: u32,
    pub file_name: Option<String>,
}

/// An entry of `categories`.
#[derive(Clone, Debug, PartialEq)]
pub struct CocoCategory {
    pub id: i64,
    pub name: String,
}

/// A COCO `segmentation` value.
#[derive(Clone, Debug, PartialEq)]
pub enum Segmentation {
    /// Polygons `[[x0, y0, x1, y1, ...], ...]`, rasterised at the image size.
    Polygons(Vec<Vec<f64>>),
    /// An RLE, from uncompressed (`"counts": [..]`) or compressed (string)
    /// form; it keeps its own `size`, as pycocotools does.
    Rle(Rle),
}

impl Segmentation {
    /// COCO.annToRLE: polygons are rasterised at `h x w` and merged.
    pub fn to_rle(&self, h: u32, w: u32) -> Rle {
        match self {
            Segmentation::Polygons(p) => Rle::from_polygons(p, h, w),
            Segmentation::Rle(r) => r.clone(),
        }
    }
}

/// One ground-truth annotation.
#[derive(Clone, Debug, PartialEq)]
pub struct GtAnnotation {
    pub id: i64,
    pub image_id: i64,
    pub category_id: i64,
    pub bbox: Option<[f64; 4]>,
    /// The annotation's own `area` field: COCOeval uses it for area ranges.
    pub area: f64,
    pub iscrowd: bool,
    pub segmentation: Option<Segmentation>,
}

/// A COCO ground-truth dataset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CocoGt {
    pub images: Vec<CocoImage>,
    pub categories: Vec<CocoCategory>,
    pub annotations: Vec<GtAnnotation>,
}

/// One detection result (an element of a COCO results list).
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub image_id: i64,
    pub category_id: i64,
    pub score: f64,
    /// `[x, y, w, h]`; see [`crate::evaluate`] for how loadRes uses it.
    pub bbox: Option<[f64; 4]>,
    pub segmentation: Option<Segmentation>,
}

// ---- raw JSON shapes (serde) ------------------------------------------------

#[derive(Deserialize)]
struct RawGt {
    images: Vec<RawImage>,
    #[serde(default)]
    categories: Vec<RawCategory>,
    #[serde(default)]
    annotations: Vec<RawAnn>,
}

#[derive(Deserialize)]
struct RawImage {
    id: i64,
    height: u32,
    width: u32,
    #[serde(default)]
    file_name: Option<String>,
}

#[derive(Deserialize)]
struct RawCategory {
    id: i64,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct RawAnn {
    id: i64,
    image_id: i64,
    category_id: i64,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default)]
    area: Option<f64>,
    #[serde(default)]
    iscrowd: Option<Flag>,
    #[serde(default)]
    segmentation: Option<RawSegm>,
}

/// `iscrowd` is 0/1 in COCO files, but booleans appear in the wild.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
    Float(f64),
}

impl Flag {
    fn truthy(&self) -> bool {
        match *self {
            Flag::Bool(b) => b,
            Flag::Int(i) => i != 0,
            Flag::Float(f) => f != 0.0,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSegm {
    Polygons(Vec<Vec<f64>>),
    Rle { size: [u32; 2], counts: RawCounts },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCounts {
    Compressed(String),
    Uncompressed(Vec<u32>),
}

#[derive(Deserialize)]
struct RawDet {
    image_id: i64,
    category_id: i64,
    score: f64,
    #[serde(default)]
    bbox: Option<Vec<f64>>,
    #[serde(default)]
    segmentation: Option<RawSegm>,
}

fn convert_segm(raw: RawSegm, what: &dyn Fn() -> String) -> Result<Segmentation, EvalError> {
    match raw {
        RawSegm::Polygons(p) => Ok(Segmentation::Polygons(p)),
        RawSegm::Rle { size, counts } => {
            let [h, w] = size;
            let r = match counts {
                RawCounts::Compressed(s) => Rle::from_compressed(&s, h, w),
                RawCounts::Uncompressed(c) => Rle::from_uncompressed(&c, h, w),
            };
            r.map(Segmentation::Rle)
                .map_err(|source| EvalError::BadRle {
                    what: what(),
                    source,
                })
        }
    }
}

/// `bbox: []` counts as absent (loadRes tests `anns[0]['bbox'] == []`).
fn convert_bbox(
    raw: Option<Vec<f64>>,
    what: &dyn Fn() -> String,
) -> Result<Option<[f64; 4]>, EvalError> {
    match raw {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => match <[f64; 4]>::try_from(v.as_slice()) {
            Ok(b) => Ok(Some(b)),
            Err(_) => Err(EvalError::Invalid {
                what: what(),
                msg: format!("'bbox' must have 4 numbers, got {}", v.len()),
            }),
        },
    }
}

impl CocoGt {
    /// Read a COCO instances JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<CocoGt, EvalError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json_str(&text).map_err(|e| e.in_file(path))
    }

    /// Parse COCO instances JSON text.
    pub fn from_json_str(text: &str) -> Result<CocoGt, EvalError> {
        let raw: RawGt = serde_json::from_str(text).map_err(|source| EvalError::Json {
            what: "ground truth".into(),
            source,
        })?;
        let images: Vec<CocoImage> = raw
            .images
            .into_iter()
            .map(|i| CocoImage {
                id: i.id,
                height: i.height,
                width: i.width,
                file_name: i.file_name,
            })
            .collect();
        // Polygons are rasterised with 32-bit pixel positions (as maskApi.c):
        // a larger image would silently get wrong masks.
        if let Some((idx, im)) = images
            .iter()
            .enumerate()
            .find(|(_, im)| im.height as u64 * im.width as u64 > u32::MAX as u64)
        {
            return Err(EvalError::Invalid {
                what: format!("images[{idx}] (id {})", im.id),
                msg: format!(
                    "size {}x{} has more than 2^32 pixels, more than COCO masks can address",
                    im.width, im.height
                ),
            });
        }
        let image_ids: HashSet<i64> = images.iter().map(|i| i.id).collect();
        let categories = raw
            .categories
            .into_iter()
            .map(|c| CocoCategory {
                id: c.id,
                name: c.name,
            })
            .collect();
        let mut annotations = Vec::with_capacity(raw.annotations.len());
        for (idx, a) in raw.annotations.into_iter().enumerate() {
            let id = a.id;
            let what = move || format!("annotations[{idx}] (id {id})");
            if !image_ids.contains(&a.image_id) {
                return Err(EvalError::Invalid {
                    what: what(),
                    msg: format!("image_id {} is not in 'images'", a.image_id),
                });
            }
            let Some(area) = a.area else {
                return Err(EvalError::Invalid {
                    what: what(),
                    msg: "missing 'area' (COCOeval needs it for area ranges)".into(),
                });
            };
            let segmentation = a.segmentation.map(|s| convert_segm(s, &what)).transpose()?;
            annotations.push(GtAnnotation {
                id,
                image_id: a.image_id,
                category_id: a.category_id,
                bbox: convert_bbox(a.bbox, &what)?,
                area,
                iscrowd: a.iscrowd.as_ref().is_some_and(Flag::truthy),
                segmentation,
            });
        }
        Ok(CocoGt {
            images,
            categories,
            annotations,
        })
    }

    /// Read a results JSON file (a list of detections) for this dataset.
    pub fn load_results_file(&self, path: impl AsRef<Path>) -> Result<Vec<Detection>, EvalError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load_results_str(&text).map_err(|e| e.in_file(path))
    }

    /// Parse a results JSON list. As loadRes, every result must name an image
    /// of this dataset; results of unknown categories are kept (COCOeval
    /// ignores them).
    pub fn load_results_str(&self, text: &str) -> Result<Vec<Detection>, EvalError> {
        let raw: Vec<RawDet> = serde_json::from_str(text).map_err(|source| EvalError::Json {
            what: "results".into(),
            source,
        })?;
        let image_ids: HashSet<i64> = self.images.iter().map(|i| i.id).collect();
        let mut dets = Vec::with_capacity(raw.len());
        for (idx, d) in raw.into_iter().enumerate() {
            let what = move || format!("results[{idx}]");
            if !image_ids.contains(&d.image_id) {
                return Err(EvalError::Invalid {
                    what: what(),
                    msg: format!(
                        "image_id {} is not in the ground truth (loadRes: results do not correspond to current coco set)",
                        d.image_id
                    ),
                });
            }
            dets.push(Detection {
                image_id: d.image_id,
                category_id: d.category_id,
                score: d.score,
                bbox: convert_bbox(d.bbox, &what)?,
                segmentation: d.segmentation.map(|s| convert_segm(s, &what)).transpose()?,
            });
        }
        Ok(dets)
    }
}

/// Results as a JSON list in COCO's format (compressed RLE strings), e.g. to
/// write a file pycocotools can read.
pub fn results_to_json(dets: &[Detection]) -> serde_json::Value {
    use serde_json::json;
    let list = dets
        .iter()
        .map(|d| {
            let mut o =
                json!({"image_id": d.image_id, "category_id": d.category_id, "score": d.score});
            if let Some(b) = d.bbox {
                o["bbox"] = json!(b);
            }
            match &d.segmentation {
                Some(Segmentation::Rle(r)) => {
                    o["segmentation"] = json!({"size": [r.h, r.w], "counts": r.to_compressed()});
                }
                Some(Segmentation::Polygons(p)) => o["segmentation"] = json!(p),
                None => {}
            }
            o
        })
        .collect();
    serde_json::Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzzing regression (`fuzz/`): polygons of an image with more than 2^32
    /// pixels were rasterised with wrapped positions (runs not summing to h*w).
    #[test]
    fn images_past_32_bit_pixel_positions_are_refused() {
        let gt = |w: u32, h: u32| {
            format!(
                r#"{{"images": [{{"id": 5, "width": {w}, "height": {h}}}], "categories": [],
                    "annotations": [{{"id": 1, "image_id": 5, "category_id": 1, "area": 1,
                                      "segmentation": [[1, 1, 9, 1, 9, 9]]}}]}}"#
            )
        };
        let e = CocoGt::from_json_str(&gt(70000, 70000))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("images[0] (id 5)") && e.contains("2^32 pixels"),
            "{e}"
        );
        let ok = CocoGt::from_json_str(&gt(65536, 65535)).unwrap();
        let r = ok.annotations[0]
            .segmentation
            .as_ref()
            .unwrap()
            .to_rle(65535, 65536);
        assert_eq!(
            r.counts.iter().map(|&c| c as u64).sum::<u64>(),
            65536 * 65535
        );
    }
}
