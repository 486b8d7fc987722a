//! `mrcnn train` and `mrcnn eval --config` as a user runs them, on a tiny model and synthetic set:
//! train, evaluate the run, refuse to overwrite it, and bad experiment files as one clear line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mrcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mrcnn"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mrcnn-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_clean_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{err}"
    );
}

const MODEL: &str = r#"
num_classes = 4
[input]
min_size = [64]
max_size = 64
[backbone]
blocks = [1, 1, 1, 1]
block = "basic"
stem_channels = 8
base_width = 8
trainable_layers = 5
[fpn]
out_channels = 16
[anchors]
sizes = [[16], [32], [64], [128], [256]]
[rpn]
pre_nms_top_n_train = 200
post_nms_top_n_train = 100
pre_nms_top_n_test = 100
post_nms_top_n_test = 50
[roi_heads]
representation_size = 32
batch_size_per_image = 32
[mask_head]
conv_dims = [8]
predictor_dim = 8
"#;

fn experiment(d: &Path, extra: &str) -> PathBuf {
    std::fs::write(d.join("model.toml"), MODEL).unwrap();
    let text = format!(
        r#"
output_dir = "{d}/run"
[model]
config = "{d}/model.toml"
[dataset]
train = ["{d}/shapes/train.json"]
val = ["{d}/shapes/val.json"]
[dataset.synth]
out = "{d}/shapes"
train_images = 4
val_images = 2
width = 64
height = 64
[solver]
base_lr = 0.01
warmup_iters = 1
max_iter = 3
{extra}
"#,
        d = d.display()
    );
    let p = d.join("exp.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn train_then_eval_the_run() {
    let d = tmp("run");
    let exp = experiment(&d, "");
    let out = mrcnn(&["train", "--config", s(&exp), "--no-progress"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mask AP"), "{stdout}");
    let run = d.join("run");
    for f in [
        "config.toml",
        "model.toml",
        "log.txt",
        "metrics.jsonl",
        "metrics.json",
        "training.png",
        "model_final.safetensors",
    ] {
        assert!(run.join(f).is_file(), "missing {f}");
    }

    let out = mrcnn(&["eval", "--config", s(&exp)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("IoU metric: segm") && stdout.contains("circle"),
        "{stdout}"
    );
    let ev = run.join("eval");
    for f in [
        "metrics.json",
        "results.json",
        "pr_curves_bbox.png",
        "pr_curves_segm.png",
    ] {
        assert!(ev.join(f).is_file(), "missing eval/{f}");
    }
    assert!(ev.join("overlays").read_dir().unwrap().count() > 0);

    // A second start without --resume must not overwrite the run.
    let out = mrcnn(&["train", "--config", s(&exp), "--no-progress"]);
    assert_clean_error(&out, "--resume");
}

#[test]
fn bad_experiments_are_one_clear_line() {
    let d = tmp("bad");
    let exp = experiment(&d, "base_rl = 0.1");
    assert_clean_error(
        &mrcnn(&["train", "--config", s(&exp)]),
        "did you mean `solver.base_lr`?",
    );
    let exp = experiment(&d, "");
    assert_clean_error(
        &mrcnn(&["train", "--config", s(&exp), "--set", "solver.base_lr=abc"]),
        "solver.base_lr",
    );
    assert_clean_error(
        &mrcnn(&["train", "--config", s(&exp), "--device", "tpu"]),
        "tpu",
    );
    assert_clean_error(
        &mrcnn(&[
            "train",
            "--config",
            s(&exp),
            "--device",
            "wgpu:0,wgpu:discrete:0",
        ]),
        "repeats `devices[0]`",
    );
    assert_clean_error(
        &mrcnn(&[
            "train",
            "--config",
            s(&exp),
            "--device",
            "wgpu:0,wgpu:1,wgpu:2",
            "--set",
            "solver.images_per_batch=2",
        ]),
        "make it a multiple of 3",
    );
    assert_clean_error(
        &mrcnn(&["train", "--config", s(&exp), "--resume"]),
        "no complete checkpoint",
    );
    assert_clean_error(&mrcnn(&["eval", "--config", s(&exp)]), "train first");
    assert_clean_error(
        &mrcnn(&["train", "--config", s(&d.join("missing.toml"))]),
        "missing.toml",
    );
}

#[test]
fn ctrl_c_saves_a_checkpoint_and_resume_finishes() {
    let d = tmp("sigint");
    let exp = experiment(&d, "");
    let sets = [
        "--set",
        "solver.max_iter=100000",
        "--set",
        "checkpoint.period=100000",
    ];
    let child = Command::new(env!("CARGO_BIN_EXE_mrcnn"))
        .args(["train", "--config", s(&exp), "--no-progress"])
        .args(sets)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first iterations to be logged, then press Ctrl-C.
    let log = d.join("run").join("metrics.jsonl");
    let t0 = std::time::Instant::now();
    while std::fs::read_to_string(&log).map_or(0, |t| t.lines().count()) < 2 {
        assert!(t0.elapsed().as_secs() < 120, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stopped at iteration"), "{stdout}");
    let ckpts: Vec<_> = d
        .join("run")
        .join("checkpoints")
        .read_dir()
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("model-") && n.ends_with(".bpk"))
        .collect();
    assert_eq!(ckpts.len(), 1, "{ckpts:?}");
    // Resume with a reachable end: it continues from the saved iteration and finishes.
    let done: usize = ckpts[0]
        .trim_start_matches("model-")
        .trim_end_matches(".bpk")
        .parse()
        .unwrap();
    let end = (done + 2).to_string();
    let set_end = format!("solver.max_iter={end}");
    let out = mrcnn(&[
        "train",
        "--config",
        s(&exp),
        "--no-progress",
        "--resume",
        "--set",
        &set_end,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(d.join("run").join("model_final.safetensors").is_file());
}
