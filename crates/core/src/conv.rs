//! Convolution forward for every stage: a 1x1, stride-1, unpadded convolution (two of the three
//! in a ResNet bottleneck, the FPN's lateral convolutions, the RPN's and the mask head's
//! predictors) runs as a matrix product; any other convolution in training on the CPU backend
//! gets the im2col weight gradient of `conv_flex`; everything else is Burn's `Conv2d::forward`.
//! A transposed convolution whose kernel equals its stride (the mask head's 2x2, stride-2
//! upsampling) is a matrix product followed by a pixel shuffle ([`conv_transpose2d`]).
//!
//! Why not Burn's convolution for the 1x1 case: the values are the same (the CPU backend already
//! computes a 1x1 forward as one matrix product), but the backward is not. Burn computes a
//! convolution's weight gradient as another convolution whose kernel is the output gradient,
//! which for a 1x1 kernel is `c_in` matrix-vector products that each read the whole output
//! gradient: memory-bound, and a fifth of the R101-FPN training step on the CPU. As a
//! `matmul`, the weight gradient is one matrix product (`dy @ x^T`) and the input gradient another
//! (`W^T @ dy`), with no im2col. BENCHMARKS.md ("Training step") has the numbers.

use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

/// Whether `conv` is a plain 1x1 convolution: kernel 1x1, stride 1, one group, no padding.
pub fn is_pointwise(conv: &Conv2d) -> bool {
    let unpadded = match conv.padding {
        PaddingConfig2d::Valid | PaddingConfig2d::Same => true,
        PaddingConfig2d::Explicit(t, l, b, r) => t == 0 && l == 0 && b == 0 && r == 0,
    };
    conv.kernel_size == [1, 1] && conv.stride == [1, 1] && conv.groups == 1 && unpadded
}

/// `conv.forward(x)`, as one matrix product when the convolution is pointwise
/// ([`is_pointwise`]), with a faster weight gradient for the other ones in training on the CPU.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    if conv.padding == PaddingConfig2d::Same {
        return conv.forward(x);
    }
    let bias = conv.bias.as_ref().map(|b| b.val());
    with_parts(conv, x, conv.weight.val(), bias)
}

/// `conv2d(conv, x) * scale + shift`, one `scale` and `shift` per output channel (a frozen batch
/// norm after the convolution), computed as one convolution with the scale folded into the
/// weight and the shift into the bias: no pass over the output for the affine, none for its
/// gradient. The weight gradient reaches `conv.weight` through the scaled copy (and `scale` and
/// `shift` get theirs when they are tracked).
pub fn conv2d_affine(conv: &Conv2d, scale: Tensor<1>, shift: Tensor<1>, x: Tensor<4>) -> Tensor<4> {
    let c_out = scale.dims()[0];
    if conv.padding == PaddingConfig2d::Same {
        // Burn's module computes "same" padding from the input size.
        return conv.forward(x) * scale.reshape([1, c_out, 1, 1]) + shift.reshape([1, c_out, 1, 1]);
    }
    let weight = conv.weight.val();
    let weight = if crate::scale_flex::applies(&weight, &scale) {
        crate::scale_flex::scale_rows(weight, scale.clone())
    } else {
        weight * scale.clone().reshape([c_out, 1, 1, 1])
    };
    let bias = match &conv.bias {
        Some(b) => b.val() * scale.clone() + shift.clone(),
        None => shift.clone(),
    };
    with_parts(conv, x, weight, Some(bias))
}

