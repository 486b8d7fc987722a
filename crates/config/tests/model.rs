//! The architecture through the same loader: model TOMLs and `[model.overrides]` get the same
//! one-line errors (file or `--set`, dotted key as written, nearest valid key) as `[solver]`.
#![allow(clippy::result_large_err)]

mod common;

use std::path::Path;

use common::{Dir, MODEL, err, load};
use mrcnn_config::{ConfigError, load_model_config, model_config_from_str};

#[test]
fn override_mistakes_read_like_solver_mistakes() {
    let d = Dir::new();
    let solver = d.write(
        "configs/s.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\nbase_rl = 0.01\n"),
    );
    assert_eq!(
        err(&solver, &[]).to_string(),
        format!(
            "{}: unknown key `solver.base_rl`; did you mean `solver.base_lr`?",
            solver.display()
        )
    );
    let p = d.write(
        "configs/o.toml",
        &format!("{MODEL}[model.overrides.rpn]\nnms_treshold = 0.5\n[solver]\nmax_iter = 10\n"),
    );
    let e = err(&p, &[]);
    assert!(matches!(e, ConfigError::UnknownKey { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "{}: unknown key `model.overrides.rpn.nms_treshold`; did you mean \
             `model.overrides.rpn.nms_thresh`?",
            p.display()
        )
    );
    // A wrong type, in the file and from --set.
    let p = d.write(
        "configs/t.toml",
        &format!("{MODEL}[model.overrides.backbone]\ndepth = \"101\"\n[solver]\nmax_iter = 10\n"),
    );
    assert_eq!(
        err(&p, &[]).to_string(),
        format!(
            "{}: `model.overrides.backbone.depth` must be a non-negative integer, found a \
             string (\"101\")",
            p.display()
        )
    );
    let ok = d.write(
        "configs/ok.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\n"),
    );
    assert_eq!(
        err(&ok, &["model.overrides.fpn.out_channels=wide"]).to_string(),
        "--set model.overrides.fpn.out_channels=wide: `model.overrides.fpn.out_channels` must \
         be a non-negative integer, found a string (\"wide\")"
    );
    // An unknown section, and a value no one could mean.
    assert_eq!(
        err(&ok, &["model.overrides.rpnn.nms_thresh=0.5"]).to_string(),
        "--set model.overrides.rpnn.nms_thresh=0.5: unknown key `model.overrides.rpnn`; did \
         you mean `model.overrides.rpn`?"
    );
    assert_eq!(
        err(&ok, &["model.overrides.fpn.out_channels=0"]).to_string(),
        "--set model.overrides.fpn.out_channels=0: `model.overrides.fpn.out_channels` = 0: it \
         must be at least 1"
    );
    let e = load(&ok, &["model.overrides.rpn.nms_thresh=0.6"]).unwrap();
    assert_eq!(e.architecture.rpn.nms_thresh, 0.6);
}

#[test]
fn input_sizes_are_checked_where_they_were_written() {
    let d = Dir::new();
    let p = d.write(
        "x.toml",
        &format!("{MODEL}[solver]\nmax_iter = 10\n[input]\nmin_sizes = [800]\nmax_size = 600\n"),
    );
    let e = err(&p, &[]).to_string();
    assert!(
        e.starts_with(&format!("{}: `input.max_size` = 600 is below", p.display())),
        "{e}"
    );
    let e = err(&p, &["input.max_size=1333", "input.min_sizes=[0]"]).to_string();
    assert!(
        e.starts_with("--set input.min_sizes=[0]: `input.min_sizes` = [0]:"),
        "{e}"
    );
    let e = load(&p, &["input.max_size=1333", "input.min_sizes=[640, 800]"]).unwrap();
    assert_eq!(e.architecture.input.min_size, vec![640, 800]);
    assert_eq!(e.architecture.input.max_size, 1333);
}

#[test]
fn a_missing_model_file_names_the_key() {
    let d = Dir::new();
    let p = d.write(
        "x.toml",
        "[model]\nconfig = \"model_configs/nope.toml\"\n[solver]\nmax_iter = 10\n",
    );
    let e = err(&p, &[]).to_string();
    assert!(
        e.starts_with(&format!(
            "{}: `model.config` = \"model_configs/nope.toml\": cannot read it",
            p.display()
        )),
        "{e}"
    );
}

