//! Stages of the TensorFlow Object Detection API's Mask R-CNN ResNet v1 atrous model against
//! the OD API's own code (fixtures: `tools/reference/make_tf_od_api_fixtures.py`, which runs
//! `object_detection` from tensorflow/models with TF-slim):
//! - `keep_aspect_ratio_resizer` (`preprocessor.resize_to_range`) and the extractor's
//!   `preprocess`;
//! - `GridAnchorGenerator`;
//! - `FasterRcnnBoxCoder` (encode and decode);
//! - the TF-slim ResNet v1 (block1..block3 at output stride 8, atrous block3, and block4 on
//!   crops), its weights read from the TF checkpoint the script saved, through
//!   `mrcnn_import::tf`, on flex and on wgpu.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::store::{ModuleSnapshot, PyTorchToBurnAdapter, SafetensorsStore};
use mrcnn_backbone::ResNet;
use mrcnn_backbone::resnet::head_stage;
use mrcnn_config::{BackboneConfig, BlockKind, InputConfig, PixelFormat, ResNetLayout, Resizer};
use mrcnn_core::anchors::TfGridAnchors;
use mrcnn_core::box_coder::BoxCoder;
use mrcnn_import::tensors::to_safetensors_bytes;
use mrcnn_import::tf::od_api;
use mrcnn_model::transform::{ImageInput, tf_keep_aspect_ratio_size, transform};
use mrcnn_model::weights::torchvision_remapper;
use mrcnn_testing::{assert_close, devices, gpu_time_limit, json_array, nhwc_to_nchw};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf_od_api")
}

fn fixture() -> Value {
    let path = dir().join("stages.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// `[ymin, xmin, ymax, xmax]` rows (the OD API's order) as `[x1, y1, x2, y2]`.
fn yxyx_to_xyxy(v: &[f32]) -> Vec<[f32; 4]> {
    v.chunks_exact(4)
        .map(|b| [b[1], b[0], b[3], b[2]])
        .collect()
}

fn flat(boxes: &[[f32; 4]]) -> Vec<f32> {
    boxes.iter().flatten().copied().collect()
}

/// HWC -> CHW.
fn hwc_to_chw(s: &[usize], v: &[f32]) -> Vec<f32> {
    nhwc_to_nchw(&[1, s[0], s[1], s[2]], v)
}

#[test]
fn keep_aspect_ratio_resizer_matches_od_api() {
    let fx = fixture();
    let dev = Device::default();
    for (i, case) in fx["resize"].as_array().unwrap().iter().enumerate() {
        let (s, v) = json_array(&case["image"]);
        let (min, max) = (
            case["min_dimension"].as_u64().unwrap() as usize,
            case["max_dimension"].as_u64().unwrap() as usize,
        );
        let img = ImageInput {
            data: hwc_to_chw(&s, &v).iter().map(|x| x / 255.0).collect(),
            height: s[0],
            width: s[1],
        };
        let expected_size = usizes(&case["resized_shape"]);
        assert_eq!(
            tf_keep_aspect_ratio_size(s[0], s[1], min, max).to_vec(),
            expected_size[..2],
            "case {i}: size"
        );
        let mut cfg = InputConfig {
            min_size: vec![min],
            max_size: max,
            pixel_mean: [0.0; 3],
            pixel_std: [1.0; 3],
            format: PixelFormat::Rgb255,
            resizer: Resizer::TfKeepAspectRatio,
            size_divisible: 1,
            ..InputConfig::default()
        };
        let out = transform(std::slice::from_ref(&img), &cfg, min, &dev);
        assert_eq!(out.image_sizes[0].to_vec(), expected_size[..2]);
        let (rs, rv) = json_array(&case["resized"]);
        let got = out.tensor.into_data().try_to_vec::<f32>().unwrap();
        assert_close(&format!("resize {i}"), &got, &hwc_to_chw(&rs, &rv), 1e-5);
        if !case["preprocessed"].is_null() {
            cfg.pixel_mean = [123.68, 116.779, 103.939];
            let out = transform(std::slice::from_ref(&img), &cfg, min, &dev);
            let (ps, pv) = json_array(&case["preprocessed"]);
            let got = out.tensor.into_data().try_to_vec::<f32>().unwrap();
            let ps = if ps.len() == 4 { ps[1..].to_vec() } else { ps };
            assert_close(
                &format!("preprocess {i}"),
                &got,
                &hwc_to_chw(&ps, &pv),
                1e-5,
            );
        }
    }
}

#[test]
fn grid_anchors_match_od_api() {
    let fx = fixture();
    for (i, case) in fx["anchors"].as_array().unwrap().iter().enumerate() {
        let pair = |k: &str| {
            let v = f32s(&case[k]);
            [v[0], v[1]]
        };
        let generator = TfGridAnchors {
            scales: f32s(&case["scales"]),
            aspect_ratios: f32s(&case["aspect_ratios"]),
            base_size: pair("base_anchor_size"),
            stride: pair("anchor_stride"),
            offset: pair("anchor_offset"),
        };
        let grid = usizes(&case["grid"]);
        let got = generator.generate([grid[0], grid[1]]);
        let (_, expected) = json_array(&case["anchors"]);
        assert_close(
            &format!("anchors {i}"),
            &flat(&got),
            &flat(&yxyx_to_xyxy(&expected)),
            1e-6,
        );
    }
}

#[test]
fn box_coder_matches_od_api() {
    let fx = fixture();
    for (i, case) in fx["box_coder"].as_array().unwrap().iter().enumerate() {
        let scale = match &case["scale_factors"] {
            Value::Null => None,
            v => {
                let s = f32s(v);
                Some([s[0], s[1], s[2], s[3]])
            }
        };
        let coder = BoxCoder::tf_od_api(scale);
        let anchors = yxyx_to_xyxy(&json_array(&case["anchors"]).1);
        let boxes = yxyx_to_xyxy(&json_array(&case["boxes"]).1);
        // Our deltas are (dx, dy, dw, dh); the OD API's codes (ty, tx, th, tw).
        let encoded: Vec<f32> = boxes
            .iter()
            .zip(&anchors)
            .flat_map(|(b, a)| {
                let [dx, dy, dw, dh] = coder.encode(b, a);
                [dy, dx, dh, dw]
            })
            .collect();
        let (_, expected) = json_array(&case["encoded"]);
        assert_close(&format!("encode {i}"), &encoded, &expected, 1e-5);
        let (_, codes) = json_array(&case["rel_codes"]);
        let decode_anchors = yxyx_to_xyxy(&json_array(&case["decode_anchors"]).1);
        let decoded: Vec<[f32; 4]> = codes
            .chunks_exact(4)
            .zip(&decode_anchors)
            .map(|(c, a)| coder.decode(&[c[1], c[0], c[3], c[2]], a))
            .collect();
        let (_, expected) = json_array(&case["decoded"]);
        assert_close(
            &format!("decode {i}"),
            &flat(&decoded),
            &flat(&yxyx_to_xyxy(&expected)),
            1e-5,
        );
    }
}

/// The narrow TF-slim ResNet of the fixture, as a backbone config.
fn backbone_config(bb: &Value, output_stride: usize) -> BackboneConfig {
    let blocks = bb["blocks"].as_array().unwrap();
    let units: Vec<usize> = blocks
        .iter()
        .map(|b| b["num_units"].as_u64().unwrap() as usize)
        .collect();
    // block4 on the crops is the second stage's (narrowed) one.
    let block4 = bb["second_stage_block4"]["num_units"].as_u64().unwrap() as usize;
    BackboneConfig {
        blocks: Some([units[0], units[1], units[2], block4]),
        block: Some(BlockKind::Bottleneck),
        // TF-slim's root conv1 always has 64 outputs.
        stem_channels: 64,
        base_width: blocks[0]["base_depth"].as_u64().unwrap() as usize,
        norm_eps: bb["batch_norm_epsilon"].as_f64().unwrap() as f32,
        layout: ResNetLayout::TfSlim,
        output_stride,
        ..BackboneConfig::default()
    }
}

/// The checkpoint's variables as the importer converts them, those under `prefix` applied to
/// `module` (with the prefix removed).
fn load<M: Module>(module: M, checkpoint: &Path, prefix: &str) -> M {
    let converted = od_api::read(checkpoint).unwrap();
    let map = converted
        .tensors
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v)))
        .collect();
    let mut store = SafetensorsStore::from_bytes(Some(to_safetensors_bytes(&map).unwrap()))
        .with_from_adapter(PyTorchToBurnAdapter)
        .remap(torchvision_remapper())
        .allow_partial(true)
        .validate(false);
    let mut module = module;
    let result = module.load_from(&mut store).unwrap();
    assert!(
        result.missing.is_empty() && result.unused.is_empty() && result.errors.is_empty(),
        "missing {:?}, unused {:?}, errors {:?}",
        result.missing,
        result.unused,
        result.errors
    );
    module
}

