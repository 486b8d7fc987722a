//! Checks shared by the targets (included with `#[path]`, not a target itself).
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;

use mrcnn_coco::Rle;
use mrcnn_data::coco::{read_coco_str, to_instances};
use mrcnn_data::{Dataset, OnBadSample, ProblemLog};

/// Invariants every dataset a reader returns must hold, whatever the input.
pub fn check_dataset(ds: &Dataset) {
    let k = ds.categories.len() as u32;
    let mut cat_ids = HashSet::new();
    for c in &ds.categories {
        assert!(c.id > 0, "category id 0 is background");
        assert!(cat_ids.insert(c.id), "category id {} twice", c.id);
    }
    let mut img_ids = HashSet::new();
    for img in &ds.images {
        assert!(img_ids.insert(img.id), "image id {} twice", img.id);
        for a in &img.annotations {
            assert!(
                (1..=k).contains(&a.category),
                "label {} outside 1..={k}",
                a.category
            );
            assert_eq!((a.mask.h, a.mask.w), (img.height, img.width), "mask size");
            check_rle_sum(&a.mask);
            assert!(a.mask.area() > 0, "empty masks are skipped");
            assert!(a.bbox.iter().all(|v| v.is_finite()), "bbox {:?}", a.bbox);
            assert!(
                a.bbox[0] <= a.bbox[2] && a.bbox[1] <= a.bbox[3],
                "bbox {:?} is not xyxy",
                a.bbox
            );
        }
    }
}

/// The runs of a mask cover exactly its `h*w` pixels.
pub fn check_rle_sum(r: &Rle) {
    let sum: u64 = r.counts.iter().map(|&c| c as u64).sum();
    assert_eq!(
        sum,
        r.h as u64 * r.w as u64,
        "RLE {}x{} runs sum to {sum}",
        r.h,
        r.w
    );
}

/// What a reader returned must survive `to_instances` + the COCO reader.
pub fn check_coco_round_trip(ds: &Dataset) {
    let text = serde_json::to_string(&to_instances(ds)).expect("COCO instances serialise");
    let mut log = ProblemLog::new(OnBadSample::Skip);
    let back = read_coco_str(
        &text,
        Path::new("roundtrip.json"),
        Path::new("."),
        false,
        &mut log,
    )
    .expect("a written COCO file reads back");
    check_dataset(&back);
    assert_eq!(
        back.images.len(),
        ds.images.len(),
        "images lost in the round trip"
    );
    assert_eq!(
        back.categories, ds.categories,
        "categories changed in the round trip"
    );
    if log.problems.is_empty() {
        for (a, b) in ds.images.iter().zip(&back.images) {
            let ma: Vec<&Rle> = a.annotations.iter().map(|x| &x.mask).collect();
            let mb: Vec<&Rle> = b.annotations.iter().map(|x| &x.mask).collect();
            assert_eq!(ma, mb, "masks changed in the round trip");
        }
    }
}

/// A file path private to this process (libFuzzer's -fork/-jobs run several).
pub fn temp_path(ext: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mrcnn-fuzz-{}.{ext}", std::process::id()))
}
