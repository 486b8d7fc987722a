//! Writing COCO instances JSON (masks as compressed RLE, pixel-exact).

use std::path::Path;

use serde_json::{Value, json};

use crate::error::DataError;
use crate::model::{Dataset, ImageSource};

/// The COCO JSON of `ds`. Annotation ids are 1..=N in image order; category
/// ids are the original ones.
pub fn coco_json(ds: &Dataset) -> Value {
    let categories: Vec<Value> = ds
        .categories
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "supercategory": ""}))
        .collect();
    let mut images = Vec::with_capacity(ds.images.len());
    let mut annotations = Vec::new();
    for img in &ds.images {
        images.push(json!({
            "id": img.id, "file_name": img.file_name,
            "width": img.width, "height": img.height,
        }));
        for a in &img.annotations {
            let cat_id = ds.category(a.category).map(|c| c.id).unwrap_or(0);
            let [x0, y0, x1, y1] = a.bbox;
            annotations.push(json!({
                "id": annotations.len() + 1,
                "image_id": img.id,
                "category_id": cat_id,
                "segmentation": {"size": [a.mask.h, a.mask.w], "counts": a.mask.to_compressed()},
                "area": a.area,
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "iscrowd": a.iscrowd as u8,
            }));
        }
    }
    json!({
        "info": {"description": "written by mrcnn-data"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    })
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
    if let Some(parent) = json.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    }
    let text = serde_json::to_string(&coco_json(ds))
        .map_err(|e| DataError::format(json, e.to_string()))?;
    std::fs::write(json, text).map_err(|e| DataError::io(json, e))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
