//! `mrcnn import-config`: a TensorFlow Object Detection API `pipeline.config` (protobuf text
//! format, [`crate::text_format`]) translated into a model config (`architecture = "c4"`, the
//! keys of `model_configs/mask_rcnn_resnet101_atrous_tf.toml`) and an experiment TOML.
//!
//! Only the OD API's `faster_rcnn` with a TF1 ResNet v1 extractor, a `keep_aspect_ratio_resizer`
//! and a `mask_rcnn_box_predictor` that predicts masks is this project's C4 model; any other
//! pipeline is refused with the field and its line. Every field that is read is either written
//! (the TOMLs name its line in a comment) or listed in [`PipelineTranslation::notes`]: what has
//! no counterpart here is never dropped silently. Fields the pipeline leaves out take the OD
//! API's defaults (its `.proto` files), which are written explicitly.
//!
//! Paths (checkpoint, records, label map, and the experiment's `model.config`) are written as
//! the pipeline and `out_dir` give them: like the OD API, this project resolves them against the
//! current directory, so the experiment works when run from the directory `import-config` was
//! run from (or with absolute paths).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::text_format::{self, Scalar, TextFormatError, Value};
use walk::Walk;

mod experiment;
mod model;
mod walk;

/// The two TOML texts and what could not be translated.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineTranslation {
    /// The model config (`architecture = "c4"`), every key explicit.
    pub model_toml: String,
    /// The experiment; its `model.config` is `out_dir/model.toml`.
    pub experiment_toml: String,
    /// Fields not translated or ignored, by line.
    pub notes: Vec<PipelineNote>,
}

/// How a listed field was treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteKind {
    /// It has no counterpart here: the run will differ from the OD API's where it matters.
    NotTranslated,
    /// Read but without effect here (a default, or a setting this project does not need).
    Ignored,
    /// Translated, with a part left out (e.g. class names from an unreadable label map).
    Partial,
}

/// One field of the pipeline that is not (fully) in the TOMLs.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineNote {
    pub line: usize,
    /// Dotted field path, e.g. `model.faster_rcnn.first_stage_minibatch_size`.
    pub path: String,
    /// The value as written (`{ }` for an empty message).
    pub value: String,
    pub kind: NoteKind,
    pub reason: String,
}

impl fmt::Display for PipelineNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            NoteKind::NotTranslated => "not translated",
            NoteKind::Ignored => "ignored",
            NoteKind::Partial => "partly translated",
        };
        let (line, path, value, reason) = (self.line, &self.path, &self.value, &self.reason);
        write!(f, "line {line}: {path} = {value}: {what} ({reason})")
    }
}

/// Why a pipeline cannot be translated.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Not protobuf text format.
    #[error("{}: {source}", origin.display())]
    Syntax {
        origin: PathBuf,
        #[source]
        source: TextFormatError,
    },
    /// A model this project does not have, or a value that cannot be one of its configs.
    #[error("{}: line {line}: {path}{}: {message}", origin.display(), shown(value))]
    Refused {
        origin: PathBuf,
        line: usize,
        path: String,
        value: Option<String>,
        message: String,
    },
    /// The model config written does not pass this project's checks.
    #[error("{}: the model config translated from it does not load: {source}", origin.display())]
    Model {
        origin: PathBuf,
        #[source]
        source: Box<ConfigError>,
    },
}

fn shown(value: &Option<String>) -> String {
    value.as_ref().map_or(String::new(), |v| format!(" = {v}"))
}

const HYPERPARAMS: &str = "layer hyperparameters: an initialiser only acts on a freshly \
                           initialised layer, the op and activation are the model's own";
const DEFAULT_REASON: &str = "no counterpart in this project's configs";

/// Translates the pipeline `text` (read from `origin`, which names it in errors and comments);
/// the experiment names `out_dir/model.toml` as its model config. Reads the label map the
/// pipeline names, when it can, for the class names. The model TOML is checked by
/// [`crate::model_config_from_str`].
pub fn translate_pipeline(
    text: &str,
    origin: &Path,
    out_dir: &Path,
) -> Result<PipelineTranslation, PipelineError> {
    let root = text_format::parse(text).map_err(|source| PipelineError::Syntax {
        origin: origin.to_path_buf(),
        source,
    })?;
    let mut w = Walk::new(origin);
    let head = format!(
        "# Translated by `mrcnn import-config` from {} (the TensorFlow Object Detection API).\n\
         # Comments name the pipeline field and line of each value; \"default\" is the OD API's\n\
         # default of a field the pipeline leaves out.\n",
        origin.display()
    );
    let model_part = w.model(&root)?;
    let n = model_part.classes;
    let mut exp = Toml(format!(
        "{head}# Paths are relative to the current directory.\n"
    ));
    let wd = model_part.weight_decay.as_deref();
    let label_map = w.experiment(&root, out_dir, wd, &mut exp)?;
    let mut model = Toml(head);
    model.0.push_str("architecture = \"c4\"\n");
    model.0.push_str(&model_part.toml.0);
    if let Some(lm) = label_map {
        let line = lm.line;
        match class_names(Path::new(&lm.path), n) {
            Ok(names) => {
                let list: Vec<String> = names.iter().map(|s| string(s)).collect();
                let at = format!("# line {line}: {} (display_name, else name)\n", lm.field);
                let names = format!("class_names = [{}]\n", list.join(", "));
                let pos = model.0.find("\n[").expect("sections follow");
                model.0.insert_str(pos + 1, &format!("{at}{names}"));
            }
            Err(why) => w.notes.push(PipelineNote {
                line,
                value: format!("{:?}", lm.path),
                path: lm.field,
                kind: NoteKind::Partial,
                reason: format!("dataset.label_map is written, class names are not: {why}"),
            }),
        }
    }
    w.rest(&root, "", NoteKind::NotTranslated, DEFAULT_REASON);
    w.notes.sort_by_key(|n| n.line);
    if !w.notes.is_empty() {
        exp.0
            .push_str("\n# Not translated or ignored (also printed by import-config):\n");
        for n in &w.notes {
            exp.0.push_str(&format!("#   {n}\n"));
        }
    }
    crate::model_config_from_str(&model.0, &out_dir.join("model.toml")).map_err(|e| {
        PipelineError::Model {
            origin: origin.to_path_buf(),
            source: Box::new(e),
        }
    })?;
    Ok(PipelineTranslation {
        model_toml: model.0,
        experiment_toml: exp.0,
        notes: w.notes,
    })
}

