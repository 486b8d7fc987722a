//! Loading experiment TOMLs: defaults, base chains, --set, the effective config.
#![allow(clippy::result_large_err)]

mod common;

use std::path::{Path, PathBuf};

use common::{Dir, MODEL, MODEL_FILE, load};
use mrcnn_config::{
    ColorJitter, DatasetFormat, Experiment, ScheduleKind, SynthSection, WeightsFormat,
    load_model_config,
};

#[test]
fn defaults() {
    let d = Dir::new();
    let p = d.write("quick.toml", &format!("{MODEL}[solver]\nmax_iter = 100\n"));
    let e = load(&p, &[]).unwrap();
    let mut want = Experiment::default();
    want.model.config = MODEL_FILE.into();
    want.architecture = load_model_config(Path::new(MODEL_FILE)).unwrap();
    want.solver.max_iter = Some(100);
    want.output_dir = "runs/quick".into();
    assert_eq!(e, want);
    assert_eq!(e.seed, 0);
    assert_eq!(e.device, "cpu");
    assert!(e.devices.is_empty());
    assert_eq!(e.train_devices(), vec!["cpu".to_string()]);
    assert_eq!(e.model.weights, None);
    assert_eq!(e.model.weights_format, WeightsFormat::Auto);
    assert!(e.model.keep_coco_classes);
    assert!(e.model.overrides.is_empty());
    assert_eq!(e.dataset.format, DatasetFormat::Coco);
    assert_eq!(e.dataset.mask_folder.images_dir, "images");
    assert_eq!(e.dataset.mask_folder.masks_dir, "masks");
    assert_eq!(e.dataset.mask_folder.labels_dir, "labels");
    assert_eq!(e.dataset.synth, None);
    assert_eq!(e.solver.base_lr, 0.02);
    assert_eq!(e.solver.momentum, 0.9);
    assert_eq!(e.solver.weight_decay, 1e-4);
    assert_eq!(e.solver.warmup_iters, 1000);
    assert_eq!(e.solver.warmup_factor, 0.001);
    assert_eq!(e.solver.schedule, ScheduleKind::MultiStep);
    assert_eq!(e.solver.gamma, 0.1);
    assert_eq!(e.solver.images_per_batch, 2);
    assert_eq!(e.input.hflip_prob, 0.5);
    assert_eq!(e.loader.workers, 2);
    assert_eq!(e.loader.prefetch, 4);
    assert_eq!(e.eval.period, 0);
    assert_eq!(e.eval.overlays, 8);
    assert_eq!(e.eval.score_threshold, 0.5);
    assert_eq!(e.checkpoint.period, 1000);
    assert_eq!(e.checkpoint.keep_last, 2);
    assert_eq!(e.log.period, 20);
}

#[test]
fn empty_sections_take_their_defaults() {
    let d = Dir::new();
    let text = format!("{MODEL}[solver]\nepochs = 1\n[dataset.synth]\n[input.color_jitter]\n");
    let e = load(&d.write("x.toml", &text), &[]).unwrap();
    assert_eq!(e.dataset.synth, Some(SynthSection::default()));
    assert_eq!(e.dataset.synth.as_ref().unwrap().train_images, 200);
    assert_eq!(e.input.color_jitter, Some(ColorJitter::default()));
    // An integer is accepted for a float.
    assert_eq!(e.solver.epochs, Some(1.0));
}

#[test]
fn base_chain_with_deltas() {
    let d = Dir::new();
    // bases/root.toml <- bases/mid.toml <- exp/run.toml; each `base` relative to its file.
    d.write(
        "bases/root.toml",
        &format!(
            "seed = 1\n{MODEL}[solver]\nbase_lr = 0.01\nsteps = [10, 20, 30]\nmax_iter = 40\n\
             [eval]\nperiod = 5\n"
        ),
    );
    d.write(
        "bases/mid.toml",
        "base = \"root.toml\"\nseed = 2\n[solver]\nsteps = [15]\n[model.overrides.rpn]\nnms_thresh = 0.6\n",
    );
    let p = d.write(
        "exp/run.toml",
        "base = \"../bases/mid.toml\"\n[solver]\nmomentum = 0.8\n[model.overrides.rpn]\nmin_size = 2.0\n",
    );
    let e = load(&p, &[]).unwrap();
    assert_eq!(e.seed, 2, "mid overrides root");
    assert_eq!(e.solver.base_lr, 0.01, "root's value survives");
    assert_eq!(e.solver.momentum, 0.8, "the experiment's delta");
    assert_eq!(
        e.solver.steps,
        vec![15],
        "arrays are replaced, not concatenated"
    );
    assert_eq!(e.solver.max_iter, Some(40));
    assert_eq!(e.eval.period, 5);
    assert_eq!(
        e.model.overrides.to_string(),
        "[rpn]\nmin_size = 2.0\nnms_thresh = 0.6\n",
        "tables merge deeply"
    );
    assert_eq!(
        (e.architecture.rpn.nms_thresh, e.architecture.rpn.min_size),
        (0.6, 2.0),
        "the overrides reach the architecture"
    );
    assert_eq!(e.output_dir, PathBuf::from("runs/run"));
}

