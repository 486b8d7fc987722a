//! Gradients on wgpu against flex for the two Burn 0.22.1 wgpu/cubecl backward bugs behind
//! issue 3 (wrong Mask R-CNN training gradients on wgpu), and for our workarounds:
//!
//! 1. `select_assign` with `IndexingUpdateOp::Add` (the backward of `select`) is wrong once the
//!    index tensor has 65,536 entries or more. Worked around by `host::select` (pieces of at
//!    most 65,535 indices), used by RoIAlign and the RPN loss.
//! 2. The im2col conv backward kernels ignore the batch stride of an NHWC gradient view
//!    (`reshape_input` in burn-cubecl's `kernel/conv/im2col.rs`). Worked around in
//!    `mrcnn_rpn::loss::rpn_loss` (test: `crates/rpn/tests/wgpu_grads.rs`).
//!
//! The `burn_*` tests check Burn itself and are ignored while the bugs last: when one passes
//! (`cargo test --release -p mrcnn-core --test wgpu_grads -- --ignored`), its workaround can go.
//! Everything skips (printing why) without a wgpu adapter or with `MRCNN_TEST_WGPU=0`.

use burn::prelude::*;
use burn::tensor::IndexingUpdateOp;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use mrcnn_core::host;
use mrcnn_core::roi_align::{Roi, RoiAlignParams, roi_align_tensor_ops};
use mrcnn_testing::devices;

fn wgpu() -> Option<Device> {
    devices()
        .into_iter()
        .find(|(n, _)| *n == "wgpu")
        .map(|(_, d)| d)
}

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

/// Runs `f` on flex and on wgpu and asserts every returned vector agrees to `1e-5` of its scale.
fn assert_same_on_wgpu(what: &str, f: impl Fn(&Device) -> Vec<Vec<f32>>) {
    let Some(wgpu) = wgpu() else {
        return; // `devices` printed why
    };
    let expected = f(&Device::flex());
    let got = f(&wgpu);
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        let scale = e.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let worst = g
            .iter()
            .zip(e)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        eprintln!("{what} [{i}]: max |wgpu - flex| {worst:.3e} (scale {scale:.3e})");
        assert!(
            worst <= 1e-5 * scale,
            "{what} [{i}]: wgpu differs from flex"
        );
    }
}

/// Forward and gradient of `sum(coef * x.select(0, idx))` with `m` (repeating) indices, through
/// `host::select` or Burn's `select`.
fn select_grad(device: &Device, m: usize, ours: bool) -> Vec<Vec<f32>> {
    let d = device.clone().autodiff();
    let len = 5120;
    let x = host::tensor(values(len, 1), [len], &d).require_grad();
    let idx: Vec<usize> = (0..m).map(|i| (i * 7919) % len).collect();
    let y = if ours {
        host::select(x.clone(), 0, &idx)
    } else {
        x.clone().select(0, host::indices(&idx, &d))
    };
    let forward = host::to_vec(y.clone().detach());
    let g = (y * host::tensor(values(m, 2), [m], &d)).sum().backward();
    vec![forward, host::to_vec(x.grad(&g).unwrap())]
}

#[test]
fn select_gradient_with_many_indices() {
    for m in [1000, 65_535, 65_536, 150_000] {
        assert_same_on_wgpu(&format!("host::select, {m} indices"), |d| {
            select_grad(d, m, true)
        });
    }
}

