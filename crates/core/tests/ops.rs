//! Each core op against torchvision's values (tools/reference/make_op_fixtures.py): RoIAlign
//! forward and backward, the multi-scale pooler, the box coder, anchors, NMS and box utilities.

use burn::prelude::*;
use mrcnn_config::{AnchorConfig, PoolerConfig};
use mrcnn_core::anchors::{anchors_per_level, cell_anchors};
use mrcnn_core::box_coder::BoxCoder;
use mrcnn_core::roi_align::{Roi, RoiAlignParams, roi_align};
use mrcnn_core::{boxes, host, nms, poolers};
use mrcnn_testing::{Fixture, assert_close, devices};
use serde_json::Value;
use std::path::Path;

fn load() -> (Fixture, Value) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fx = Fixture::load(&dir.join("ops.safetensors"));
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ops.json")).unwrap()).unwrap();
    (fx, meta)
}

/// The case whose tensors `case` uses (`inputs_from`), for input names.
fn source<'a>(meta: &'a Value, case: &'a str) -> &'a str {
    meta[case]["inputs_from"].as_str().unwrap_or(case)
}

fn rois(fx: &Fixture, name: &str) -> Vec<Roi> {
    fx.f32(name)
        .chunks_exact(5)
        .map(|r| (r[0] as usize, [r[1], r[2], r[3], r[4]]))
        .collect()
}

fn params(meta: &Value, case: &str) -> RoiAlignParams {
    let c = &meta[case];
    let sr = c["sampling_ratio"].as_i64().unwrap();
    RoiAlignParams {
        output: [
            c["output_size"][0].as_u64().unwrap() as usize,
            c["output_size"][1].as_u64().unwrap() as usize,
        ],
        spatial_scale: c["spatial_scale"].as_f64().unwrap() as f32,
        // torchvision: any value <= 0 means adaptive.
        sampling_ratio: sr.max(0) as usize,
        aligned: c["aligned"].as_bool().unwrap(),
    }
}

#[test]
fn roi_align_forward_matches_torchvision() {
    let (fx, meta) = load();
    let cases: Vec<&String> = meta
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("roi_align."))
        .collect();
    assert!(
        cases.len() >= 8,
        "expected the roi_align cases, found {cases:?}"
    );
    for (dev_name, dev) in devices() {
        for case in &cases {
            let src = source(&meta, case);
            let input: Tensor<4> = fx.tensor(&format!("{src}.input"), &dev);
            let out = roi_align(
                input,
                &rois(&fx, &format!("{src}.rois")),
                &params(&meta, case),
            );
            assert_close(
                &format!("{dev_name} {case}"),
                &host::to_vec(out),
                &fx.f32(&format!("{case}.output")),
                1e-5,
            );
        }
    }
}

#[test]
fn roi_align_backward_matches_torchvision() {
    let (fx, meta) = load();
    for (dev_name, dev) in devices() {
        let dev = dev.autodiff();
        for case in ["roi_align.partly_outside", "roi_align.aligned"] {
            let input: Tensor<4> = fx
                .tensor::<4>(&format!("{case}.input"), &dev)
                .require_grad();
            let out = roi_align(
                input.clone(),
                &rois(&fx, &format!("{case}.rois")),
                &params(&meta, case),
            );
            let upstream: Tensor<4> = fx.tensor(&format!("{case}.grad_output"), &dev);
            let grads = (out * upstream).sum().backward();
            let g = input.grad(&grads).expect("the input gets a gradient");
            assert_close(
                &format!("{dev_name} {case} d/dinput"),
                &host::to_vec(g),
                &fx.f32(&format!("{case}.grad_input")),
                1e-5,
            );
        }
    }
}

#[test]
fn multiscale_roi_align_matches_torchvision() {
    let (fx, meta) = load();
    let dev = Device::flex();
    for case in ["multiscale", "multiscale_14"] {
        let src = source(&meta, case);
        let feats: Vec<Tensor<4>> = (0..4)
            .map(|l| fx.tensor(&format!("{src}.features.{l}"), &dev))
            .collect();
        let mut all_rois = Vec::new();
        for i in 0..2 {
            all_rois.extend(
                fx.boxes(&format!("{src}.boxes.{i}"))
                    .into_iter()
                    .map(|b| (i, b)),
            );
        }
        let c = &meta[case];
        let resolution = c["output_size"][0].as_u64().unwrap() as usize;
        let cfg = PoolerConfig {
            sampling_ratio: c["sampling_ratio"].as_u64().unwrap() as usize,
            aligned: false,
            canonical_scale: c["canonical_scale"].as_f64().unwrap() as f32,
            canonical_level: c["canonical_level"].as_u64().unwrap() as u32,
        };
        let levels: Vec<f32> = poolers::map_levels(&all_rois, &cfg, 2, 5)
            .into_iter()
            .map(|l| l as f32)
            .collect();
        assert_eq!(
            levels,
            fx.f32(&format!("{case}.levels")),
            "{case}: level mapping"
        );
        let out = poolers::multiscale_roi_align(&feats, &all_rois, resolution, &cfg);
        assert_close(
            case,
            &host::to_vec(out),
            &fx.f32(&format!("{case}.output")),
            1e-5,
        );
    }
}