/// `conv`'s geometry with the given weight and bias; not for "same" padding, which only Burn's
/// module computes.
fn with_parts(
    conv: &Conv2d,
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
) -> Tensor<4> {
    if is_pointwise(conv) {
        return pointwise(x, weight, bias);
    }
    let padding = match conv.padding {
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Same => unreachable!("the callers leave \"same\" padding to Burn"),
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    if let Some(y) = crate::conv_flex::try_conv2d(&x, &weight, bias.as_ref(), &options) {
        return y;
    }
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// Whether `conv` is a transposed convolution without overlap: kernel equal to the stride, no
/// padding, no output padding, no dilation, one group.
pub fn is_shuffle(conv: &ConvTranspose2d) -> bool {
    conv.kernel_size == conv.stride
        && conv.padding == [0, 0]
        && conv.padding_out == [0, 0]
        && conv.dilation == [1, 1]
        && conv.groups == 1
}

/// `conv.forward(x)`; for a transposed convolution without overlap ([`is_shuffle`]), as one matrix
/// product `[c_out*kh*kw, c_in] @ [c_in, pixels]` followed by a pixel shuffle: each input pixel
/// becomes its own `kh x kw` block of the output.
///
/// Why not Burn's transposed convolution: the same reason as [`conv2d`]'s. Its weight gradient is
/// a convolution whose output is only `kh x kw` pixels, which the CPU backend computes as thin
/// matrix products with a few rows each; as a `matmul`, the gradients are two ordinary products.
pub fn conv_transpose2d(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    if !is_shuffle(conv) {
        return conv.forward(x);
    }
    let [n, c_in, h, w] = x.dims();
    let [_, c_out, kh, kw] = conv.weight.dims();
    let weight = conv.weight.val().reshape([c_in, c_out * kh * kw]);
    let columns = if n == 1 {
        x.reshape([c_in, h * w])
    } else {
        x.swap_dims(0, 1).reshape([c_in, n * h * w])
    };
    // [c_out, kh, kw, n, h, w] -> [n, c_out, h, kh, w, kw]: each pixel's block in place.
    let y = weight
        .transpose()
        .matmul(columns)
        .reshape([c_out, kh, kw, n, h, w])
        .permute([3, 0, 4, 1, 5, 2])
        .reshape([n, c_out, h * kh, w * kw]);
    match &conv.bias {
        Some(bias) => y + bias.val().reshape([1, c_out, 1, 1]),
        None => y,
    }
}

fn pointwise(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>) -> Tensor<4> {
    if crate::pointwise_flex::applies(&x, &weight, bias.as_ref()) {
        return crate::pointwise_flex::pointwise(x, weight, bias);
    }
    let [n, c_in, h, w] = x.dims();
    let [c_out, ..] = weight.dims();
    let weight = weight.reshape([c_out, c_in]);
    let y = if n == 1 {
        // Rank 2: no broadcast to undo in the backward.
        weight
            .matmul(x.reshape([c_in, h * w]))
            .reshape([1, c_out, h * w])
    } else {
        weight
            .unsqueeze_dim::<3>(0)
            .matmul(x.reshape([n, c_in, h * w]))
    };
    let y = match bias {
        Some(bias) => y + bias.reshape([1, c_out, 1]),
        None => y,
    };
    y.reshape([n, c_out, h, w])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    fn pointwise(c_in: usize, c_out: usize, bias: bool, device: &Device) -> Conv2d {
        Conv2dConfig::new([c_in, c_out], [1, 1])
            .with_bias(bias)
            .init(device)
    }

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// Values, input gradient and weight and bias gradients equal to Burn's convolution, for a
    /// batch of one and of three (the broadcast matrix product), with and without bias.
    #[test]
    fn pointwise_matches_burn_conv_values_and_gradients() {
        let device = Device::flex().autodiff();
        for (n, bias) in [(1, true), (3, false), (2, true)] {
            let conv = pointwise(5, 7, bias, &device);
            assert!(is_pointwise(&conv));
            let x = Tensor::<4>::random([n, 5, 4, 6], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let probe = Tensor::<4>::random([n, 7, 4, 6], Distribution::Normal(0.0, 1.0), &device);

            let ours = conv2d(&conv, x.clone());
            let burn = conv.forward(x.clone());
            assert_eq!(ours.dims(), burn.dims());
            let value_diff = max_abs_diff(ours.clone(), burn.clone());
            assert!(value_diff < 1e-5, "values differ by {value_diff}");

            let g_ours = (ours * probe.clone()).sum().backward();
            let g_burn = (burn * probe).sum().backward();
            let grad = |g: &burn::tensor::Gradients| {
                (
                    x.grad(g).unwrap(),
                    conv.weight.val().grad(g).unwrap(),
                    conv.bias.as_ref().map(|b| b.val().grad(g).unwrap()),
                )
            };
            let (dx_a, dw_a, db_a) = grad(&g_ours);
            let (dx_b, dw_b, db_b) = grad(&g_burn);
            assert!(max_abs_diff(dx_a, dx_b) < 1e-4, "input gradient, n = {n}");
            assert!(max_abs_diff(dw_a, dw_b) < 1e-4, "weight gradient, n = {n}");
            if let (Some(a), Some(b)) = (db_a, db_b) {
                assert!(max_abs_diff(a, b) < 1e-4, "bias gradient, n = {n}");
            }
        }
    }

    /// Values, input gradient and weight and bias gradients equal to Burn's transposed
    /// convolution, for 2x2 stride 2 (the mask head's) and 3x2 stride 3x2, batches of one and
    /// several; an overlapping one is Burn's unchanged.
    #[test]
    fn shuffle_matches_burn_conv_transpose_values_and_gradients() {
        use burn::nn::conv::ConvTranspose2dConfig;
        let device = Device::flex().autodiff();
        for (n, kernel, bias) in [(1, [2, 2], true), (3, [2, 2], false), (2, [3, 2], true)] {
            let conv = ConvTranspose2dConfig::new([4, 6], kernel)
                .with_stride(kernel)
                .with_bias(bias)
                .init(&device);
            assert!(is_shuffle(&conv));
            let x = Tensor::<4>::random([n, 4, 3, 5], Distribution::Normal(0.0, 1.0), &device)
                .require_grad();
            let ours = conv_transpose2d(&conv, x.clone());
            let burn = conv.forward(x.clone());
            assert_eq!(ours.dims(), burn.dims());
            let value_diff = max_abs_diff(ours.clone(), burn.clone());
            assert!(value_diff < 1e-5, "values differ by {value_diff}");
            let probe = Tensor::<4>::random(burn.dims(), Distribution::Normal(0.0, 1.0), &device);
            let g_ours = (ours * probe.clone()).sum().backward();
            let g_burn = (burn * probe).sum().backward();
            let diff =
                |a: Option<Tensor<4>>, b: Option<Tensor<4>>| max_abs_diff(a.unwrap(), b.unwrap());
            assert!(
                diff(x.grad(&g_ours), x.grad(&g_burn)) < 1e-4,
                "input gradient, n = {n}"
            );
            let (w_ours, w_burn) = (
                conv.weight.val().grad(&g_ours),
                conv.weight.val().grad(&g_burn),
            );
            assert!(diff(w_ours, w_burn) < 1e-4, "weight gradient, n = {n}");
            if let Some(b) = &conv.bias {
                let d = max_abs_diff(
                    b.val().grad(&g_ours).unwrap(),
                    b.val().grad(&g_burn).unwrap(),
                );
                assert!(d < 1e-4, "bias gradient, n = {n}");
            }
        }
        let overlapping = ConvTranspose2dConfig::new([4, 6], [3, 3])
            .with_stride([2, 2])
            .init(&device);
        assert!(!is_shuffle(&overlapping));
        let x = Tensor::<4>::random([1, 4, 3, 5], Distribution::Normal(0.0, 1.0), &device);
        let diff = max_abs_diff(
            conv_transpose2d(&overlapping, x.clone()),
            overlapping.forward(x),
        );
        assert_eq!(diff, 0.0);
    }

    /// The folded convolution equals the convolution followed by the affine, values and
    /// gradients (input, weight, and scale and shift when tracked), for a pointwise and a
    /// strided 3x3 convolution, with and without bias, under autodiff and without.
    #[test]
    fn affine_folds_like_conv_then_affine() {
        let normal = Distribution::Normal(0.0, 1.0);
        for autodiff in [true, false] {
            let device = if autodiff {
                Device::flex().autodiff()
            } else {
                Device::flex()
            };
            let three = Conv2dConfig::new([4, 6], [3, 3])
                .with_stride([2, 2])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(&device);
            for (conv, n, tracked) in [
                (pointwise(4, 6, false, &device), 1, false),
                (pointwise(4, 6, true, &device), 2, true),
                (three.clone(), 1, false),
                (three, 3, true),
            ] {
                let x = Tensor::<4>::random([n, 4, 7, 9], normal, &device);
                let x = if autodiff { x.require_grad() } else { x };
                let scale = Tensor::<1>::random([6], normal, &device);
                let shift = Tensor::<1>::random([6], normal, &device);
                let (scale, shift) = if tracked && autodiff {
                    (scale.require_grad(), shift.require_grad())
                } else {
                    (scale, shift)
                };
                let folded = conv2d_affine(&conv, scale.clone(), shift.clone(), x.clone());
                let reference = conv2d(&conv, x.clone()) * scale.clone().reshape([1, 6, 1, 1])
                    + shift.clone().reshape([1, 6, 1, 1]);
                assert_eq!(folded.dims(), reference.dims());
                let value_diff = max_abs_diff(folded.clone(), reference.clone());
                assert!(value_diff < 1e-5, "values differ by {value_diff}");
                if !autodiff {
                    continue;
                }
                let probe = Tensor::<4>::random(reference.dims(), normal, &device);
                let g_ours = (folded * probe.clone()).sum().backward();
                let g_ref = (reference * probe).sum().backward();
                let close = |a: Option<Tensor<4>>, b: Option<Tensor<4>>, what: &str| {
                    let (a, b) = (a.unwrap(), b.unwrap());
                    let tol = 1e-4 * b.clone().abs().max().into_scalar::<f32>().max(1.0);
                    let d = max_abs_diff(a, b);
                    assert!(d < tol, "{what} gradient differs by {d} (n = {n})");
                };
                close(x.grad(&g_ours), x.grad(&g_ref), "input");
                let w = conv.weight.val();
                close(w.grad(&g_ours), w.grad(&g_ref), "weight");
                if tracked {
                    for (t, what) in [(&scale, "scale"), (&shift, "shift")] {
                        let (a, b) = (t.grad(&g_ours).unwrap(), t.grad(&g_ref).unwrap());
                        let tol = 1e-4 * b.clone().abs().max().into_scalar::<f32>().max(1.0);
                        let d = max_abs_diff(a, b);
                        assert!(d < tol, "{what} gradient differs by {d}");
                    }
                }
            }
        }
    }

    /// Convolutions that are not pointwise (strided or padded 1x1, 3x3, "same" padding) give
    /// Burn's values.
    #[test]
    fn other_convolutions_give_burns_values() {
        let device = Device::flex();
        let strided = Conv2dConfig::new([3, 4], [1, 1])
            .with_stride([2, 2])
            .init(&device);
        let padded = Conv2dConfig::new([3, 4], [1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        let three = Conv2dConfig::new([3, 4], [3, 3]).init(&device);
        let same = Conv2dConfig::new([3, 4], [3, 3])
            .with_padding(PaddingConfig2d::Same)
            .init(&device);
        let x = Tensor::<4>::random([1, 3, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        for conv in [&strided, &padded, &three, &same] {
            assert!(!is_pointwise(conv));
            let diff = max_abs_diff(conv2d(conv, x.clone()), conv.forward(x.clone()));
            assert!(diff < 1e-5, "differs by {diff}");
        }
    }
}
