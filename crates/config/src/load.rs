//! The two loaders, one machinery: [`load_experiment`] (an experiment with its `base` chain and
//! `--set`s, and the architecture it names with its `[model.overrides]`) and
//! [`load_model_config`] (an architecture alone). Both read files through [`Layers`], turn
//! serde's errors into one-line [`ConfigError`]s naming the file (or `--set`), the dotted key as
//! the user wrote it and the nearest valid key, and check values.

use std::path::{Path, PathBuf};

use toml::Value;

use crate::diagnose::deserialize;
use crate::error::{ConfigError, InvalidValue};
use crate::experiment::Experiment;
use crate::keys::{Seg, parse_key};
use crate::layers::Layers;
use crate::model_config::ModelConfig;

/// Loads the experiment at `path` with its `base` chain, applies the `--set KEY=VALUE`
/// arguments `sets` in order, validates the result, and loads the architecture it names
/// (`model.config` with `[model.overrides]` and `input.min_sizes`/`input.max_size` applied) into
/// [`Experiment::architecture`].
///
/// A `--set` VALUE is parsed as a TOML value (`0.01`, `[640, 800]`, `true`, `"x"`) and taken as
/// a bare string when it is not one (`device=wgpu:1`). An empty `output_dir` becomes
/// `runs/<stem of path>`.
pub fn load_experiment(path: &Path, sets: &[String]) -> Result<Experiment, ConfigError> {
    let mut layers = Layers::load(path)?;
    for arg in sets {
        layers.apply_set(arg)?;
    }
    let mut exp: Experiment = deserialize(&layers)?;
    crate::validate::validate(&exp, &layers)?;
    if exp.output_dir.as_os_str().is_empty() {
        let stem = path.file_stem().unwrap_or_default();
        exp.output_dir = PathBuf::from("runs").join(stem);
    }
    exp.architecture = architecture(&exp, &layers)?;
    Ok(exp)
}

/// Loads an architecture TOML (and its `base` chain).
pub fn load_model_config(path: &Path) -> Result<ModelConfig, ConfigError> {
    checked(&Layers::load(path)?)
}

/// Parses architecture TOML text; `origin` names it in errors.
pub fn model_config_from_str(text: &str, origin: &Path) -> Result<ModelConfig, ConfigError> {
    checked(&Layers::from_str(text, origin)?)
}

/// Deserialises and validates a model config, locating errors in its layers.
fn checked(layers: &Layers) -> Result<ModelConfig, ConfigError> {
    let cfg: ModelConfig = deserialize(layers)?;
    cfg.validate().map_err(|e| invalid_in(layers, e))?;
    Ok(cfg)
}

/// `e` as an error of the layer that set its key, under the key's written name.
fn invalid_in(layers: &Layers, e: InvalidValue) -> ConfigError {
    let (origin, key) = layers.locate(&parse_key(&e.key));
    ConfigError::Invalid {
        origin,
        message: format!("`{key}` {}", e.reason),
        key,
    }
}

/// The architecture of `exp`: its model TOML, then `[model.overrides]` (deep-merged, each key
/// reported as `model.overrides.KEY` of the file or `--set` that wrote it), then
/// `input.min_sizes` and `input.max_size` as the model's `input.min_size`/`input.max_size`.
fn architecture(exp: &Experiment, exp_layers: &Layers) -> Result<ModelConfig, ConfigError> {
    let file = &exp.model.config;
    let mut layers = Layers::load(file).map_err(|e| match e {
        ConfigError::Io {
            base_of: None,
            source,
            ..
        } => {
            let (origin, key) = exp_layers.locate(&parse_key("model.config"));
            ConfigError::Invalid {
                origin,
                message: format!(
                    "`{key}` = \"{}\": cannot read it ({source}); model configs live in \
                     model_configs/, and the path is relative to the current directory",
                    file.display()
                ),
                key,
            }
        }
        other => other,
    })?;
    let mut leaves = Vec::new();
    collect_leaves(&exp.model.overrides, &mut Vec::new(), &mut leaves);
    for (at, value) in leaves {
        let mut written: Vec<Seg> = ["model", "overrides"]
            .iter()
            .map(|k| Seg::Key(k.to_string()))
            .collect();
        written.extend(at.iter().cloned().map(Seg::Key));
        let origin = exp_layers.origin_of(&written);
        layers.overlay(&at, value, origin, (&[], &["model", "overrides"]));
    }
    let ints = |v: &[usize]| Value::Array(v.iter().map(|&s| Value::Integer(s as i64)).collect());
    if !exp.input.min_sizes.is_empty() {
        let origin = exp_layers.origin_of(&parse_key("input.min_sizes"));
        let at = ["input", "min_size"];
        layers.overlay(
            &at.map(String::from),
            ints(&exp.input.min_sizes),
            origin,
            (&at, &["input", "min_sizes"]),
        );
    }
    if let Some(m) = exp.input.max_size {
        let origin = exp_layers.origin_of(&parse_key("input.max_size"));
        let at = ["input", "max_size"];
        layers.overlay(
            &at.map(String::from),
            Value::Integer(m as i64),
            origin,
            (&at, &at),
        );
    }
    checked(&layers)
}

/// The non-table values of `t` with their key paths.
fn collect_leaves(t: &toml::Table, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    for (k, v) in t {
        path.push(k.clone());
        match v {
            Value::Table(sub) => collect_leaves(sub, path, out),
            other => out.push((path.clone(), other.clone())),
        }
        path.pop();
    }
}

impl ModelConfig {
    /// [`load_model_config`]: reads an architecture TOML (and its `base` chain).
    pub fn load(path: &Path) -> Result<ModelConfig, ConfigError> {
        load_model_config(path)
    }

    /// [`model_config_from_str`]: parses architecture TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<ModelConfig, ConfigError> {
        model_config_from_str(text, origin)
    }
}