/// RoIAlign on a P2-sized map with enough boxes that the gather takes more than 65,535
/// columns (100 boxes x 7 x 7 bins x 4 corners x 4 samples): its backward was wrong on wgpu.
#[test]
fn roi_align_gradient_with_many_boxes() {
    for (k, res) in [(100usize, 7usize), (40, 14)] {
        assert_same_on_wgpu(&format!("RoIAlign, {k} boxes, {res}x{res}"), |device| {
            let d = device.clone().autodiff();
            let (n, c, h, w) = (2, 32, 40, 64);
            let x = host::tensor(values(n * c * h * w, 3), [n, c, h, w], &d).require_grad();
            let r = values(4 * k, 4);
            let rois: Vec<Roi> = (0..k)
                .map(|i| {
                    let x0 = (r[4 * i] + 1.0) * 60.0;
                    let y0 = (r[4 * i + 1] + 1.0) * 40.0;
                    let bw = 10.0 + (r[4 * i + 2] + 1.0) * 50.0;
                    let bh = 10.0 + (r[4 * i + 3] + 1.0) * 30.0;
                    (i % 2, [x0, y0, x0 + bw, y0 + bh])
                })
                .collect();
            let p = RoiAlignParams {
                output: [res, res],
                spatial_scale: 0.25,
                sampling_ratio: 2,
                aligned: false,
            };
            let pooled = roi_align_tensor_ops(x.clone(), &rois, &p);
            let coef = host::tensor(values(k * c * res * res, 5), [k, c, res, res], &d);
            let forward = host::to_vec(pooled.clone().detach());
            let g = (pooled * coef).sum().backward();
            vec![forward, host::to_vec(x.grad(&g).unwrap())]
        });
    }
}

/// Burn bug 1: `select_assign(.., IndexingUpdateOp::Add)` with 65,536 indices (no autodiff
/// involved). On lavapipe 65,535 indices are exact, 65,536 are not.
#[test]
#[ignore = "Burn 0.22.1 wgpu bug (select_assign with >= 65,536 indices); worked around by host::select"]
fn burn_select_assign_with_65536_indices() {
    assert_same_on_wgpu("select_assign, 65,536 indices", |d| {
        let (len, m) = (5120, 65_536);
        let idx: Vec<usize> = (0..m).map(|i| (i * 7919) % len).collect();
        let out = Tensor::<1>::zeros([len], d).select_assign(
            0,
            host::indices(&idx, d),
            host::tensor(values(m, 2), [m], d),
            IndexingUpdateOp::Add,
        );
        vec![host::to_vec(out)]
    });
    assert_same_on_wgpu("select backward, 65,536 indices", |d| {
        select_grad(d, 65_536, false)
    });
}

/// Burn bug 2: the gradient of a 1x1 conv whose output is permuted to NHWC, flattened per image
/// and concatenated along dim 1 with another tensor. The cat backward gives the conv an output
/// gradient that is an NHWC view `[2, 3, 4, 3]` with batch stride 156 instead of 36, and the
/// im2col weight/data-gradient kernels read it as if the batch stride were 36.
#[test]
#[ignore = "Burn 0.22.1 wgpu bug (im2col conv backward ignores the batch stride); worked around in rpn_loss"]
fn burn_conv_backward_with_batch_strided_gradient() {
    assert_same_on_wgpu("1x1 conv, NHWC batch-strided gradient", |device| {
        let d = device.clone().autodiff();
        let (n, c, a, h, w, extra) = (2, 32, 3, 3, 4, 120);
        let x = host::tensor(values(n * c * h * w, 6), [n, c, h, w], &d).require_grad();
        let weight = host::tensor(values(a * c, 7), [a, c, 1, 1], &d).require_grad();
        let other = host::tensor(values(n * extra, 8), [n, extra], &d).require_grad();
        let o = conv2d(
            x.clone(),
            weight.clone(),
            None,
            ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        );
        let flat = Tensor::cat(
            vec![o.permute([0, 2, 3, 1]).reshape([n, h * w * a]), other],
            1,
        );
        let coef = host::tensor(
            values(n * (h * w * a + extra), 9),
            [n, h * w * a + extra],
            &d,
        );
        let g = (flat * coef).sum().backward();
        vec![
            host::to_vec(weight.grad(&g).unwrap()),
            host::to_vec(x.grad(&g).unwrap()),
        ]
    });
}
