//! The JSON shapes of COCO files, as they are written: the instances file (`images`,
//! `annotations`, `categories`) and the results list. One definition, used to read and to
//! write; [`crate::CocoGt`] and the dataset readers decode and check what they need.
//!
//! Ids are `i64` (COCO ids are JSON integers; pycocotools keeps them as Python ints).

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

use crate::rle::Rle;

/// An entry of `images`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub id: i64,
    /// Relative to the image root; results-only ground truths may leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    pub width: u32,
    pub height: u32,
}

/// An entry of `categories`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub id: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supercategory: Option<String>,
}

/// An entry of `annotations`, as written. `bbox` is `[x, y, width, height]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// Required by COCOeval; training readers do not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    pub image_id: i64,
    pub category_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<RawSegmentation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<f64>,
    /// `[]` counts as absent (as pycocotools' loadRes tests `bbox == []`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<Vec<f64>>,
    #[serde(default, deserialize_with = "flag", serialize_with = "flag_out")]
    pub iscrowd: bool,
}

/// A COCO instances file. Every list may be absent (empty).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Instances {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<serde_json::Value>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub annotations: Vec<Annotation>,
    #[serde(default)]
    pub categories: Vec<Category>,
}

/// A `segmentation` value as written: polygons, or an RLE with uncompressed (`[..]`) or
/// compressed (string) counts. [`RawSegmentation::decode`] turns it into masks.
#[derive(Clone, Debug, PartialEq)]
pub enum RawSegmentation {
    Polygons(Vec<Vec<f64>>),
    Rle { size: [u32; 2], counts: Counts },
}

/// RLE counts as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Counts {
    Compressed(String),
    Uncompressed(Vec<u32>),
}

/// A decoded `segmentation`.
#[derive(Clone, Debug, PartialEq)]
pub enum Segmentation {
    /// Polygons `[[x0, y0, x1, y1, ...], ...]`, rasterised at the image size.
    Polygons(Vec<Vec<f64>>),
    /// An RLE; it keeps its own `size`, as pycocotools does.
    Rle(Rle),
}

impl RawSegmentation {
    /// Builds the RLE of an RLE segmentation (checking its string and that its runs cover
    /// `size`); polygons are kept as they are.
    pub fn decode(self) -> Result<Segmentation, crate::rle::RleError> {
        match self {
            RawSegmentation::Polygons(p) => Ok(Segmentation::Polygons(p)),
            RawSegmentation::Rle {
                size: [h, w],
                counts,
            } => match counts {
                Counts::Compressed(s) => Rle::from_compressed(&s, h, w),
                Counts::Uncompressed(c) => Rle::from_uncompressed(&c, h, w),
            }
            .map(Segmentation::Rle),
        }
    }
}

impl Segmentation {
    /// COCO.annToRLE: polygons are rasterised at `h x w` and merged.
    pub fn to_rle(&self, h: u32, w: u32) -> Rle {
        match self {
            Segmentation::Polygons(p) => Rle::from_polygons(p, h, w),
            Segmentation::Rle(r) => r.clone(),
        }
    }

    /// As written: polygons as they are, an RLE with compressed counts.
    pub fn to_raw(&self) -> RawSegmentation {
        match self {
            Segmentation::Polygons(p) => RawSegmentation::Polygons(p.clone()),
            Segmentation::Rle(r) => RawSegmentation::from(r),
        }
    }
}

impl From<&Rle> for RawSegmentation {
    fn from(r: &Rle) -> Self {
        RawSegmentation::Rle {
            size: [r.h, r.w],
            counts: Counts::Compressed(r.to_compressed()),
        }
    }
}

impl<'de> Deserialize<'de> for RawSegmentation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Polygons(Vec<Vec<f64>>),
            Rle { size: [u32; 2], counts: Counts },
        }
        match Shape::deserialize(d) {
            Ok(Shape::Polygons(p)) => Ok(RawSegmentation::Polygons(p)),
            Ok(Shape::Rle { size, counts }) => Ok(RawSegmentation::Rle { size, counts }),
            Err(_) => Err(D::Error::custom(
                "`segmentation` must be polygons [[x, y, ...], ...] or an RLE \
                 {\"size\": [h, w], \"counts\": ...} with non-negative integer or string counts",
            )),
        }
    }
}

