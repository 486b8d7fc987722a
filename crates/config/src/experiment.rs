//! [`Experiment`]: the top level of an experiment TOML, its defaults, and the effective config
//! written into the run folder.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::dataset::{ClassRule, DatasetSection, SynthSection};
use crate::input::{ColorJitter, InputSection};
use crate::model::ModelSection;
use crate::model_config::ModelConfig;
use crate::run::{CheckpointSection, EvalSection, LoaderSection, LogSection};
use crate::solver::SolverSection;

/// One training experiment. Every key has a default except `model.config`; an experiment file
/// states only what differs (Detectron2's "all defaults in one place" style).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Experiment {
    /// Seed of every random draw (sampling, augmentation, initialisation). Default 0
    /// (Detectron2's `SEED = -1` draws one; here runs repeat by default).
    pub seed: u64,
    /// Run folder (checkpoints, metrics, the effective config). Default
    /// `runs/<stem of the experiment file>`.
    pub output_dir: PathBuf,
    /// `"cpu"` (default), `"wgpu"` (the default adapter), `"wgpu:N"` (discrete GPU N),
    /// `"wgpu:integrated:N"`, `"wgpu:virtual:N"` or `"wgpu:cpu"` (a software adapter).
    pub device: String,
    /// Several (different) devices = data parallel: each takes `solver.images_per_batch / len`
    /// images of every batch and the gradients are averaged on the first (Detectron2's DDP
    /// semantics). Default empty = `[device]`; when set, it replaces `device` for training.
    pub devices: Vec<String>,
    pub model: ModelSection,
    pub dataset: DatasetSection,
    pub solver: SolverSection,
    pub input: InputSection,
    pub loader: LoaderSection,
    pub eval: EvalSection,
    pub checkpoint: CheckpointSection,
    pub log: LogSection,
    /// The architecture: `model.config` with `[model.overrides]` and `input.min_sizes` /
    /// `input.max_size` applied, as [`crate::load_experiment`] resolved it (its classes are
    /// the file's until the trainer sets the dataset's with `ModelConfig::with_classes`). Not
    /// part of the experiment TOML.
    #[serde(skip)]
    pub architecture: ModelConfig,
}

impl Default for Experiment {
    fn default() -> Self {
        Self {
            seed: 0,
            output_dir: PathBuf::new(),
            device: "cpu".into(),
            devices: Vec::new(),
            model: ModelSection::default(),
            dataset: DatasetSection::default(),
            solver: SolverSection::default(),
            input: InputSection::default(),
            loader: LoaderSection::default(),
            eval: EvalSection::default(),
            checkpoint: CheckpointSection::default(),
            log: LogSection::default(),
            architecture: ModelConfig::default(),
        }
    }
}

impl Experiment {
    /// Training length in iterations: `solver.max_iter`, or
    /// `ceil(epochs * train_images / images_per_batch)` (at least 1 when there is data).
    pub fn max_iter(&self, train_images: usize) -> usize {
        if let Some(n) = self.solver.max_iter {
            return n;
        }
        let epochs = self.solver.epochs.unwrap_or(0.0);
        let batch = self.solver.images_per_batch.max(1) as f64;
        let iters = epochs * train_images as f64 / batch;
        // The tolerance keeps 0.3 * 10 / 1 = 3.0000000000000004 at 3.
        (iters - 1e-9).ceil().max(0.0) as usize
    }

    /// The devices to train on: `devices`, or `[device]` when it is empty.
    pub fn train_devices(&self) -> Vec<String> {
        if self.devices.is_empty() {
            vec![self.device.clone()]
        } else {
            self.devices.clone()
        }
    }

