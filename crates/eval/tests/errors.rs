//! Bad input gives an error that names what and where, never a panic.

use mrcnn_eval::{CocoGt, Detection, IouType, Rle, Segmentation, evaluate};

const GT: &str = r#"{
  "images": [{"id": 1, "height": 10, "width": 10}, {"id": 2, "height": 20, "width": 8}],
  "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
  "annotations": [
    {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0,
     "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]},
    {"id": 2, "image_id": 2, "category_id": 2, "bbox": [0, 0, 8, 20], "area": 160, "iscrowd": 1,
     "segmentation": {"size": [20, 8], "counts": [0, 160]}}
  ]
}"#;

fn gt() -> CocoGt {
    CocoGt::from_json_str(GT).expect("valid gt")
}

#[test]
fn malformed_json_names_position() {
    let e = CocoGt::from_json_str("{\"images\": [}").unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, mrcnn_coco::CocoError::Json { .. }), "{msg}");
    assert!(
        msg.contains("ground truth") && msg.contains("line 1"),
        "{msg}"
    );
    let e = gt().load_results_str("[{\"image_id\": 1,").unwrap_err();
    assert!(e.to_string().contains("results"), "{e}");
}

#[test]
fn unknown_image_in_results() {
    let e = gt()
        .load_results_str(
            r#"[{"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0,0,1,1]},
                             {"image_id": 77, "category_id": 1, "score": 0.5, "bbox": [0,0,1,1]}]"#,
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("results[1]") && msg.contains("77"), "{msg}");
    // Same rule for detections built in code.
    let d = Detection {
        image_id: 5,
        category_id: 1,
        score: 1.0,
        bbox: Some([0.0; 4]),
        segmentation: None,
    };
    assert!(evaluate(&gt(), &[d], IouType::Bbox).is_err());
}

#[test]
fn bad_rle_string_in_results() {
    let e = gt()
        .load_results_str(
            r#"[{"image_id": 1, "category_id": 1, "score": 0.5,
                              "segmentation": {"size": [10, 10], "counts": "0 bad"}}]"#,
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("results[0]") && msg.contains("invalid character"),
        "{msg}"
    );
    let e = gt()
        .load_results_str(
            r#"[{"image_id": 1, "category_id": 1, "score": 0.5,
                              "segmentation": {"size": [10, 10], "counts": "52"}}]"#,
        )
        .unwrap_err();
    assert!(e.to_string().contains("sum to"), "{e}");
}

#[test]
fn gt_problems_are_located() {
    let bad_area = GT.replace("\"area\": 16,", "");
    let e = CocoGt::from_json_str(&bad_area).unwrap_err().to_string();
    assert!(e.contains("annotations[0]") && e.contains("area"), "{e}");
    let bad_img = GT.replace("\"id\": 2, \"image_id\": 2", "\"id\": 2, \"image_id\": 3");
    let e = CocoGt::from_json_str(&bad_img).unwrap_err().to_string();
    assert!(
        e.contains("annotations[1]") && e.contains("image_id 3"),
        "{e}"
    );
    let bad_counts = GT.replace("[0, 160]", "[0, 150]");
    let e = CocoGt::from_json_str(&bad_counts).unwrap_err().to_string();
    assert!(
        e.contains("annotations[1]") && e.contains("sum to 150"),
        "{e}"
    );
    let e = CocoGt::from_file("/nonexistent/gt.json")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/gt.json"), "{e}");
}

#[test]
fn box_results_need_boxes_throughout() {
    let mask = Segmentation::Rle(Rle::encode(&[1; 100], 10, 10));
    let dets = vec![
        Detection {
            image_id: 1,
            category_id: 1,
            score: 0.9,
            bbox: Some([1.0, 1.0, 4.0, 4.0]),
            segmentation: None,
        },
        Detection {
            image_id: 1,
            category_id: 1,
            score: 0.8,
            bbox: None,
            segmentation: Some(mask),
        },
    ];
    let e = evaluate(&gt(), &dets, IouType::Segm)
        .unwrap_err()
        .to_string();
    assert!(e.contains("results[1]") && e.contains("bbox"), "{e}");
}

#[test]
fn empty_results_and_perfect_results() {
    let g = gt();
    let r = evaluate(&g, &[], IouType::Bbox).unwrap();
    assert_eq!(r.stats[0], 0.0);
    assert_eq!(r.simple.num_gt, 1); // the crowd gt does not count
    let d = Detection {
        image_id: 1,
        category_id: 1,
        score: 0.9,
        bbox: Some([1.0, 1.0, 4.0, 4.0]),
        segmentation: None,
    };
    let r = evaluate(&g, &[d], IouType::Bbox).unwrap();
    assert!((r.stats[0] - 1.0).abs() < 1e-12, "{}", r.table());
    assert_eq!(r.per_category[1].ap, -1.0); // only a crowd gt: no AP
    assert_eq!((r.simple.tp, r.simple.fp), (1, 0));
    assert_eq!(r.simple.mean_iou, 1.0);
    assert!(r.table().contains(
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000"
    ));
}