impl Serialize for RawSegmentation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct RleOut<'a> {
            size: [u32; 2],
            counts: &'a Counts,
        }
        match self {
            RawSegmentation::Polygons(p) => p.serialize(s),
            RawSegmentation::Rle { size, counts } => RleOut {
                size: *size,
                counts,
            }
            .serialize(s),
        }
    }
}

/// One element of a COCO results list, as written.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub image_id: i64,
    pub category_id: i64,
    /// Not part of COCO's format: `mrcnn predict` adds it so a results file can be read alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// `[x, y, width, height]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bbox: Option<Vec<f64>>,
    pub score: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segmentation: Option<RawSegmentation>,
}

/// One detection result, decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub image_id: i64,
    pub category_id: i64,
    pub score: f64,
    /// `[x, y, w, h]`; see `mrcnn_eval::evaluate` for how loadRes uses it.
    pub bbox: Option<[f64; 4]>,
    pub segmentation: Option<Segmentation>,
}

impl Detection {
    /// As written in a results file.
    pub fn to_record(&self) -> ResultRecord {
        ResultRecord {
            image_id: self.image_id,
            category_id: self.category_id,
            file_name: None,
            bbox: self.bbox.map(|b| b.to_vec()),
            score: self.score,
            segmentation: self.segmentation.as_ref().map(Segmentation::to_raw),
        }
    }
}

/// A `bbox` that is not `[x, y, w, h]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("'bbox' must have 4 numbers, got {len}")]
pub struct BadBbox {
    pub len: usize,
}

/// A `[x, y, w, h]` list as written: `None` when absent or `[]`.
pub fn bbox4(raw: Option<&[f64]>) -> Result<Option<[f64; 4]>, BadBbox> {
    match raw {
        None | Some([]) => Ok(None),
        Some(v) => <[f64; 4]>::try_from(v)
            .map(Some)
            .map_err(|_| BadBbox { len: v.len() }),
    }
}

/// `iscrowd` is 0/1 in COCO files, but booleans appear in the wild.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
        Float(f64),
    }
    Ok(match Option::<Flag>::deserialize(d)? {
        None => false,
        Some(Flag::Bool(b)) => b,
        Some(Flag::Int(i)) => i != 0,
        Some(Flag::Float(f)) => f != 0.0,
    })
}

fn flag_out<S: serde::Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(u8::from(*v))
}

/// COCO files are JSON objects; serde would also take a JSON array as the fields of a struct in
/// order, so `[]` would read as an empty file. `what` names the file's role in the error.
pub(crate) fn expect_object(text: &str, what: &str) -> Result<(), crate::CocoError> {
    let msg = match text.trim_start().chars().next() {
        Some('{') => return Ok(()),
        Some(c) => format!(
            "the top level is not a JSON object (starts with {c:?}); a COCO instances file is \
             {{\"images\": [...], \"annotations\": [...], \"categories\": [...]}}"
        ),
        None => "the file is empty".into(),
    };
    Err(crate::CocoError::Invalid {
        what: what.to_string(),
        msg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segmentation_shapes_round_trip() {
        for text in [
            r#"[[1.0,2.0,3.0,4.0,5.0,6.0]]"#,
            r#"{"size":[2,3],"counts":[1,5]}"#,
            r#"{"size":[2,3],"counts":"16"}"#,
        ] {
            let s: RawSegmentation = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&s).unwrap(), text);
        }
        let e = serde_json::from_str::<RawSegmentation>(r#"{"size": [2, 3]}"#).unwrap_err();
        assert!(e.to_string().contains("must be polygons"), "{e}");
    }

    #[test]
    fn iscrowd_takes_numbers_and_booleans() {
        for (v, want) in [("0", false), ("1", true), ("true", true), ("0.0", false)] {
            let a: Annotation = serde_json::from_str(&format!(
                r#"{{"image_id": 1, "category_id": 1, "iscrowd": {v}}}"#
            ))
            .unwrap();
            assert_eq!(a.iscrowd, want, "{v}");
        }
    }

    #[test]
    fn top_level_must_be_an_object() {
        assert!(expect_object(" {}", "gt").is_ok());
        let e = expect_object("[]", "gt").unwrap_err().to_string();
        assert!(e.contains("not a JSON object"), "{e}");
        assert!(expect_object("", "gt").is_err());
    }
}
