//! The Args structs compose into a clap CLI the way `mrcnn` will wire them.

use clap::{CommandFactory, Parser, Subcommand};
use mrcnn_data::{ConvertArgs, Format, OnBadSample, StatsArgs, SynthArgs};

#[derive(Parser, Debug)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    Convert(ConvertArgs),
    Synth(SynthArgs),
    Dataset {
        #[command(subcommand)]
        cmd: DatasetCmd,
    },
}

#[derive(Subcommand, Debug)]
enum DatasetCmd {
    Stats(StatsArgs),
}

#[test]
fn args_compose_and_parse() {
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
    let Cmd::Convert(a) = c.cmd else { panic!() };
    assert_eq!(
        (a.input.from, a.to, a.shards),
        (Format::MaskFolder, Format::Tfrecord, 4)
    );
    assert_eq!(a.input.mask_folder.val_folders, ["seq4", "seq5"]);
    assert_eq!(a.input.on_bad_sample, OnBadSample::Skip);

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
    let Cmd::Synth(s) = c.cmd else { panic!() };
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
    let Cmd::Dataset {
        cmd: DatasetCmd::Stats(s),
    } = c.cmd
    else {
        panic!()
    };
    assert_eq!(s.input.input.len(), 2);
    assert!(s.check_images);
}
