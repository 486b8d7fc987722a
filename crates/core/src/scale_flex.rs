//! A weight scaled per output channel (`W'[o, ...] = W[o, ...] * s[o]`, a frozen batch norm
//! folded into the convolution before it) in one parallel pass on the CPU backend (flex), with
//! its own backward (`dW = dW' * s`) under autodiff.
//!
//! Why not Burn's `mul`: flex computes a broadcast product on one thread through its generic
//! strided walk. Folding R101's batch norms scales 44M weights per forward: a quarter of a
//! second per 800x1216 image that way, about what folding saves.
//!
//! [`applies`] answers false for anything else (other backends, non-f32, a tracked scale: only
//! frozen statistics are folded, `FrozenBatchNorm2d::after`).

use crate::flex_backend::{Ad, On, on};
use crate::par::par_rows;
use burn::backend::TensorMetadata;
use burn::prelude::*;
use burn::tensor::{DType, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

fn is_flex<const D: usize>(t: &Tensor<D>) -> bool {
    on(t) == Some(On::Plain)
}

fn is_autodiff<const D: usize>(t: &Tensor<D>) -> bool {
    on(t) == Some(On::Autodiff)
}

/// Whether [`scale_rows`] takes these: f32 flex tensors (plain, or under autodiff without
/// checkpointing with an untracked `scale`), one scale per row of `weight`.
pub(crate) fn applies(weight: &Tensor<4>, scale: &Tensor<1>) -> bool {
    let f32s = weight.dtype() == DType::F32 && scale.dtype() == DType::F32;
    let rows = weight.dims()[0] == scale.dims()[0];
    let backend = if is_flex(weight) {
        is_flex(scale)
    } else {
        is_autodiff(weight) && is_autodiff(scale) && !scale.is_require_grad()
    };
    f32s && rows && backend
}

/// `weight * scale.reshape([rows, 1, 1, 1])` for tensors that [`applies`] takes.
pub(crate) fn scale_rows(weight: Tensor<4>, scale: Tensor<1>) -> Tensor<4> {
    if is_flex(&weight) {
        let w = weight.try_into_primitive::<Flex>().expect("see `applies`");
        let s = scale.try_into_primitive::<Flex>().expect("see `applies`");
        return Tensor::from_primitive::<Flex>(scaled(&w, &s));
    }
    let (w, w_node) = weight
        .try_into_primitive::<Ad>()
        .expect("see `applies`")
        .into_parts();
    let (s, _) = scale
        .try_into_primitive::<Ad>()
        .expect("see `applies`")
        .into_parts();
    let y = scaled(&w, &s);
    let y = match ScaleRowsBackward
        .prepare::<NoCheckpointing>([w_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(s, y),
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    Tensor::from_primitive::<Ad>(y)
}

/// Each row of `t` (its first dimension) times its entry of `s`, into a new buffer.
fn scaled(t: &FlexTensor, s: &FlexTensor) -> FlexTensor {
    let (t, s) = (t.to_contiguous(), s.to_contiguous());
    let values: &[f32] = t.as_slice().expect("contiguous f32");
    let scale: &[f32] = s.as_slice().expect("contiguous f32");
    let row = (values.len() / scale.len().max(1)).max(1);
    let out = par_rows(values.len(), row, |o, d| {
        let src = &values[o * row..][..d.len()];
        d.iter_mut().zip(src).for_each(|(d, &v)| *d = v * scale[o]);
    });
    FlexTensor::from_data(TensorData::new(out, t.shape()))
}

/// The backward step: `dW = dW' * s`, row by row.
#[derive(Debug)]
struct ScaleRowsBackward;

impl Backward<Flex, 1> for ScaleRowsBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        if let [Some(node)] = ops.parents {
            grads.register::<Flex>(node.id, scaled(&dy, &ops.state));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Values and the weight gradient equal Burn's broadcast product, plain and under autodiff,
    /// for a contiguous weight and a strided view of one.
    #[test]
    fn matches_burn_values_and_gradient() {
        let normal = Distribution::Normal(0.0, 1.0);
        for autodiff in [false, true] {
            let device = if autodiff {
                Device::flex().autodiff()
            } else {
                Device::flex()
            };
            for strided in [false, true] {
                let w = Tensor::<4>::random([6, 5, 3, 3], normal, &device);
                let w = if autodiff { w.require_grad() } else { w };
                let view = || {
                    if strided {
                        w.clone().swap_dims(2, 3)
                    } else {
                        w.clone()
                    }
                };
                let s = Tensor::<1>::random([6], normal, &device);
                assert!(applies(&view(), &s));
                let ours = scale_rows(view(), s.clone());
                let burn = view() * s.clone().reshape([6, 1, 1, 1]);
                assert_eq!(max_abs_diff(ours.clone(), burn.clone()), 0.0);
                if autodiff {
                    let probe = Tensor::<4>::random(burn.dims(), normal, &device);
                    let g_ours = (ours * probe.clone()).sum().backward();
                    let g_burn = (burn * probe).sum().backward();
                    let d = max_abs_diff(w.grad(&g_ours).unwrap(), w.grad(&g_burn).unwrap());
                    assert_eq!(d, 0.0, "weight gradient, strided {strided}");
                }
            }
        }
    }

    /// A tracked scale (a trainable batch norm) and mismatched rows are left to Burn.
    #[test]
    fn declines_a_tracked_scale() {
        let device = Device::flex().autodiff();
        let w = Tensor::<4>::zeros([4, 2, 1, 1], &device).require_grad();
        assert!(applies(&w, &Tensor::<1>::ones([4], &device)));
        assert!(!applies(
            &w,
            &Tensor::<1>::ones([4], &device).require_grad()
        ));
        assert!(!applies(&w, &Tensor::<1>::ones([3], &device)));
    }
}
