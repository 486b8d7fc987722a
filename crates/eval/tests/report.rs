//! The report pieces: per-category tables and numbers, `metrics.json`, precision-recall PNGs,
//! line charts and the training chart.

use std::path::{Path, PathBuf};

use mrcnn_eval::params::{A, R, T};
use mrcnn_eval::plot::{Axis, PALETTE, Panel, Series, line_chart_png, panels_png};
use mrcnn_eval::pr_curves::{PR_PANEL_SIZE, pr_curves_png};
use mrcnn_eval::report::{
    ClassMetrics, MetricsReport, per_class_metrics, per_class_table, write_metrics_json,
};
use mrcnn_eval::training_log::{
    append_jsonl, parse_jsonl, read_jsonl, training_chart_png, training_panels,
};
use mrcnn_eval::{CocoGt, Detection, EvalResult, IouType, Rle, Segmentation, evaluate};
use serde_json::{Value, json};

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

fn load_png(path: &Path) -> image::RgbImage {
    image::open(path).expect("PNG decodes").to_rgb8()
}

/// Pixels of `img` within `tol` of `col` in the rows `y0..y1`.
fn count_color(img: &image::RgbImage, col: [u8; 3], tol: i32, y0: u32, y1: u32) -> usize {
    img.enumerate_pixels()
        .filter(|(_, y, _)| *y >= y0 && *y < y1)
        .filter(|(_, _, p)| (0..3).all(|c| (p.0[c] as i32 - col[c] as i32).abs() <= tol))
        .count()
}

#[test]
fn pr_curves_png_is_a_grid_with_curves() {
    let dir = tmp("pr");
    let r = tiny(IouType::Segm);
    let path = dir.join("pr_segm.png");
    pr_curves_png(&path, &r).unwrap();
    let img = load_png(&path);
    // 3 categories: 2 columns, 2 rows, under a 32-pixel title band.
    assert_eq!(
        img.dimensions(),
        (2 * PR_PANEL_SIZE.0, 32 + 2 * PR_PANEL_SIZE.1)
    );
    let (h, w) = (img.height(), img.width());
    // The .50 curve (blue, wider) shows on both sides of the .75 one (orange) drawn over it.
    let bluish = img
        .pixels()
        .filter(|p| p.0[2] as i32 - p.0[0] as i32 > 60)
        .count();
    assert!(bluish > 400, "IoU .50 curve: {bluish}");
    assert!(
        count_color(&img, PALETTE[1], 0, 0, h) > 200,
        "IoU .75 curve"
    );
    assert!(
        count_color(&img, [0, 0, 0], 0, 0, h) > 500,
        "text and ticks"
    );
    assert_eq!(w, 720);
    // The fixture, 5 categories (one without gt).
    let path = dir.join("pr_small.png");
    pr_curves_png(&path, &small_fixture(IouType::Bbox)).unwrap();
    assert_eq!(load_png(&path).dimensions(), (3 * 360, 32 + 2 * 280));
    done(&dir);
}

#[test]
fn line_chart_png_draws_series() {
    let dir = tmp("line");
    let path = dir.join("chart.png");
    let series = [
        Series::new(
            "loss",
            (0..200)
                .map(|i| (i as f64, 2.0 / (1.0 + i as f64 * 0.05)))
                .collect(),
        ),
        Series {
            name: "lr".into(),
            points: (0..200)
                .map(|i| (i as f64, 0.02 * (i as f64 / 50.0).min(1.0)))
                .collect(),
            axis: Axis::Right,
            ..Series::default()
        },
        Series::new("one point", vec![(100.0, 1.0)]),
        Series::new(
            "gaps",
            vec![
                (0.0, f64::NAN),
                (10.0, 0.5),
                (20.0, f64::INFINITY),
                (30.0, 0.6),
            ],
        ),
    ];
    line_chart_png(&path, "losses", &series).unwrap();
    let img = load_png(&path);
    assert_eq!(img.dimensions(), (960, 540));
    for c in &PALETTE[..2] {
        assert!(count_color(&img, *c, 0, 0, 540) > 100, "{c:?}");
    }
    // Nothing at all, and constant data: still a chart.
    let other = dir.join("other.png");
    line_chart_png(&other, "", &[]).unwrap();
    assert_eq!(load_png(&other).dimensions(), (960, 540));
    line_chart_png(
        &other,
        "flat",
        &[Series::new("c", vec![(1.0, 3.0), (1.0, 3.0)])],
    )
    .unwrap();
    // Custom panels.
    let p = Panel {
        title: "p".into(),
        series: series[..1].to_vec(),
        ..Panel::default()
    };
    panels_png(
        &dir.join("grid.png"),
        "grid",
        &[p.clone(), p.clone(), p],
        2,
        (300, 200),
    )
    .unwrap();
    assert_eq!(
        load_png(&dir.join("grid.png")).dimensions(),
        (600, 32 + 400)
    );
    done(&dir);
}

