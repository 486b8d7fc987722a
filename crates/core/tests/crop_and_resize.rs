//! `crop_and_resize` against TensorFlow's `tf.image.crop_and_resize` (bilinear):
//! forward values and the gradient with respect to the image, on flex and on wgpu
//! (fixture: `tools/reference/make_crop_and_resize_fixtures.py`).

use std::path::Path;

use burn::prelude::*;
use mrcnn_core::crop_and_resize::crop_and_resize;
use mrcnn_testing::{assert_close, devices, gpu_time_limit, json_array as values, nhwc_to_nchw};
use serde_json::Value;

#[test]
fn crop_and_resize_matches_tensorflow() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/crop_and_resize.json");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let devs = devices();
    if devs.len() > 1 {
        gpu_time_limit();
    }
    for (dev_name, dev) in devs {
        let dev = dev.autodiff();
        for case in fx["cases"].as_array().unwrap() {
            let name = format!("{dev_name} {}", case["name"].as_str().unwrap());
            let (is, iv) = values(&case["image"]);
            let image = Tensor::<1>::from_floats(nhwc_to_nchw(&is, &iv).as_slice(), &dev)
                .reshape([is[0], is[3], is[1], is[2]])
                .require_grad();
            let boxes: Vec<(usize, [f32; 4])> = case["boxes"]
                .as_array()
                .unwrap()
                .iter()
                .zip(case["box_indices"].as_array().unwrap())
                .map(|(b, i)| {
                    let b: Vec<f32> = b
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                        .collect();
                    (i.as_u64().unwrap() as usize, [b[0], b[1], b[2], b[3]])
                })
                .collect();
            let crop = case["crop"].as_array().unwrap();
            let size = [
                crop[0].as_u64().unwrap() as usize,
                crop[1].as_u64().unwrap() as usize,
            ];
            let extrapolation = case["extrapolation"].as_f64().unwrap() as f32;
            let out = crop_and_resize(image.clone(), &boxes, size, extrapolation);
            let (os, ov) = values(&case["output"]);
            assert_eq!(out.dims(), [os[0], os[3], os[1], os[2]], "{name}: shape");
            let got: Vec<f32> = out.clone().into_data().try_to_vec::<f32>().unwrap();
            assert_close(
                &format!("{name}: output"),
                &got,
                &nhwc_to_nchw(&os, &ov),
                1e-5,
            );
            let (us, uv) = values(&case["upstream"]);
            let up = Tensor::<1>::from_floats(nhwc_to_nchw(&us, &uv).as_slice(), &dev)
                .reshape([us[0], us[3], us[1], us[2]]);
            let grads = (out * up).sum().backward();
            let g: Vec<f32> = image
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let (gs, gv) = values(&case["grad_image"]);
            assert_close(
                &format!("{name}: gradient"),
                &g,
                &nhwc_to_nchw(&gs, &gv),
                1e-5,
            );
        }
    }
}