/// TOML text being written.
struct Toml(String);

impl Toml {
    fn section(&mut self, name: &str) {
        self.0.push_str(&format!("\n[{name}]\n"));
    }
    fn set(&mut self, key: &str, value: &str, from: &str) {
        self.0.push_str(&format!("{key} = {value}  # {from}\n"));
    }
}

fn float(x: f64) -> String {
    toml::Value::Float(x).to_string()
}
fn floats(xs: &[f64]) -> String {
    format!(
        "[{}]",
        xs.iter().map(|&x| float(x)).collect::<Vec<_>>().join(", ")
    )
}
fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
/// Where a value comes from, for its comment.
fn src(name: &str, line: Option<usize>) -> String {
    line.map_or(format!("{name} (default)"), |l| format!("line {l}: {name}"))
}
fn join(at: &str, name: &str) -> String {
    if at.is_empty() {
        name.to_string()
    } else {
        format!("{at}.{name}")
    }
}
fn show(v: &Value) -> String {
    match v {
        Value::Scalar(Scalar::Str(s)) => format!("{s:?}"),
        Value::Scalar(Scalar::Num(n)) if n.fract() == 0.0 && n.abs() < 1e15 => {
            format!("{}", *n as i64)
        }
        Value::Scalar(Scalar::Num(n)) => n.to_string(),
        Value::Scalar(Scalar::Ident(s)) => s.clone(),
        Value::Message(m) if m.fields.is_empty() => "{ }".into(),
        Value::Message(_) => "{ ... }".into(),
    }
}

/// Names of labels 1..=n from a label map (`display_name`, else `name`; "N/A" for ids it does
/// not list, as torchvision's COCO list has).
fn class_names(path: &Path, n: usize) -> Result<Vec<String>, String> {
    label_map_class_names(path, Some(n))
}

/// Names of labels 1..=n of an OD API `label_map.pbtxt` (`display_name`, else `name`; "N/A" for
/// ids it does not list, as COCO's 90-id map leaves gaps); `n` defaults to the highest id.
pub fn label_map_class_names(path: &Path, n: Option<usize>) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    let m = text_format::parse(&text).map_err(|e| format!("not a label map: {e}"))?;
    let highest = m
        .all("item")
        .filter_map(|f| match &f.value {
            Value::Message(item) => match item.get("id").map(|f| &f.value) {
                Some(Value::Scalar(Scalar::Num(id))) if *id >= 1.0 => Some(*id as usize),
                _ => None,
            },
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let n = n.unwrap_or(highest);
    let mut names = vec!["N/A".to_string(); n];
    for item in m.all("item") {
        let Value::Message(item) = &item.value else {
            return Err(format!("line {}: an item must be {{ ... }}", item.line));
        };
        let get = |k: &str| item.get(k).map(|f| &f.value);
        let id = match get("id") {
            Some(Value::Scalar(Scalar::Num(id))) if id.fract() == 0.0 && *id >= 1.0 => *id as usize,
            _ => return Err("an item without a positive integer id".into()),
        };
        let name = match (get("display_name"), get("name")) {
            (Some(Value::Scalar(Scalar::Str(s))), _) | (_, Some(Value::Scalar(Scalar::Str(s)))) => {
                s.clone()
            }
            _ => return Err(format!("item {id} has no name")),
        };
        if id > n {
            return Err(format!("id {id} is above num_classes = {n}"));
        }
        names[id - 1] = name;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_notes_read_as_one_line() {
        let n = PipelineNote {
            line: 3,
            path: "a.b".into(),
            value: "0".into(),
            kind: NoteKind::NotTranslated,
            reason: "why".into(),
        };
        assert_eq!(n.to_string(), "line 3: a.b = 0: not translated (why)");
    }
}