fn training_records(with_eval: bool) -> Vec<Value> {
    let mut recs = Vec::new();
    for it in (20..=400).step_by(20) {
        let f = it as f64;
        recs.push(json!({
            "iteration": it,
            "loss": 3.0 / (1.0 + f / 100.0),
            "losses": {"loss_classifier": 1.0 / (1.0 + f / 100.0), "loss_mask": 0.7 - f / 1000.0},
            "lr": 0.02 * (f / 100.0).min(1.0),
            "seconds_per_iter": 0.4,
        }));
        if with_eval && it % 100 == 0 {
            recs.push(json!({"iteration": it, "eval": {
                "images": 8,
                "bbox": {"AP": f / 1000.0, "AP50": f / 600.0, "AP75": -1.0},
                "segm": {"AP": f / 1100.0, "AP50": f / 700.0, "AP75": f / 1500.0}}}));
        }
    }
    recs
}

#[test]
fn training_chart_with_and_without_ap() {
    let dir = tmp("training");
    let path = dir.join("training.png");
    // AP panel (the third, rows 632..932) without data: no series colour there.
    training_chart_png(&path, &training_records(false)).unwrap();
    let img = load_png(&path);
    assert_eq!(img.dimensions(), (960, 932));
    assert!(count_color(&img, PALETTE[0], 0, 32, 332) > 300, "loss");
    assert!(count_color(&img, PALETTE[0], 0, 332, 632) > 300, "lr");
    assert_eq!(
        count_color(&img, PALETTE[0], 0, 632, 932),
        0,
        "AP panel empty"
    );
    training_chart_png(&path, &training_records(true)).unwrap();
    let img = load_png(&path);
    assert!(
        count_color(&img, PALETTE[0], 0, 632, 932) > 100,
        "AP panel drawn"
    );
    let panels = training_panels(&training_records(true));
    let names = |p: &Panel| p.series.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&panels[0]), ["loss", "loss_classifier", "loss_mask"]);
    assert_eq!(names(&panels[1]), ["lr"]);
    // bbox AP75 is always -1 (no ground truth): no series.
    assert_eq!(
        names(&panels[2]),
        [
            "eval/bbox/AP",
            "eval/bbox/AP50",
            "eval/segm/AP",
            "eval/segm/AP50",
            "eval/segm/AP75"
        ]
    );
    // The stacked panels share the x range.
    assert!(panels.iter().all(|p| p.x_range == Some((20.0, 400.0))));
    assert_eq!(panels[2].series[0].points[0], (100.0, 0.1));
    // No records at all.
    let empty = dir.join("training_empty.png");
    training_chart_png(&empty, &[]).unwrap();
    assert_eq!(load_png(&empty).dimensions(), (960, 932));
    done(&dir);
}

#[test]
fn jsonl_round_trip_and_truncated_line() {
    let dir = tmp("jsonl");
    let path = dir.join("run/metrics.jsonl");
    for r in training_records(true).iter().take(3) {
        append_jsonl(&path, r).unwrap();
    }
    let back = read_jsonl(&path).unwrap();
    assert_eq!(back, training_records(true)[..3]);
    // A crash mid-line: the last line is dropped; a bad line elsewhere is an error.
    let v = parse_jsonl("{\"iter\": 1}\n\n{\"iter\": 2}\n{\"iter\": 3, \"lo", "m").unwrap();
    assert_eq!(v.len(), 2);
    let e = parse_jsonl("{\"iter\": 1}\n{oops\n{\"iter\": 2}\n", "m.jsonl").unwrap_err();
    assert!(e.to_string().contains("m.jsonl line 2"), "{e}");
    assert!(read_jsonl(&dir.join("missing.jsonl")).is_err());
    done(&dir);
}

#[test]
fn bad_paths_are_errors() {
    let dir = tmp("bad");
    let file = dir.join("a_file");
    std::fs::write(&file, b"x").unwrap();
    let under_file = file.join("out.png");
    let r = tiny(IouType::Bbox);
    let recs = training_records(false);
    for path in [under_file.as_path(), dir.as_path()] {
        let e = pr_curves_png(path, &r).unwrap_err();
        assert!(e.to_string().contains("cannot write"), "{e}");
        assert!(line_chart_png(path, "t", &[]).is_err());
        assert!(training_chart_png(path, &recs).is_err());
        assert!(write_metrics_json(path, std::slice::from_ref(&r)).is_err());
    }
    assert!(append_jsonl(&under_file, &json!({})).is_err());
    assert!(append_jsonl(&dir, &json!({})).is_err());
    // No temporary files left in the folder.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a_file"]);
    done(&dir);
}
