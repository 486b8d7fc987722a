//! SGD with momentum as torch's `torch.optim.SGD` (dampening 0, no Nesterov), as a Burn
//! [`Optimizer`]: `g' = g + wd * p` (L2 weight decay added to the gradient), `v' = m * v + g'`
//! (the first step `v' = g'`), `p' = p - lr * v'`.
//!
//! Burn's own `Sgd` computes the same with six tensor ops per parameter; on the CPU backend this
//! one runs a single fused parallel pass (`sgd_flex.rs` says why), on other backends the same
//! formula with Burn's ops. Its state is stored under the names Burn's `Sgd` uses
//! (`{param}.momentum.velocity`), so checkpoints written with either load with the other.

use crate::sgd_flex::{self, Update};
use burn::optim::{
    LearningRate, ModuleOptimizer, Optimizer, RecordState, StateSink, StateSource, join_path,
};
use burn::prelude::*;

/// The optimiser: momentum and weight decay (0 turns either off).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MomentumSgd {
    pub momentum: f32,
    pub weight_decay: f32,
}

impl MomentumSgd {
    /// The optimiser for a whole module (Burn's `ModuleOptimizer`, which keeps the state per
    /// parameter and takes further parameter groups).
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

/// The state of one parameter: its velocity, when there is momentum.
#[derive(Clone)]
pub struct SgdState<const D: usize> {
    pub velocity: Option<Tensor<D>>,
}

/// Where Burn's `SgdState` keeps the velocity, below the parameter's prefix.
const MOMENTUM: &str = "momentum";
const VELOCITY: &str = "velocity";

impl<const D: usize> RecordState for SgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(
                &join_path(prefix, MOMENTUM),
                VELOCITY,
                v.clone().into_data(),
            );
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let path = join_path(prefix, MOMENTUM);
        let velocity = if src.has_under(&path) {
            Some(Tensor::from_data(src.take_tensor(&path, VELOCITY)?, device))
        } else {
            None
        };
        Some(Self { velocity })
    }
}

impl Optimizer for MomentumSgd {
    type State<const D: usize> = SgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        param: Tensor<D>,
        grad: Tensor<D>,
        state: Option<SgdState<D>>,
    ) -> (Tensor<D>, Option<SgdState<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        let u = Update {
            lr: lr as f32,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
        };
        let (param, velocity) = if sgd_flex::applies(&param, &grad, velocity.as_ref()) {
            sgd_flex::step(param, grad, velocity, u)
        } else {
            burn_ops(param, grad, velocity, u)
        };
        (param, Some(SgdState { velocity }))
    }

    fn to_device<const D: usize>(state: SgdState<D>, device: &Device) -> SgdState<D> {
        SgdState {
            velocity: state.velocity.map(|v| v.to_device(device)),
        }
    }
}

