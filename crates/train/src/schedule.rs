//! Learning-rate schedules with a linear warm-up, as torchvision's detection references
//! (`LinearLR(start_factor=warmup_factor)` then `MultiStepLR`) and Detectron2
//! (`WarmupMultiStepLR` / `WarmupCosineLR`) define them:
//!
//! `lr(i) = base_lr * warmup(i) * decay(i)`, with `warmup(i) = f + (1 - f) * i / warmup_iters`
//! for `i < warmup_iters` (1 afterwards) and `decay` either `gamma ^ (number of milestones <= i)`,
//! a half cosine from 1 at 0 to `final_factor` at `total_iters`, or 1.
//!
//! Burn has no multi-step or warm-up-factor scheduler, so [`WarmupLr`] implements
//! [`LrScheduler`]; `.into()` turns it into the `ModuleLrScheduler` Burn's loops take.

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use burn::optim::LearningRate;

/// What follows the warm-up.
#[derive(Debug, Clone, PartialEq)]
pub enum Decay {
    /// The base rate throughout.
    Constant,
    /// Multiply by `gamma` at each milestone (iteration index, increasing).
    MultiStep { milestones: Vec<usize>, gamma: f64 },
    /// Half cosine from the base rate to `final_factor * base_lr` over `total_iters`.
    Cosine {
        total_iters: usize,
        final_factor: f64,
    },
}

/// A warm-up + decay schedule; `step()` returns the rate of iteration 0, 1, 2, ...
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupLr {
    pub base_lr: f64,
    pub warmup_iters: usize,
    /// Factor at iteration 0 (torchvision's references 1/1000, Detectron2 1/1000).
    pub warmup_factor: f64,
    pub decay: Decay,
    /// The next iteration `step()` answers for.
    pub iter: usize,
}

impl WarmupLr {
    pub fn new(base_lr: f64, warmup_iters: usize, warmup_factor: f64, decay: Decay) -> Self {
        Self {
            base_lr,
            warmup_iters,
            warmup_factor,
            decay,
            iter: 0,
        }
    }

    /// The warm-up factor of iteration `i` (Detectron2's `_get_warmup_factor_at_iter`, linear).
    pub fn warmup(&self, i: usize) -> f64 {
        if i >= self.warmup_iters {
            return 1.0;
        }
        let alpha = i as f64 / self.warmup_iters as f64;
        self.warmup_factor * (1.0 - alpha) + alpha
    }

    /// The decay factor of iteration `i`.
    pub fn decay(&self, i: usize) -> f64 {
        match &self.decay {
            Decay::Constant => 1.0,
            Decay::MultiStep { milestones, gamma } => {
                // bisect_right: milestones equal to i count.
                gamma.powi(milestones.iter().filter(|&&m| m <= i).count() as i32)
            }
            Decay::Cosine {
                total_iters,
                final_factor,
            } => {
                if *total_iters == 0 || i >= *total_iters {
                    return *final_factor;
                }
                let c = 0.5 * (1.0 + (std::f64::consts::PI * i as f64 / *total_iters as f64).cos());
                final_factor + (1.0 - final_factor) * c
            }
        }
    }

    /// The learning rate of iteration `i`.
    pub fn lr_at(&self, i: usize) -> f64 {
        self.base_lr * self.warmup(i) * self.decay(i)
    }
}

impl LrScheduler for WarmupLr {
    fn step(&mut self) -> LearningRate {
        let lr = self.lr_at(self.iter);
        self.iter += 1;
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar("iter", self.iter as u64)
    }

    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(iter) = record.scalar::<u64>("iter") {
            self.iter = iter as usize;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn warmup_then_multistep_like_torch() {
        // torch: LinearLR(start_factor=0.001, total_iters=4) then MultiStepLR([6, 8], 0.1), base 0.02.
        let mut s = WarmupLr::new(
            0.02,
            4,
            0.001,
            Decay::MultiStep {
                milestones: vec![6, 8],
                gamma: 0.1,
            },
        );
        let lrs: Vec<f64> = (0..10).map(|_| s.step()).collect();
        let expect = [
            0.02 * 0.001,
            0.02 * (0.001 * 0.75 + 0.25),
            0.02 * (0.001 * 0.5 + 0.5),
            0.02 * (0.001 * 0.25 + 0.75),
            0.02,
            0.02,
            0.002,
            0.002,
            0.0002,
            0.0002,
        ];
        for (i, (a, b)) in lrs.iter().zip(expect).enumerate() {
            assert!(close(*a, b), "iter {i}: {a} vs {b}");
        }
    }

    #[test]
    fn cosine_ends_at_final_factor() {
        let s = WarmupLr::new(
            1.0,
            0,
            1.0,
            Decay::Cosine {
                total_iters: 100,
                final_factor: 0.0,
            },
        );
        assert!(close(s.lr_at(0), 1.0));
        assert!(close(s.lr_at(50), 0.5));
        assert!(s.lr_at(100).abs() < 1e-12);
    }

    #[test]
    fn record_round_trip() {
        let mut s = WarmupLr::new(0.1, 2, 0.5, Decay::Constant);
        s.step();
        s.step();
        let rec = s.to_record();
        let mut t = WarmupLr::new(0.1, 2, 0.5, Decay::Constant);
        t.load_record(rec);
        assert_eq!(t.iter, 2);
        assert!(close(t.step(), 0.1));
    }
}
