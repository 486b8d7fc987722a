//! COCOeval against pycocotools on the fixtures written by
//! `tools/reference/make_eval_fixtures.py`: the 12 stats, per-category AP /
//! AP50 / AP75, precision at IoU .5 and recall must agree within 1e-6.

use mrcnn_eval::{CocoGt, IouType, evaluate};
use serde_json::Value;

const TOL: f64 = 1e-6;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOL
}

fn check_case(case: &str) {
    let gt = CocoGt::from_file(fixture(&format!("{case}_gt.json"))).expect("gt loads");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture(&format!("{case}_expected.json"))).unwrap(),
    )
    .unwrap();
    for (key, exp) in expected.as_object().unwrap() {
        let (iou, dt_name) = key.split_once('/').unwrap();
        let iou_type = if iou == "bbox" {
            IouType::Bbox
        } else {
            IouType::Segm
        };
        let dets = gt
            .load_results_file(fixture(&format!("{case}_{dt_name}.json")))
            .expect("results load");
        let r = evaluate(&gt, &dets, iou_type).expect("evaluate");
        let ctx = format!("{case} {key}");
        let stats: Vec<f64> = exp["stats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (i, (&ours, &theirs)) in r.stats.iter().zip(&stats).enumerate() {
            assert!(
                close(ours, theirs),
                "{ctx}: stats[{i}] ours {ours} pycocotools {theirs}\n{}",
                r.table()
            );
        }
        let pc = exp["per_category"].as_array().unwrap();
        assert_eq!(pc.len(), r.per_category.len(), "{ctx}: category count");
        for (c, e) in r.per_category.iter().zip(pc) {
            assert_eq!(c.category_id, e["category_id"].as_i64().unwrap());
            for (name, ours) in [("ap", c.ap), ("ap50", c.ap50), ("ap75", c.ap75)] {
                let theirs = e[name].as_f64().unwrap();
                assert!(
                    close(ours, theirs),
                    "{ctx}: category {} {name}: ours {ours} pycocotools {theirs}",
                    c.category_id
                );
            }
        }
        // precision[0, :, :, 0, 2] as [R][K] and recall[:, :, 0, 2] as [T][K]
        for (r_i, row) in exp["precision_t0_all_100"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            for (k, v) in row.as_array().unwrap().iter().enumerate() {
                let (ours, theirs) = (r.precision_at(0, r_i, k, 0, 2), v.as_f64().unwrap());
                assert!(
                    close(ours, theirs),
                    "{ctx}: precision[0,{r_i},{k},0,2] ours {ours} pycocotools {theirs}"
                );
            }
        }
        for (t, row) in exp["recall_all_100"].as_array().unwrap().iter().enumerate() {
            for (k, v) in row.as_array().unwrap().iter().enumerate() {
                let (ours, theirs) = (r.recall_at(t, k, 0, 2), v.as_f64().unwrap());
                assert!(
                    close(ours, theirs),
                    "{ctx}: recall[{t},{k},0,2] ours {ours} pycocotools {theirs}"
                );
            }
        }
    }
}

#[test]
fn small_case_matches_pycocotools() {
    check_case("small");
}

#[test]
fn crowded_case_matches_pycocotools() {
    check_case("crowded");
}
