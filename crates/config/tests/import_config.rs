//! `translate_pipeline`: the OD API's sample Mask R-CNN ResNet-101 atrous pipeline.config becomes
//! the preset model config and a loadable experiment; every field without a counterpart is
//! listed with its line; other models are refused naming the field and its line.
#![allow(clippy::result_large_err)]

use std::path::{Path, PathBuf};

use mrcnn_config::{
    Architecture, DatasetFormat, NoteKind, PipelineError, PipelineNote, PipelineTranslation,
    ScheduleKind, WeightsFormat, load_experiment, load_model_config, translate_pipeline,
};

/// The unmodified research/object_detection/samples/configs/mask_rcnn_resnet101_atrous_coco.config
/// (tensorflow/models).
const SAMPLE: &str = include_str!("fixtures/mask_rcnn_resnet101_atrous_coco.config");
const PRESET: &str = "../../model_configs/mask_rcnn_resnet101_atrous_tf.toml";

fn translate(text: &str, out: &Path) -> Result<PipelineTranslation, PipelineError> {
    translate_pipeline(text, Path::new("pipeline.config"), out)
}

/// Translates `text` into a temp folder and writes both files there.
fn write(text: &str) -> (tempfile::TempDir, PathBuf, PipelineTranslation) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported");
    let t = translate(text, &out).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("model.toml"), &t.model_toml).unwrap();
    std::fs::write(out.join("experiment.toml"), &t.experiment_toml).unwrap();
    (dir, out, t)
}

/// The line of the fixture that holds `needle` (1-based), the `nth` (0-based) such line.
fn line_of(text: &str, needle: &str, nth: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(nth)
        .unwrap_or_else(|| panic!("{needle} not in the text"))
        .0
        + 1
}

fn note<'a>(t: &'a PipelineTranslation, path: &str) -> &'a PipelineNote {
    t.notes
        .iter()
        .find(|n| n.path == path)
        .unwrap_or_else(|| panic!("no note for {path}: {:#?}", t.notes))
}

