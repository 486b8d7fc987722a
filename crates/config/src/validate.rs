//! The checks that serde cannot do: required keys, exclusive keys, ranges, device names.

use crate::dataset::DatasetFormat;
use crate::device::DeviceSpec;
use crate::error::{ConfigError, Origin};
use crate::experiment::Experiment;
use crate::keys::parse_key;
use crate::layers::Layers;

/// Checks `exp`; errors name the layer that set the offending key.
pub(crate) fn validate(exp: &Experiment, layers: &Layers) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        origin: layers.origin_of(&parse_key(key)),
        key: key.to_string(),
        message,
    };

    if exp.model.config.as_os_str().is_empty() {
        return Err(ConfigError::MissingKey {
            origin: Origin::File(layers.top.clone()),
            key: "model.config".into(),
            hint: "it names the architecture TOML, e.g. `config = \
                   \"model_configs/mask_rcnn_R_50_FPN.toml\"` under `[model]`"
                .into(),
        });
    }

    let devices = std::iter::once(("device".to_string(), &exp.device)).chain(
        exp.devices
            .iter()
            .enumerate()
            .map(|(i, d)| (format!("devices[{i}]"), d)),
    );
    let mut seen: Vec<(String, DeviceSpec)> = Vec::new();
    for (key, d) in devices {
        let spec = DeviceSpec::parse(d).map_err(|e| invalid(&key, format!("`{key}`: {e}")))?;
        if key.starts_with("devices")
            && let Some((first, _)) = seen.iter().find(|(k, s)| k != "device" && *s == spec)
        {
            return Err(invalid(
                &key,
                format!(
                    "`{key}` = \"{d}\" repeats `{first}`: each device of a data-parallel \
                         run must be a different device"
                ),
            ));
        }
        seen.push((key, spec));
    }
    let n_devices = exp.devices.len().max(1);
    if !exp.solver.images_per_batch.is_multiple_of(n_devices) {
        return Err(invalid(
            "solver.images_per_batch",
            format!(
                "`solver.images_per_batch` = {} does not split over the {n_devices} `devices`: \
                 make it a multiple of {n_devices} (each device takes images_per_batch / \
                 {n_devices} images)",
                exp.solver.images_per_batch
            ),
        ));
    }

    let s = &exp.solver;
    match (s.max_iter, s.epochs) {
        (Some(_), Some(_)) => {
            let (a, b) = (
                layers.origin_of(&parse_key("solver.max_iter")),
                layers.origin_of(&parse_key("solver.epochs")),
            );
            let from = if a == b {
                String::new()
            } else {
                format!(" (max_iter from {a}, epochs from {b})")
            };
            return Err(invalid(
                "solver.epochs",
                format!("set exactly one of `solver.max_iter` and `solver.epochs`, not both{from}"),
            ));
        }
        (None, None) => {
            return Err(ConfigError::Invalid {
                origin: Origin::File(layers.top.clone()),
                key: "solver.max_iter".into(),
                message: "set exactly one of `solver.max_iter` (iterations) and \
                          `solver.epochs` (passes over the train set); neither is set"
                    .into(),
            });
        }
        (Some(0), None) => {
            return Err(invalid(
                "solver.max_iter",
                "`solver.max_iter` must be at least 1, found 0".into(),
            ));
        }
        (None, Some(e)) if !(e > 0.0 && e.is_finite()) => {
            return Err(invalid(
                "solver.epochs",
                format!("`solver.epochs` must be a positive number, found {e}"),
            ));
        }
        _ => {}
    }
    if s.images_per_batch == 0 {
        return Err(invalid(
            "solver.images_per_batch",
            "`solver.images_per_batch` must be at least 1, found 0".into(),
        ));
    }
    if let Some(i) = s.steps.windows(2).position(|w| w[0] >= w[1]) {
        return Err(invalid(
            "solver.steps",
            format!(
                "`solver.steps` must be strictly increasing iteration numbers, found {:?} \
                 ({} then {})",
                s.steps,
                s.steps[i],
                s.steps[i + 1]
            ),
        ));
    }

    let range = |key: &str, v: f64, ok: bool, want: &str| {
        if ok {
            Ok(())
        } else {
            Err(invalid(key, format!("`{key}` = {v}: {want}")))
        }
    };
    range(
        "solver.base_lr",
        s.base_lr,
        s.base_lr > 0.0 && s.base_lr.is_finite(),
        "the learning rate must be a positive number",
    )?;
    range(
        "solver.momentum",
        s.momentum,
        (0.0..1.0).contains(&s.momentum),
        "momentum must be in [0, 1) (0.9 is usual)",
    )?;
    range(
        "solver.weight_decay",
        crate::float::widen(s.weight_decay),
        s.weight_decay >= 0.0 && s.weight_decay.is_finite(),
        "weight decay must be a number >= 0",
    )?;
    if let Some(w) = s.weight_decay_norm_bias {
        range(
            "solver.weight_decay_norm_bias",
            crate::float::widen(w),
            w >= 0.0 && w.is_finite(),
            "weight decay must be a number >= 0",
        )?;
    }
    range(
        "solver.warmup_factor",
        s.warmup_factor,
        (0.0..=1.0).contains(&s.warmup_factor),
        "the warm-up starts at this fraction of base_lr: use a number in [0, 1]",
    )?;
    range(
        "solver.gamma",
        s.gamma,
        s.gamma > 0.0 && s.gamma.is_finite(),
        "the decay factor must be positive (0.1 is usual)",
    )?;
    range(
        "solver.cosine_final_factor",
        s.cosine_final_factor,
        (0.0..=1.0).contains(&s.cosine_final_factor),
        "use a fraction of base_lr in [0, 1]",
    )?;
    if let Some(c) = s.clip_grad_norm {
        range(
            "solver.clip_grad_norm",
            crate::float::widen(c),
            c > 0.0 && c.is_finite(),
            "the norm must be positive; leave the key out (or remove it) to disable clipping",
        )?;
    }
    if exp.log.period == 0 {
        return Err(invalid(
            "log.period",
            "`log.period` = 0: log every N iterations with N at least 1".into(),
        ));
    }
    let t = exp.eval.score_threshold;
    range(
        "eval.score_threshold",
        crate::float::widen(t),
        (0.0..=1.0).contains(&t),
        "it must be a score in [0, 1]",
    )?;

    if let Some(j) = &exp.input.color_jitter {
        for (key, v) in [
            ("input.color_jitter.brightness", j.brightness),
            ("input.color_jitter.contrast", j.contrast),
            ("input.color_jitter.saturation", j.saturation),
        ] {
            range(
                key,
                crate::float::widen(v),
                v >= 0.0 && v.is_finite(),
                "a jitter amount must be >= 0",
            )?;
        }
    }
    let p = exp.input.hflip_prob;
    if !(0.0..=1.0).contains(&p) {
        return Err(invalid(
            "input.hflip_prob",
            format!("`input.hflip_prob` must be a probability in [0, 1], found {p}"),
        ));
    }

    let d = &exp.dataset;
    let f = d.mask_folder.val_fraction;
    if !(0.0..1.0).contains(&f) {
        return Err(invalid(
            "dataset.mask_folder.val_fraction",
            format!("`dataset.mask_folder.val_fraction` must be in [0, 1), found {f}"),
        ));
    }
    let f = d.val_fraction;
    if !(0.0..1.0).contains(&f) {
        return Err(invalid(
            "dataset.val_fraction",
            format!("`dataset.val_fraction` must be in [0, 1), found {f}"),
        ));
    }
    if f > 0.0 && !d.val.is_empty() {
        return Err(invalid(
            "dataset.val_fraction",
            format!(
                "`dataset.val_fraction` = {f} and `dataset.val` both give a validation set: \
                 keep one"
            ),
        ));
    }
    if f > 0.0 && d.format == DatasetFormat::MaskFolder {
        return Err(invalid(
            "dataset.val_fraction",
            "a mask-folder dataset takes its split from `dataset.mask_folder.val_fraction` \
             (or `dataset.mask_folder.val_folders`): move the value there"
                .into(),
        ));
    }
    if f > 0.0 && !d.format.splits_itself() {
        return Err(invalid(
            "dataset.val_fraction",
            format!(
                "`dataset.val_fraction` applies to the formats without a split of their own \
                 (labelme, via, cvat, voc-masks); format \"{}\" takes its validation files in \
                 `dataset.val`",
                d.format
            ),
        ));
    }
    if d.class_attribute.is_some() && d.format != DatasetFormat::Via {
        return Err(invalid(
            "dataset.class_attribute",
            format!(
                "`dataset.class_attribute` names a VIA region attribute; format \"{}\" does not \
                 read it",
                d.format
            ),
        ));
    }
    if d.format == DatasetFormat::MaskFolder {
        if d.train.len() > 1 {
            return Err(invalid(
                "dataset.train",
                format!(
                    "`dataset.train` must name one root folder for format \"mask-folder\", \
                     found {} entries",
                    d.train.len()
                ),
            ));
        }
        if !d.val.is_empty() {
            return Err(invalid(
                "dataset.val",
                "`dataset.val` must be empty for format \"mask-folder\": the val split comes \
                 from `dataset.mask_folder.val_folders` or `dataset.mask_folder.val_fraction`"
                    .into(),
            ));
        }
    }
    Ok(())
}
