//! The backbone: a ResNet body (frozen batch norm, torchvision or Detectron2 stride placement)
//! and the feature pyramid network on top of it, giving P2-P6.

pub mod fpn;
pub mod frozen_bn;
pub mod resnet;

use burn::prelude::*;
use mrcnn_config::ModelConfig;

pub use fpn::Fpn;
pub use frozen_bn::FrozenBatchNorm2d;
pub use resnet::ResNet;

/// ResNet body + FPN, named as torchvision's `BackboneWithFPN` (`body`, `fpn`).
#[derive(Module, Debug)]
pub struct BackboneWithFpn {
    pub body: ResNet,
    pub fpn: Fpn,
}

impl BackboneWithFpn {
    pub fn new(cfg: &ModelConfig, device: &Device) -> mrcnn_core::Result<Self> {
        let body = ResNet::new(&cfg.backbone, device)?;
        let fpn = Fpn::new(
            &cfg.backbone.stage_out_channels()?,
            cfg.fpn.out_channels,
            device,
        );
        Ok(Self { body, fpn })
    }

    /// Pyramid levels P2, P3, P4, P5, P6 (strides 4..64).
    pub fn forward(&self, images: Tensor<4>) -> Vec<Tensor<4>> {
        let c = self.body.forward(images);
        self.fpn.forward(c)
    }
}
