//! Regression test of issue 3: the RPN losses' gradients (head weights and input features) are
//! the same on wgpu as on flex. Before the fix `rpn_loss` concatenated the levels along dim 1
//! into `[N, M]`, and Burn 0.22.1's cubecl im2col conv backward read the resulting batch-strided
//! NHWC gradient views wrongly (see the comment in `rpn_loss`): here the head's `conv` weight
//! gradient and the feature gradients were off by 30-80% of their scale (which weights are hit
//! depends on the conv kernel autotune picks).
//! Skips (printing why) without a wgpu adapter, like every wgpu test (`MRCNN_TEST_WGPU=0` too).

use burn::module::Module;
use burn::prelude::*;
use mrcnn_config::{AnchorConfig, RpnConfig};
use mrcnn_core::rand::SeedableRng;
use mrcnn_core::{BoxXyxy, host};
use mrcnn_rpn::Rpn;
use mrcnn_rpn::loss::rpn_loss;
use mrcnn_testing::devices;

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Two images of 40x64, two levels (strides 4 and 8), 32 channels, 3 anchors per location.
const LEVELS: [[usize; 2]; 2] = [[10, 16], [5, 8]];
const CHANNELS: usize = 32;

fn anchor_config() -> AnchorConfig {
    AnchorConfig {
        sizes: vec![vec![16.0], vec![32.0]],
        ..AnchorConfig::default()
    }
}

/// Both losses and the gradients of the head's weights and of every level's features.
fn losses_and_grads(rpn: &Rpn, device: &Device) -> Vec<(String, Vec<f32>)> {
    let features: Vec<Tensor<4>> = LEVELS
        .iter()
        .enumerate()
        .map(|(l, &[h, w])| {
            host::tensor(
                values(2 * CHANNELS * h * w, 10 + l as u64),
                [2, CHANNELS, h, w],
                device,
            )
            .require_grad()
        })
        .collect();
    let out = rpn.forward(&features, [40, 64], &anchor_config());
    let gt: Vec<Vec<BoxXyxy>> = vec![
        vec![[4.0, 6.0, 20.0, 30.0], [30.0, 2.0, 60.0, 20.0]],
        vec![[10.0, 10.0, 42.0, 34.0]],
    ];
    // Every anchor is sampled, so nothing depends on the random draw.
    let cfg = RpnConfig {
        batch_size_per_image: 1_000_000,
        positive_fraction: 1.0,
        ..RpnConfig::default()
    };
    let mut rng = mrcnn_core::rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let l = rpn_loss(&out, &gt, &cfg, &mut rng).unwrap();
    let mut result = vec![
        (
            "loss_objectness".into(),
            host::to_vec(l.objectness.clone().detach()),
        ),
        (
            "loss_rpn_box_reg".into(),
            host::to_vec(l.box_reg.clone().detach()),
        ),
    ];
    let grads = (l.objectness + l.box_reg).backward();
    let h = &rpn.head;
    for (name, w) in [
        ("conv.weight", h.conv.weight.val()),
        ("cls_logits.weight", h.cls_logits.weight.val()),
        ("bbox_pred.weight", h.bbox_pred.weight.val()),
    ] {
        result.push((
            format!("grad {name}"),
            host::to_vec(w.grad(&grads).unwrap()),
        ));
    }
    for (i, f) in features.iter().enumerate() {
        result.push((
            format!("grad feature {i}"),
            host::to_vec(f.grad(&grads).unwrap()),
        ));
    }
    result
}

#[test]
fn rpn_loss_gradients_match_flex_on_wgpu() {
    let Some((_, wgpu)) = devices().into_iter().find(|(n, _)| *n == "wgpu") else {
        return; // `devices` printed why
    };
    let flex = Device::flex().autodiff();
    let rpn = Rpn::new(CHANNELS, &anchor_config(), &flex);
    // Initialise the (lazy) parameters on flex so that both devices use the same values.
    let w = host::to_vec(rpn.head.cls_logits.weight.val());
    let wgpu = wgpu.autodiff();
    let on_wgpu = rpn.clone().fork(&wgpu);
    assert_eq!(host::to_vec(on_wgpu.head.cls_logits.weight.val()), w);

    let expected = losses_and_grads(&rpn, &flex);
    let got = losses_and_grads(&on_wgpu, &wgpu);
    let mut bad = Vec::new();
    for ((name, g), (_, e)) in got.iter().zip(&expected) {
        let scale = e.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let worst = g
            .iter()
            .zip(e)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!(
            "{name}: max |wgpu - flex| {worst:.3e} (relative {:.2e})",
            worst / scale
        );
        // NaN fails too.
        if worst.is_nan() || worst > 1e-4 * scale {
            bad.push(name.clone());
        }
    }
    assert!(bad.is_empty(), "wgpu differs from flex in: {bad:?}");
}
