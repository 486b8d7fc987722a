//! Fixture location of the model parity tests; the helpers live in `mrcnn_testing`.
#![allow(dead_code)]

use mrcnn_core::BoxXyxy;
use mrcnn_model::MaskRcnn;
use mrcnn_model::transform::ImageInput;
use mrcnn_roi_heads::Detections;
pub use mrcnn_testing::*;
use std::path::{Path, PathBuf};

pub const TOL: f32 = 1e-4;
pub const BOX_TOL: f32 = 1e-3;

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small")
}

/// The two fixture images as model inputs.
pub fn inputs(fx: &Fixture) -> Vec<ImageInput> {
    (0..2)
        .map(|i| {
            let name = format!("input.{i}");
            let s = fx.shape(&name);
            ImageInput {
                data: fx.f32(&name),
                height: s[1],
                width: s[2],
            }
        })
        .collect()
}

pub fn triples(d: &Detections) -> Vec<(BoxXyxy, usize, f32)> {
    (0..d.len())
        .map(|k| (d.boxes[k], d.labels[k], d.scores[k]))
        .collect()
}

/// End-to-end `predict` on the fixture images against torchvision's final outputs.
pub fn assert_predicts_like_torchvision(what: &str, m: &MaskRcnn) {
    let fx = Fixture::load(&fixture_dir().join("stages.safetensors"));
    let preds = m.predict(&inputs(&fx));
    for (i, p) in preds.iter().enumerate() {
        let e = Detections {
            boxes: fx.boxes(&format!("final.{i}.boxes")),
            labels: fx
                .f32(&format!("final.{i}.labels"))
                .iter()
                .map(|&l| l as usize)
                .collect(),
            scores: fx.f32(&format!("final.{i}.scores")),
        };
        assert!(!e.is_empty(), "the fixture has detections for image {i}");
        let got = Detections {
            boxes: p.boxes.clone(),
            labels: p.labels.clone(),
            scores: p.scores.clone(),
        };
        assert_same_boxes(
            &format!("{what} image {i}"),
            &triples(&got),
            &triples(&e),
            BOX_TOL,
        );
        let exp_masks = fx.f32(&format!("final.{i}.masks"));
        let hw = p.height * p.width;
        for (k, eb) in e.boxes.iter().enumerate() {
            let j = (0..p.boxes.len())
                .find(|&j| {
                    p.labels[j] == e.labels[k]
                        && (0..4).all(|c| (p.boxes[j][c] - eb[c]).abs() <= BOX_TOL)
                })
                .expect("matched above");
            assert_close(
                &format!("{what} mask {i}.{k}"),
                &p.mask_probabilities(j),
                &exp_masks[k * hw..(k + 1) * hw],
                TOL,
            );
        }
    }
}
