//! RLE operations against pycocotools' outputs in `fixtures/rle_cases.json`
//! (written by `tools/reference/make_eval_fixtures.py`). All must match exactly.

use mrcnn_coco::{Rle, bbox_iou, iou};
use serde_json::Value;

fn cases() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rle_cases.json");
    let text = std::fs::read_to_string(path).expect("fixture file");
    serde_json::from_str(&text).expect("fixture json")
}

fn u32v(v: &Value) -> u32 {
    v.as_u64().expect("integer") as u32
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn hw(c: &Value) -> (u32, u32) {
    (u32v(&c["h"]), u32v(&c["w"]))
}

fn rle(s: &Value, h: u32, w: u32) -> Rle {
    Rle::from_compressed(s.as_str().expect("string"), h, w).expect("valid rle")
}

#[test]
fn encode_decode_area_bbox_string() {
    let all = cases();
    let list = all["encode"].as_array().unwrap();
    assert!(list.len() > 10);
    for (i, c) in list.iter().enumerate() {
        let (h, w) = hw(c);
        let expect = c["counts"].as_str().unwrap();
        let r = Rle::from_compressed(expect, h, w).unwrap();
        assert_eq!(r.to_compressed(), expect, "case {i}: string roundtrip");
        if let Some(m) = c["mask"].as_str() {
            let mask: Vec<u8> = m.bytes().map(|b| b - b'0').collect();
            let e = Rle::encode(&mask, h, w);
            assert_eq!(e.to_compressed(), expect, "case {i}: encode");
            assert_eq!(e.decode(), mask, "case {i}: decode");
        }
        assert_eq!(r.area(), c["area"].as_u64().unwrap(), "case {i}: area");
        assert_eq!(r.to_bbox().to_vec(), f64s(&c["bbox"]), "case {i}: bbox");
    }
}

#[test]
fn polygons_rasterise_like_fr_py_objects_and_merge() {
    let all = cases();
    for (i, c) in all["polygons"].as_array().unwrap().iter().enumerate() {
        let (h, w) = hw(c);
        let polys: Vec<Vec<f64>> = c["polygons"].as_array().unwrap().iter().map(f64s).collect();
        let r = Rle::from_polygons(&polys, h, w);
        assert_eq!(
            r.to_compressed(),
            c["counts"].as_str().unwrap(),
            "polygon case {i}: {polys:?}"
        );
        assert_eq!(
            r.area(),
            c["area"].as_u64().unwrap(),
            "polygon case {i}: area"
        );
        assert_eq!(
            r.to_bbox().to_vec(),
            f64s(&c["bbox"]),
            "polygon case {i}: bbox"
        );
    }
}

#[test]
fn boxes_rasterise_like_fr_bbox() {
    let all = cases();
    for (i, c) in all["bbox"].as_array().unwrap().iter().enumerate() {
        let (h, w) = hw(c);
        let b = f64s(&c["bbox_in"]);
        let r = Rle::from_bbox([b[0], b[1], b[2], b[3]], h, w);
        assert_eq!(
            r.to_compressed(),
            c["counts"].as_str().unwrap(),
            "bbox case {i}: {b:?}"
        );
    }
}

#[test]
fn uncompressed_counts() {
    let all = cases();
    for (i, c) in all["uncompressed"].as_array().unwrap().iter().enumerate() {
        let (h, w) = hw(c);
        let counts: Vec<u32> = c["counts_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(u32v)
            .collect();
        let r = Rle::from_uncompressed(&counts, h, w).unwrap();
        assert_eq!(
            r.to_compressed(),
            c["counts"].as_str().unwrap(),
            "uncompressed case {i}"
        );
    }
}

#[test]
fn merge_union_and_intersection() {
    let all = cases();
    for (i, c) in all["merge"].as_array().unwrap().iter().enumerate() {
        let (h, w) = hw(c);
        let rles: Vec<Rle> = c["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| rle(s, h, w))
            .collect();
        assert_eq!(
            Rle::merge(&rles, false).to_compressed(),
            c["union"].as_str().unwrap(),
            "merge case {i}"
        );
        assert_eq!(
            Rle::merge(&rles, true).to_compressed(),
            c["intersection"].as_str().unwrap(),
            "intersect case {i}"
        );
    }
}

#[test]
fn mask_and_box_iou() {
    let all = cases();
    for (i, c) in all["iou"].as_array().unwrap().iter().enumerate() {
        let (h, w) = hw(c);
        let dt: Vec<Rle> = c["dt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| rle(s, h, w))
            .collect();
        let gt: Vec<Rle> = c["gt"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| rle(s, h, w))
            .collect();
        let crowd: Vec<bool> = c["iscrowd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64() == Some(1))
            .collect();
        let expect: Vec<Vec<f64>> = c["iou"].as_array().unwrap().iter().map(f64s).collect();
        assert_eq!(iou(&dt, &gt, &crowd), expect, "iou case {i}");
    }
    for (i, c) in all["bbox_iou"].as_array().unwrap().iter().enumerate() {
        let b4 = |v: &Value| -> Vec<[f64; 4]> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    let b = f64s(b);
                    [b[0], b[1], b[2], b[3]]
                })
                .collect()
        };
        let crowd: Vec<bool> = c["iscrowd"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64() == Some(1))
            .collect();
        let expect: Vec<Vec<f64>> = c["iou"].as_array().unwrap().iter().map(f64s).collect();
        assert_eq!(
            bbox_iou(&b4(&c["dt"]), &b4(&c["gt"]), &crowd),
            expect,
            "bbox iou case {i}"
        );
    }
}
