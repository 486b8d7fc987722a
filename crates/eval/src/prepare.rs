//! COCOeval._prepare plus the parts of COCO.loadRes that shape detections:
//! which objects take part, their areas, boxes and masks, grouped per
//! (category, image) "cell".
//!
//! loadRes decides on the *first* result: if it has a (non-empty) `bbox`, every
//! result is read as a box result: `area = w*h` (even for segm evaluation) and
//! a missing mask becomes the box polygon. Otherwise every result must carry a
//! mask, `area` is the mask area and a missing `bbox` is the mask's box.
//!
//! Ground truth: `ignore` is `iscrowd` (COCOeval overwrites any `ignore` field
//! from the file with `iscrowd`), `area` is the annotation's own field.

use std::borrow::Cow;
use std::collections::HashMap;

use rayon::prelude::*;

use mrcnn_coco::{CocoGt, Detection, Rle, Segmentation};

use crate::error::EvalError;
use crate::result::IouType;

/// One gt or dt object as evaluation sees it.
pub(crate) struct Obj<'a> {
    /// Annotation id (gt) or 1-based result index (dt), as COCO ids.
    pub id: i64,
    pub area: f64,
    pub crowd: bool,
    pub score: f64,
    /// The box used for IoU: the annotation box for bbox evaluation, the
    /// mask's rleToBbox for segm (rleIou's box prefilter).
    pub bbox: [f64; 4],
    /// The mask, for segm evaluation only.
    pub rle: Option<Cow<'a, Rle>>,
}

/// All objects of one (category, image) pair, in file order.
pub(crate) struct Cell {
    pub k: usize,
    pub i: usize,
    pub gts: Vec<u32>,
    pub dts: Vec<u32>,
}

pub(crate) struct Prepared<'a> {
    pub iou_type: IouType,
    /// Sorted image ids: cells' `i` indexes this.
    #[allow(dead_code)]
    pub img_ids: Vec<i64>,
    pub cat_ids: Vec<i64>,
    pub gt: Vec<Obj<'a>>,
    pub dt: Vec<Obj<'a>>,
    /// Non-empty cells sorted by (k, i).
    pub cells: Vec<Cell>,
}

/// Sorted unique ids (`np.unique`).
fn unique_sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v.dedup();
    v
}

