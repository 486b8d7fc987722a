//! `mrcnn import-weights --format detectron2|mmdet|torchvision|tf-od-api IN --model-config M --out OUT`:
//! read another framework's checkpoint, fit it to a model config, write torchvision-layout
//! safetensors, print what was done.

use anyhow::{Result, bail};
use burn::prelude::*;
use clap::Args;
use mrcnn_config::{ModelConfig, WeightsFormat};
use mrcnn_import::ImportOptions;
use std::path::PathBuf;

use crate::{names, outln};

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Framework that wrote the checkpoint: detectron2, mmdet, torchvision or tf-od-api (auto:
    /// by the path: `.pkl` = detectron2, a folder, `model.ckpt`, `.index` or `.pb` = tf-od-api).
    #[arg(long, default_value = "auto", value_parser = names::<WeightsFormat>(WeightsFormat::NAMES))]
    pub format: WeightsFormat,
    /// Checkpoint: Detectron2 `.pkl`/`.pth`, MMDetection `.pth`, torchvision `.pth`/`.safetensors`,
    /// the OD API's `model.ckpt` (prefix, `.index` or its folder) or `frozen_inference_graph.pb`.
    pub input: PathBuf,
    /// Model config (TOML) the weights must fit; its classes decide the head surgery.
    #[arg(long)]
    pub model_config: PathBuf,
    /// Output `.safetensors` file (torchvision layout), e.g. pretrained_model/NAME.safetensors.
    #[arg(long)]
    pub out: PathBuf,
    /// The checkpoint's foreground class names, comma-separated, when the file does not record
    /// them and they are not COCO's (they let head surgery carry classes over by name).
    #[arg(long, value_delimiter = ',')]
    pub source_class_names: Option<Vec<String>>,
    /// The checkpoint's classes from a TF Object Detection API `label_map.pbtxt` (label `id`
    /// is the map's id; `display_name`, else `name`; ids it leaves out are "N/A").
    #[arg(long, conflicts_with = "source_class_names")]
    pub label_map: Option<PathBuf>,
    /// Seed of the re-initialised class-specific rows.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace `--out` if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs the import on the CPU (host work plus one load: the CPU backend is always there and
/// exact), writes `--out` and prints the report.
pub fn run(args: &ImportArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        bail!("{} exists; pass --force to replace it", args.out.display());
    }
    if args.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!(
            "--out {}: the output must be a .safetensors file",
            args.out.display()
        );
    }
    let cfg = ModelConfig::load(&args.model_config)?;
    let source_class_names = match &args.label_map {
        Some(p) => Some(
            mrcnn_config::label_map_class_names(p, None)
                .map_err(|e| anyhow::anyhow!("--label-map {}: {e}", p.display()))?,
        ),
        None => args.source_class_names.clone(),
    };
    let opts = ImportOptions {
        source_class_names,
        seed: args.seed,
    };
    let (model, report) =
        mrcnn_model::Detector::import(args.format, &args.input, &cfg, &Device::flex(), &opts)?;
    model.save_safetensors(&args.out)?;
    outln!("{report}wrote {}", args.out.display());
    Ok(())
}
