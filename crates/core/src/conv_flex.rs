//! A convolution for training on the CPU backend (flex under autodiff) whose weight gradient is
//! one matrix product per block of output pixels, `dy @ im2col(x)^T`.
//!
//! Why not Burn's convolution: the forward and the input gradient are Burn's own (this module
//! calls flex's `conv2d` and `conv2d_x_backward`), but Burn 0.22 has no weight-gradient kernel
//! for flex. Its generic `conv2d_weight_backward` runs another convolution over a batch of the
//! `c_in` input channels with the output gradient as the kernel. For Mask R-CNN's 3x3
//! convolutions that is 9-row matrix products per input channel, each repacking the whole output
//! gradient: 48-70 GFLOP/s on these cores, against about 150 for an ordinary matrix product of
//! the same size, and the largest part of the R101-FPN training step (BENCHMARKS.md, "Training
//! step"). Here the input is unfolded into columns (flex's zero-copy `unfold`, then one copy into
//! a contiguous `[c_in * kh * kw, pixels]` matrix) block by block, so the extra memory stays
//! bounded, and each block is one product with the output gradient.
//!
//! The op is registered through Burn's autodiff extension API (`burn_autodiff::ops::Backward`):
//! [`try_conv2d`] answers `None` for anything else (other backends, no autodiff, gradient
//! checkpointing, dilation or groups, non-f32), and the caller falls back to Burn's convolution.

use burn::backend::TensorMetadata;
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::backend::tensor::FloatTensor;
use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{DType, Shape, Slice};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::Flex;

type Ad = Autodiff<Flex, NoCheckpointing>;

/// Elements of one block's column matrix (32 MB of f32): large enough for efficient products,
/// small enough that the mask head's 128 RoIs or the FPN's stride-4 level never unfold at once.
const COLUMN_BUDGET: usize = 8 << 20;