#[test]
fn model_files_get_the_same_diagnostics_and_bases() {
    let d = Dir::new();
    let base = d.write("m/base.toml", "num_classes = 5\n[backbone]\ndepth = 101\n");
    let _ = base;
    let m = d.write(
        "m/small.toml",
        "base = \"base.toml\"\n[backbone]\ntrainable_layers = 2\n",
    );
    let c = load_model_config(&m).unwrap();
    assert_eq!(
        (c.num_classes, c.backbone.depth, c.backbone.trainable_layers),
        (5, 101, 2)
    );
    let bad = d.write("m/bad.toml", "[roi_heads]\nbatch_size_per_imag = 3\n");
    assert_eq!(
        load_model_config(&bad).unwrap_err().to_string(),
        format!(
            "{}: unknown key `roi_heads.batch_size_per_imag`; did you mean \
             `roi_heads.batch_size_per_image`?",
            bad.display()
        )
    );
    let e = model_config_from_str("num_classes = 1\n", Path::new("inline.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "inline.toml: `num_classes` = 1: it counts the background, so it must be at least 2"
    );
    let e = model_config_from_str("[anchors]\nrounded = \"yes\"\n", Path::new("a.toml"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "a.toml: `anchors.rounded` must be a boolean (true or false), found a string (\"yes\")"
    );
}

#[test]
fn solver_values_no_one_could_mean() {
    let d = Dir::new();
    let p = d.write("x.toml", &format!("{MODEL}[solver]\nmax_iter = 10\n"));
    for (set, key) in [
        ("solver.base_lr=0", "solver.base_lr"),
        ("solver.base_lr=-0.1", "solver.base_lr"),
        ("solver.momentum=1.0", "solver.momentum"),
        ("solver.momentum=-0.1", "solver.momentum"),
        ("solver.weight_decay=-1e-4", "solver.weight_decay"),
        ("solver.gamma=0", "solver.gamma"),
        ("solver.warmup_factor=-0.5", "solver.warmup_factor"),
        ("solver.clip_grad_norm=0", "solver.clip_grad_norm"),
        ("solver.clip_grad_norm=-1", "solver.clip_grad_norm"),
        ("log.period=0", "log.period"),
        ("eval.score_threshold=1.5", "eval.score_threshold"),
        (
            "input.color_jitter.brightness=-1",
            "input.color_jitter.brightness",
        ),
    ] {
        let e = err(&p, &[set]);
        assert_eq!(e.key(), Some(key), "{set}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("--set {set}: `{key}` = ")),
            "{set}: {e}"
        );
    }
}

#[test]
fn every_preset_in_model_configs_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model_configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load_model_config(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 6, "{n} presets");
}

#[test]
fn the_od_api_atrous_preset_is_the_sample_config() {
    use mrcnn_config::{Architecture, C4Config, ResNetLayout, Resizer};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model_configs");
    let c = load_model_config(&dir.join("mask_rcnn_resnet101_atrous_tf.toml")).unwrap();
    assert_eq!(c.architecture, Architecture::C4);
    assert_eq!(c.c4, C4Config::default());
    assert_eq!(c.num_classes, 91);
    assert_eq!(c.class_names.len(), 90);
    assert_eq!((c.input.min_size[0], c.input.max_size), (800, 1365));
    assert_eq!(c.input.resizer, Resizer::TfKeepAspectRatio);
    assert_eq!(c.backbone.layout, ResNetLayout::TfSlim);
    assert_eq!((c.backbone.depth, c.backbone.output_stride), (101, 8));
    assert_eq!(c.rpn.post_nms_top_n_test, 300);
    assert_eq!(
        (c.roi_heads.nms_thresh, c.roi_heads.detections_per_img),
        (0.6, 300)
    );
    // The FPN needs the torchvision layout: a tf_slim FPN model is refused by name.
    let e = model_config_from_str("[backbone]\nlayout = \"tf_slim\"\n", Path::new("x.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("backbone.layout"), "{e}");
}
