//! The model as burn-train's `Learner` sees it: [`Trainee`] wraps a [`Detector`] (the FPN or
//! the C4 model) and implements
//! `TrainStep` (the five torchvision losses, backward, gradient clipping in `optimize`) and
//! `InferenceStep` (predictions), so the Learner, its checkpointer and its optimiser step drive
//! Mask R-CNN.
//!
//! A training step's randomness (the training size and the samplers) comes from a ChaCha stream
//! seeded by the batch's `seed`, which the loop derives from the run seed and the iteration, so a
//! resumed run draws exactly what an uninterrupted run would.

use burn::lr_scheduler::module_lr_scheduler::ModuleLearningRate;
use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn_train::metric::ItemLazy;
use burn_train::{InferenceStep, TrainOutput, TrainStep};
use mrcnn_core::rand::SeedableRng;
use mrcnn_core::rand_chacha::ChaCha8Rng;
use mrcnn_data::Sample;
use mrcnn_model::targets::TrainTarget;
use mrcnn_model::{Detector, ImageInput, Predict, Prediction};

use crate::optimizer::clip_grad_norm;

/// Mask R-CNN under training: the model plus the one optimiser knob that acts on gradients.
#[derive(Module, Debug)]
pub struct Trainee {
    pub model: Detector,
    /// Clip the global gradient norm to this value before the SGD step.
    #[module(skip)]
    pub clip_grad_norm: Option<f32>,
}

/// One training batch: images in `[0, 1]` RGB, their targets, and the step's seed.
#[derive(Debug, Clone)]
pub struct TrainBatch {
    pub images: Vec<ImageInput>,
    pub targets: Vec<TrainTarget>,
    pub seed: u64,
    /// The loss is multiplied by this before the backward pass (1; `1 / shards` for a shard of
    /// a data-parallel step, so that the summed gradients are the shards' mean).
    pub loss_weight: f32,
    /// Which shard of a data-parallel step this is (0 on one device); echoed in the output.
    pub shard: usize,
}

impl TrainBatch {
    /// A whole batch on one device.
    pub fn new(images: Vec<ImageInput>, targets: Vec<TrainTarget>, seed: u64) -> Self {
        Self {
            images,
            targets,
            seed,
            loss_weight: 1.0,
            shard: 0,
        }
    }
}

/// The five losses of a step (torchvision's names) and their sum, on the host.
#[derive(Debug, Clone, Default)]
pub struct StepLosses {
    pub values: Vec<(&'static str, f32)>,
    pub total: f32,
    /// The step could not run (a bad target); the message names the image and the object.
    pub error: Option<String>,
    /// Global gradient norm before clipping (when clipping is on).
    pub grad_norm: Option<f32>,
    /// The batch's `shard` (data-parallel steps sort the devices' outputs by it).
    pub shard: usize,
}

impl StepLosses {
    /// The first loss that is NaN or infinite, with its name.
    pub fn non_finite(&self) -> Option<(&'static str, f32)> {
        self.values.iter().copied().find(|(_, v)| !v.is_finite())
    }
}

impl ItemLazy for StepLosses {
    fn sync(self) -> Result<Self, burn_std::ExecutionError> {
        Ok(self)
    }
}

/// Predictions of an inference batch.
#[derive(Debug, Clone, Default)]
pub struct Predictions(pub Vec<Prediction>);

impl ItemLazy for Predictions {
    fn sync(self) -> Result<Self, burn_std::ExecutionError> {
        Ok(self)
    }
}

impl TrainStep for Trainee {
    type Input = TrainBatch;
    type Output = StepLosses;

    fn step(&self, item: TrainBatch) -> TrainOutput<StepLosses> {
        let mut rng = ChaCha8Rng::seed_from_u64(item.seed);
        match self
            .model
            .forward_train(&item.images, &item.targets, &mut rng)
        {
            Ok(losses) => {
                let values: Vec<(&'static str, f32)> = losses.values().to_vec();
                let total_t = losses.total();
                let total = mrcnn_core::host::to_vec(total_t.clone().detach())[0];
                let grads = if item.loss_weight == 1.0 {
                    total_t.backward()
                } else {
                    total_t.mul_scalar(item.loss_weight).backward()
                };
                TrainOutput::new(
                    self,
                    grads,
                    StepLosses {
                        values,
                        total,
                        error: None,
                        grad_norm: None,
                        shard: item.shard,
                    },
                )
            }
            Err(e) => TrainOutput {
                grads: GradientsParams::new(),
                item: StepLosses {
                    error: Some(e.to_string()),
                    shard: item.shard,
                    ..Default::default()
                },
            },
        }
    }

    fn optimize(
        self,
        optim: &mut ModuleOptimizer,
        lr: ModuleLearningRate,
        grads: GradientsParams,
    ) -> Self {
        let grads = match self.clip_grad_norm {
            Some(max) => clip_grad_norm(&self, grads, max).0,
            None => grads,
        };
        optim.step(lr, self, grads)
    }
}

impl InferenceStep for Trainee {
    type Input = Vec<ImageInput>;
    type Output = Predictions;

    fn step(&self, item: Vec<ImageInput>) -> Predictions {
        Predictions(self.model.predict(&item))
    }
}

/// A decoded sample as a training pair. Crowd regions are left out, as torchvision's and
/// Detectron2's training data paths do.
pub fn train_pair(s: &Sample) -> (ImageInput, TrainTarget) {
    let mut t = TrainTarget::default();
    for i in 0..s.boxes.len() {
        if s.iscrowd[i] {
            continue;
        }
        let b = s.boxes[i];
        t.boxes.push([b[0], b[1], b[2], b[3]]);
        t.labels.push(s.labels[i] as usize);
        t.masks.push(s.masks[i].as_raw().clone());
    }
    (ImageInput::from_rgb(&s.image), t)
}

/// The seed of iteration `iter`'s step (SplitMix64 of the run seed and the iteration).
pub fn step_seed(run_seed: u64, iter: u64) -> u64 {
    let mut z = run_seed
        .wrapping_add(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(iter.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