fn nchw(v: &Value, dev: &Device) -> Tensor<4> {
    let (s, vals) = json_array(v);
    Tensor::<1>::from_floats(nhwc_to_nchw(&s, &vals).as_slice(), dev)
        .reshape([s[0], s[3], s[1], s[2]])
}

fn expected_nchw(v: &Value) -> Vec<f32> {
    let (s, vals) = json_array(v);
    nhwc_to_nchw(&s, &vals)
}

#[test]
fn tf_slim_resnet_matches_od_api() {
    let fx = fixture();
    let bb = &fx["backbone"];
    let checkpoint = dir().join(bb["checkpoint"].as_str().unwrap());
    let images = bb["images"].as_array().unwrap();
    let devs = devices();
    if devs.len() > 1 {
        gpu_time_limit();
    }
    for (dev_name, dev) in &devs {
        // The same weights at output stride 8 (the atrous config) and 16.
        for (key, stride) in [("backbone", 8), ("backbone_stride16", 16)] {
            assert_eq!(fx[key]["first_stage_features_stride"], stride);
            let net = load(
                ResNet::with_stages(&backbone_config(bb, stride), 3, dev).unwrap(),
                &checkpoint,
                "backbone.body.",
            );
            for (i, expected) in fx[key]["images"].as_array().unwrap().iter().enumerate() {
                let outs = net.forward_stages(nchw(&images[i]["input"], dev), 3);
                for (stage, out) in outs.into_iter().enumerate() {
                    let name = format!("block{}", stage + 1);
                    if expected[&name].is_null() {
                        continue;
                    }
                    let got = out.into_data().try_to_vec::<f32>().unwrap();
                    assert_close(
                        &format!("{dev_name} stride {stride} image {i} {name}"),
                        &got,
                        &expected_nchw(&expected[&name]),
                        1e-4,
                    );
                }
            }
        }
        // The box classifier's block4 on the crops (stride 1, no dilation), imported as
        // `roi_heads.res5`.
        let res5 = load(
            head_stage(&backbone_config(bb, 8), dev).unwrap(),
            &checkpoint,
            "roi_heads.res5.",
        );
        let mut x = nchw(&bb["crops"], dev);
        for block in &res5 {
            x = block.forward(x);
        }
        let got = x.into_data().try_to_vec::<f32>().unwrap();
        assert_close(
            &format!("{dev_name} block4"),
            &got,
            &expected_nchw(&bb["block4"]),
            1e-4,
        );
    }
}
