//! `SgdSettings` against torch's SGD formulas, computed by hand on a tiny module:
//! `d = g + wd p; buf = m buf + d (buf = d first); p -= lr buf`, the bias group without decay,
//! and `clip_grad_norm` as torch's `clip_grad_norm_`.

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::prelude::*;
use mrcnn_core::host;
use mrcnn_train::{SgdSettings, clip_grad_norm, sgd_step};

#[derive(Module, Debug)]
struct Net {
    fc: Linear,
}

fn net(device: &Device) -> Net {
    let mut fc = LinearConfig::new(2, 1).init(device);
    fc.weight = Param::from_tensor(host::tensor(vec![0.5, -1.0], [2, 1], device));
    fc.bias = Some(Param::from_tensor(host::tensor(vec![0.25], [1], device)));
    Net { fc }
}

/// loss = sum(fc(x)) with x = [1, 2]: d/dw = x, d/db = 1 whatever the weights.
fn grads(n: &Net, device: &Device) -> GradientsParams {
    let x = host::tensor(vec![1.0, 2.0], [1, 2], device);
    GradientsParams::from_grads(n.fc.forward(x).sum().backward(), n)
}

fn values(n: &Net) -> (Vec<f32>, f32) {
    let b =
        n.fc.bias
            .as_ref()
            .map(|b| host::to_vec(b.val())[0])
            .unwrap();
    (host::to_vec(n.fc.weight.val()), b)
}

/// Two torch SGD steps of one scalar parameter.
fn torch_sgd(p0: f32, g: f32, lrs: [f32; 2], m: f32, wd: f32) -> f32 {
    let mut p = p0;
    let mut buf = None;
    for lr in lrs {
        let d = g + wd * p;
        let b = match buf {
            None => d,
            Some(b) => m * b + d,
        };
        buf = Some(b);
        p -= lr * b;
    }
    p
}

#[test]
fn matches_torch_sgd_with_momentum_and_decay() {
    let d = Device::flex().autodiff();
    let settings = SgdSettings {
        momentum: 0.9,
        weight_decay: 0.1,
        weight_decay_norm_bias: Some(0.0),
        clip_grad_norm: None,
    };
    let mut optim = settings.build();
    let mut n = net(&d);
    let lrs = [0.1f32, 0.2];
    for lr in lrs {
        let g = grads(&n, &d);
        n = sgd_step(&settings, &mut optim, n, g, lr as f64);
    }
    let (w, b) = values(&n);
    let ew = [
        torch_sgd(0.5, 1.0, lrs, 0.9, 0.1),
        torch_sgd(-1.0, 2.0, lrs, 0.9, 0.1),
    ];
    let eb = torch_sgd(0.25, 1.0, lrs, 0.9, 0.0);
    for (a, e) in w.iter().zip(ew) {
        assert!((a - e).abs() < 1e-6, "weight {a} vs torch {e}");
    }
    assert!((b - eb).abs() < 1e-6, "bias (no decay) {b} vs torch {eb}");
}

#[test]
fn clips_the_global_norm() {
    let d = Device::flex().autodiff();
    let n = net(&d);
    // Gradients (1, 2) and 1: global norm sqrt(6).
    let (g, total) = clip_grad_norm(&n, grads(&n, &d), 1.0);
    assert!((total - 6f32.sqrt()).abs() < 1e-6);
    let gw = host::to_vec(g.get::<2>(n.fc.weight.id).unwrap());
    let coef = 1.0 / (6f32.sqrt() + 1e-6);
    assert!(
        (gw[0] - coef).abs() < 1e-6 && (gw[1] - 2.0 * coef).abs() < 1e-6,
        "{gw:?}"
    );
    // A large bound leaves them alone.
    let (g, _) = clip_grad_norm(&n, grads(&n, &d), 100.0);
    assert_eq!(
        host::to_vec(g.get::<2>(n.fc.weight.id).unwrap()),
        vec![1.0, 2.0]
    );
}