fn refused(text: &str) -> (usize, String, String) {
    match translate(text, Path::new("out")) {
        Err(e @ PipelineError::Refused { .. }) => {
            let shown = e.to_string();
            let PipelineError::Refused { line, path, .. } = e else {
                unreachable!()
            };
            (line, path, shown)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_sample_pipeline_is_the_preset_model() {
    let (_dir, out, t) = write(SAMPLE);
    let got = load_model_config(&out.join("model.toml")).unwrap();
    let want = load_model_config(Path::new(PRESET)).unwrap();
    assert_eq!(got.architecture, Architecture::C4);
    assert_eq!(got.num_classes, want.num_classes);
    assert_eq!(got.c4, want.c4);
    assert_eq!(got.backbone, want.backbone);
    assert_eq!(got.input, want.input);
    assert_eq!(got.rpn, want.rpn);
    assert_eq!(got.roi_heads, want.roi_heads);
    assert_eq!(got.mask_head, want.mask_head);
    let mut same = got.clone();
    same.class_names = want.class_names.clone();
    assert_eq!(same, want);
    // The label map path is PATH_TO_BE_CONFIGURED/...: no class names, and a note says why.
    assert!(got.class_names.is_empty());
    let lm = note(&t, "train_input_reader.label_map_path");
    assert_eq!(lm.kind, NoteKind::Partial);
    assert!(lm.reason.contains("cannot read"), "{lm}");
    // Values name their source line.
    let n = line_of(SAMPLE, "num_classes: 90", 0);
    assert!(
        t.model_toml
            .contains(&format!("num_classes = 91  # line {n}: num_classes = 90")),
        "{}",
        t.model_toml
    );
}

#[test]
fn the_sample_pipeline_is_a_loadable_experiment() {
    let (_dir, out, _) = write(SAMPLE);
    let exp = load_experiment(&out.join("experiment.toml"), &[]).unwrap();
    assert_eq!(exp.model.config, out.join("model.toml"));
    assert_eq!(
        exp.model.weights.as_deref(),
        Some(Path::new("PATH_TO_BE_CONFIGURED/model.ckpt"))
    );
    assert_eq!(exp.model.weights_format, WeightsFormat::TfOdApi);
    assert_eq!(exp.architecture.architecture, Architecture::C4);
    assert_eq!(exp.output_dir, Path::new("runs/imported"));
    let d = &exp.dataset;
    assert_eq!(d.format, DatasetFormat::Tfrecord);
    assert_eq!(d.train, ["PATH_TO_BE_CONFIGURED/mscoco_train.record"]);
    assert_eq!(d.val, ["PATH_TO_BE_CONFIGURED/mscoco_val.record"]);
    assert_eq!(
        d.label_map.as_deref(),
        Some(Path::new("PATH_TO_BE_CONFIGURED/mscoco_label_map.pbtxt"))
    );
    let s = &exp.solver;
    assert_eq!(s.images_per_batch, 1);
    assert_eq!(s.base_lr, 0.0003);
    assert_eq!(s.momentum, 0.9);
    assert_eq!(s.schedule, ScheduleKind::MultiStep);
    assert_eq!(s.steps, [900000, 1200000]);
    assert_eq!(s.gamma, 0.1);
    assert_eq!(s.warmup_iters, 0);
    assert_eq!(s.max_iter, Some(200000));
    assert_eq!(s.clip_grad_norm, Some(10.0));
    // Every l2_regularizer weight is 0 and the TF1 ResNet has none: no weight decay.
    assert_eq!(s.weight_decay, 0.0);
    assert_eq!(exp.input.hflip_prob, 0.5);
}

/// Every `name: value` line of the sample is translated (the names below) or listed by line.
#[test]
fn no_field_of_the_sample_is_dropped_silently() {
    let (_dir, _, t) = write(SAMPLE);
    let translated = [
        "num_classes",
        "min_dimension",
        "max_dimension",
        "number_of_stages",
        "type",
        "first_stage_features_stride",
        "scales",
        "aspect_ratios",
        "height_stride",
        "width_stride",
        "first_stage_atrous_rate",
        "first_stage_nms_score_threshold",
        "first_stage_nms_iou_threshold",
        "first_stage_max_proposals",
        "initial_crop_size",
        "maxpool_kernel_size",
        "maxpool_stride",
        "predict_instance_masks",
        "mask_height",
        "mask_width",
        "mask_prediction_conv_depth",
        "mask_prediction_num_conv_layers",
        "score_threshold",
        "iou_threshold",
        "max_detections_per_class",
        "max_total_detections",
        "score_converter",
        "batch_size",
        "initial_learning_rate",
        "step",
        "learning_rate",
        "momentum_optimizer_value",
        "gradient_clipping_by_norm",
        "fine_tune_checkpoint",
        "num_steps",
        "input_path",
        "label_map_path",
        "first_stage_localization_loss_weight",
        "first_stage_objectness_loss_weight",
        "second_stage_localization_loss_weight",
        "second_stage_classification_loss_weight",
        "second_stage_mask_prediction_loss_weight",
        "weight",
    ];
    for (i, l) in SAMPLE.lines().enumerate() {
        let code = l.split('#').next().unwrap().trim();
        let Some((name, value)) = code.split_once(':') else {
            continue;
        };
        if value.trim() == "{" || value.trim().is_empty() {
            continue;
        }
        let listed = t.notes.iter().any(|n| n.line == i + 1);
        assert!(
            translated.contains(&name) != listed || name == "label_map_path",
            "line {}: {code}: translated {} / listed {listed}",
            i + 1,
            translated.contains(&name)
        );
    }
    // The empty random_horizontal_flip { } is hflip_prob = 0.5: not listed.
    let flip = line_of(SAMPLE, "random_horizontal_flip", 0);
    assert!(!t.notes.iter().any(|n| n.line == flip));
    // Some notes as the user sees them.
    let init = line_of(SAMPLE, "stddev: 0.01", 0);
    let shown: Vec<String> = t.notes.iter().map(|n| n.to_string()).collect();
    let want = format!(
        "line {init}: model.faster_rcnn.first_stage_box_predictor_conv_hyperparams.initializer.\
         truncated_normal_initializer.stddev = 0.01: not translated ("
    );
    assert!(shown.iter().any(|s| s.starts_with(&want)), "{shown:#?}");
    for (path, kind) in [
        ("eval_config.num_examples", NoteKind::NotTranslated),
        ("eval_config.max_evals", NoteKind::NotTranslated),
        (
            "train_config.optimizer.use_moving_average",
            NoteKind::Ignored,
        ),
        ("train_config.from_detection_checkpoint", NoteKind::Ignored),
        ("eval_input_reader.shuffle", NoteKind::NotTranslated),
    ] {
        assert_eq!(note(&t, path).kind, kind, "{path}");
    }
    assert_eq!(
        note(&t, "eval_config.num_examples").line,
        line_of(SAMPLE, "num_examples", 0)
    );
    // The notes are also in the experiment, as comments.
    assert!(t.experiment_toml.contains("#   line "));
}

#[test]
fn class_names_come_from_a_readable_label_map() {
    let dir = tempfile::tempdir().unwrap();
    let lm = dir.path().join("label_map.pbtxt");
    std::fs::write(
        &lm,
        "item { id: 1 name: '/m/01' display_name: 'grasper' }\nitem { id: 3 name: 'hook' }\n",
    )
    .unwrap();
    let text = SAMPLE.replace("num_classes: 90", "num_classes: 3").replace(
        "PATH_TO_BE_CONFIGURED/mscoco_label_map.pbtxt",
        lm.to_str().unwrap(),
    );
    let (_d, out, t) = write(&text);
    assert!(!t.notes.iter().any(|n| n.kind == NoteKind::Partial));
    let cfg = load_model_config(&out.join("model.toml")).unwrap();
    assert_eq!(cfg.num_classes, 4);
    assert_eq!(cfg.class_names, ["grasper", "N/A", "hook"]);
    let exp = load_experiment(&out.join("experiment.toml"), &[]).unwrap();
    assert_eq!(exp.dataset.label_map.as_deref(), Some(lm.as_path()));
}

#[test]
fn an_unknown_field_is_listed_with_its_line() {
    let text = SAMPLE
        .replace(
            "    number_of_stages: 3\n",
            "    number_of_stages: 3\n    use_fancy_option: 7\n",
        )
        .replace(
            "  data_augmentation_options {\n    random_horizontal_flip {\n    }\n  }\n",
            "  data_augmentation_options {\n    random_horizontal_flip {\n    }\n  }\n  \
             data_augmentation_options {\n    random_crop_image {\n      min_area: 0.5\n    }\n  }\n",
        );
    let (_d, out, t) = write(&text);
    let n = note(&t, "model.faster_rcnn.use_fancy_option");
    assert_eq!(
        n.to_string(),
        format!(
            "line {}: model.faster_rcnn.use_fancy_option = 7: not translated (no key of the C4 \
             model config)",
            line_of(&text, "use_fancy_option", 0)
        )
    );
    let n = note(
        &t,
        "train_config.data_augmentation_options.random_crop_image.min_area",
    );
    assert_eq!(n.line, line_of(&text, "min_area", 0));
    assert_eq!(n.value, "0.5");
    assert!(n.reason.contains("augmentation"), "{n}");
    load_experiment(&out.join("experiment.toml"), &[]).unwrap();
}

#[test]
fn a_schedule_with_two_factors_is_listed_not_guessed() {
    let text = SAMPLE.replace("learning_rate: .000003", "learning_rate: .000015");
    let (_d, out, t) = write(&text);
    let s = note(
        &t,
        "train_config.optimizer.momentum_optimizer.learning_rate.manual_step_learning_rate.\
         schedule",
    );
    assert_eq!(s.kind, NoteKind::NotTranslated);
    assert!(s.reason.contains("[0.1, 0.5]"), "{s}");
    let exp = load_experiment(&out.join("experiment.toml"), &[]).unwrap();
    assert_eq!(exp.solver.schedule, ScheduleKind::Constant);
    assert_eq!(exp.solver.base_lr, 0.0003);
}

#[test]
fn other_models_are_refused_naming_the_field_and_line() {
    let (line, path, shown) = refused("# an SSD\nmodel {\n  ssd {\n    num_classes: 3\n  }\n}\n");
    assert_eq!((line, path.as_str()), (3, "model.ssd"));
    assert!(
        shown.starts_with("pipeline.config: line 3: model.ssd = { ... }: only `faster_rcnn`"),
        "{shown}"
    );
    let (line, path, _) = refused("model {\n  center_net { }\n}\n");
    assert_eq!((line, path.as_str()), (2, "model.center_net"));

    for (from, to, needle, path) in [
        (
            "'faster_rcnn_resnet101'",
            "'faster_rcnn_resnet101_keras'",
            "faster_rcnn_resnet101_keras",
            "model.faster_rcnn.feature_extractor.type",
        ),
        (
            "'faster_rcnn_resnet101'",
            "'faster_rcnn_inception_v2'",
            "faster_rcnn_inception_v2",
            "model.faster_rcnn.feature_extractor.type",
        ),
        (
            "predict_instance_masks: true",
            "predict_instance_masks: false",
            "predict_instance_masks",
            "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor.\
             predict_instance_masks",
        ),
        (
            "      mask_rcnn_box_predictor {",
            "      rfcn_box_predictor {",
            "rfcn_box_predictor",
            "model.faster_rcnn.second_stage_box_predictor.rfcn_box_predictor",
        ),
        (
            "      keep_aspect_ratio_resizer {",
            "      fixed_shape_resizer {",
            "fixed_shape_resizer",
            "model.faster_rcnn.image_resizer.fixed_shape_resizer",
        ),
        (
            "number_of_stages: 3",
            "number_of_stages: 2",
            "number_of_stages",
            "model.faster_rcnn.number_of_stages",
        ),
        (
            "      grid_anchor_generator {",
            "      multiscale_anchor_generator {",
            "multiscale_anchor_generator",
            "model.faster_rcnn.first_stage_anchor_generator.multiscale_anchor_generator",
        ),
        (
            "        mask_width: 33\n",
            "        mask_width: 33\n        masks_are_class_agnostic: true\n",
            "masks_are_class_agnostic",
            "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor.\
             masks_are_class_agnostic",
        ),
    ] {
        let text = SAMPLE.replace(from, to);
        let (line, got, shown) = refused(&text);
        assert_eq!(got, path, "{shown}");
        assert_eq!(line, line_of(&text, needle, 0), "{shown}");
        assert!(shown.contains(&format!("line {line}: {path}")), "{shown}");
    }
    // A Faster R-CNN that does not say predict_instance_masks (default false) names its
    // predictor.
    let text = SAMPLE.replace("        predict_instance_masks: true\n", "");
    let (line, path, shown) = refused(&text);
    assert_eq!(line, line_of(&text, "mask_rcnn_box_predictor {", 0));
    assert!(path.ends_with("mask_rcnn_box_predictor"), "{path}");
    assert!(shown.contains("without masks"), "{shown}");
}

#[test]
fn bad_text_and_bad_values_name_the_line() {
    let e = translate("model {\n  faster_rcnn {\n", Path::new("out")).unwrap_err();
    assert!(matches!(e, PipelineError::Syntax { .. }), "{e}");
    assert!(
        e.to_string().starts_with("pipeline.config: line 2: "),
        "{e}"
    );
    let text = SAMPLE.replace("initial_crop_size: 14", "initial_crop_size: 'x'");
    let (line, path, _) = refused(&text);
    assert_eq!(
        (line, path.as_str()),
        (
            line_of(&text, "initial_crop_size", 0),
            "model.faster_rcnn.initial_crop_size"
        )
    );
    let text = SAMPLE.replace("    initial_crop_size: 14\n", "");
    let (_, _, shown) = refused(&text);
    assert!(shown.contains("`initial_crop_size` is required"), "{shown}");
}

/// The model test's fixture (the sample with small sizes, crates/model/tests/fixtures/tf_od_api)
/// translates to its hand-written model.toml, but for the ResNet that its generator narrowed in
/// code and the class names.
#[test]
fn the_model_fixture_pipeline_is_its_model_toml() {
    let fixture = Path::new("../model/tests/fixtures/tf_od_api/model");
    let text = std::fs::read_to_string(fixture.join("pipeline.config")).unwrap();
    let (_d, out, _) = write(&text);
    let mut got = load_model_config(&out.join("model.toml")).unwrap();
    let want = load_model_config(&fixture.join("model.toml")).unwrap();
    got.backbone.blocks = want.backbone.blocks;
    got.backbone.block = want.backbone.block;
    got.backbone.base_width = want.backbone.base_width;
    got.class_names = want.class_names.clone();
    assert_eq!(got, want);
}

/// A pipeline that leaves everything optional out gets the OD API's defaults (its .proto files).
#[test]
fn left_out_fields_take_the_od_api_defaults() {
    let text = "model {\n  faster_rcnn {\n    num_classes: 2\n    number_of_stages: 3\n    \
                image_resizer { keep_aspect_ratio_resizer { } }\n    \
                feature_extractor { type: 'faster_rcnn_resnet50' }\n    \
                first_stage_anchor_generator {\n      \
                grid_anchor_generator { scales: [1.0] aspect_ratios: [1.0] }\n    }\n    \
                initial_crop_size: 14\n    maxpool_kernel_size: 2\n    maxpool_stride: 2\n    \
                second_stage_box_predictor {\n      \
                mask_rcnn_box_predictor { predict_instance_masks: true }\n    }\n  }\n}\n";
    let (_d, out, t) = write(text);
    let cfg = load_model_config(&out.join("model.toml")).unwrap();
    assert_eq!(cfg.num_classes, 3);
    assert_eq!(
        (cfg.input.min_size.as_slice(), cfg.input.max_size),
        (&[600][..], 1024)
    );
    assert_eq!((cfg.backbone.depth, cfg.backbone.output_stride), (50, 16));
    let c4 = &cfg.c4;
    assert_eq!(
        (c4.anchor_base_size, c4.anchor_stride, c4.anchor_offset),
        ([256.0; 2], [16.0; 2], [0.0; 2])
    );
    assert_eq!(
        (
            c4.rpn_conv_depth,
            c4.rpn_conv_kernel_size,
            c4.rpn_atrous_rate
        ),
        (512, 3, 1)
    );
    assert_eq!(c4.mask_size, [15, 15]);
    assert_eq!(
        (
            c4.mask_prediction_conv_depth,
            c4.mask_prediction_num_conv_layers
        ),
        (256, 2)
    );
    assert_eq!(
        (
            c4.max_detections_per_class,
            cfg.roi_heads.detections_per_img
        ),
        (100, 100)
    );
    assert_eq!(
        (cfg.roi_heads.score_thresh, cfg.roi_heads.nms_thresh),
        (0.0, 0.6)
    );
    assert_eq!(
        (cfg.rpn.nms_thresh, cfg.rpn.post_nms_top_n_test),
        (0.7, 300)
    );
    assert_eq!(
        (c4.first_stage_minibatch_size, c4.second_stage_batch_size),
        (256, 64)
    );
    assert_eq!(
        [
            c4.first_stage_localization_loss_weight,
            c4.first_stage_objectness_loss_weight,
            c4.second_stage_localization_loss_weight,
            c4.second_stage_classification_loss_weight,
            c4.second_stage_mask_prediction_loss_weight,
        ],
        [1.0; 5]
    );
    // IDENTITY scores are not this model's softmax: listed.
    let n = note(
        &t,
        "model.faster_rcnn.second_stage_post_processing.score_converter",
    );
    assert_eq!((n.line, n.kind), (2, NoteKind::NotTranslated));
    // No train_config: the solver's length is a placeholder, listed.
    assert_eq!(
        note(&t, "train_config.num_steps").kind,
        NoteKind::NotTranslated
    );
    let exp = load_experiment(&out.join("experiment.toml"), &[]).unwrap();
    assert_eq!(exp.solver.max_iter, Some(100000));
    assert_eq!(exp.solver.images_per_batch, 32);
    assert_eq!(exp.input.hflip_prob, 0.0);
    assert!(exp.model.weights.is_none());
}

/// A regularised layer cannot be one weight decay for all: listed, the solver's default stays.
#[test]
fn layer_regularisers_are_listed_when_not_zero() {
    let text = SAMPLE.replacen("weight: 0.0", "weight: 0.0001", 1);
    let (_d, out, t) = write(&text);
    let n = note(
        &t,
        "model.faster_rcnn.first_stage_box_predictor_conv_hyperparams.regularizer.l2_regularizer.\
         weight",
    );
    assert_eq!(
        (n.line, n.value.as_str()),
        (line_of(&text, "0.0001", 0), "0.0001")
    );
    assert!(n.reason.contains("solver.weight_decay"), "{n}");
    // The zero weights of the other layers are listed too.
    let zero = line_of(&text, "weight: 0.0", 0);
    assert!(t.notes.iter().any(|n| n.line == zero), "{:#?}", t.notes);
    let exp = load_experiment(&out.join("experiment.toml"), &[]).unwrap();
    assert_eq!(exp.solver.weight_decay, 1e-4);
}
