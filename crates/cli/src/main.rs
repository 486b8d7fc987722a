//! `mrcnn`: fine-tune, evaluate and run Mask R-CNN from TOML configs.
//!
//! The command line only: flags (clap), printing and exit codes. Every command turns its flags
//! into a library's option struct and prints what the library returns.

mod data_cmds;
mod eval;
mod eval_model;
mod eval_results;
mod images;
mod import_config;
mod import_weights;
mod overlays;
mod predict;
mod show;
mod train;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};
use std::io::Write;
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
    /// Convert a dataset (COCO JSON, mask folders, TFRecord, labelme, VIA, CVAT, VOC masks) to COCO
    /// JSON or TFRecord.
    Convert(data_cmds::ConvertArgs),
    /// Write the seeded synthetic shapes dataset (PNG images + COCO JSON).
    Synth(data_cmds::SynthArgs),
    /// Dataset tools.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Convert a Detectron2, MMDetection or torchvision checkpoint to this model's safetensors.
    ImportWeights(import_weights::ImportArgs),
    /// Translate a TensorFlow Object Detection API pipeline.config (Mask R-CNN ResNet) into a
    /// model config and an experiment, listing every field that is not translated.
    ImportConfig(import_config::ImportConfigArgs),
}

#[derive(Subcommand, Debug)]
enum DatasetCommand {
    /// Images, instances per class, sizes, empty images, EXIF-rotated and converted images, and
    /// problems found.
    Stats(data_cmds::StatsArgs),
    /// Contact sheets of some images with their ground truth drawn, and a bar chart of
    /// instances per class.
    Show(show::ShowArgs),
}

/// A clap value parser for one of the config's option types, by its names (`coco`, `skip`...).
pub(crate) fn names<T>(names: &'static [&'static str]) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr + Clone + Send + Sync + 'static,
    T::Err: std::fmt::Debug,
{
    PossibleValuesParser::new(names).map(|s| s.parse::<T>().expect("a listed name parses"))
}

/// Prints a data command's report.
fn report(r: anyhow::Result<mrcnn_data::Report>) -> anyhow::Result<()> {
    out(format_args!("{}\n", r?));
    Ok(())
}

/// Writes to stdout; when the reader has gone (`mrcnn eval ... | head -1`), exits quietly with
/// success, as Unix tools do, instead of panicking.
pub(crate) fn out(args: std::fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `println!` that survives a closed stdout (see [`out`]).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::out(format_args!("{}\n", format_args!($($t)*)))
    };
}

/// The error and its causes on one line, each cause once: a cause whose text the message
/// already shows is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(&a),
        Command::Predict(a) => predict::run(&a),
        Command::Eval(a) => eval::run(&a),
        Command::Convert(a) => report(data_cmds::convert(&a)),
        Command::Synth(a) => report(data_cmds::synth(&a)),
        Command::Dataset(DatasetCommand::Stats(a)) => report(data_cmds::stats(&a)),
        Command::Dataset(DatasetCommand::Show(a)) => report(show::show(&a)),
        Command::ImportWeights(a) => import_weights::run(&a),
        Command::ImportConfig(a) => import_config::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e).replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use mrcnn_config::{DatasetFormat, OnBadSample};

    #[test]
    fn the_commands_parse_as_documented() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from([
            "mrcnn",
            "convert",
            "--from",
            "mask-folder",
            "-i",
            "data/endovis",
            "--to",
            "tfrecord",
            "-o",
            "out",
            "--shards",
            "4",
            "--class-rule",
            "Prograsp=forceps",
            "--class-rule",
            "Needle=needle",
            "--val-folders",
            "seq4,seq5",
            "--on-bad-sample",
            "skip",
        ])
        .unwrap();
        let Command::Convert(a) = c.command else {
            panic!()
        };
        assert_eq!(
            (a.input.from, a.to, a.shards),
            (DatasetFormat::MaskFolder, DatasetFormat::Tfrecord, 4)
        );
        let o = a.input.options().unwrap();
        assert_eq!(o.mask_folder.val_folders, ["seq4", "seq5"]);
        assert_eq!(o.mask_folder.class_rules[1].pattern, "Needle");
        assert_eq!(o.mask_folder.class_rules[1].class, "needle");
        assert_eq!(o.on_bad_sample, OnBadSample::Skip);

        let c = Cli::try_parse_from([
            "mrcnn",
            "synth",
            "--out",
            "data/shapes",
            "--train",
            "10",
            "--seed",
            "3",
        ])
        .unwrap();
        let Command::Synth(s) = c.command else {
            panic!()
        };
        assert_eq!((s.train, s.val, s.seed), (10, 50, 3));

        let c = Cli::try_parse_from([
            "mrcnn",
            "dataset",
            "stats",
            "--from",
            "tfrecord",
            "-i",
            "a.tfrecord@4",
            "b-*.tfrecord",
            "--check-images",
        ])
        .unwrap();
        let Command::Dataset(DatasetCommand::Stats(s)) = c.command else {
            panic!()
        };
        assert_eq!(s.input.input.len(), 2);
        assert!(s.check_images);
        assert!(Cli::try_parse_from(["mrcnn", "convert", "--from", "cocoo", "-i", "x"]).is_err());

        let c = Cli::try_parse_from([
            "mrcnn",
            "import-weights",
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
        let Command::ImportWeights(a) = c.command else {
            panic!()
        };
        assert_eq!(a.format, mrcnn_config::WeightsFormat::Detectron2);
        assert_eq!(a.source_class_names.unwrap(), vec!["a", "b"]);

        let c = Cli::try_parse_from([
            "mrcnn",
            "import-config",
            "pipeline.config",
            "--out-dir",
            "imported",
            "--force",
        ])
        .unwrap();
        let Command::ImportConfig(a) = c.command else {
            panic!()
        };
        assert_eq!(a.out_dir, std::path::Path::new("imported"));
        assert!(a.force);
    }

    #[test]
    fn causes_are_printed_once() {
        let io = std::io::Error::other("disk full");
        let e = anyhow::Error::new(io).context("cannot write out.json: disk full");
        assert_eq!(one_line(&e), "cannot write out.json: disk full");
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(one_line(&e), "outer: inner");
    }
}
