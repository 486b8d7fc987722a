//! A 1x1 convolution (`y[i] = W @ x[i] + b` per image) on the CPU backend (flex), plain or under
//! autodiff, calling the `gemm` crate (flex's own matrix kernel) on the tensors' buffers.
//!
//! Why not Burn's `matmul`: flex's matrix product is the same kernel, but every output it
//! allocates is zero-filled and then copied once more to align it (`FlexTensor::empty`), on one
//! thread, before the product runs. For the R101-FPN training step's 1x1 convolutions (two of
//! the three in a bottleneck, forward and both gradients) that was a fifth of the time the
//! second core sat idle (BENCHMARKS.md, "Training step"). Here each output is written once by
//! the product itself: no fill, no copy, no transposed copies of the operands (the product reads
//! them with strides), the bias is the product's initial value, and the weight gradient
//! accumulates over the batch in one buffer.
//!
//! [`applies`] answers false for anything else (other backends, non-f32, gradient
//! checkpointing), and the caller uses Burn's `matmul`.

use crate::flex_backend::{Ad, On, on};
use crate::gemm::{View, product_into, products_new};
use crate::par::{par_rows, par_vec};
use burn::backend::TensorMetadata;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

/// Whether [`pointwise`] takes these: f32 flex tensors, all plain or all under autodiff without
/// checkpointing, none of them empty.
pub(crate) fn applies(x: &Tensor<4>, weight: &Tensor<4>, bias: Option<&Tensor<1>>) -> bool {
    let backend = on(x);
    let empty = x.dims().contains(&0) || weight.dims().contains(&0);
    !empty && backend.is_some() && on(weight) == backend && bias.is_none_or(|b| on(b) == backend)
}