#[test]
fn fixture_files() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let e = load(&data.join("shapes_finetune.toml"), &[]).unwrap();
    assert_eq!(e.seed, 7);
    assert_eq!(e.solver.base_lr, 0.0025);
    assert_eq!(e.solver.max_iter, Some(2000));
    assert_eq!(e.solver.steps, vec![1500]);
    assert_eq!(e.solver.clip_grad_norm, Some(10.0));
    assert_eq!(e.input.min_sizes, vec![96, 112, 128]);
    assert_eq!(e.input.color_jitter.as_ref().unwrap().brightness, 0.2);
    assert_eq!(
        e.dataset.synth.as_ref().unwrap().out,
        PathBuf::from("data/shapes")
    );
    assert_eq!(
        e.model.resolved_weights_format(),
        Some(WeightsFormat::Torchvision)
    );
    assert_eq!(
        e.model.overrides["roi_heads"]["batch_size_per_image"].as_integer(),
        Some(128)
    );
    assert_eq!(e.output_dir, PathBuf::from("runs/shapes_finetune"));
}

#[test]
fn set_overrides() {
    let d = Dir::new();
    let p = d.write("x.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    let e = load(
        &p,
        &[
            "solver.base_lr=0.01",
            "input.min_sizes=[640, 800]",
            "device=wgpu:1",
            "devices=[\"wgpu:0\", \"wgpu:1\"]",
            "model.overrides.backbone.depth=101",
            "dataset.synth.width=64",
            "output_dir=runs/custom",
            "model.keep_coco_classes=false",
            "dataset.format=mask-folder",
            "solver.base_lr = 0.005",
        ],
    )
    .unwrap();
    assert_eq!(e.solver.base_lr, 0.005, "later --set wins");
    assert_eq!(e.input.min_sizes, vec![640, 800]);
    assert_eq!(e.device, "wgpu:1");
    assert_eq!(e.devices, vec!["wgpu:0", "wgpu:1"]);
    assert_eq!(
        e.model.overrides["backbone"]["depth"].as_integer(),
        Some(101)
    );
    let synth = e.dataset.synth.unwrap();
    assert_eq!((synth.width, synth.height), (64, 128));
    assert_eq!(e.output_dir, PathBuf::from("runs/custom"));
    assert!(!e.model.keep_coco_classes);
    assert_eq!(e.dataset.format, DatasetFormat::MaskFolder);
    assert_eq!(e.solver.max_iter, Some(10));
}

#[test]
fn max_iter_from_epochs() {
    let d = Dir::new();
    let p = d.write(
        "x.toml",
        &format!("{MODEL}[solver]\nepochs = 12\nimages_per_batch = 4\n"),
    );
    let e = load(&p, &[]).unwrap();
    assert_eq!(e.max_iter(1000), 3000);
    assert_eq!(e.max_iter(1001), 3003, "12 * 1001 / 4 = 3003");
    assert_eq!(e.max_iter(1), 3, "ceil(12 / 4)");
    assert_eq!(e.max_iter(3), 9);
    let e = load(&p, &["solver.epochs=0.3", "solver.images_per_batch=1"]).unwrap();
    assert_eq!(e.max_iter(10), 3, "0.3 * 10 is 3, not 4");
    assert_eq!(e.max_iter(11), 4, "ceil(3.3)");
    let e = load(&p, &["solver.epochs=0.5", "solver.images_per_batch=2"]).unwrap();
    assert_eq!(e.max_iter(5), 2, "ceil(1.25)");
    let e = load(
        &d.write("m.toml", &format!("{MODEL}[solver]\nmax_iter = 77\n")),
        &[],
    )
    .unwrap();
    assert_eq!(e.max_iter(123_456), 77);
}

