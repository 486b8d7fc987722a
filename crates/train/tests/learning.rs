//! The model learns: 100 SGD steps on four synthetic images (filled rectangles and ellipses of
//! two classes on a noisy background) lower the total loss of a freshly initialised small Mask
//! R-CNN by a clear margin, on flex.
//!
//! Runs in well under two minutes in release: `cargo test --release -p mrcnn-train --test learning`.

use burn::prelude::*;
use mrcnn_config::ModelConfig;
use mrcnn_core::rand::{Rng, SeedableRng};
use mrcnn_core::rand_chacha::ChaCha8Rng;
use mrcnn_model::Detector;
use mrcnn_model::targets::TrainTarget;
use mrcnn_model::transform::ImageInput;
use mrcnn_train::{Decay, SgdSettings, WarmupLr, train_step};
use std::path::Path;

const SIDE: usize = 96;

fn tiny_config() -> ModelConfig {
    let text = r#"
num_classes = 3
[input]
min_size = [96]
max_size = 96
[backbone]
blocks = [1, 1, 1, 1]
stem_channels = 16
base_width = 8
[fpn]
out_channels = 32
[roi_heads]
representation_size = 64
batch_size_per_image = 128
[rpn]
batch_size_per_image = 128
[mask_head]
conv_dims = [16, 16]
predictor_dim = 16
"#;
    ModelConfig::from_toml_str(text, Path::new("learning.toml")).unwrap()
}

/// One image with two non-overlapping objects: a rectangle (class 1) and an ellipse (class 2).
fn synthetic(rng: &mut ChaCha8Rng) -> (ImageInput, TrainTarget) {
    let n = SIDE * SIDE;
    let bg: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.2..0.5));
    let mut data: Vec<f32> = (0..3 * n)
        .map(|i| bg[i / n] + rng.random_range(-0.05..0.05))
        .collect();
    let mut target = TrainTarget::default();
    // Left half and right half, so the two never overlap.
    for (label, x_off) in [(1usize, 4usize), (2, SIDE / 2 + 2)] {
        let w = rng.random_range(20..40);
        let h = rng.random_range(20..60);
        let x0 = x_off + rng.random_range(0..SIDE / 2 - 6 - w);
        let y0 = rng.random_range(2..SIDE - h - 2);
        let mut mask = vec![0u8; n];
        let (cx, cy) = (x0 as f32 + w as f32 / 2.0, y0 as f32 + h as f32 / 2.0);
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                let inside = label == 1 || {
                    let dx = (x as f32 + 0.5 - cx) / (w as f32 / 2.0);
                    let dy = (y as f32 + 0.5 - cy) / (h as f32 / 2.0);
                    dx * dx + dy * dy <= 1.0
                };
                if inside {
                    mask[y * SIDE + x] = 1;
                }
            }
        }
        let colour = if label == 1 {
            [0.9, 0.2, 0.1]
        } else {
            [0.1, 0.3, 0.9]
        };
        for (c, &v) in colour.iter().enumerate() {
            for (i, &m) in mask.iter().enumerate() {
                if m != 0 {
                    data[c * n + i] = v;
                }
            }
        }
        let (mut x1, mut y1, mut x2, mut y2) = (SIDE, SIDE, 0, 0);
        for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m != 0) {
            let (x, y) = (i % SIDE, i / SIDE);
            (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x + 1), y2.max(y + 1));
        }
        target
            .boxes
            .push([x1 as f32, y1 as f32, x2 as f32, y2 as f32]);
        target.labels.push(label);
        target.masks.push(mask);
    }
    (
        ImageInput {
            data,
            height: SIDE,
            width: SIDE,
        },
        target,
    )
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

#[test]
fn hundred_steps_lower_the_loss() {
    let device = Device::flex().autodiff();
    let mut model = Detector::new(tiny_config(), &device)
        .unwrap()
        .freeze_backbone_stages();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let data: Vec<(ImageInput, TrainTarget)> = (0..4).map(|_| synthetic(&mut rng)).collect();
    let settings = SgdSettings {
        clip_grad_norm: Some(10.0),
        ..SgdSettings::default()
    };
    let mut optim = settings.build();
    let mut sched = WarmupLr::new(
        0.02,
        10,
        0.1,
        Decay::MultiStep {
            milestones: vec![80],
            gamma: 0.1,
        },
    );
    let mut totals = Vec::new();
    let start = std::time::Instant::now();
    for step in 0..100 {
        let pair = &data[2 * (step % 2)..2 * (step % 2) + 2];
        let images: Vec<ImageInput> = pair.iter().map(|p| p.0.clone()).collect();
        let targets: Vec<TrainTarget> = pair.iter().map(|p| p.1.clone()).collect();
        let lr = burn::lr_scheduler::LrScheduler::step(&mut sched);
        let (m, out) = train_step(
            model, &mut optim, &settings, &images, &targets, lr, &mut rng,
        );
        model = m;
        let out = out.unwrap();
        assert!(out.total.is_finite(), "step {step}: loss {:?}", out.losses);
        if step % 10 == 0 {
            eprintln!(
                "step {step:3} lr {lr:.4} total {:.4} {:?}",
                out.total, out.losses
            );
        }
        totals.push(out.total);
    }
    let (first, last) = (mean(&totals[..10]), mean(&totals[90..]));
    eprintln!(
        "mean total loss: first 10 steps {first:.4}, last 10 {last:.4} ({:.1?})",
        start.elapsed()
    );
    assert!(
        last < 0.6 * first,
        "the loss did not drop enough: {first} -> {last}"
    );
}
