//! ReLU, and ReLU of a sum (a residual block's `relu(out + identity)`), as one parallel pass on
//! the CPU backend (flex), with their own backward under autodiff.
//!
//! Why not Burn's ops: flex runs every element-wise op on one thread (`binary_op`, `unary_op`),
//! and Burn's `relu(a + b)` is two passes forward (an addition, then the ReLU) and two backward
//! (the ReLU's mask, then the addition's copy of the gradient to both operands). In the
//! R101-FPN training step that was a fifth of the time the second core sat idle
//! (BENCHMARKS.md, "Training step"). Here the forward is one pass split over rayon's threads,
//! in place in the first operand when nothing else holds it, and the backward one pass that
//! masks the output gradient in place, registered for both operands. NaN propagates as in flex's
//! ReLU (a NaN output keeps its gradient).
//!
//! [`applies`] answers false for anything else (other backends, non-f32, shapes that
//! differ, gradient checkpointing), and the caller uses Burn's ops.

use crate::flex_backend::{Ad, On, on};
use crate::par::{for_chunks, par_vec};
use burn::backend::TensorMetadata;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

/// Elements per parallel task: large enough that a task is not dominated by rayon's overhead.
const CHUNK: usize = 1 << 16;

/// Whether [`add_relu`] takes these operands: f32 flex tensors, plain or under autodiff without
/// checkpointing, `b` (if any) of `a`'s shape and backend.
pub(crate) fn applies<const D: usize>(a: &Tensor<D>, b: Option<&Tensor<D>>) -> bool {
    let backend = on(a);
    backend.is_some() && b.is_none_or(|b| b.dims() == a.dims() && on(b) == backend)
}