    /// The complete effective config as TOML: every key with its value, defaults included.
    /// Optional keys that are unset (TOML has no null) are listed in a comment under their
    /// section. Loading the text back gives an equal `Experiment`.
    pub fn to_toml_string(&self) -> String {
        let body = toml::to_string(self).expect("an experiment always serialises to TOML");
        let mut out = String::from(
            "# Effective experiment config: defaults, base files and --set applied.\n\
             # Load it as an experiment file to repeat this run.\n",
        );
        let unset = self.unset_options();
        let emit_notes = |section: &str, out: &mut String| {
            for (sec, key, meaning) in &unset {
                if *sec == section {
                    out.push_str(&format!("# {key}: not set ({meaning})\n"));
                }
            }
        };
        emit_notes("", &mut out);
        for line in body.lines() {
            out.push_str(line);
            out.push('\n');
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                emit_notes(section, &mut out);
            }
        }
        out
    }

    /// `(section, key, meaning)` of every `Option` that is `None`.
    fn unset_options(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let mut v = Vec::new();
        let mut note = |unset: bool, sec, key, meaning| {
            if unset {
                v.push((sec, key, meaning));
            }
        };
        let (m, d, s, i, e) = (
            &self.model,
            &self.dataset,
            &self.solver,
            &self.input,
            &self.eval,
        );
        note(
            m.weights.is_none(),
            "model",
            "weights",
            "train from scratch",
        );
        note(
            d.images.is_none(),
            "dataset",
            "images",
            "the reader uses <folder of the JSON>/images",
        );
        let same = "same as images";
        note(d.val_images.is_none(), "dataset", "val_images", same);
        note(
            d.label_map.is_none(),
            "dataset",
            "label_map",
            "classes from the data",
        );
        note(d.synth.is_none(), "dataset", "synth", "no synthetic data");
        note(
            d.mask_folder.threshold.is_none(),
            "dataset.mask_folder",
            "threshold",
            "masks must be binary",
        );
        let wd = "same as weight_decay";
        note(
            s.weight_decay_norm_bias.is_none(),
            "solver",
            "weight_decay_norm_bias",
            wd,
        );
        note(
            s.max_iter.is_none(),
            "solver",
            "max_iter",
            "length from epochs",
        );
        note(
            s.epochs.is_none(),
            "solver",
            "epochs",
            "length from max_iter",
        );
        note(
            s.clip_grad_norm.is_none(),
            "solver",
            "clip_grad_norm",
            "no clipping",
        );
        let from_model = "the model config's input.max_size";
        note(i.max_size.is_none(), "input", "max_size", from_model);
        note(i.color_jitter.is_none(), "input", "color_jitter", "off");
        note(
            e.max_images.is_none(),
            "eval",
            "max_images",
            "all val images",
        );
        v
    }
}

impl crate::diagnose::Schema for Experiment {
    const OPAQUE: &'static [&'static str] = &["model.overrides"];

    /// Every `Option` set and one element in every array of tables: the serialisation lists
    /// every key of the schema (for key suggestions and tests).
    fn fully_populated() -> Self {
        let mut e = Experiment::default();
        e.model.weights = Some("w.pth".into());
        e.dataset.images = Some("i".into());
        e.dataset.val_images = Some("v".into());
        e.dataset.label_map = Some("l.pbtxt".into());
        e.dataset.synth = Some(SynthSection::default());
        e.dataset.mask_folder.threshold = Some(128);
        e.dataset.mask_folder.class_rules = vec![ClassRule {
            pattern: "*".into(),
            class: "c".into(),
        }];
        e.solver.weight_decay_norm_bias = Some(0.0);
        e.solver.max_iter = Some(1);
        e.solver.epochs = Some(1.0);
        e.solver.clip_grad_norm = Some(1.0);
        e.input.max_size = Some(1333);
        e.input.color_jitter = Some(ColorJitter::default());
        e.eval.max_images = Some(1);
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key of the schema is in the effective config, either as a value or, for an unset
    /// `Option`, in a "not set" comment.
    #[test]
    fn effective_config_lists_every_key() {
        use crate::diagnose::Schema;
        for exp in [Experiment::default(), Experiment::fully_populated()] {
            let text = exp.to_toml_string();
            let table: toml::Table = text.parse().unwrap();
            for key in crate::diagnose::key_catalog::<Experiment>() {
                // The first segment that is not in the table must be an unset Option.
                let mut t = &table;
                let mut missing = None;
                for k in key.split('.') {
                    match t.get(k) {
                        Some(toml::Value::Table(sub)) => t = sub,
                        Some(_) => break,
                        None => {
                            missing = Some(k);
                            break;
                        }
                    }
                }
                assert!(
                    missing.is_none_or(|k| text.contains(&format!("# {k}: not set"))),
                    "{key} neither set nor noted in:\n{text}"
                );
            }
        }
    }
}
