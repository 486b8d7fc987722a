//! `mrcnn`: fine-tune, evaluate and run Mask R-CNN from TOML configs.

mod device;
mod eval;
mod eval_model;
mod images;
mod predict;
mod train;
mod visualize;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "mrcnn",
    version,
    about = "Mask R-CNN on Burn: predict, eval, train, convert"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fine-tune (or train) Mask R-CNN as an experiment TOML says; --resume continues a run.
    Train(train::TrainArgs),
    /// Run a model on images and write COCO results JSON (and overlays).
    Predict(predict::PredictArgs),
    /// COCO box and mask metrics: of a trained model on its validation set (--config), or of a
    /// results file against a ground-truth JSON (--gt, --dets).
    Eval(eval::EvalArgs),
    /// Convert a dataset between COCO JSON, mask folders and TFRecord.
    Convert(mrcnn_data::ConvertArgs),
    /// Write the seeded synthetic shapes dataset (PNG images + COCO JSON).
    Synth(mrcnn_data::SynthArgs),
    /// Dataset tools.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Convert a Detectron2, MMDetection or torchvision checkpoint to this model's safetensors.
    ImportWeights(mrcnn_model::import::ImportArgs),
}

#[derive(Subcommand, Debug)]
enum DatasetCommand {
    /// Images, instances per class, sizes, empty images and problems found.
    Stats(mrcnn_data::StatsArgs),
}

/// Prints a data command's report and turns it into a result.
fn report(r: Result<mrcnn_data::Report, mrcnn_data::DataError>) -> anyhow::Result<()> {
    let r = r?;
    println!("{r}");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(&a),
        Command::Predict(a) => predict::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Convert(a) => report(mrcnn_data::run_convert(&a)),
        Command::Synth(a) => report(mrcnn_data::run_synth(&a)),
        Command::Dataset(DatasetCommand::Stats(a)) => report(mrcnn_data::run_stats(&a)),
        Command::ImportWeights(a) => mrcnn_model::import::run_import(&a)
            .map(|_| ())
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the chain of causes, outermost first.
            let msg: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("error: {}", msg.join(": "));
            ExitCode::FAILURE
        }
    }
}
