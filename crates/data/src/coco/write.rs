//! Writing COCO instances JSON (masks as compressed RLE, pixel-exact).

use std::path::Path;

use mrcnn_coco::{Annotation, Category, Image, Instances, RawSegmentation};

use crate::error::DataError;
use crate::model::{Dataset, ImageSource};

/// `ds` as a COCO instances file: annotation ids are 1..=N in image order, category ids are
/// the original ones, masks compressed RLE, boxes `[x, y, w, h]`. The same value evaluates a
/// model on `ds` (`CocoGt::from_instances`) and is written by [`write_coco`].
pub fn to_instances(ds: &Dataset) -> Instances {
    let categories = ds
        .categories
        .iter()
        .map(|c| Category {
            id: c.id as i64,
            name: c.name.clone(),
            supercategory: Some(String::new()),
        })
        .collect();
    let mut images = Vec::with_capacity(ds.images.len());
    let mut annotations = Vec::new();
    for img in &ds.images {
        images.push(Image {
            id: img.id as i64,
            file_name: Some(img.file_name.clone()),
            width: img.width,
            height: img.height,
        });
        for a in &img.annotations {
            let cat_id = ds.category(a.category).map_or(0, |c| c.id as i64);
            let [x0, y0, x1, y1] = a.bbox;
            annotations.push(Annotation {
                id: Some(annotations.len() as i64 + 1),
                image_id: img.id as i64,
                category_id: cat_id,
                segmentation: Some(RawSegmentation::from(&a.mask)),
                area: Some(as_written(a.area)),
                bbox: Some([x0, y0, x1 - x0, y1 - y0].map(as_written).to_vec()),
                iscrowd: a.iscrowd,
            });
        }
    }
    Instances {
        info: Some(serde_json::json!({"description": "written by mrcnn-data"})),
        images,
        annotations,
        categories,
    }
}

/// The f64 that a JSON reader gets for `v` written in its shortest form (`0.1f32` is written
/// `0.1` and read back as `0.1f64`, not as `0.10000000149011612`): what readers of the written
/// file, pycocotools included, see.
fn as_written(v: f32) -> f64 {
    v.to_string().parse().unwrap_or(f64::from(v))
}

/// Write `ds` to `json`; with `images_dir`, also put every image there under
/// its `file_name` (embedded TFRecord images are written out, files copied).
pub fn write_coco(ds: &Dataset, json: &Path, images_dir: Option<&Path>) -> Result<(), DataError> {
    if let Some(dir) = images_dir {
        for img in &ds.images {
            let dst = dir.join(&img.file_name);
            if let Some(parent) = dst.parent() {
                std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
            }
            match &img.source {
                ImageSource::File(src) => {
                    if same_file(src, &dst) {
                        continue;
                    }
                    std::fs::copy(src, &dst).map_err(|e| DataError::io(src, e))?;
                }
                ImageSource::Encoded { bytes, .. } => {
                    std::fs::write(&dst, bytes).map_err(|e| DataError::io(&dst, e))?;
                }
            }
        }
    }
    // Through a JSON value: its keys come out sorted, so the file does not depend on the order
    // of the schema's fields.
    let value = serde_json::to_value(to_instances(ds)).expect("COCO instances serialise");
    let text = value.to_string();
    mrcnn_coco::files::write_atomic(json, text.as_bytes()).map_err(|e| DataError::io(json, e))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
