//! The `import-weights` command's arguments (a `clap::Args` struct the CLI embeds) and its run
//! function: read a Detectron2 / MMDetection / torchvision checkpoint, fit it to a model
//! config, write torchvision-layout safetensors, print what was done.

use super::{ImportOptions, ImportReport, WeightFormat, import_weights_with, save_safetensors};
use burn::prelude::*;
use mrcnn_core::{Error, ModelConfig, Result};
use std::path::PathBuf;

/// `mrcnn import-weights --format detectron2|mmdet|torchvision IN --model-config M --out OUT`
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// Framework that wrote the checkpoint.
    #[arg(long, value_enum)]
    pub format: WeightFormat,
    /// Checkpoint: Detectron2 `.pkl`/`.pth`, MMDetection `.pth`, torchvision `.pth`/`.safetensors`.
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
    /// Seed of the re-initialised class-specific rows.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Replace `--out` if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs the import on the CPU, writes `--out` and prints the report; returns the report.
pub fn run_import(args: &ImportArgs) -> Result<ImportReport> {
    if args.out.exists() && !args.force {
        return Err(Error::Other(format!(
            "{} exists; pass --force to replace it",
            args.out.display()
        )));
    }
    if args.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        return Err(Error::Other(format!(
            "--out {}: the output must be a .safetensors file",
            args.out.display()
        )));
    }
    let cfg = ModelConfig::load(&args.model_config)?;
    let opts = ImportOptions {
        source_class_names: args.source_class_names.clone(),
        seed: args.seed,
    };
    // Import is host work plus one load: the CPU backend is always there and exact.
    let device = Device::flex();
    let (model, report) = import_weights_with(args.format, &args.input, &cfg, &device, &opts)?;
    save_safetensors(&model, &args.out)?;
    print!("{report}");
    println!("wrote {}", args.out.display());
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ImportArgs,
    }

    #[test]
    fn parses_the_documented_command() {
        let c = Cli::try_parse_from([
            "x",
            "--format",
            "detectron2",
            "model_final_a3ec72.pkl",
            "--model-config",
            "m.toml",
            "--out",
            "pretrained_model/r101.safetensors",
            "--source-class-names",
            "a,b",
        ])
        .unwrap();
        assert_eq!(c.args.format, WeightFormat::Detectron2);
        assert_eq!(c.args.source_class_names.unwrap(), vec!["a", "b"]);
    }
}
