//! `mrcnn import-config` as a user runs it: the OD API's sample pipeline.config becomes
//! `model.toml` and `experiment.toml`, the fields without a counterpart are printed by line,
//! existing files are only replaced with --force, and other models are a one-line error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mrcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mrcnn"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/tests/fixtures/mask_rcnn_resnet101_atrous_coco.config")
}

/// A fresh folder under the system temp dir (the CLI crate has no tempfile).
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mrcnn-import-config-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Exit code 1 and one `error:` line containing every needle, no panic.
fn assert_clean_error(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{n} not in: {err}");
    }
}

#[test]
fn import_config_writes_both_files_and_refuses_to_overwrite() {
    let dir = tmp("sample");
    let out_dir = dir.join("coco_c4");
    let pipeline = sample();
    let args = ["import-config", s(&pipeline), "--out-dir", s(&out_dir)];
    let out = mrcnn(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = out_dir.join("model.toml");
    let experiment = out_dir.join("experiment.toml");
    let cfg = mrcnn_config::load_model_config(&model).unwrap();
    assert_eq!(cfg.architecture, mrcnn_config::Architecture::C4);
    assert_eq!(cfg.num_classes, 91);
    let exp = mrcnn_config::load_experiment(&experiment, &[]).unwrap();
    assert_eq!(exp.model.config, model);
    // The fields without a counterpart, one line each, by line number.
    assert!(
        stdout.lines().any(|l| l.starts_with(
            "line 40: model.faster_rcnn.first_stage_box_predictor_conv_hyperparams.initializer.\
             truncated_normal_initializer.stddev = 0.01: not translated ("
        )),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("line 153: eval_config.num_examples = 8000: not translated")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("wrote {}", model.display())),
        "{stdout}"
    );

    // Again: refused, the files are left alone.
    std::fs::write(&model, "# mine\n").unwrap();
    let again = mrcnn(&args);
    assert_clean_error(&again, &["model.toml exists", "--force"]);
    assert_eq!(std::fs::read_to_string(&model).unwrap(), "# mine\n");
    // With --force: replaced.
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = mrcnn(&forced);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read_to_string(&model)
            .unwrap()
            .contains("architecture = \"c4\"")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn import_config_refuses_other_models_in_one_line() {
    let dir = tmp("ssd");
    let ssd = dir.join("ssd.config");
    std::fs::write(&ssd, "model {\n  ssd {\n    num_classes: 3\n  }\n}\n").unwrap();
    let out_dir = dir.join("out");
    let out = mrcnn(&["import-config", s(&ssd), "--out-dir", s(&out_dir)]);
    assert_clean_error(&out, &["ssd.config: line 2: model.ssd", "faster_rcnn"]);
    assert!(!out_dir.exists());
    let missing = dir.join("missing.config");
    let out = mrcnn(&["import-config", s(&missing), "--out-dir", s(&out_dir)]);
    assert_clean_error(&out, &["cannot read", "missing.config"]);
    let _ = std::fs::remove_dir_all(&dir);
}
