//! COCO results JSON (`CocoGt::load_results_str`: scores, boxes, polygons,
//! compressed and uncompressed RLE) and COCOeval on what parsed.
//!
//! Input: results JSON text, evaluated against a small built-in ground truth;
//! or `<ground truth JSON> NUL <results JSON>` to fuzz both.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mrcnn_coco::{CocoGt, results_to_json};
use mrcnn_eval::{IouType, evaluate};

const GT: &str = r#"{"images": [{"id": 1, "width": 13, "height": 11}, {"id": 2, "width": 20, "height": 16}],
 "categories": [{"id": 4, "name": "thing"}, {"id": 9, "name": "square"}],
 "annotations": [
  {"id": 1, "image_id": 1, "category_id": 4, "iscrowd": 0, "area": 20.5, "bbox": [1.2, 1.5, 7.3, 6.0],
   "segmentation": [[1.2, 1.5, 8.5, 2.0, 5.0, 7.5], [9.0, 6.0, 12.0, 6.0, 12.0, 10.0, 9.0, 10.0]]},
  {"id": 2, "image_id": 1, "category_id": 9, "iscrowd": 0, "area": 24.0, "bbox": [3, 2, 6, 4],
   "segmentation": {"size": [11, 13], "counts": "S147000000000Z1"}},
  {"id": 3, "image_id": 1, "category_id": 4, "iscrowd": 1, "area": 19.0, "bbox": [0, 7, 13, 4],
   "segmentation": {"size": [11, 13], "counts": [7, 4, 7, 4, 7, 4, 7, 4, 74, 1, 10, 1, 10, 1, 2]}},
  {"id": 4, "image_id": 2, "category_id": 9, "iscrowd": 0, "area": 40.0, "bbox": [2, 2, 8, 5],
   "segmentation": [[2, 2, 10, 2, 10, 7, 2, 7]]}
 ]}"#;

fuzz_target!(|data: &[u8]| {
    let (gt_text, res) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (GT.as_bytes(), data),
    };
    let (Ok(gt_text), Ok(res)) = (std::str::from_utf8(gt_text), std::str::from_utf8(res)) else {
        return;
    };
    let Ok(gt) = CocoGt::from_json_str(gt_text) else {
        return;
    };
    let Ok(dets) = gt.load_results_str(res) else {
        return;
    };
    // Written results must read back as they were.
    let written = results_to_json(&dets);
    let again = gt
        .load_results_str(&written)
        .expect("written results read back");
    assert_eq!(again.len(), dets.len());
    for (a, b) in dets.iter().zip(&again) {
        assert_eq!((a.image_id, a.category_id), (b.image_id, b.category_id));
        assert_eq!(
            a.segmentation, b.segmentation,
            "segmentation changed in the round trip"
        );
    }
    for t in [IouType::Bbox, IouType::Segm] {
        if let Ok(r) = evaluate(&gt, &dets, t) {
            for s in r.stats {
                assert!(s.is_nan() || (-1.0..=1.0).contains(&s), "{t:?} stat {s}");
            }
        }
    }
});
