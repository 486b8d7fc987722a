//! COCO instances JSON as arbitrary text, through both readers:
//! `mrcnn_data::coco::read_coco_str` (training datasets: polygons, RLE,
//! iscrowd, boxes, categories) and `mrcnn_coco::CocoGt::from_json_str`
//! (evaluation ground truth), then each segmentation rasterised as COCOeval does.
#![no_main]

#[path = "common.rs"]
mod common;

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mrcnn_data::coco::read_coco_str;
use mrcnn_data::{OnBadSample, ProblemLog};
use mrcnn_coco::{CocoGt, Segmentation};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let json = Path::new("fuzz.json");
    let root = Path::new("/nonexistent");
    let mut skip = ProblemLog::new(OnBadSample::Skip);
    let got = read_coco_str(text, json, root, false, &mut skip);
    let mut strict = ProblemLog::new(OnBadSample::Error);
    let strict_ok = read_coco_str(text, json, root, false, &mut strict).is_ok();
    match &got {
        Ok(ds) => {
            common::check_dataset(ds);
            assert_eq!(
                strict_ok,
                skip.problems.is_empty(),
                "error policy disagrees with the skip log"
            );
            common::check_coco_round_trip(ds);
        }
        Err(_) => assert!(!strict_ok, "a file error under skip but not under error"),
    }

    if let Ok(gt) = CocoGt::from_json_str(text) {
        for a in &gt.annotations {
            let Some(img) = gt.images.iter().find(|i| i.id == a.image_id) else {
                panic!("annotation {} on an unknown image was accepted", a.id);
            };
            if let Some(s) = &a.segmentation {
                let r = s.to_rle(img.height, img.width);
                common::check_rle_sum(&r);
                if let Segmentation::Polygons(_) = s {
                    assert_eq!((r.h, r.w), (img.height, img.width));
                }
                let _ = (r.area(), r.to_bbox(), r.to_compressed());
            }
        }
    }
});
