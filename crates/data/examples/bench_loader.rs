//! Loader throughput: decoded (+ augmented) images per second for several worker counts.
//!
//! ```sh
//! cargo run --release -p mrcnn-data --example bench_loader               # 200 synthetic 512x512
//! cargo run --release -p mrcnn-data --example bench_loader -- --coco data/shapes/train.json --image-root data/shapes/images
//! ```
//! Each row streams `--epochs` epochs (batch size `--batch-size`, prefetch 4)
//! and divides the images by the wall time from `stream(0)` to the last batch.
//! The files are read once before timing, so the page cache is warm.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use mrcnn_data::coco::read_coco;
use mrcnn_data::synth::synth;
use mrcnn_data::transforms::ColorJitter;
use mrcnn_data::{
    Dataset, Loader, LoaderConfig, OnBadSample, ProblemLog, SynthSection, TransformConfig,
    Transforms,
};

struct Args {
    /// COCO JSON to load instead of generating synthetic shapes (with `--image-root`).
    coco: Option<PathBuf>,
    image_root: Option<PathBuf>,
    /// Synthetic images to generate, and their side.
    count: usize,
    size: u32,
    /// Worker counts to measure.
    workers: Vec<usize>,
    batch_size: usize,
    epochs: usize,
}

impl Args {
    /// `--name value` pairs. (A benchmark's few flags; the library crates stay free of clap,
    /// which only the `mrcnn` command line uses.)
    fn parse() -> Args {
        let mut a = Args {
            coco: None,
            image_root: None,
            count: 200,
            size: 512,
            workers: vec![0, 1, 2],
            batch_size: 2,
            epochs: 1,
        };
        let argv: Vec<String> = std::env::args().skip(1).collect();
        for pair in argv.chunks(2) {
            let [flag, v] = pair else {
                panic!("flags come with a value: {pair:?}");
            };
            let num = |v: &str| v.parse::<usize>().unwrap_or_else(|_| panic!("{flag} {v}"));
            match flag.as_str() {
                "--coco" => a.coco = Some(v.into()),
                "--image-root" => a.image_root = Some(v.into()),
                "--count" => a.count = num(v),
                "--size" => a.size = num(v) as u32,
                "--workers" => a.workers = v.split(',').map(num).collect(),
                "--batch-size" => a.batch_size = num(v),
                "--epochs" => a.epochs = num(v),
                other => panic!("unknown flag {other}"),
            }
        }
        a
    }
}

fn main() {
    let args = Args::parse();
    let tmp = tempfile::tempdir().unwrap();
    let (json, root) = match (&args.coco, &args.image_root) {
        (Some(j), Some(r)) => (j.clone(), r.clone()),
        _ => {
            let t = Instant::now();
            synth(&SynthSection {
                out: tmp.path().to_path_buf(),
                train_images: args.count,
                val_images: 0,
                width: args.size,
                height: args.size,
                max_objects: 6,
                ..SynthSection::default()
            })
            .unwrap();
            eprintln!(
                "generated {} {}x{} images in {:.1} s",
                args.count,
                args.size,
                args.size,
                t.elapsed().as_secs_f64()
            );
            (tmp.path().join("train.json"), tmp.path().join("images"))
        }
    };
    let mut log = ProblemLog::new(OnBadSample::Error);
    let ds: Arc<Dataset> = Arc::new(read_coco(&json, &root, &mut log).unwrap());
    for rec in &ds.images {
        let _ = rec.source.read_bytes();
    }
    let n = ds.images.len();
    let inst: usize = ds.images.iter().map(|r| r.annotations.len()).sum();
    let jitter = Some(ColorJitter {
        brightness: 0.2,
        contrast: 0.2,
        saturation: 0.2,
    });
    let aug = |resize| {
        Some(Transforms::new(
            TransformConfig {
                min_sizes: vec![800],
                max_size: 1333,
                hflip_prob: 0.5,
                color_jitter: jitter.clone(),
                resize,
            },
            0,
        ))
    };
    let pipelines: [(&str, Option<Transforms>); 3] = [
        ("decode", None),
        ("decode + flip + jitter", aug(false)),
        ("decode + flip + jitter + resize 800", aug(true)),
    ];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{n} images, {inst} instances; batch size {}, prefetch 4, {} epoch(s); load average before: {}",
        args.batch_size,
        args.epochs,
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    print!("\n| pipeline |");
    for w in &args.workers {
        print!(" workers {w} (img/s) |");
    }
    print!("\n|---|");
    for _ in &args.workers {
        print!("---|");
    }
    println!();
    for (name, t) in pipelines {
        print!("| {name} |");
        for &workers in &args.workers {
            let loader = Loader::new(
                ds.clone(),
                t.clone(),
                LoaderConfig {
                    batch_size: args.batch_size,
                    workers,
                    prefetch: 4,
                    shuffle: true,
                    seed: 0,
                    on_bad_sample: OnBadSample::Error,
                },
            );
            let batches = (n * args.epochs).div_ceil(args.batch_size);
            let start = Instant::now();
            let mut images = 0;
            for b in loader.stream(0).take(batches) {
                images += b.unwrap().samples.len();
            }
            let rate = images as f64 / start.elapsed().as_secs_f64();
            print!(" {rate:.1} |");
            use std::io::Write;
            std::io::stdout().flush().ok();
        }
        println!();
    }
}
