//! Will a training step fit? An estimate of the memory one step needs, from the architecture,
//! the input size and the batch, checked against the memory the machine has free, so that
//! `input.min_sizes = [100000]` or a huge `solver.images_per_batch` stops in the first second
//! with a message instead of an allocation failure (an abort) minutes later.
//!
//! The estimate counts the activations autodiff keeps for the backward pass, per input pixel:
//! a bottleneck block keeps about 14 tensors of its inner width (convs, frozen batch norms,
//! ReLUs, the residual), a basic block about 6, the stem 3 at stride 2, the FPN 4 per level and
//! the RPN head 2; then doubles it for the backward pass's own buffers (gradients of the
//! activations, im2col copies), and adds parameters, gradients and momentum. Calibrated on the
//! measured R101-FPN step at 512x512 (BENCHMARKS.md: about 2 GB peak): the estimate is 2.0 GB.

use mrcnn_config::{BlockKind, ModelConfig};

/// Bytes one training step of `batch` images needs, at the largest input the config allows.
pub fn step_bytes(cfg: &ModelConfig, batch: usize) -> u64 {
    let largest_min = cfg.input.min_size.iter().copied().max().unwrap_or(0);
    let div = cfg.input.size_divisible.max(1);
    let up = |v: usize| v.div_ceil(div) * div;
    // The longer side reaches max_size, the shorter at most min_size (and at most max_size).
    let pixels = (up(largest_min.min(cfg.input.max_size)) * up(cfg.input.max_size)) as f64;
    let per_pixel = floats_per_pixel(cfg);
    let activations = 2.0 * 4.0 * per_pixel * pixels * batch as f64;
    let params = parameters(cfg) as f64 * 4.0 * 3.0;
    (activations + params) as u64
}

/// Activation floats kept per input pixel (see the module docs).
fn floats_per_pixel(cfg: &ModelConfig) -> f64 {
    let b = &cfg.backbone;
    let Ok((blocks, kind)) = b.stages() else {
        return 0.0;
    };
    let per_block = match kind {
        BlockKind::Bottleneck => 14.0,
        BlockKind::Basic => 6.0,
    };
    let mut f = 3.0 * b.stem_channels as f64 / 4.0;
    for (i, &n) in blocks.iter().enumerate() {
        let stride = (4usize << i) as f64;
        let width = (b.base_width << i) as f64;
        f += per_block * width * n as f64 / (stride * stride);
    }
    let levels: f64 = (2..=6).map(|l| 1.0 / (1u64 << (2 * l)) as f64).sum();
    f += (4.0 + 2.0) * cfg.fpn.out_channels as f64 * levels;
    f
}

/// Parameters of the backbone (the bulk of the model), roughly: 3x3 and 1x1 convs per block.
fn parameters(cfg: &ModelConfig) -> u64 {
    let b = &cfg.backbone;
    let Ok((blocks, kind)) = b.stages() else {
        return 0;
    };
    let mut p = 0u64;
    for (i, &n) in blocks.iter().enumerate() {
        let w = (b.base_width << i) as u64;
        p += n as u64
            * match kind {
                BlockKind::Bottleneck => w * 4 * w + 9 * w * w + w * 4 * w,
                BlockKind::Basic => 18 * w * w,
            };
    }
    p + 14 * 1024 * 1024 // FPN, RPN and heads of the standard sizes
}

/// Memory the system has available now (Linux `MemAvailable`); `None` elsewhere.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// An error message when a CPU step cannot fit in the memory this machine has free.
pub fn check(cfg: &ModelConfig, batch: usize) -> Option<String> {
    let need = step_bytes(cfg, batch);
    let have = available_bytes()?;
    (need > have).then(|| {
        let gb = |b: u64| b as f64 / 1e9;
        format!(
            "a training step needs about {:.1} GB ({batch} image(s) of up to {}x{} pixels: \
             input.min_size {:?}, input.max_size {}) but {:.1} GB of memory is free; lower \
             input.min_sizes / input.max_size or solver.images_per_batch",
            gb(need),
            cfg.input
                .min_size
                .iter()
                .max()
                .unwrap_or(&0)
                .min(&cfg.input.max_size),
            cfg.input.max_size,
            cfg.input.min_size,
            cfg.input.max_size,
            gb(have)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r101_at_512_is_about_what_was_measured() {
        let mut cfg = ModelConfig::default();
        cfg.backbone.depth = 101;
        cfg.input.min_size = vec![512];
        cfg.input.max_size = 512;
        let gb = step_bytes(&cfg, 1) as f64 / 1e9;
        assert!((1.5..3.0).contains(&gb), "{gb}");
        cfg.input.min_size = vec![100_000];
        cfg.input.max_size = 100_000;
        assert!(
            step_bytes(&cfg, 1) > 10_000_000_000_000,
            "a 100000-pixel side is terabytes"
        );
        assert!(check(&cfg, 1).is_some_and(|m| m.contains("GB")));
    }
}
