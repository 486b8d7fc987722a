//! Frozen batch norm (torchvision's `FrozenBatchNorm2d`): a fixed per-channel affine built from
//! the stored statistics; its four tensors never receive gradients.

use burn::module::Param;
use burn::prelude::*;

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

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let c = self.weight.dims()[0];
        let scale = self.weight.val().detach()
            * (self.running_var.val().detach() + self.eps).sqrt().recip();
        let shift = self.bias.val().detach() - self.running_mean.val().detach() * scale.clone();
        x * scale.reshape([1, c, 1, 1]) + shift.reshape([1, c, 1, 1])
    }
}