#[test]
fn effective_config_round_trips() {
    let d = Dir::new();
    let p = d.write(
        "full.toml",
        &format!(
            "{MODEL}weights = \"w/model_final.pkl\"\nweights_format = \"detectron2\"\n\
             [model.overrides]\nnum_classes = 3\nclass_names = [\"a\", \"b\"]\n\
             [model.overrides.backbone]\ndepth = 101\nnorm_eps = 1e-5\n\
             [dataset]\nformat = \"tfrecord\"\ntrain = [\"t@4\"]\nval = [\"v@1\"]\n\
             label_map = \"l.pbtxt\"\non_bad_sample = \"skip\"\n[dataset.synth]\nseed = 3\n\
             [[dataset.mask_folder.class_rules]]\npattern = \"cat*\"\nclass = \"cat\"\n\
             [solver]\nepochs = 2.5\nweight_decay = 5e-5\nweight_decay_norm_bias = 0.0\n\
             clip_grad_norm = 1.5\nschedule = \"cosine\"\nsteps = [5, 9]\n\
             [input]\nmin_sizes = [600, 800]\nmax_size = 1000\nhflip_prob = 0.3\n\
             [input.color_jitter]\nbrightness = 0.1\ncontrast = 0.2\nsaturation = 0.3\n\
             [eval]\nmax_images = 50\nscore_threshold = 0.7\n"
        ),
    );
    let first = load(&p, &["devices=[\"wgpu:0\", \"wgpu:1\"]"]).unwrap();
    assert_eq!(
        first.model.resolved_weights_format(),
        Some(WeightsFormat::Detectron2)
    );
    let text = first.to_toml_string();
    assert!(
        text.contains("weight_decay = 5e-5") || text.contains("weight_decay = 0.00005"),
        "{text}"
    );
    assert!(!text.contains("0.0000499"), "f32 written short: {text}");
    let again = load(&d.write("effective.toml", &text), &[]).unwrap();
    assert_eq!(first, again, "{text}");
    assert_eq!(again.output_dir, PathBuf::from("runs/full"));
    assert_eq!(again.to_toml_string(), text);

    // The defaults-only case, with every Option unset.
    let p = d.write("min.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    let first = load(&p, &[]).unwrap();
    let text = first.to_toml_string();
    let again = load(&d.write("effective2.toml", &text), &[]).unwrap();
    assert_eq!(first, again, "{text}");
}

#[test]
fn effective_config_states_every_default() {
    let d = Dir::new();
    let p = d.write("min.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    let text = load(&p, &[]).unwrap().to_toml_string();
    let t: toml::Table = text.parse().unwrap();
    let expect = [
        ("seed", "0"),
        ("output_dir", "\"runs/min\""),
        ("device", "\"cpu\""),
        ("devices", "[]"),
        ("model.keep_coco_classes", "true"),
        ("model.weights_format", "\"auto\""),
        ("dataset.format", "\"coco\""),
        ("dataset.on_bad_sample", "\"error\""),
        ("dataset.mask_folder.images_dir", "\"images\""),
        ("dataset.mask_folder.val_fraction", "0.0"),
        ("solver.base_lr", "0.02"),
        ("solver.weight_decay", "0.0001"),
        ("solver.warmup_factor", "0.001"),
        ("solver.schedule", "\"multi-step\""),
        ("solver.images_per_batch", "2"),
        ("input.hflip_prob", "0.5"),
        ("input.min_sizes", "[]"),
        ("loader.workers", "2"),
        ("eval.score_threshold", "0.5"),
        ("checkpoint.keep_last", "2"),
        ("log.period", "20"),
    ];
    for (key, want) in expect {
        let mut v = toml::Value::Table(t.clone());
        for k in key.split('.') {
            v = v
                .get(k)
                .unwrap_or_else(|| panic!("{key} missing in:\n{text}"))
                .clone();
        }
        assert_eq!(v.to_string(), want, "{key}");
    }
    for unset in [
        "# weights: not set",
        "# max_size: not set",
        "# epochs: not set",
        "# synth: not set",
        "# color_jitter: not set",
        "# max_images: not set",
    ] {
        assert!(text.contains(unset), "{unset} in:\n{text}");
    }
}
