//! Times one Mask R-CNN training step (training forward with 3 target instances, backward, SGD
//! with momentum 0.9 and weight decay 1e-4) of ResNet-101-FPN (91 classes, random weights) on one
//! image, 1 warm-up + median of `--repeats`, and reports the peak RSS: the Rust side of
//! `tools/reference/bench_torchvision.py --train`.
//!
//! As the torch script, the frozen batch norm statistics are set to each layer's input statistics
//! on the benchmark image first (random weights with identity statistics overflow in 101 layers),
//! and the batch-norm epsilon is torchvision's 1e-5. The optimiser is `mrcnn-train`'s
//! (`mrcnn_core::sgd::MomentumSgd`) with its default settings (its `sgd_step` adds only optional
//! gradient clipping).
//!
//! ```sh
//! cargo build --release --workspace --example bench_train_step
//! ./target/release/examples/bench_train_step [--repeats 3] [--size 512|800x1216] [--device cpu|wgpu] [--lr 1e-4]
//! ```

use burn::module::Param;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use mrcnn_backbone::FrozenBatchNorm2d;
use mrcnn_backbone::resnet::Block;
use mrcnn_config::ModelConfig;
use mrcnn_core::host;
use mrcnn_core::rand::{Rng, SeedableRng};
use mrcnn_core::rand_chacha::ChaCha8Rng;
use mrcnn_core::sgd::MomentumSgd;
use mrcnn_model::MaskRcnn;
use mrcnn_model::targets::TrainTarget;
use mrcnn_model::transform::ImageInput;
use std::path::Path;
use std::time::Instant;

/// The value after `name` in `args`, or `default`.
fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_string())
}

/// Sets the statistics of `bn` to those of its input `x` (biased variance, as the torch script).
fn calibrate(bn: &mut FrozenBatchNorm2d, x: &Tensor<4>) {
    let c = x.dims()[1];
    let flat: Tensor<2> = x.clone().detach().swap_dims(0, 1).flatten(1, 3);
    let mean = flat.clone().mean_dim(1);
    let var = (flat - mean.clone()).square().mean_dim(1);
    bn.running_mean = Param::from_tensor(mean.reshape([c])).set_require_grad(false);
    bn.running_var = Param::from_tensor(var.reshape([c])).set_require_grad(false);
}

fn calibrated_block(b: &mut Block, x: Tensor<4>) -> Tensor<4> {
    let identity = match &mut b.downsample {
        Some(d) => {
            let y = d.conv.forward(x.clone());
            calibrate(&mut d.bn, &y);
            d.bn.forward(y)
        }
        None => x.clone(),
    };
    let y = b.conv1.forward(x);
    calibrate(&mut b.bn1, &y);
    let y = b.conv2.forward(relu(b.bn1.forward(y)));
    calibrate(&mut b.bn2, &y);
    let mut out = b.bn2.forward(y);
    if let (Some(c3), Some(b3)) = (&b.conv3, &mut b.bn3) {
        let y = c3.forward(relu(out));
        calibrate(b3, &y);
        out = b3.forward(y);
    }
    relu(out + identity).detach()
}

fn calibrate_backbone(model: &mut MaskRcnn, image: &ImageInput) {
    let batch = model.transform(std::slice::from_ref(image));
    let body = &mut model.backbone.body;
    let y = body.conv1.forward(batch.tensor);
    calibrate(&mut body.bn1, &y);
    let mut x = max_pool2d(
        relu(body.bn1.forward(y)),
        MaxPoolOptions::new([3, 3])
            .with_stride([2, 2])
            .with_padding([1, 1]),
    );
    for layer in [
        &mut body.layer1,
        &mut body.layer2,
        &mut body.layer3,
        &mut body.layer4,
    ] {
        for block in layer.iter_mut() {
            x = calibrated_block(block, x);
        }
    }
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("{}", run(&args));
}

