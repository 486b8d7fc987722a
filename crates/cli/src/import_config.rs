//! `mrcnn import-config PIPELINE.config --out-dir DIR [--force]`: translate a TensorFlow Object
//! Detection API `pipeline.config` into `DIR/model.toml` and `DIR/experiment.toml`, and list
//! every field that was not translated.

use anyhow::{Context, Result, bail};
use clap::Args;
use mrcnn_config::{NoteKind, translate_pipeline};
use std::path::PathBuf;

use crate::outln;

#[derive(Debug, Clone, Args)]
pub struct ImportConfigArgs {
    /// The OD API's `pipeline.config` (protobuf text format) of a Mask R-CNN ResNet v1
    /// (`faster_rcnn` with a `mask_rcnn_box_predictor`, e.g. mask_rcnn_resnet101_atrous_coco).
    pub pipeline: PathBuf,
    /// Folder for `model.toml` and `experiment.toml` (created if missing). The experiment names
    /// `DIR/model.toml` as given here: paths in experiments are relative to the current
    /// directory, so run it from this directory (or give an absolute DIR).
    #[arg(long)]
    pub out_dir: PathBuf,
    /// Replace `model.toml` and `experiment.toml` if they exist.
    #[arg(long)]
    pub force: bool,
}

/// Translates, writes both files, prints the notes (one line per field) and what to run next.
pub fn run(args: &ImportConfigArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.pipeline)
        .with_context(|| format!("cannot read {}", args.pipeline.display()))?;
    let t = translate_pipeline(&text, &args.pipeline, &args.out_dir)?;
    let model = args.out_dir.join("model.toml");
    let experiment = args.out_dir.join("experiment.toml");
    if !args.force
        && let Some(p) = [&model, &experiment].into_iter().find(|p| p.exists())
    {
        bail!("{} exists; pass --force to replace it", p.display());
    }
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("cannot create {}", args.out_dir.display()))?;
    for (path, body) in [(&model, &t.model_toml), (&experiment, &t.experiment_toml)] {
        std::fs::write(path, body).with_context(|| format!("cannot write {}", path.display()))?;
    }
    for n in &t.notes {
        outln!("{n}");
    }
    let count = |k: NoteKind| t.notes.iter().filter(|n| n.kind == k).count();
    outln!(
        "{} fields not translated, {} ignored, {} partly translated (listed above)",
        count(NoteKind::NotTranslated),
        count(NoteKind::Ignored),
        count(NoteKind::Partial)
    );
    outln!("wrote {} and {}", model.display(), experiment.display());
    outln!(
        "next: mrcnn train --config {} (fine-tunes from its model.weights, the pipeline's \
         fine_tune_checkpoint), mrcnn eval --config {} --weights CHECKPOINT, or mrcnn \
         import-weights --format tf-od-api --model-config {} CHECKPOINT --out W.safetensors",
        experiment.display(),
        experiment.display(),
        model.display()
    );
    Ok(())
}
