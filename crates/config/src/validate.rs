//! The checks that serde cannot do: required keys, exclusive keys, ranges, device names.

use crate::dataset::DatasetFormat;
use crate::device::DeviceSpec;
use crate::error::{ConfigError, Origin};
use crate::experiment::Experiment;
use crate::layers::{Layers, Seg};

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
        if key.starts_with("devices") {
            if let Some((first, _)) = seen.iter().find(|(k, s)| k != "device" && *s == spec) {
                return Err(invalid(
                    &key,
                    format!(
                        "`{key}` = \"{d}\" repeats `{first}`: each device of a data-parallel \
                         run must be a different device"
                    ),
                ));
            }
        }
        seen.push((key, spec));
    }
    let n_devices = exp.devices.len().max(1);
    if exp.solver.images_per_batch % n_devices != 0 {
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

/// `devices[1]` -> `[Key("devices"), Index(1)]`.
fn parse_key(key: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in key.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        segs.push(Seg::Key(name.to_string()));
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                segs.push(Seg::Index(i));
            }
        }
    }
    segs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_indices() {
        assert_eq!(
            parse_key("devices[1]"),
            vec![Seg::Key("devices".into()), Seg::Index(1)]
        );
        assert_eq!(
            parse_key("solver.steps"),
            vec![Seg::Key("solver".into()), Seg::Key("steps".into())]
        );
    }
}