/// `[n, c_out, h, w]`: the 1x1 convolution of `x` (`[n, c_in, h, w]`) by `weight`
/// (`[c_out, c_in, 1, 1]`) plus `bias`, for tensors that [`applies`] takes.
pub(crate) fn pointwise(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    if on(&x) == Some(On::Plain) {
        let prim = |t: Tensor<4>| t.try_into_primitive::<Flex>().expect("see `applies`");
        let bias = bias.map(|b| b.try_into_primitive::<Flex>().expect("see `applies`"));
        let y = forward(&prim(x), &prim(weight), bias.as_ref());
        return Tensor::from_primitive::<Flex>(y);
    }
    let prim = |t: Tensor<4>| t.try_into_primitive::<Ad>().expect("see `applies`");
    let (x, x_node) = prim(x).into_parts();
    let (w, w_node) = prim(weight).into_parts();
    let y = match bias {
        Some(b) => {
            let (b, b_node) = b
                .try_into_primitive::<Ad>()
                .expect("see `applies`")
                .into_parts();
            let y = forward(&x, &w, Some(&b));
            match PointwiseBackward::<3>
                .prepare::<NoCheckpointing>([x_node, w_node, b_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x, w), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
        None => {
            let y = forward(&x, &w, None);
            match PointwiseBackward::<2>
                .prepare::<NoCheckpointing>([x_node, w_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x, w), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    };
    Tensor::from_primitive::<Ad>(y)
}

/// The contiguous f32 values of a flex tensor (copied first if it is a strided view).
fn contiguous(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice().expect("contiguous f32")
}

fn forward(x: &FlexTensor, w: &FlexTensor, bias: Option<&FlexTensor>) -> FlexTensor {
    let [n, c_in, h, wd] = x.shape().dims();
    let c_out = w.shape().dims::<4>()[0];
    let hw = h * wd;
    let (x, w) = (contiguous(x), contiguous(w));
    let (xs, ws) = (values(&x), values(&w));
    let dims = [c_out, hw, c_in];
    let image = |i: usize| View::rows(xs, i * c_in * hw, hw);
    let out = match bias {
        None => products_new(n, dims, |i| (View::rows(ws, 0, c_in), image(i))),
        Some(b) => {
            let b = contiguous(b);
            let b = values(&b);
            let mut out = par_rows(n * c_out * hw, hw, |i, d| d.fill(b[i % c_out]));
            for i in 0..n {
                let w = View::rows(ws, 0, c_in);
                product_into(&mut out, i * c_out * hw, hw, dims, w, image(i), true, true);
            }
            out
        }
    };
    FlexTensor::from_data(TensorData::new(out, [n, c_out, h, wd]))
}

/// The backward step: parents are the input, the weight and, when `N` is 3, the bias.
#[derive(Debug)]
struct PointwiseBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for PointwiseBackward<N> {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = contiguous(&grads.consume::<Flex>(&ops.node));
        let (x, w) = ops.state;
        let [n, c_in, h, wd] = x.shape().dims();
        let c_out = w.shape().dims::<4>()[0];
        let hw = h * wd;
        let g = values(&dy);
        if let Some(Some(node)) = ops.parents.get(2) {
            let db = par_vec(c_out, |o| {
                (0..n)
                    .map(|i| g[(i * c_out + o) * hw..][..hw].iter().sum::<f32>())
                    .sum()
            });
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(db, [c_out])));
        }
        if let Some(node) = &ops.parents[1] {
            let x = contiguous(&x);
            let xs = values(&x);
            // dW = sum_i dy[i] (c_out x hw) @ x[i]^T (hw x c_in).
            let dims = [c_out, c_in, hw];
            let dy_i = |i: usize| View::rows(g, i * c_out * hw, hw);
            let x_t = |i: usize| View::rows(xs, i * c_in * hw, hw).t();
            let mut dw = products_new(1, dims, |_| (dy_i(0), x_t(0)));
            for i in 1..n {
                product_into(&mut dw, 0, c_in, dims, dy_i(i), x_t(i), true, true);
            }
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dw, [c_out, c_in, 1, 1])),
            );
        }
        if let Some(node) = &ops.parents[0] {
            let w = contiguous(&w);
            let ws = values(&w);
            // dx[i] = W^T (c_in x c_out) @ dy[i] (c_out x hw).
            let dx = products_new(n, [c_in, hw, c_out], |i| {
                (
                    View::rows(ws, 0, c_in).t(),
                    View::rows(g, i * c_out * hw, hw),
                )
            });
            grads.register::<Flex>(
                node.id,
                FlexTensor::from_data(TensorData::new(dx, [n, c_in, h, wd])),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn close<const D: usize>(a: Tensor<D>, b: Tensor<D>, what: &str) {
        let tol = 1e-5 * b.clone().abs().max().into_scalar::<f32>().max(1.0);
        let d = max_abs_diff(a, b);
        assert!(d <= tol, "{what}: differs by {d}");
    }

    /// Values and input, weight and bias gradients equal Burn's `conv2d` on random shapes (one
    /// image and several, products below and above the parallel threshold, a strided input
    /// view), plain and under autodiff.
    #[test]
    fn matches_burn_conv_values_and_gradients() {
        let normal = Distribution::Normal(0.0, 1.0);
        let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
        // (n, c_in, c_out, h, w, bias, transposed input)
        for (n, c_in, c_out, h, w, with_bias, transposed) in [
            (1, 5, 7, 4, 6, true, false),
            (3, 4, 2, 3, 5, false, false),
            (2, 64, 96, 20, 24, true, false),
            (1, 256, 192, 16, 16, false, true),
            (2, 3, 5, 6, 4, true, true),
        ] {
            for autodiff in [false, true] {
                let device = if autodiff {
                    Device::flex().autodiff()
                } else {
                    Device::flex()
                };
                let track = |t: Tensor<4>| if autodiff { t.require_grad() } else { t };
                // Transposed: the leaf is `[n, c_in, w, h]` and the input its strided view.
                let leaf = if transposed {
                    [n, c_in, w, h]
                } else {
                    [n, c_in, h, w]
                };
                let x = track(Tensor::<4>::random(leaf, normal, &device));
                let view = || {
                    if transposed {
                        x.clone().swap_dims(2, 3)
                    } else {
                        x.clone()
                    }
                };
                let weight = track(Tensor::<4>::random([c_out, c_in, 1, 1], normal, &device));
                let bias = with_bias.then(|| {
                    let b = Tensor::<1>::random([c_out], normal, &device);
                    if autodiff { b.require_grad() } else { b }
                });
                let x_in = view();
                assert!(applies(&x_in, &weight, bias.as_ref()));
                let ours = pointwise(x_in, weight.clone(), bias.clone());
                let burn = conv2d(view(), weight.clone(), bias.clone(), options.clone());
                assert_eq!(ours.dims(), burn.dims());
                close(ours.clone(), burn.clone(), "values");
                if !autodiff {
                    continue;
                }
                let probe = Tensor::<4>::random(burn.dims(), normal, &device);
                let g_ours = (ours * probe.clone()).sum().backward();
                let g_burn = (burn * probe).sum().backward();
                close(
                    x.grad(&g_ours).unwrap(),
                    x.grad(&g_burn).unwrap(),
                    "input gradient",
                );
                close(
                    weight.grad(&g_ours).unwrap(),
                    weight.grad(&g_burn).unwrap(),
                    "weight gradient",
                );
                if let Some(b) = &bias {
                    close(
                        b.grad(&g_ours).unwrap(),
                        b.grad(&g_burn).unwrap(),
                        "bias gradient",
                    );
                }
            }
        }
    }

    /// Other backends' tensors, other dtypes and empty tensors are left to the caller.
    #[test]
    fn declines_what_it_does_not_take() {
        let device = Device::flex();
        let x = Tensor::<4>::zeros([1, 2, 3, 3], &device);
        let w = Tensor::<4>::zeros([4, 2, 1, 1], &device);
        assert!(applies(&x, &w, None));
        assert!(!applies(
            &x.clone().cast(burn::tensor::DType::F64),
            &w,
            None
        ));
        assert!(!applies(
            &Tensor::<4>::zeros([0, 2, 3, 3], &device),
            &w,
            None
        ));
        let ad = Tensor::<4>::zeros([4, 2, 1, 1], &Device::flex().autodiff());
        assert!(!applies(&x, &ad, None));
    }
}