/// `max(a + b, 0)` (or `max(a, 0)` without `b`), for operands that [`applies`] takes. `a` is
/// updated in place when the caller passed the only handle to it.
pub(crate) fn add_relu<const D: usize>(a: Tensor<D>, b: Option<Tensor<D>>) -> Tensor<D> {
    let backend = on(&a);
    let prim_ad = |t: Tensor<D>| t.try_into_primitive::<Ad>().expect("see `applies`");
    let prim = |t: Tensor<D>| t.try_into_primitive::<Flex>().expect("see `applies`");
    if backend == Some(On::Plain) {
        let b = b.map(prim);
        return Tensor::from_primitive::<Flex>(forward(prim(a), b.as_ref()));
    }
    let (a, a_node) = prim_ad(a).into_parts();
    let y = match b {
        Some(b) => {
            let (b, b_node) = prim_ad(b).into_parts();
            let y = forward(a, Some(&b));
            match ReluBackward::<2>
                .prepare::<NoCheckpointing>([a_node, b_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(y.clone(), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
        None => {
            let y = forward(a, None);
            match ReluBackward::<1>
                .prepare::<NoCheckpointing>([a_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(y.clone(), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    };
    Tensor::from_primitive::<Ad>(y)
}

fn relu(v: f32) -> f32 {
    // `!(v <= 0)` keeps NaN, as flex's ReLU does.
    if v.is_nan() || v > 0.0 { v } else { 0.0 }
}

/// `max(a + b, 0)`: in place in `a` when it is unique and contiguous from its start, else into a
/// new buffer.
fn forward(mut a: FlexTensor, b: Option<&FlexTensor>) -> FlexTensor {
    let b = b.map(|b| b.to_contiguous());
    let rhs: Option<&[f32]> = b.as_ref().map(|b| b.as_slice().expect("contiguous"));
    let in_place = a.layout().contiguous_offsets() == Some((0, a.shape().num_elements()));
    if in_place && let Some(dst) = a.try_storage_mut::<f32>() {
        let n = rhs.map_or(dst.len(), <[f32]>::len);
        let dst = &mut dst[..n];
        let len = dst.len();
        match rhs {
            Some(rhs) => for_chunks(dst, CHUNK, len, |c, d| {
                let r = &rhs[c * CHUNK..][..d.len()];
                d.iter_mut().zip(r).for_each(|(d, &r)| *d = relu(*d + r));
            }),
            None => for_chunks(dst, CHUNK, len, |_, d| {
                d.iter_mut().for_each(|d| *d = relu(*d));
            }),
        }
        return a;
    }
    let a = a.to_contiguous();
    let lhs: &[f32] = a.as_slice().expect("contiguous");
    let out = match rhs {
        Some(rhs) => par_vec(lhs.len(), |i| relu(lhs[i] + rhs[i])),
        None => par_vec(lhs.len(), |i| relu(lhs[i])),
    };
    FlexTensor::from_data(TensorData::new(out, a.shape()))
}

/// The backward step: the output gradient where the output is positive (or NaN), zero elsewhere,
/// for each of the `N` operands.
#[derive(Debug)]
struct ReluBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for ReluBackward<N> {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let y = ops.state.to_contiguous();
        let y: &[f32] = y.as_slice().expect("contiguous");
        let mut dy = dy.to_contiguous();
        let whole = dy.layout().contiguous_offsets() == Some((0, y.len()));
        let dx = match dy.try_storage_mut::<f32>() {
            Some(g) if whole => {
                let len = y.len();
                for_chunks(&mut g[..len], CHUNK, len, |c, g| {
                    let y = &y[c * CHUNK..][..g.len()];
                    for (g, &y) in g.iter_mut().zip(y) {
                        if !(y.is_nan() || y > 0.0) {
                            *g = 0.0;
                        }
                    }
                });
                dy
            }
            _ => {
                let g: &[f32] = dy.as_slice().expect("contiguous");
                let out = par_vec(y.len(), |i| {
                    if y[i].is_nan() || y[i] > 0.0 {
                        g[i]
                    } else {
                        0.0
                    }
                });
                FlexTensor::from_data(TensorData::new(out, dy.shape()))
            }
        };
        let nodes: Vec<_> = ops.parents.iter().flatten().collect();
        for (i, node) in nodes.iter().enumerate() {
            if i + 1 == nodes.len() {
                grads.register::<Flex>(node.id, dx);
                break;
            }
            grads.register::<Flex>(node.id, dx.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::activation;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Values and both operands' gradients equal Burn's `relu(a + b)` and `relu(a)`, on shapes
    /// from one chunk to several, with operands that are shared (not updated in place), strided
    /// (a transposed view) and only one of them tracked.
    #[test]
    fn matches_burn_values_and_gradients() {
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.0, 1.0);
        // Modes: 0 the operands as they are (shared with the test), 1 fresh products (updated in
        // place), 2 transposed views (not contiguous: copied first).
        for (shape, mode, b_tracked) in [
            ([2, 3, 5, 7], 0, true),
            ([1, 64, 40, 70], 1, true),
            ([2, 64, 40, 70], 0, false),
            ([3, 16, 33, 65], 2, false),
        ] {
            let a = Tensor::<4>::random(shape, normal, &device).require_grad();
            let a_before = a.clone().into_data();
            let b = Tensor::<4>::random(shape, normal, &device);
            let b = if b_tracked { b.require_grad() } else { b };
            let view = |t: &Tensor<4>| match mode {
                0 => t.clone(),
                1 => t.clone() * 1.5,
                _ => t.clone().swap_dims(2, 3),
            };
            let probe = Tensor::<4>::random(view(&a).dims(), normal, &device);
            for with_b in [true, false] {
                let (a_in, b_in) = (view(&a), with_b.then(|| view(&b)));
                assert!(applies(&a_in, b_in.as_ref()));
                let ours = add_relu(a_in, b_in);
                let burn = if with_b {
                    activation::relu(view(&a) + view(&b))
                } else {
                    activation::relu(view(&a))
                };
                assert_eq!(ours.dims(), burn.dims());
                assert_eq!(max_abs_diff(ours.clone(), burn.clone()), 0.0, "{shape:?}");
                let g_ours = (ours * probe.clone()).sum().backward();
                let g_burn = (burn * probe.clone()).sum().backward();
                let da = max_abs_diff(a.grad(&g_ours).unwrap(), a.grad(&g_burn).unwrap());
                assert_eq!(da, 0.0, "{shape:?} first operand");
                if with_b && b_tracked {
                    let db = max_abs_diff(b.grad(&g_ours).unwrap(), b.grad(&g_burn).unwrap());
                    assert_eq!(db, 0.0, "{shape:?} second operand");
                }
            }
            // The operands are unchanged (they are shared, so nothing was done in place).
            assert_eq!(a.clone().into_data(), a_before, "{shape:?}");
        }
    }

    /// Without autodiff (inference): values equal Burn's, in place or not, and NaN kept.
    #[test]
    fn inference_values_and_nan() {
        let device = Device::flex();
        let a = Tensor::<2>::random([300, 500], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<2>::random([300, 500], Distribution::Normal(0.0, 1.0), &device);
        let expected = activation::relu(a.clone() + b.clone());
        // `a` is shared here (also held by this test): a new buffer.
        let a_before = a.clone().into_data();
        let shared = add_relu(a.clone(), Some(b.clone()));
        assert_eq!(max_abs_diff(shared, expected.clone()), 0.0);
        assert_eq!(
            a.clone().into_data(),
            a_before,
            "a shared operand is left as it was"
        );
        // A fresh product is unique: updated in place.
        let unique = add_relu(a.clone() * 1.0, Some(b.clone()));
        assert_eq!(max_abs_diff(unique, expected), 0.0);
        let nan = Tensor::<1>::from_floats([f32::NAN, -1.0, 2.0], &device);
        let out = host_values(add_relu(nan, None));
        assert!(out[0].is_nan() && out[1] == 0.0 && out[2] == 2.0, "{out:?}");
        let mismatched = Tensor::<2>::zeros([500, 300], &device);
        assert!(!applies(&a, Some(&mismatched)));
        assert!(!applies(&a.clone().cast(burn::tensor::DType::F64), None));
    }

    fn host_values(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }
}
