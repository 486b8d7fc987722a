//! Times single convolutions of Mask R-CNN's shapes on the CPU (flex) through
//! `mrcnn_core::conv::conv2d` ("mrcnn") and through Burn's `Conv2d::forward` ("burn"), one after
//! the other: the forward, the backward with the weight gradient only (a frozen input, as the
//! first trainable layer sees), and with the input gradient too, as GFLOP/s of the matrix
//! products they amount to. BENCHMARKS.md ("Training step") reads its numbers.
//!
//! ```sh
//! cargo build --release --workspace --example conv_bench && ./target/release/examples/conv_bench [SHAPE]
//! ```
//! With `SHAPE` (0-4), only that row of the table below is timed.
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2dConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use std::time::Instant;

fn main() {
    let device = Device::flex().autodiff();
    let only: Option<usize> = std::env::args().nth(1).and_then(|a| a.parse().ok());
    for (index, (c, hw, n, k)) in [
        (256usize, 32usize, 1usize, 3usize),
        (128, 64, 1, 3),
        (512, 16, 1, 3),
        (256, 14, 128, 3),
        (256, 32, 1, 1),
    ]
    .into_iter()
    .enumerate()
    {
        if only.is_some_and(|o| o != index) {
            continue;
        }
        let conv = Conv2dConfig::new([c, c], [k, k])
            .with_padding(PaddingConfig2d::Explicit(k / 2, k / 2, k / 2, k / 2))
            .with_bias(false)
            .init(&device);
        let x = Tensor::<4>::random([n, c, hw, hw], Distribution::Normal(0.0, 1.0), &device);
        let flops = 2.0 * (c * c * k * k * hw * hw * n) as f64;
        for (req, path) in [
            (false, "burn"),
            (false, "mrcnn"),
            (true, "burn"),
            (true, "mrcnn"),
        ] {
            let x = if req {
                x.clone().require_grad()
            } else {
                x.clone()
            };
            let mut tf = 0.0;
            let mut tb = 0.0;
            for it in 0..3 {
                let t0 = Instant::now();
                let y = if path == "burn" {
                    conv.forward(x.clone())
                } else {
                    mrcnn_core::conv::conv2d(&conv, x.clone())
                };
                let _ = y.clone().sum().into_scalar::<f32>();
                let t1 = Instant::now();
                let g = y.sum().backward();
                let _ = conv
                    .weight
                    .val()
                    .grad(&g)
                    .unwrap()
                    .sum()
                    .into_scalar::<f32>();
                let t2 = Instant::now();
                if it > 0 {
                    tf += (t1 - t0).as_secs_f64() / 2.0;
                    tb += (t2 - t1).as_secs_f64() / 2.0;
                }
            }
            println!(
                "{path:5} c {c} hw {hw} n {n} k {k} x_grad {req}: fwd {:.1} ms ({:.0} GF/s), bwd {:.1} ms ({:.0} GF/s per gemm-equivalent)",
                tf * 1e3,
                flops / tf / 1e9,
                tb * 1e3,
                flops * if req { 2.0 } else { 1.0 } / tb / 1e9
            );
        }
    }
}
