//! RoIAlign's (and `crop_and_resize`'s) weighted sum of bilinear taps as one op with its own
//! backward, for training on the CPU backend (flex under autodiff).
//!
//! Why not Burn's ops: the differentiable tensor-op form (`roi_align::pool_taps`) gathers every
//! tap of every channel into a tensor (`C x pixels x 16` floats for a 2x2 sampling grid: about
//! 400 MB for the box head's 512 RoIs at 256 channels), multiplies and sums it. Its backward
//! builds a tensor of ones of that size for the sum, multiplies again, and scatter-adds, mostly
//! single-threaded and allocation-bound: a quarter of the R101-FPN training step (BENCHMARKS.md,
//! "Training step"). torchvision's own CPU kernel reads the taps in place; so does this one, in
//! parallel over channels: forward `out[c, p] = sum_t w[p, t] * x[c, idx[p, t]]`, backward
//! `dx[c, idx[p, t]] += w[p, t] * dy[c, p]` (each channel's plane is written by one thread only).
//!
//! Other backends and inference keep their paths: [`try_pool_taps`] answers `None` unless the
//! features are f32 flex tensors under autodiff without checkpointing.

use burn::backend::TensorMetadata;
use burn::prelude::*;
use burn::tensor::{DType, Shape, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::sync::Arc;

type Ad = Autodiff<Flex, NoCheckpointing>;

/// The taps of every output pixel: `idx[p * taps + t]` (a column of the features) and its weight.
#[derive(Debug, Clone)]
struct Taps {
    idx: Arc<[u32]>,
    wts: Arc<[f32]>,
    taps: usize,
}

/// Whether [`try_pool_taps`] takes `flat`: then the callers need not split their regions into
/// chunks (the op materialises nothing per tap).
pub(crate) fn applies(flat: &Tensor<2>) -> bool {
    flat.dtype() == DType::F32 && flat.clone().try_into_primitive::<Ad>().is_ok()
}

/// `[C, pixels]`: for every output pixel `p`, `sum_t wts[p*taps + t] * flat[:, idx[p*taps + t]]`,
/// when `flat` (`[C, columns]`) is an f32 flex tensor under autodiff without checkpointing;
/// `None` otherwise (the caller uses the tensor-op form).
pub(crate) fn try_pool_taps(
    flat: &Tensor<2>,
    idx: &[usize],
    wts: &[f32],
    taps: usize,
) -> Option<Tensor<2>> {
    let columns = flat.dims()[1];
    if flat.dtype() != DType::F32 || taps == 0 || u32::try_from(columns).is_err() {
        return None;
    }
    let x = flat.clone().try_into_primitive::<Ad>().ok()?;
    let taps = Taps {
        idx: idx.iter().map(|&i| i as u32).collect(),
        wts: wts.into(),
        taps,
    };
    let (x, node) = x.into_parts();
    let y = forward(&x, &taps);
    let y = match PoolTapsBackward
        .prepare::<NoCheckpointing>([node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((taps, x.shape()), y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Some(Tensor::from_primitive::<Ad>(y))
}

/// Contiguous f32 data of a flex tensor.
fn values(t: &FlexTensor) -> (FlexTensor, usize) {
    let t = t.to_contiguous();
    let start = t.layout().start_offset();
    (t, start)
}

fn forward(x: &FlexTensor, taps: &Taps) -> FlexTensor {
    let [c, columns] = x.shape().dims();
    let pixels = taps.idx.len() / taps.taps;
    let (x, start) = values(x);
    let src = &x.storage::<f32>()[start..start + c * columns];
    let mut out = vec![0.0f32; c * pixels];
    out.par_chunks_mut(pixels.max(1))
        .zip(src.par_chunks(columns.max(1)))
        .for_each(|(dst, plane)| {
            for (p, d) in dst.iter_mut().enumerate() {
                let range = p * taps.taps..(p + 1) * taps.taps;
                *d = taps.idx[range.clone()]
                    .iter()
                    .zip(&taps.wts[range])
                    .map(|(&i, &w)| w * plane[i as usize])
                    .sum();
            }
        });
    FlexTensor::from_data(TensorData::new(out, [c, pixels]))
}

#[derive(Debug)]
struct PoolTapsBackward;

impl Backward<Flex, 1> for PoolTapsBackward {
    type State = (Taps, Shape);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let [Some(node)] = ops.parents else {
            return;
        };
        let (taps, shape) = ops.state;
        let [c, columns] = shape.dims();
        let pixels = taps.idx.len() / taps.taps;
        let (dy, start) = values(&dy);
        let g = &dy.storage::<f32>()[start..start + c * pixels];
        let mut dx = vec![0.0f32; c * columns];
        dx.par_chunks_mut(columns.max(1))
            .zip(g.par_chunks(pixels.max(1)))
            .for_each(|(plane, g)| {
                for (p, &gp) in g.iter().enumerate() {
                    let range = p * taps.taps..(p + 1) * taps.taps;
                    for (&i, &w) in taps.idx[range.clone()].iter().zip(&taps.wts[range]) {
                        plane[i as usize] += w * gp;
                    }
                }
            });
        grads.register::<Flex>(
            node.id,
            FlexTensor::from_data(TensorData::new(dx, [c, columns])),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use rand::{Rng, SeedableRng};

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// The tensor-op form: gather, weight, sum (what `pool_taps` does on other backends).
    fn reference(flat: &Tensor<2>, idx: &[usize], wts: &[f32], taps: usize) -> Tensor<2> {
        let c = flat.dims()[0];
        let gathered = crate::host::select(flat.clone(), 1, idx);
        let weights = crate::host::tensor(wts.to_vec(), [1, idx.len()], &flat.device());
        (gathered * weights)
            .reshape([c, idx.len() / taps, taps])
            .sum_dim(2)
            .reshape([c, idx.len() / taps])
    }

    /// Values and the feature gradient equal the gather form's, with repeated columns (several
    /// taps reading one feature pixel, as neighbouring samples do).
    #[test]
    fn matches_gather_form_values_and_gradient() {
        let device = Device::flex().autodiff();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for (c, columns, pixels, taps) in [(3, 20, 7, 16), (5, 9, 30, 4), (1, 4, 3, 1)] {
            let idx: Vec<usize> = (0..pixels * taps)
                .map(|_| rng.random_range(0..columns))
                .collect();
            let wts: Vec<f32> = (0..pixels * taps)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let flat = Tensor::<2>::random([c, columns], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let ours = try_pool_taps(&flat, &idx, &wts, taps).expect("flex autodiff");
            let theirs = reference(&flat, &idx, &wts, taps);
            assert!(
                max_abs_diff(ours.clone(), theirs.clone()) < 1e-5,
                "values, c {c}"
            );
            let probe = Tensor::<2>::random([c, pixels], Distribution::Normal(0.0, 1.0), &device);
            let g_ours = (ours * probe.clone()).sum().backward();
            let g_theirs = (theirs * probe).sum().backward();
            let diff = max_abs_diff(flat.grad(&g_ours).unwrap(), flat.grad(&g_theirs).unwrap());
            assert!(diff < 1e-4, "gradient differs by {diff}, c {c}");
        }
    }

    /// Inference tensors and other devices are left to the caller.
    #[test]
    fn declines_untracked_devices() {
        let flat = Tensor::<2>::zeros([2, 4], &Device::flex());
        assert!(try_pool_taps(&flat, &[0, 1], &[0.5, 0.5], 2).is_none());
    }
}