pub(crate) fn prepare<'a>(
    gt: &'a CocoGt,
    dets: &'a [Detection],
    iou_type: IouType,
) -> Result<Prepared<'a>, EvalError> {
    let img_ids = unique_sorted(gt.images.iter().map(|im| im.id).collect());
    let cat_ids = unique_sorted(gt.categories.iter().map(|c| c.id).collect());
    let img_index: HashMap<i64, usize> =
        img_ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
    let cat_index: HashMap<i64, usize> =
        cat_ids.iter().enumerate().map(|(k, &id)| (id, k)).collect();
    // Image sizes for polygons; with duplicate image ids the last entry wins
    // (COCO.createIndex builds a dict).
    let img_size: HashMap<i64, (u32, u32)> = gt
        .images
        .iter()
        .map(|im| (im.id, (im.height, im.width)))
        .collect();
    let size_of = |image_id: i64, what: &dyn Fn() -> String| {
        img_size
            .get(&image_id)
            .copied()
            .ok_or_else(|| EvalError::Invalid {
                what: what(),
                msg: format!("image_id {image_id} is not in the ground truth images"),
            })
    };

    // ---- ground truth -------------------------------------------------------
    let gt_objs: Vec<Obj<'a>> = gt
        .annotations
        .par_iter()
        .enumerate()
        .map(|(idx, a)| {
            let what = || format!("ground truth annotations[{idx}] (id {})", a.id);
            let (h, w) = size_of(a.image_id, &what)?;
            let (bbox, rle) = match iou_type {
                IouType::Bbox => {
                    let b = a.bbox.ok_or_else(|| EvalError::Invalid {
                        what: what(),
                        msg: "missing 'bbox' (needed for bbox evaluation)".into(),
                    })?;
                    (b, None)
                }
                IouType::Segm => {
                    let s = a.segmentation.as_ref().ok_or_else(|| EvalError::Invalid {
                        what: what(),
                        msg: "missing 'segmentation' (needed for segm evaluation)".into(),
                    })?;
                    let r = s.to_rle(h, w);
                    (r.to_bbox(), Some(Cow::Owned(r)))
                }
            };
            Ok(Obj {
                id: a.id,
                area: a.area,
                crowd: a.iscrowd,
                score: 0.0,
                bbox,
                rle,
            })
        })
        .collect::<Result<_, EvalError>>()?;

    // ---- detections (loadRes) ------------------------------------------------
    let bbox_branch = dets.first().is_some_and(|d| d.bbox.is_some());
    let dt_objs: Vec<Obj<'a>> = dets
        .par_iter()
        .enumerate()
        .map(|(idx, d)| {
            let what = || format!("results[{idx}] (image_id {}, category_id {})", d.image_id, d.category_id);
            let (h, w) = size_of(d.image_id, &what)?;
            let id = idx as i64 + 1;
            if bbox_branch {
                let b = d.bbox.ok_or_else(|| EvalError::Invalid {
                    what: what(),
                    msg: "missing 'bbox' (the first result has one, so all results are read as boxes, as loadRes does)"
                        .into(),
                })?;
                let rle = match iou_type {
                    IouType::Bbox => None,
                    IouType::Segm => Some(match &d.segmentation {
                        Some(s) => segm_rle(s, h, w),
                        None => Cow::Owned(Rle::from_bbox(b, h, w)),
                    }),
                };
                let bbox = match &rle {
                    Some(r) => r.to_bbox(),
                    None => b,
                };
                return Ok(Obj { id, area: b[2] * b[3], crowd: false, score: d.score, bbox, rle });
            }
            let s = d.segmentation.as_ref().ok_or_else(|| EvalError::Invalid {
                what: what(),
                msg: "has neither 'bbox' nor 'segmentation'".into(),
            })?;
            let r = segm_rle(s, h, w);
            let mask_box = r.to_bbox();
            let area = r.area() as f64;
            Ok(match iou_type {
                IouType::Bbox => Obj { id, area, crowd: false, score: d.score, bbox: d.bbox.unwrap_or(mask_box), rle: None },
                IouType::Segm => Obj { id, area, crowd: false, score: d.score, bbox: mask_box, rle: Some(r) },
            })
        })
        .collect::<Result<_, EvalError>>()?;

    // ---- cells ------------------------------------------------------------------
    let n_img = img_ids.len();
    let mut cell_of: HashMap<usize, usize> = HashMap::new();
    let mut cells: Vec<Cell> = Vec::new();
    let mut cell_for = |k: usize, i: usize, cells: &mut Vec<Cell>| -> usize {
        *cell_of.entry(k * n_img + i).or_insert_with(|| {
            cells.push(Cell {
                k,
                i,
                gts: Vec::new(),
                dts: Vec::new(),
            });
            cells.len() - 1
        })
    };
    for (j, a) in gt.annotations.iter().enumerate() {
        // Annotations of categories not in 'categories' are not evaluated.
        if let (Some(&k), Some(&i)) = (cat_index.get(&a.category_id), img_index.get(&a.image_id)) {
            let c = cell_for(k, i, &mut cells);
            cells[c].gts.push(j as u32);
        }
    }
    for (j, d) in dets.iter().enumerate() {
        if let (Some(&k), Some(&i)) = (cat_index.get(&d.category_id), img_index.get(&d.image_id)) {
            let c = cell_for(k, i, &mut cells);
            cells[c].dts.push(j as u32);
        }
    }
    cells.sort_unstable_by_key(|c| (c.k, c.i));

    Ok(Prepared {
        iou_type,
        img_ids,
        cat_ids,
        gt: gt_objs,
        dt: dt_objs,
        cells,
    })
}

/// COCO.annToRLE for a result's mask: borrow RLEs, rasterise polygons.
fn segm_rle(s: &Segmentation, h: u32, w: u32) -> Cow<'_, Rle> {
    match s {
        Segmentation::Rle(r) => Cow::Borrowed(r),
        Segmentation::Polygons(p) => Cow::Owned(Rle::from_polygons(p, h, w)),
    }
}
