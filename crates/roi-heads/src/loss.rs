//! `fastrcnn_loss` (torchvision's `roi_heads.fastrcnn_loss`): cross-entropy of the class logits
//! over all sampled proposals (mean), and smooth-L1 between each positive's deltas *of its gt
//! class* and its regression target, summed and divided by the number of sampled proposals.

use burn::prelude::*;
use mrcnn_core::{host, losses};

/// `(loss_classifier, loss_box_reg)` for `class_logits` `[K, C]` and `box_regression`
/// `[K, C * 4]` of the `K` sampled proposals of the batch, with their `labels` (0 = background)
/// and `regression_targets` (used only where the label is positive).
pub fn fastrcnn_loss(
    class_logits: Tensor<2>,
    box_regression: Tensor<2>,
    labels: &[usize],
    regression_targets: &[[f32; 4]],
    smooth_l1_beta: f32,
) -> (Tensor<1>, Tensor<1>) {
    let [k, c] = class_logits.dims();
    let device = class_logits.device();
    if k == 0 {
        // No sampled proposal at all: zero losses that keep the heads in the graph.
        return (
            class_logits.sum().mul_scalar(0.0),
            box_regression.sum().mul_scalar(0.0),
        );
    }
    let classification = losses::cross_entropy_mean(class_logits, labels);
    let positives: Vec<usize> = (0..k).filter(|&i| labels[i] > 0).collect();
    let box_loss = if positives.is_empty() {
        box_regression.sum().mul_scalar(0.0)
    } else {
        // Row `i * C + label` of the `[K * C, 4]` view holds the deltas of proposal i's gt class.
        let rows: Vec<usize> = positives.iter().map(|&i| i * c + labels[i]).collect();
        let picked = box_regression
            .reshape([k * c, 4])
            .select(0, host::indices(&rows, &device));
        let targets: Vec<f32> = positives
            .iter()
            .flat_map(|&i| regression_targets[i])
            .collect();
        let t = host::tensor(targets, [positives.len(), 4], &device);
        losses::smooth_l1_sum(picked, t, smooth_l1_beta).div_scalar(k as f32)
    };
    (classification, box_loss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_gt_class_deltas() {
        let d = Device::flex();
        // 2 proposals, 3 classes; proposal 0 is class 2, proposal 1 background.
        let logits = Tensor::<2>::zeros([2, 3], &d);
        let mut reg = vec![0.0f32; 2 * 3 * 4];
        reg[2 * 4] = 1.0; // proposal 0, class 2, dx = 1
        reg[4] = 5.0; // proposal 0, class 1: must be ignored
        let reg = host::tensor(reg, [2, 12], &d);
        let (cls, bx) = fastrcnn_loss(logits, reg, &[2, 0], &[[0.0; 4], [0.0; 4]], 1.0 / 9.0);
        assert!((host::to_vec(cls)[0] - 3f32.ln()).abs() < 1e-6);
        // smooth_l1(1) = 1 - 0.5/9, divided by K = 2.
        assert!((host::to_vec(bx)[0] - (1.0 - 0.5 / 9.0) / 2.0).abs() < 1e-6);
    }
}