/// `args`: `[--repeats N] [--size S|HxW] [--device D] [--lr LR] [--config MODEL.toml]`; returns
/// the JSON line. (Also run by the GPU check's binary, `crates/model/tests/gpu_check.rs`.)
pub fn run(args: &[String]) -> String {
    let repeats: usize = arg(args, "--repeats", "3")
        .parse()
        .expect("--repeats: a number");
    let size = arg(args, "--size", "512");
    let (h, w): (usize, usize) = match size.split_once('x') {
        Some((h, w)) => (
            h.parse().expect("--size HxW"),
            w.parse().expect("--size HxW"),
        ),
        None => {
            let s = size.parse().expect("--size: a number or HxW");
            (s, s)
        }
    };
    let device_name = arg(args, "--device", "cpu");
    let lr: f64 = arg(args, "--lr", "1e-4").parse().expect("--lr: a number");
    let cfg_path = arg(
        args,
        "--config",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../model_configs/mask_rcnn_R_101_FPN.toml"
        ),
    );
    let mut cfg = ModelConfig::load(Path::new(&cfg_path)).unwrap_or_else(|e| panic!("{e}"));
    // The torch script's sizes, for which neither side resizes the image.
    let (min, max) = if (h, w) == (800, 1216) {
        (800, 1333)
    } else {
        (h.min(w), h.max(w))
    };
    cfg.input.min_size = vec![min];
    cfg.input.max_size = max;
    cfg.backbone.norm_eps = 1e-5;

    let device = mrcnn_core::device_by_name(&device_name)
        .unwrap_or_else(|e| panic!("{e}"))
        .autodiff();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let image = ImageInput {
        data: (0..3 * h * w).map(|_| rng.random::<f32>()).collect(),
        height: h,
        width: w,
    };
    let fr = |f: f32, n: usize| f * n as f32;
    let boxes = [
        [fr(0.10, w), fr(0.10, h), fr(0.45, w), fr(0.50, h)],
        [fr(0.50, w), fr(0.20, h), fr(0.90, w), fr(0.60, h)],
        [fr(0.20, w), fr(0.55, h), fr(0.70, w), fr(0.95, h)],
    ];
    let masks = boxes
        .iter()
        .map(|b| {
            let r = b.map(|v| v.round_ties_even() as usize);
            (0..h * w)
                .map(|i| ((r[1]..r[3]).contains(&(i / w)) && (r[0]..r[2]).contains(&(i % w))) as u8)
                .collect()
        })
        .collect();
    let target = TrainTarget {
        boxes: boxes.to_vec(),
        labels: vec![1, 2, 3],
        masks,
    };

    let mut model = MaskRcnn::new(cfg, &device).unwrap_or_else(|e| panic!("{e}"));
    calibrate_backbone(&mut model, &image);
    let mut model = model.freeze_backbone_stages();
    let mut optim = MomentumSgd {
        momentum: 0.9,
        weight_decay: 1e-4,
    }
    .init();
    let mut times = Vec::new();
    let mut last = [("", 0.0f32); 5];
    for i in 0..=repeats {
        let t0 = Instant::now();
        let losses = model
            .forward_train(
                std::slice::from_ref(&image),
                std::slice::from_ref(&target),
                &mut rng,
            )
            .unwrap();
        let grads = GradientsParams::from_grads(losses.total().backward(), &model);
        model = optim.step(lr, model, grads);
        // Wait for the update to be computed (one parameter read) before stopping the clock.
        let _ = host::to_vec(
            model
                .roi_heads
                .box_predictor
                .cls_score
                .bias
                .as_ref()
                .map(|b| b.val())
                .unwrap(),
        );
        let dt = t0.elapsed().as_secs_f64();
        last = losses.values();
        eprintln!("step {i}: {dt:.3} s {last:?}");
        if i > 0 {
            times.push(dt);
        }
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        f64::NAN
    } else {
        sorted[sorted.len() / 2]
    };
    let loss: f32 = last.iter().map(|(_, v)| v).sum();
    format!(
        "{{\"impl\": \"mrcnn\", \"model\": \"maskrcnn_resnet101_fpn\", \"mode\": \"train\", \"device\": \"{device_name}\", \"size\": \"{h}x{w}\", \
         \"repeats\": {repeats}, \"loss\": {loss}, \"lr\": {lr}, \"times_s\": {times:?}, \"median_s\": {median:.4}, \
         \"peak_rss_mb\": {:.1}}}",
        peak_rss_mb()
    )
}
