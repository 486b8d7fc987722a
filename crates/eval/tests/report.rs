//! The report numbers: per-category tables and numbers, `metrics.json`.

use std::path::{Path, PathBuf};

use mrcnn_eval::params::{A, R, T};
use mrcnn_eval::report::{
    ClassMetrics, MetricsReport, per_class_metrics, per_class_table, write_metrics_json,
};
use mrcnn_eval::{CocoGt, Detection, EvalResult, IouType, Rle, Segmentation, evaluate};
use serde_json::Value;

/// "cat": a small gt (20x20) and a large gt (100x100); "bird": one gt, never detected; "dog":
/// no gt but a detection.
const GT: &str = r#"{
  "images": [{"id": 1, "height": 200, "width": 200}],
  "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "bird"}],
  "annotations": [
    {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400,
     "iscrowd": 0, "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]},
    {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 100, 100], "area": 10000,
     "iscrowd": 0, "segmentation": [[50, 50, 150, 50, 150, 150, 50, 150]]},
    {"id": 3, "image_id": 1, "category_id": 3, "bbox": [160, 0, 30, 40], "area": 1200,
     "iscrowd": 0, "segmentation": [[160, 0, 190, 0, 190, 40, 160, 40]]}
  ]
}"#;

fn det(cat: i64, score: f64, b: [f64; 4]) -> Detection {
    let poly = vec![vec![
        b[0],
        b[1],
        b[0] + b[2],
        b[1],
        b[0] + b[2],
        b[1] + b[3],
        b[0],
        b[1] + b[3],
    ]];
    Detection {
        image_id: 1,
        category_id: cat,
        score,
        bbox: Some(b),
        segmentation: Some(Segmentation::Rle(Rle::from_polygons(&poly, 200, 200))),
    }
}

