//! The loss functions of Mask R-CNN as differentiable tensor ops, with torch's definitions:
//! `F.smooth_l1_loss` (sum), `F.binary_cross_entropy_with_logits` (mean) and `F.cross_entropy`
//! (mean). Targets and labels come from the host (they never carry gradients).

use crate::host;
use burn::prelude::*;
use burn::tensor::activation::{log_sigmoid, log_softmax};

/// `sum(smooth_l1(input - target))` with torch's `beta`: `0.5 z^2 / beta` where `|z| < beta`,
/// `|z| - 0.5 beta` elsewhere; `beta == 0` is the plain L1 loss (Detectron2's default).
pub fn smooth_l1_sum<const D: usize>(input: Tensor<D>, target: Tensor<D>, beta: f32) -> Tensor<1> {
    let z = (input - target).abs();
    if beta <= 0.0 {
        return z.sum();
    }
    let quadratic = z.clone() * z.clone() * 0.5 / beta;
    let linear = z.clone() - 0.5 * beta;
    // Where |z| < beta take the quadratic branch; the mask carries no gradient itself.
    linear.mask_where(z.lower_elem(beta), quadratic).sum()
}

/// `mean((1 - y) x - log_sigmoid(x))`, torch's `binary_cross_entropy_with_logits`.
pub fn bce_with_logits_mean<const D: usize>(logits: Tensor<D>, targets: Tensor<D>) -> Tensor<1> {
    let loss = (targets.ones_like() - targets) * logits.clone() - log_sigmoid(logits);
    loss.mean()
}

/// `mean(-log_softmax(logits)[k, labels[k]])` over `K` rows, torch's `cross_entropy`.
pub fn cross_entropy_mean(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let device = logits.device();
    let k = labels.len();
    let idx = host::indices(labels, &device).reshape([k, 1]);
    let picked = log_softmax(logits, 1).gather(1, idx);
    picked.mean().neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f32 {
        host::to_vec(t)[0]
    }

    #[test]
    fn smooth_l1_matches_torch_definition() {
        let d = Device::flex();
        let x = Tensor::<1>::from_floats([0.0, 0.05, -0.3, 2.0], &d);
        let y = Tensor::<1>::zeros([4], &d);
        let beta = 1.0 / 9.0;
        let expect: f32 = [0.0f32, 0.05, 0.3, 2.0]
            .iter()
            .map(|&z| {
                if z < beta {
                    0.5 * z * z / beta
                } else {
                    z - 0.5 * beta
                }
            })
            .sum();
        assert!((scalar(smooth_l1_sum(x.clone(), y.clone(), beta)) - expect).abs() < 1e-6);
        assert!((scalar(smooth_l1_sum(x, y, 0.0)) - 2.35).abs() < 1e-6);
    }

    #[test]
    fn bce_is_stable_for_large_logits() {
        let d = Device::flex();
        let x = Tensor::<1>::from_floats([100.0, -100.0, 0.0], &d);
        let y = Tensor::<1>::from_floats([1.0, 0.0, 1.0], &d);
        // Terms 0, 0 and ln 2.
        let got = scalar(bce_with_logits_mean(x, y));
        assert!((got - std::f32::consts::LN_2 / 3.0).abs() < 1e-6, "{got}");
    }

    #[test]
    fn cross_entropy_of_uniform_logits_is_log_k() {
        let d = Device::flex();
        let x = Tensor::<2>::zeros([2, 4], &d);
        let got = scalar(cross_entropy_mean(x, &[0, 3]));
        assert!((got - 4f32.ln()).abs() < 1e-6);
    }
}
