//! COCO ground truth for evaluation ([`CocoGt`]) and detection results, decoded and checked as
//! pycocotools' `COCO()` and `COCO.loadRes()` read them: malformed JSON, missing fields, bad
//! RLE strings and results on unknown images are errors that say what is wrong and where (JSON
//! line and column, or the list index and id of the offending entry), never panics.

use std::collections::HashSet;
use std::path::Path;

use crate::error::CocoError;
use crate::schema::{self, Category, Detection, Image, Instances, ResultRecord, Segmentation};

/// One ground-truth annotation, decoded.
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

/// A COCO ground-truth dataset, checked for evaluation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CocoGt {
    pub images: Vec<Image>,
    pub categories: Vec<Category>,
    pub annotations: Vec<GtAnnotation>,
}

fn decode_segmentation(
    raw: Option<schema::RawSegmentation>,
    what: &dyn Fn() -> String,
) -> Result<Option<Segmentation>, CocoError> {
    raw.map(|s| {
        s.decode().map_err(|source| CocoError::BadRle {
            what: what(),
            source,
        })
    })
    .transpose()
}

fn decode_bbox(
    raw: Option<&[f64]>,
    what: &dyn Fn() -> String,
) -> Result<Option<[f64; 4]>, CocoError> {
    schema::bbox4(raw).map_err(|e| CocoError::Invalid {
        what: what(),
        msg: e.to_string(),
    })
}

/// Reads a JSON file as text; the error names the file.
fn read_text(path: &Path) -> Result<String, CocoError> {
    std::fs::read_to_string(path).map_err(|source| CocoError::Io {
        path: path.display().to_string(),
        source,
    })
}

impl Instances {
    /// Parses COCO instances JSON text (every entry must have the schema's types).
    pub fn from_json_str(text: &str) -> Result<Instances, CocoError> {
        schema::expect_object(text, "ground truth")?;
        serde_json::from_str(text).map_err(|source| CocoError::Json {
            what: "ground truth".into(),
            source,
        })
    }
}

impl CocoGt {
    /// Reads a COCO instances JSON file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<CocoGt, CocoError> {
        let path = path.as_ref();
        let text = read_text(path)?;
        Self::from_json_str(&text).map_err(|e| e.in_file(path))
    }

    /// Parses COCO instances JSON text.
    pub fn from_json_str(text: &str) -> Result<CocoGt, CocoError> {
        Self::from_instances(Instances::from_json_str(text)?)
    }

    /// Checks and decodes an instances file: every annotation needs an `id`, an `area` and a
    /// known `image_id`; RLEs must be valid.
    pub fn from_instances(raw: Instances) -> Result<CocoGt, CocoError> {
        let images = raw.images;
        // Polygons are rasterised with 32-bit pixel positions (as maskApi.c):
        // a larger image would silently get wrong masks.
        if let Some((idx, im)) = images
            .iter()
            .enumerate()
            .find(|(_, im)| !crate::rle::addressable(im.width, im.height))
        {
            return Err(CocoError::Invalid {
                what: format!("images[{idx}] (id {})", im.id),
                msg: format!(
                    "size {}x{} has more than 2^32 pixels, more than COCO masks can address",
                    im.width, im.height
                ),
            });
        }
        let image_ids: HashSet<i64> = images.iter().map(|i| i.id).collect();
        let mut annotations = Vec::with_capacity(raw.annotations.len());
        for (idx, a) in raw.annotations.into_iter().enumerate() {
            let Some(id) = a.id else {
                return Err(CocoError::Invalid {
                    what: format!("annotations[{idx}]"),
                    msg: "missing 'id'".into(),
                });
            };
            let what = move || format!("annotations[{idx}] (id {id})");
            if !image_ids.contains(&a.image_id) {
                return Err(CocoError::Invalid {
                    what: what(),
                    msg: format!("image_id {} is not in 'images'", a.image_id),
                });
            }
            let Some(area) = a.area else {
                return Err(CocoError::Invalid {
                    what: what(),
                    msg: "missing 'area' (COCOeval needs it for area ranges)".into(),
                });
            };
            annotations.push(GtAnnotation {
                id,
                image_id: a.image_id,
                category_id: a.category_id,
                bbox: decode_bbox(a.bbox.as_deref(), &what)?,
                area,
                iscrowd: a.iscrowd,
                segmentation: decode_segmentation(a.segmentation, &what)?,
            });
        }
        Ok(CocoGt {
            images,
            categories: raw.categories,
            annotations,
        })
    }

    /// Reads a results JSON file (a list of detections) for this dataset.
    pub fn load_results_file(&self, path: impl AsRef<Path>) -> Result<Vec<Detection>, CocoError> {
        let path = path.as_ref();
        let text = read_text(path)?;
        self.load_results_str(&text).map_err(|e| e.in_file(path))
    }

    /// Parses a results JSON list. As loadRes, every result must name an image of this dataset;
    /// results of unknown categories are kept (COCOeval ignores them).
    pub fn load_results_str(&self, text: &str) -> Result<Vec<Detection>, CocoError> {
        let raw: Vec<ResultRecord> =
            serde_json::from_str(text).map_err(|source| CocoError::Json {
                what: "results".into(),
                source,
            })?;
        self.load_results(raw)
    }

    /// Checks and decodes results records.
    pub fn load_results(&self, raw: Vec<ResultRecord>) -> Result<Vec<Detection>, CocoError> {
        let image_ids: HashSet<i64> = self.images.iter().map(|i| i.id).collect();
        let mut dets = Vec::with_capacity(raw.len());
        for (idx, d) in raw.into_iter().enumerate() {
            let what = move || format!("results[{idx}]");
            if !image_ids.contains(&d.image_id) {
                return Err(CocoError::Invalid {
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
                bbox: decode_bbox(d.bbox.as_deref(), &what)?,
                segmentation: decode_segmentation(d.segmentation, &what)?,
            });
        }
        Ok(dets)
    }
}

/// Results as COCO's JSON list (compressed RLE strings), e.g. to write a file pycocotools can
/// read.
pub fn results_to_json(dets: &[Detection]) -> String {
    let records: Vec<ResultRecord> = dets.iter().map(Detection::to_record).collect();
    serde_json::to_string(&records).expect("results records always serialise")
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
