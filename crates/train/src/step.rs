//! One training step of Mask R-CNN: training forward, backward, SGD update.

use crate::optimizer::{SgdSettings, sgd_step};
use burn::optim::{GradientsParams, ModuleOptimizer};
use mrcnn_core::Result;
use mrcnn_core::rand::Rng;
use mrcnn_model::Detector;
use mrcnn_model::targets::TrainTarget;
use mrcnn_model::transform::ImageInput;

/// What one step reports.
#[derive(Debug, Clone, PartialEq)]
pub struct StepOutput {
    /// The five losses (torchvision names) before the update.
    pub losses: [(&'static str, f32); 5],
    pub total: f32,
    pub lr: f64,
}

/// Runs one step at learning rate `lr` on `images` (model on an autodiff device) and returns the
/// updated model. A data error leaves the model untouched and is returned with it.
pub fn train_step<R: Rng + ?Sized>(
    model: Detector,
    optim: &mut ModuleOptimizer,
    settings: &SgdSettings,
    images: &[ImageInput],
    targets: &[TrainTarget],
    lr: f64,
    rng: &mut R,
) -> (Detector, Result<StepOutput>) {
    let losses = match model.forward_train(images, targets, rng) {
        Ok(l) => l,
        Err(e) => return (model, Err(e)),
    };
    let values = losses.values();
    let total_t = losses.total();
    let total = mrcnn_core::host::to_vec(total_t.clone().detach())[0];
    let grads = GradientsParams::from_grads(total_t.backward(), &model);
    let model = sgd_step(settings, optim, model, grads, lr);
    (
        model,
        Ok(StepOutput {
            losses: values,
            total,
            lr,
        }),
    )
}
