//! Frozen batch norm (torchvision's `FrozenBatchNorm2d`): a fixed per-channel affine built from
//! the stored statistics; its four tensors never receive gradients.

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

#[derive(Module, Debug)]
pub struct FrozenBatchNorm2d {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub running_mean: Param<Tensor<1>>,
    pub running_var: Param<Tensor<1>>,
    pub eps: f32,
}

fn frozen(t: Tensor<1>) -> Param<Tensor<1>> {
    Param::from_tensor(t).set_require_grad(false)
}

impl FrozenBatchNorm2d {
    /// Identity statistics (weight 1, bias 0, mean 0, var 1).
    pub fn new(channels: usize, eps: f32, device: &Device) -> Self {
        Self {
            weight: frozen(Tensor::ones([channels], device)),
            bias: frozen(Tensor::zeros([channels], device)),
            running_mean: frozen(Tensor::zeros([channels], device)),
            running_var: frozen(Tensor::ones([channels], device)),
            eps,
        }
    }

    /// The per-channel `(scale, shift)` of `x * scale + shift`, constants (no gradient).
    fn affine(&self) -> (Tensor<1>, Tensor<1>) {
        let scale = self.weight.val().detach()
            * (self.running_var.val().detach() + self.eps).sqrt().recip();
        let shift = self.bias.val().detach() - self.running_mean.val().detach() * scale.clone();
        (scale, shift)
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = self.weight.dims()[0];
        let (scale, shift) = self.affine();
        x * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1])
    }

    /// `self.forward(conv.forward(x))` in one pass over the activations: the affine is folded
    /// into the convolution, its weight scaled per output channel and the shift made its bias
    /// (`conv(x, W * s) + t = conv(x, W) * s + t`). The statistics are constants, so in training
    /// the weight's gradient flows through the scaling, and the activation-sized multiply and add
    /// (and their backward passes) are gone; only `C_out` x `C_in` x k x k weights are scaled.
    pub fn after_conv(&self, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        let PaddingConfig2d::Explicit(top, left, bottom, right) = conv.padding else {
            return self.forward(conv.forward(x));
        };
        let (scale, shift) = self.affine();
        let c = scale.dims()[0];
        let bias = match &conv.bias {
            Some(b) => b.val() * scale.clone() + shift,
            None => shift,
        };
        let weight = conv.weight.val() * scale.reshape([c, 1, 1, 1]);
        let options = ConvOptions::new_with_padding(
            conv.stride,
            [(top, bottom), (left, right)],
            conv.dilation,
            conv.groups,
        );
        conv2d(x, weight, Some(bias), options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    fn random_bn(c: usize, device: &Device) -> FrozenBatchNorm2d {
        let u = |lo: f64, hi: f64| Tensor::<1>::random([c], Distribution::Uniform(lo, hi), device);
        FrozenBatchNorm2d {
            weight: frozen(u(0.5, 1.5)),
            bias: frozen(u(-0.2, 0.2)),
            running_mean: frozen(u(-0.2, 0.2)),
            running_var: frozen(u(0.5, 2.0)),
            eps: 1e-5,
        }
    }

    /// The folded convolution equals convolution then affine, in value and in the weight's
    /// gradient, for a strided 3x3 and a 1x1, with and without a convolution bias.
    #[test]
    fn folding_into_the_convolution_changes_nothing() {
        let device = Device::flex().autodiff();
        for (k, stride, bias) in [(3, 2, false), (1, 1, false), (3, 1, true)] {
            let p = k / 2;
            let conv = Conv2dConfig::new([5, 7], [k, k])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(bias)
                .init(&device);
            let bn = random_bn(7, &device);
            let x = Tensor::<4>::random([2, 5, 9, 11], Distribution::Normal(0.0, 1.0), &device);
            let a = bn.forward(conv.forward(x.clone()));
            let b = bn.after_conv(&conv, x);
            assert_eq!(a.dims(), b.dims());
            // An upstream gradient of the output's shape.
            let up = Tensor::<4>::random(a.dims(), Distribution::Normal(0.0, 1.0), &device);
            let diff = (a.clone() - b.clone()).abs().max().into_scalar::<f32>();
            assert!(
                diff < 1e-5,
                "k={k} stride={stride}: values differ by {diff}"
            );
            let ga = (a * up.clone()).sum().backward();
            let gb = (b * up).sum().backward();
            let wa = conv.weight.grad(&ga).unwrap();
            let wb = conv.weight.grad(&gb).unwrap();
            let gdiff = (wa.clone() - wb).abs().max().into_scalar::<f32>();
            let scale = wa.abs().max().into_scalar::<f32>();
            assert!(
                gdiff <= 1e-5 * scale.max(1.0),
                "k={k} stride={stride}: weight gradients differ by {gdiff} (scale {scale})"
            );
        }
    }
}