/// The convolution of `x` by `weight` (and `bias`), with this module's weight gradient, when all
/// three are f32 tensors of flex under autodiff without checkpointing and the convolution has no
/// dilation and one group; `None` otherwise.
pub(crate) fn try_conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    options: &ConvOptions<2>,
) -> Option<Tensor<4>> {
    if options.dilation != [1, 1] || options.groups != 1 || x.dtype() != DType::F32 {
        return None;
    }
    let x = x.clone().try_into_primitive::<Ad>().ok()?;
    let weight = weight.clone().try_into_primitive::<Ad>().ok()?;
    let bias = match bias {
        Some(b) => Some(b.clone().try_into_primitive::<Ad>().ok()?),
        None => None,
    };
    let y = match bias {
        Some(bias) => {
            let (b, b_node) = bias.into_parts();
            let (w, w_node) = weight.into_parts();
            let (x, x_node) = x.into_parts();
            let y = Flex::conv2d(x.clone(), w.clone(), Some(b), options.clone());
            match Conv2dBackward::<3>
                .prepare::<NoCheckpointing>([x_node, w_node, b_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x, w, options.clone()), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
        None => {
            let (w, w_node) = weight.into_parts();
            let (x, x_node) = x.into_parts();
            let y = Flex::conv2d(x.clone(), w.clone(), None, options.clone());
            match Conv2dBackward::<2>
                .prepare::<NoCheckpointing>([x_node, w_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x, w, options.clone()), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    };
    Some(Tensor::from_primitive::<Ad>(y))
}

/// The backward step: parents are the input, the weight and, when `N` is 3, the bias.
#[derive(Debug)]
struct Conv2dBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for Conv2dBackward<N> {
    type State = (FloatTensor<Flex>, FloatTensor<Flex>, ConvOptions<2>);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, weight, options) = ops.state;
        if let Some(Some(node)) = ops.parents.get(2) {
            let [_, c_out, _, _] = dy.shape().dims();
            let db = Flex::float_sum_dims(dy.clone(), &[0, 2, 3]);
            grads.register::<Flex>(node.id, Flex::float_reshape(db, Shape::new([c_out])));
        }
        if let Some(node) = &ops.parents[1] {
            let dw = weight_gradient(
                x.clone(),
                weight.shape(),
                dy.clone(),
                &options,
                COLUMN_BUDGET,
            );
            grads.register::<Flex>(node.id, dw);
        }
        if let Some(node) = &ops.parents[0] {
            grads.register::<Flex>(node.id, Flex::conv2d_x_backward(x, weight, dy, options));
        }
    }
}

/// A block of output pixels: images `n0..n1`, output rows `r0..r1` of each.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Block {
    n0: usize,
    n1: usize,
    r0: usize,
    r1: usize,
}

/// Splits `n` images of `ho` output rows into blocks whose column matrix (`rows` unfolded
/// elements per output pixel) holds at most `budget` elements, or one output row when a row
/// alone is larger: several whole images per block when an image fits, else row ranges of one
/// image.
fn blocks(n: usize, ho: usize, wo: usize, rows: usize, budget: usize) -> Vec<Block> {
    let per_row = rows * wo;
    let per_image = per_row * ho;
    let mut out = Vec::new();
    if per_image <= budget {
        let step = (budget / per_image.max(1)).max(1);
        let mut n0 = 0;
        while n0 < n {
            let n1 = (n0 + step).min(n);
            out.push(Block {
                n0,
                n1,
                r0: 0,
                r1: ho,
            });
            n0 = n1;
        }
    } else {
        let step = (budget / per_row.max(1)).max(1);
        for image in 0..n {
            let mut r0 = 0;
            while r0 < ho {
                let r1 = (r0 + step).min(ho);
                out.push(Block {
                    n0: image,
                    n1: image + 1,
                    r0,
                    r1,
                });
                r0 = r1;
            }
        }
    }
    out
}

/// `dL/dW` of a convolution without dilation or groups: for each block of output pixels (at most
/// `budget` column elements, see [`blocks`]), the output gradient `[c_out, pixels]` times the
/// transposed input columns `[pixels, c_in*kh*kw]`, summed over blocks.
fn weight_gradient(
    x: FloatTensor<Flex>,
    weight_shape: Shape,
    dy: FloatTensor<Flex>,
    options: &ConvOptions<2>,
    budget: usize,
) -> FloatTensor<Flex> {
    let [n, c_in, _, _] = x.shape().dims();
    let [c_out, _, kh, kw] = weight_shape.dims();
    let [_, _, ho, wo] = dy.shape().dims();
    let [sh, sw] = options.stride;
    let [pad_h, pad_w] = options.padding;
    let x = if pad_h == (0, 0) && pad_w == (0, 0) {
        x
    } else {
        Flex::float_pad(x, &[(0, 0), (0, 0), pad_h, pad_w], PadMode::Constant(0.0))
    };
    let rows = c_in * kh * kw;
    let mut sum: Option<FloatTensor<Flex>> = None;
    for b in blocks(n, ho, wo, rows, budget) {
        let (images, out_rows) = (b.n1 - b.n0, b.r1 - b.r0);
        let pixels = images * out_rows * wo;
        // Input rows that the block's output rows read.
        let in_rows = b.r0 * sh..(b.r1 - 1) * sh + kh;
        let xb = Flex::float_slice(
            x.clone(),
            &[
                Slice::from(b.n0..b.n1),
                Slice::from(..),
                Slice::from(in_rows),
                Slice::from(..),
            ],
        );
        // [images, c_in, out_rows, wo, kh, kw] as a view, then [c_in, kh, kw, images, out_rows,
        // wo] copied into the column matrix.
        let windows = Flex::float_unfold(Flex::float_unfold(xb, 2, kh, sh), 3, kw, sw);
        let columns = Flex::float_reshape(
            Flex::float_permute(windows, &[1, 4, 5, 0, 2, 3]),
            Shape::new([rows, pixels]),
        );
        let dyb = Flex::float_slice(
            dy.clone(),
            &[
                Slice::from(b.n0..b.n1),
                Slice::from(..),
                Slice::from(b.r0..b.r1),
                Slice::from(..),
            ],
        );
        let dyb = Flex::float_reshape(
            Flex::float_permute(dyb, &[1, 0, 2, 3]),
            Shape::new([c_out, pixels]),
        );
        let product = Flex::float_matmul(dyb, Flex::float_swap_dims(columns, 0, 1));
        sum = Some(match sum {
            Some(s) => Flex::float_add(s, product),
            None => product,
        });
    }
    let sum = sum.expect("a convolution output has at least one pixel");
    Flex::float_reshape(sum, weight_shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn max_abs<const D: usize>(a: Tensor<D>) -> f32 {
        a.abs().max().into_scalar::<f32>()
    }

    /// Blocks cover every image and output row exactly once and respect the budget.
    #[test]
    fn blocks_cover_the_output_once() {
        for (n, ho, wo, rows, budget) in [
            (1, 7, 5, 9, 1000),
            (5, 7, 5, 9, 700),
            (3, 7, 5, 9, 100),
            (2, 4, 4, 50, 10),
        ] {
            let mut seen = vec![0u32; n * ho];
            for b in blocks(n, ho, wo, rows, budget) {
                let size = (b.n1 - b.n0) * (b.r1 - b.r0) * wo * rows;
                assert!(size <= budget || b.r1 - b.r0 == 1, "{b:?} over budget");
                for image in b.n0..b.n1 {
                    for row in b.r0..b.r1 {
                        seen[image * ho + row] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "n {n} ho {ho}: {seen:?}");
        }
    }

    /// Values and input, weight and bias gradients equal to Burn's convolution on random shapes:
    /// kernels 3x3, 7x7 and 1x3, strides 1 and 2, symmetric, asymmetric and no padding, batches
    /// of one and several, with and without bias.
    #[test]
    fn matches_burn_conv_values_and_gradients() {
        let device = Device::flex().autodiff();
        // (n, c_in, c_out, kernel, stride, padding, input hw, bias)
        type Case = (
            usize,
            usize,
            usize,
            [usize; 2],
            [usize; 2],
            [(usize, usize); 2],
            [usize; 2],
            bool,
        );
        let cases: [Case; 6] = [
            (1, 4, 5, [3, 3], [1, 1], [(1, 1), (1, 1)], [9, 11], true),
            (3, 3, 6, [3, 3], [2, 2], [(1, 1), (1, 1)], [10, 7], false),
            (1, 3, 4, [7, 7], [2, 2], [(3, 3), (3, 3)], [16, 13], false),
            (2, 5, 3, [1, 3], [1, 2], [(0, 0), (2, 1)], [6, 9], true),
            (4, 2, 3, [3, 3], [1, 1], [(0, 1), (1, 0)], [5, 5], true),
            (1, 6, 6, [3, 3], [1, 1], [(0, 0), (0, 0)], [8, 8], false),
        ];
        for (i, &(n, c_in, c_out, kernel, stride, padding, hw, with_bias)) in
            cases.iter().enumerate()
        {
            let normal = Distribution::Normal(0.0, 1.0);
            let x = Tensor::<4>::random([n, c_in, hw[0], hw[1]], normal, &device).require_grad();
            let w = Tensor::<4>::random([c_out, c_in, kernel[0], kernel[1]], normal, &device)
                .require_grad();
            let b = with_bias.then(|| Tensor::<1>::random([c_out], normal, &device).require_grad());
            let options = ConvOptions::new_with_padding(stride, padding, [1, 1], 1);

            let ours = try_conv2d(&x, &w, b.as_ref(), &options).expect("flex autodiff f32");
            let burn = conv2d(x.clone(), w.clone(), b.clone(), options.clone());
            assert_eq!(ours.dims(), burn.dims(), "case {i}");
            assert!(
                max_abs_diff(ours.clone(), burn.clone()) < 1e-5,
                "case {i}: values"
            );

            let probe = Tensor::<4>::random(burn.dims(), normal, &device);
            let g_ours = (ours * probe.clone()).sum().backward();
            let g_burn = (burn * probe).sum().backward();
            let pairs = [
                (x.grad(&g_ours).unwrap(), x.grad(&g_burn).unwrap(), "input"),
                (w.grad(&g_ours).unwrap(), w.grad(&g_burn).unwrap(), "weight"),
            ];
            for (a, e, what) in pairs {
                let tol = 1e-4 * max_abs(e.clone()).max(1.0);
                let diff = max_abs_diff(a, e);
                assert!(diff < tol, "case {i}: {what} gradient differs by {diff}");
            }
            if let Some(b) = &b {
                let diff = max_abs_diff(b.grad(&g_ours).unwrap(), b.grad(&g_burn).unwrap());
                assert!(
                    diff < 1e-4 * n as f32 * 100.0,
                    "case {i}: bias gradient {diff}"
                );
            }
        }
    }

    /// The weight gradient equals Burn's `conv2d_weight_backward` whatever the blocks: one block,
    /// several images per block, row ranges of one image, single rows.
    #[test]
    fn weight_gradient_matches_burn_for_any_blocks() {
        let device = Device::flex();
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<4>::random([3, 4, 9, 8], normal, &device);
        let dy = Tensor::<4>::random([3, 5, 5, 4], normal, &device);
        let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 1);
        let shape = Shape::new([5, 4, 3, 3]);
        let reference = burn::tensor::module::conv2d_weight_backward(
            x.clone(),
            Tensor::zeros([5, 4, 3, 3], &device),
            dy.clone(),
            options.clone(),
        );
        let prim = |t: Tensor<4>| t.try_into_primitive::<Flex>().unwrap();
        // 36 column rows x 20 pixels per image.
        for budget in [usize::MAX, 2 * 720, 720, 300, 1] {
            let ours = weight_gradient(
                prim(x.clone()),
                shape.clone(),
                prim(dy.clone()),
                &options,
                budget,
            );
            let diff = max_abs_diff(Tensor::<4>::from_primitive::<Flex>(ours), reference.clone());
            assert!(diff < 1e-4, "budget {budget}: differs by {diff}");
        }
    }

    /// Anything but flex under autodiff is left to Burn.
    #[test]
    fn declines_other_devices_and_options() {
        let plain = Device::flex();
        let x = Tensor::<4>::zeros([1, 2, 5, 5], &plain);
        let w = Tensor::<4>::zeros([3, 2, 3, 3], &plain);
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        assert!(try_conv2d(&x, &w, None, &options).is_none());
        let ad = Device::flex().autodiff();
        let x = Tensor::<4>::zeros([1, 2, 5, 5], &ad);
        let w = Tensor::<4>::zeros([3, 2, 3, 3], &ad);
        let dilated = ConvOptions::new([1, 1], [2, 2], [2, 2], 1);
        assert!(try_conv2d(&x, &w, None, &dilated).is_none());
        assert!(try_conv2d(&x, &w, None, &options).is_some());
    }
}
