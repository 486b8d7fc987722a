//! SGD as torch's `torch.optim.SGD` with momentum: `g += wd * p` (L2 weight decay added to the
//! gradient), `buf = momentum * buf + g` (the first step `buf = g`; dampening 0, which is not
//! Burn's default of 0.1), `p -= lr * buf`. Optionally no weight decay on biases and norm
//! parameters (a second parameter group), and torch's `clip_grad_norm_` over the whole model.
//!
//! Frozen parameters get no gradient, so the optimiser never touches them (not even the decay).
//! The update itself is `mrcnn_core::sgd::MomentumSgd` (Burn's `Sgd` formula as one fused pass
//! on the CPU, its checkpoint names).

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use mrcnn_core::sgd::MomentumSgd;

/// Settings of the SGD optimiser.
#[derive(Debug, Clone, PartialEq)]
pub struct SgdSettings {
    pub momentum: f64,
    pub weight_decay: f32,
    /// Weight decay of biases and norm parameters (`None` = same as the rest; Detectron2's
    /// `WEIGHT_DECAY_NORM` / `WEIGHT_DECAY_BIAS`, often 0).
    pub weight_decay_norm_bias: Option<f32>,
    /// Clip the global gradient norm to this value (torch's `clip_grad_norm_`).
    pub clip_grad_norm: Option<f32>,
}

impl Default for SgdSettings {
    /// torchvision's detection references: momentum 0.9, weight decay 1e-4.
    fn default() -> Self {
        Self {
            momentum: 0.9,
            weight_decay: 1e-4,
            weight_decay_norm_bias: None,
            clip_grad_norm: None,
        }
    }
}

fn sgd(momentum: f64, weight_decay: f32) -> MomentumSgd {
    MomentumSgd {
        momentum: momentum as f32,
        weight_decay,
    }
}

/// Parameter paths that count as bias or norm parameters.
pub const NORM_BIAS_PATTERN: &str = r"(\.bias|\.gamma|\.beta|(^|\.)(bn\d*|norm|gn)\.[^.]+)$";

impl SgdSettings {
    /// The Burn optimiser (with its second group when biases and norms decay differently).
    pub fn build(&self) -> ModuleOptimizer {
        let optim = sgd(self.momentum, self.weight_decay).init();
        match self.weight_decay_norm_bias {
            Some(wd) if wd != self.weight_decay => {
                let group = ParamGroup::from_regex(NORM_BIAS_PATTERN).expect("a valid regex");
                optim.with_group(group, sgd(self.momentum, wd), None)
            }
            _ => optim,
        }
    }
}

/// Sums the squared gradients of every float parameter (on the device, one read at the end).
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let sq = g.square().sum();
            self.sum = Some(match self.sum.take() {
                Some(s) => s + sq,
                None => sq,
            });
        }
    }
}

/// Multiplies every gradient by a constant.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    coef: f32,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, g.mul_scalar(self.coef));
        }
    }
}

/// The L2 norm of all gradients of `module` together.
pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f32 {
    let mut v = SquaredNorm { grads, sum: None };
    module.visit(&mut v);
    v.sum.map_or(0.0, |s| s.into_scalar::<f32>().sqrt())
}

/// torch's `clip_grad_norm_`: scales every gradient by `min(1, max_norm / (total + 1e-6))` where
/// `total` is the L2 norm of all gradients together; returns the gradients and `total`.
pub fn clip_grad_norm<M: Module>(
    module: &M,
    mut grads: GradientsParams,
    max_norm: f32,
) -> (GradientsParams, f32) {
    let total = grad_norm(module, &grads);
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        module.visit(&mut Scale {
            grads: &mut grads,
            coef,
        });
    }
    (grads, total)
}

/// One optimiser step: optional clipping, then SGD at `lr`. Returns the updated module.
pub fn sgd_step<M: Module>(
    settings: &SgdSettings,
    optim: &mut ModuleOptimizer,
    module: M,
    grads: GradientsParams,
    lr: f64,
) -> M {
    let grads = match settings.clip_grad_norm {
        Some(max) => clip_grad_norm(&module, grads, max).0,
        None => grads,
    };
    optim.step(lr, module, grads)
}
