//! The pictures: precision-recall PNGs, line charts and the training chart.

use std::path::{Path, PathBuf};

use mrcnn_draw::plot::{Axis, PALETTE, Panel, Series, line_chart_png, panels_png};
use mrcnn_draw::pr_curves::{PR_PANEL_SIZE, pr_curves_png};
use mrcnn_draw::training_chart::{training_chart_png, training_panels};
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
    format!(
        "{}/../eval/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
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
    let d = std::env::temp_dir().join(format!("mrcnn-draw-charts-{}-{name}", std::process::id()));
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
    }
    // No temporary files left in the folder.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a_file"]);
    done(&dir);
}