/// The tiny case: for "cat", in score order TP (large), FP (medium, 60x60), TP (small).
fn tiny(iou: IouType) -> EvalResult {
    let gt = CocoGt::from_json_str(GT).unwrap();
    let dets = vec![
        det(1, 0.9, [50.0, 50.0, 100.0, 100.0]),
        det(1, 0.8, [0.0, 120.0, 60.0, 60.0]),
        det(1, 0.7, [10.0, 10.0, 20.0, 20.0]),
        det(2, 0.6, [0.0, 0.0, 10.0, 10.0]),
    ];
    evaluate(&gt, &dets, iou).unwrap()
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn small_fixture(iou: IouType) -> EvalResult {
    let gt = CocoGt::from_file(fixture("small_gt.json")).unwrap();
    let name = match iou {
        IouType::Bbox => "small_dt_bbox.json",
        IouType::Segm => "small_dt_segm.json",
    };
    let dets = gt.load_results_file(fixture(name)).unwrap();
    evaluate(&gt, &dets, iou).unwrap()
}

/// A fresh folder for one test.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mrcnn-eval-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Removes a test's folder, unless MRCNN_KEEP_TEST_OUTPUT is set (to look at the PNGs).
fn done(dir: &Path) {
    if std::env::var_os("MRCNN_KEEP_TEST_OUTPUT").is_none() {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Mean of the precision entries > -1 for category k, computed here independently.
fn mean_precision(r: &EvalResult, k: usize, ts: std::ops::Range<usize>, a: usize) -> f64 {
    let v: Vec<f64> = ts
        .flat_map(|t| (0..R).map(move |ri| (t, ri)))
        .map(|(t, ri)| r.precision_at(t, ri, k, a, 2))
        .filter(|&v| v > -1.0)
        .collect();
    if v.is_empty() {
        -1.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

#[test]
fn per_class_numbers_by_hand() {
    for iou in [IouType::Bbox, IouType::Segm] {
        let r = tiny(iou);
        let m = per_class_metrics(&r);
        let names: Vec<&str> = m.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["cat", "dog", "bird"]);
        // cat: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1 -> monotone 1, 2/3, 2/3: the 51
        // recall thresholds <= .5 see 1, the other 50 see 2/3. IoU is 1, so all thresholds agree.
        let ap = (51.0 + 50.0 * (2.0 / 3.0)) / 101.0;
        let cat = &m[0];
        for v in [cat.ap, cat.ap50, cat.ap75] {
            assert!((v - ap).abs() < 1e-12, "{iou:?} {cat:?}");
        }
        // Small: the medium FP and the large TP lie outside the range and are ignored.
        // tp / (tp + fp + eps): "1" is 1 - 2e-16, as in pycocotools.
        assert!((cat.ap_small - 1.0).abs() < 1e-12, "{iou:?}");
        assert_eq!(cat.ap_medium, -1.0, "no medium gt");
        assert!((cat.ap_large - 1.0).abs() < 1e-12);
        assert_eq!(cat.ar100, 1.0);
        let dog = &m[1];
        for v in [
            dog.ap,
            dog.ap50,
            dog.ap75,
            dog.ap_small,
            dog.ap_medium,
            dog.ap_large,
            dog.ar100,
        ] {
            assert_eq!(v, -1.0, "dog has no gt");
        }
        let bird = &m[2];
        assert_eq!(
            (bird.ap, bird.ap50, bird.ap_medium, bird.ar100),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!((bird.ap_small, bird.ap_large), (-1.0, -1.0));
    }
}

#[test]
fn per_class_numbers_match_accumulated_arrays() {
    for iou in [IouType::Bbox, IouType::Segm] {
        let r = small_fixture(iou);
        let m = per_class_metrics(&r);
        assert_eq!(m.len(), r.cat_ids.len());
        assert!(
            m.iter().any(|c| c.ap == -1.0),
            "the fixture has a category without gt"
        );
        for (k, (c, p)) in m.iter().zip(&r.per_category).enumerate() {
            assert_eq!(c.category_id, p.category_id);
            assert_eq!(c.name, p.name);
            // Same summation as COCOeval's summary: bit-identical.
            assert_eq!((c.ap, c.ap50, c.ap75), (p.ap, p.ap50, p.ap75));
            assert_eq!(c.ap, mean_precision(&r, k, 0..T, 0));
            assert_eq!(c.ap50, mean_precision(&r, k, 0..1, 0));
            assert_eq!(c.ap75, mean_precision(&r, k, 5..6, 0));
            for (a, v) in [(1, c.ap_small), (2, c.ap_medium), (3, c.ap_large)] {
                assert_eq!(v, mean_precision(&r, k, 0..T, a), "{iou:?} k={k} a={a}");
            }
            let rec: Vec<f64> = (0..T).map(|t| r.recall_at(t, k, 0, 2)).collect();
            let ar = if rec[0] < 0.0 {
                -1.0
            } else {
                rec.iter().sum::<f64>() / T as f64
            };
            assert!((c.ar100 - ar).abs() < 1e-15);
        }
        assert_eq!(A, 4);
    }
}

#[test]
fn per_class_table_shows_numbers_and_na() {
    let r = tiny(IouType::Segm);
    let t = per_class_table(&r);
    assert!(t.contains("segm"), "{t}");
    for h in ["cat_id", "AP50", "AP75", "APs", "APm", "APl", "AR100"] {
        assert!(t.contains(h), "{t}");
    }
    let line = |name: &str| -> Vec<String> {
        t.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_else(|| panic!("no row {name} in\n{t}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(
        line("cat"),
        [
            "1", "cat", "0.835", "0.835", "0.835", "1.000", "n/a", "1.000", "1.000"
        ]
    );
    assert_eq!(line("dog")[2..], ["n/a"; 7]);
    assert_eq!(line("bird")[2..4], ["0.000", "0.000"]);
}

#[test]
fn metrics_json_has_the_accumulated_numbers() {
    let dir = tmp("metrics");
    let path = dir.join("sub/metrics.json");
    let results = [small_fixture(IouType::Bbox), small_fixture(IouType::Segm)];
    write_metrics_json(&path, &results).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    const NAMES: [&str; 12] = [
        "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
    ];
    for r in &results {
        let e = &v[r.iou_type.as_str()];
        for (n, &s) in NAMES.iter().zip(&r.stats) {
            assert_eq!(e["stats"][n].as_f64(), Some(s), "{n}");
        }
        let pc = e["per_category"].as_array().unwrap();
        let ours = per_class_metrics(r);
        assert_eq!(pc.len(), ours.len());
        for (j, c) in pc.iter().zip(&ours) {
            assert_eq!(j["category_id"].as_i64(), Some(c.category_id));
            assert_eq!(j["name"].as_str(), Some(c.name.as_str()));
            assert_eq!(j["AP"].as_f64(), Some(c.ap));
            assert_eq!(j["AP50"].as_f64(), Some(c.ap50));
            assert_eq!(j["APl"].as_f64(), Some(c.ap_large));
            assert_eq!(j["AR100"].as_f64(), Some(c.ar100));
        }
        let s = &e["at_iou_0_5"];
        for (key, ss) in [
            ("all_detections", &r.simple),
            ("score_ge_0_5", &r.simple_score05),
        ] {
            assert_eq!(s[key]["tp"].as_u64(), Some(ss.tp));
            assert_eq!(s[key]["fp"].as_u64(), Some(ss.fp));
            assert_eq!(s[key]["num_gt"].as_u64(), Some(ss.num_gt));
            assert_eq!(s[key]["precision"].as_f64(), Some(ss.precision));
            assert_eq!(s[key]["recall"].as_f64(), Some(ss.recall));
            assert_eq!(s[key]["mean_iou"].as_f64(), Some(ss.mean_iou));
        }
    }
    // Typed round trip, and no temporary file left behind.
    let back: MetricsReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, MetricsReport::from_results(&results));
    let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["metrics.json"]);
    // Only the evaluated type appears.
    write_metrics_json(&path, &results[1..]).unwrap();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(v.get("bbox").is_none() && v.get("segm").is_some());
    let c: ClassMetrics = serde_json::from_value(v["segm"]["per_category"][0].clone()).unwrap();
    assert_eq!(c, per_class_metrics(&results[1])[0]);
    done(&dir);
}

#[test]
fn bad_paths_are_errors() {
    let dir = tmp("bad");
    let file = dir.join("a_file");
    std::fs::write(&file, b"x").unwrap();
    let under_file = file.join("metrics.json");
    let r = tiny(IouType::Bbox);
    for path in [under_file.as_path(), dir.as_path()] {
        let e = write_metrics_json(path, std::slice::from_ref(&r)).unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");
    }
    // No temporary files left in the folder.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a_file"]);
    done(&dir);
}