#[test]
fn box_coder_matches_torchvision() {
    let (fx, meta) = load();
    for case in ["box_coder.w1", "box_coder.w10"] {
        let c = &meta[case];
        let w: Vec<f32> = c["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let coder = BoxCoder::new(
            [w[0], w[1], w[2], w[3]],
            c["bbox_xform_clip"].as_f64().unwrap() as f32,
        );
        let refs = fx.boxes(&format!("{case}.reference_boxes"));
        let gts = fx.boxes(&format!("{case}.gt_boxes"));
        let enc: Vec<f32> = gts
            .iter()
            .zip(&refs)
            .flat_map(|(g, r)| coder.encode(g, r))
            .collect();
        assert_close(
            &format!("{case} encode"),
            &enc,
            &fx.f32(&format!("{case}.encoded")),
            1e-5,
        );
        let deltas = fx.boxes(&format!("{case}.deltas"));
        let dec: Vec<f32> = deltas
            .iter()
            .zip(&refs)
            .flat_map(|(d, r)| coder.decode(d, r))
            .collect();
        assert_close(
            &format!("{case} decode"),
            &dec,
            &fx.f32(&format!("{case}.decoded")),
            1e-5,
        );
    }
    let case = "box_coder.w10_multiclass";
    let coder = BoxCoder::new([10.0, 10.0, 5.0, 5.0], (1000.0f32 / 16.0).ln());
    let refs = fx.boxes(&format!("{case}.reference_boxes"));
    let deltas = fx.f32(&format!("{case}.deltas"));
    let mut dec = Vec::new();
    for (k, r) in refs.iter().enumerate() {
        for c in 0..4 {
            let o = k * 16 + c * 4;
            dec.extend(coder.decode(&[deltas[o], deltas[o + 1], deltas[o + 2], deltas[o + 3]], r));
        }
    }
    assert_close(case, &dec, &fx.f32(&format!("{case}.decoded")), 1e-5);
}

#[test]
fn anchors_match_torchvision() {
    let (fx, meta) = load();
    let c = &meta["anchors"];
    let cfg = AnchorConfig::default();
    for l in 0..5 {
        let cell: Vec<f32> = cell_anchors(&cfg.sizes[l], &cfg.aspect_ratios, true)
            .into_iter()
            .flatten()
            .collect();
        assert_close(
            &format!("cell anchors {l}"),
            &cell,
            &fx.f32(&format!("anchors.cell.{l}")),
            0.0,
        );
    }
    let image = [
        c["image_size"][0].as_u64().unwrap() as usize,
        c["image_size"][1].as_u64().unwrap() as usize,
    ];
    let grids: Vec<[usize; 2]> = c["feature_sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            [
                s[0].as_u64().unwrap() as usize,
                s[1].as_u64().unwrap() as usize,
            ]
        })
        .collect();
    let all: Vec<f32> = anchors_per_level(&cfg, image, &grids)
        .into_iter()
        .flatten()
        .flatten()
        .collect();
    assert_close("anchors", &all, &fx.f32("anchors.output"), 0.0);
}

fn keep_of(fx: &Fixture, case: &str) -> Vec<usize> {
    fx.f32(&format!("{case}.keep"))
        .into_iter()
        .map(|v| v as usize)
        .collect()
}

#[test]
fn nms_matches_torchvision() {
    let (fx, meta) = load();
    for (case, c) in meta
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("nms."))
    {
        let thr = c["iou_threshold"].as_f64().unwrap() as f32;
        let got = nms::nms(
            &fx.boxes(&format!("{case}.boxes")),
            &fx.f32(&format!("{case}.scores")),
            thr,
        );
        assert_eq!(got, keep_of(&fx, case), "{case}");
    }
    for (case, c) in meta
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("batched_nms."))
    {
        let thr = c["iou_threshold"].as_f64().unwrap() as f32;
        let idxs: Vec<usize> = fx
            .f32(&format!("{case}.idxs"))
            .into_iter()
            .map(|v| v as usize)
            .collect();
        let scores = fx.f32(&format!("{case}.scores"));
        let got = nms::batched_nms(&fx.boxes(&format!("{case}.boxes")), &scores, &idxs, thr);
        let expected = keep_of(&fx, case);
        // torchvision's per-class path sorts the kept boxes with an unstable sort: compare the
        // kept set, and the order wherever scores differ.
        let mut a = got.clone();
        let mut b = expected.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "{case}: kept set");
        let gs: Vec<f32> = got.iter().map(|&i| scores[i]).collect();
        let es: Vec<f32> = expected.iter().map(|&i| scores[i]).collect();
        assert_eq!(gs, es, "{case}: score order");
    }
}

#[test]
fn box_utilities_match_torchvision() {
    let (fx, meta) = load();
    let a = fx.boxes("box_iou.boxes1");
    let b = fx.boxes("box_iou.boxes2");
    let iou: Vec<f32> = boxes::iou_matrix(&a, &b).into_iter().flatten().collect();
    assert_close("box_iou", &iou, &fx.f32("box_iou.output"), 1e-6);

    let size = &meta["clip_boxes_to_image"]["size"];
    let (h, w) = (
        size[0].as_f64().unwrap() as f32,
        size[1].as_f64().unwrap() as f32,
    );
    let clipped: Vec<f32> = fx
        .boxes("clip_boxes_to_image.boxes")
        .iter()
        .flat_map(|b| boxes::clip(b, h, w))
        .collect();
    assert_close("clip", &clipped, &fx.f32("clip_boxes_to_image.output"), 0.0);

    for case in ["remove_small_boxes.1e-3", "remove_small_boxes.1e-2"] {
        let min = meta[case]["min_size"].as_f64().unwrap() as f32;
        let keep: Vec<usize> = fx
            .boxes(&format!("{case}.boxes"))
            .iter()
            .enumerate()
            .filter(|(_, b)| boxes::is_large_enough(b, min))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(keep, keep_of(&fx, case), "{case}");
    }
}