/// The update with Burn's ops, in the order of Burn's `Sgd` (and of `sgd_flex`).
fn burn_ops<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    velocity: Option<Tensor<D>>,
    u: Update,
) -> (Tensor<D>, Option<Tensor<D>>) {
    let mut d = grad;
    if u.weight_decay > 0.0 {
        d = param.clone().mul_scalar(u.weight_decay).add(d);
    }
    let velocity = (u.momentum > 0.0).then(|| match velocity {
        Some(v) => d.clone().add(v.mul_scalar(u.momentum)),
        None => d.clone(),
    });
    if let Some(v) = &velocity {
        d = v.clone();
    }
    (param - d.mul_scalar(u.lr), velocity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{GradientsParams, OptimizerRecord, SgdConfig};
    use burn::tensor::Distribution;

    const SETTINGS: [(f32, f32); 4] = [(0.9, 1e-4), (0.9, 0.0), (0.0, 1e-2), (0.0, 0.0)];

    fn burn_sgd(m: f32, wd: f32) -> ModuleOptimizer {
        let momentum = (m > 0.0).then(|| {
            MomentumConfig::new()
                .with_momentum(m as f64)
                .with_dampening(0.0)
        });
        let decay = (wd > 0.0).then(|| WeightDecayConfig::new(wd));
        SgdConfig::new()
            .with_momentum(momentum)
            .with_weight_decay(decay)
            .init()
    }

    fn values(l: &Linear) -> (TensorData, TensorData) {
        let bias = l.bias.as_ref().expect("a bias").val().into_data();
        (l.weight.val().into_data(), bias)
    }

    /// One step of `optim` on `layer` with the loss `sum((layer(x))^2)`.
    fn step(optim: &mut ModuleOptimizer, layer: Linear, x: &Tensor<2>, lr: f64) -> Linear {
        let grads = layer.forward(x.clone()).square().sum().backward();
        let grads = GradientsParams::from_grads(grads, &layer);
        optim.step(lr, layer, grads)
    }

    fn copy(record: OptimizerRecord) -> (OptimizerRecord, OptimizerRecord) {
        let bytes = record.into_bytes().expect("serialises");
        let again = |b| OptimizerRecord::from_bytes(b).expect("deserialises");
        (again(bytes.clone()), again(bytes))
    }

    /// Steps on a layer large enough for the parallel path and on a small one: weights and biases
    /// equal Burn's `Sgd` bitwise; the state saved by either optimiser, loaded into the other,
    /// continues the same (so the velocity is found under Burn's names).
    #[test]
    fn matches_burns_sgd_and_its_checkpoints() {
        let device = Device::flex().autodiff();
        for (d_in, d_out) in [(3, 5), (300, 400)] {
            for (m, wd) in SETTINGS {
                let ours = || {
                    MomentumSgd {
                        momentum: m,
                        weight_decay: wd,
                    }
                    .init()
                };
                let start: Linear = LinearConfig::new(d_in, d_out).init(&device);
                let (mut o, mut t) = (ours(), burn_sgd(m, wd));
                let (mut a, mut b) = (start.clone(), start);
                let xs: Vec<Tensor<2>> = (0..4)
                    .map(|_| Tensor::random([4, d_in], Distribution::Default, &device))
                    .collect();
                for (k, x) in xs[..2].iter().enumerate() {
                    let lr = 0.1 / (k + 1) as f64;
                    a = step(&mut o, a, x, lr);
                    b = step(&mut t, b, x, lr);
                    assert_eq!(
                        values(&a),
                        values(&b),
                        "{d_in}x{d_out}, m {m}, wd {wd}, step {k}"
                    );
                }
                // Ours saved, Burn's loads it; Burn's saved, ours loads it.
                let (o1, o2) = copy(o.to_record());
                let (t1, t2) = copy(t.to_record());
                let mut pairs = [
                    (ours().load_record(o1), burn_sgd(m, wd).load_record(o2)),
                    (ours().load_record(t1), burn_sgd(m, wd).load_record(t2)),
                ];
                for (o, t) in &mut pairs {
                    let (a, b) = (
                        step(o, a.clone(), &xs[2], 0.05),
                        step(t, b.clone(), &xs[2], 0.05),
                    );
                    assert_eq!(values(&a), values(&b), "resumed, m {m}, wd {wd}");
                    let (a, b) = (step(o, a, &xs[3], 0.05), step(t, b, &xs[3], 0.05));
                    assert_eq!(values(&a), values(&b), "resumed, m {m}, wd {wd}");
                }
            }
        }
    }

    /// The fused pass and the same update with Burn's ops (the path of other backends) agree
    /// bitwise, with and without a velocity, on a strided (transposed) gradient too.
    #[test]
    fn fused_pass_equals_burn_ops() {
        let device = Device::flex();
        for n in [7, 70_001] {
            let r = |s: [usize; 2]| Tensor::<2>::random(s, Distribution::Default, &device);
            let (p, g, v) = (r([n, 2]), r([2, n]).transpose(), r([n, 2]));
            let before = [&p, &g, &v].map(|t| t.to_data());
            for (m, wd) in SETTINGS {
                for vel in [None, Some(v.clone())] {
                    let u = Update {
                        lr: 0.03,
                        momentum: m,
                        weight_decay: wd,
                    };
                    assert!(sgd_flex::applies(&p, &g, vel.as_ref()));
                    let fused = sgd_flex::step(p.clone(), g.clone(), vel.clone(), u);
                    let ops = burn_ops(p.clone(), g.clone(), vel, u);
                    assert_eq!(
                        fused.0.into_data(),
                        ops.0.into_data(),
                        "n {n}, m {m}, wd {wd}"
                    );
                    assert_eq!(fused.1.map(|v| v.into_data()), ops.1.map(|v| v.into_data()));
                }
            }
            // The inputs are left as they were (the clones shared their buffers).
            assert_eq!([&p, &g, &v].map(|t| t.to_data()), before);
        }
    }
}
