//! End-to-end runs of `mrcnn train` on a tiny synthetic set: checkpoint, stop, resume and
//! evaluate, and the resumed run must end with exactly the weights of an uninterrupted one; a
//! diverging run stops with a clear message and leaves its last good checkpoint.

use mrcnn_config::load_experiment;
use mrcnn_train::checkpoint::complete_checkpoints;
use mrcnn_train::{RunOptions, run_experiment};
use std::path::Path;
use std::sync::Mutex;

/// Burn's flex backend seeds one process-wide generator, so runs in parallel test threads would
/// draw each other's initial weights: the runs here take turns.
static SERIAL: Mutex<()> = Mutex::new(());

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
batch_size_per_image = 64
[roi_heads]
representation_size = 32
batch_size_per_image = 32
[mask_head]
conv_dims = [8]
predictor_dim = 8
"#;

/// Writes the model config and an experiment into `dir`; returns the experiment's path.
fn experiment(dir: &Path, name: &str, extra: &str) -> std::path::PathBuf {
    let model = dir.join("tiny_model.toml");
    std::fs::write(&model, MODEL).unwrap();
    let data = dir.join("shapes");
    let text = format!(
        r#"
seed = 3
output_dir = "{out}"
[model]
config = "{model}"
[dataset]
format = "coco"
train = ["{data}/train.json"]
val = ["{data}/val.json"]
[dataset.synth]
out = "{data}"
train_images = 8
val_images = 3
width = 64
height = 64
max_objects = 3
[solver]
base_lr = 0.01
warmup_iters = 2
steps = [4]
max_iter = 6
images_per_batch = 2
[loader]
workers = 2
[checkpoint]
period = 2
keep_last = 2
[log]
period = 1
{extra}
"#,
        out = dir.join(name).display(),
        model = model.display(),
        data = data.display(),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path
}

fn tensors(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    v
}

#[test]
fn resumed_run_ends_with_the_weights_of_an_uninterrupted_one() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions::default();

    let full = load_experiment(&experiment(dir.path(), "full", ""), &[]).unwrap();
    let a = run_experiment(&full, &opts).unwrap();
    assert_eq!(a.outcome.iteration, 6);
    let fa = a.final_weights.clone().expect("final weights");
    // Periodic checkpoints at 2, 4, 6, of which the last two are kept.
    assert_eq!(
        complete_checkpoints(&a.run_dir.join("checkpoints")),
        vec![4, 6]
    );
    // The end-of-run evaluation ran and was written.
    assert_eq!(a.outcome.evals.len(), 1);
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.run_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert!(m["segm"]["stats"]["AP"].as_f64().is_some(), "{m}");
    assert!(a.run_dir.join("training.png").is_file());
    assert!(a.run_dir.join("config.toml").is_file());
    assert!(a.run_dir.join("log.txt").is_file());

    // The same experiment, stopped after 3 iterations (as Ctrl-C would), then resumed.
    let split = experiment(dir.path(), "split", "");
    let exp = load_experiment(&split, &[]).unwrap();
    let stop = RunOptions {
        stop_after: Some(3),
        ..Default::default()
    };
    let b1 = run_experiment(&exp, &stop).unwrap();
    assert_eq!(b1.outcome.iteration, 3);
    assert!(b1.final_weights.is_none());
    assert_eq!(
        complete_checkpoints(&b1.run_dir.join("checkpoints")),
        vec![2, 3]
    );
    // Starting again without --resume refuses to overwrite the run.
    let again = run_experiment(&exp, &RunOptions::default()).unwrap_err();
    assert!(again.to_string().contains("--resume"), "{again}");
    let b2 = run_experiment(
        &exp,
        &RunOptions {
            resume: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(b2.outcome.iteration, 6);
    let fb = b2.final_weights.clone().expect("final weights");
    let (ta, tb) = (tensors(&fa), tensors(&fb));
    assert_eq!(ta.len(), tb.len());
    for ((na, da), (nb, db)) in ta.iter().zip(&tb) {
        assert_eq!(na, nb);
        assert!(
            da == db,
            "{na} differs between the resumed and the uninterrupted run"
        );
    }
    // The metrics log holds each iteration once.
    let its: Vec<u64> = std::fs::read_to_string(b2.run_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("loss").is_some())
        .filter_map(|v| v["iteration"].as_u64())
        .collect();
    assert_eq!(its, vec![1, 2, 3, 4, 5, 6]);
}

/// A newest checkpoint with a flipped byte, cut short, or emptied: `--resume` says which file is
/// damaged, keeps it (moved aside, not deleted), resumes from the previous checkpoint, and still
/// ends with the weights of an uninterrupted run.
#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_previous_one() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let full = load_experiment(&experiment(dir.path(), "full", ""), &[]).unwrap();
    let fa = run_experiment(&full, &RunOptions::default())
        .unwrap()
        .final_weights
        .expect("final weights");
    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, &str, Damage); 3] = [
        ("flipped", "model", |b| {
            let mid = b.len() / 2;
            b[mid] ^= 0x40
        }),
        ("truncated", "optim", |b| b.truncate(b.len() / 3)),
        ("empty", "scheduler", |b| b.clear()),
    ];
    for (how, record, damage) in damages {
        let exp = load_experiment(&experiment(dir.path(), how, ""), &[]).unwrap();
        let stop = RunOptions {
            stop_after: Some(4),
            ..Default::default()
        };
        let first = run_experiment(&exp, &stop).unwrap();
        let ckpt = first.run_dir.join("checkpoints");
        assert_eq!(complete_checkpoints(&ckpt), vec![2, 4], "{how}");
        let file = ckpt.join(format!("{record}-4.bpk"));
        let mut bytes = std::fs::read(&file).unwrap();
        damage(&mut bytes);
        std::fs::write(&file, &bytes).unwrap();

        let resumed = run_experiment(
            &exp,
            &RunOptions {
                resume: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(resumed.outcome.iteration, 6, "{how}");
        let log = std::fs::read_to_string(resumed.run_dir.join("log.txt")).unwrap();
        assert!(
            log.contains(&format!(
                "checkpoint at iteration 4 is damaged: {}",
                file.display()
            )),
            "{how}: {log}"
        );
        assert!(log.contains("resuming from iteration 2"), "{how}: {log}");
        let kept = ckpt.join("damaged-4").join(format!("{record}-4.bpk"));
        assert_eq!(
            std::fs::read(&kept).unwrap(),
            bytes,
            "{how}: kept as it was"
        );
        let (ta, tb) = (tensors(&fa), tensors(&resumed.final_weights.unwrap()));
        assert!(
            ta == tb,
            "{how}: the resumed run differs from the uninterrupted one"
        );
    }
}

#[test]
fn a_diverging_run_stops_and_keeps_its_last_good_checkpoint() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let path = experiment(dir.path(), "nan", "");
    let exp = load_experiment(
        &path,
        &[
            "solver.base_lr=1e12".into(),
            "solver.warmup_iters=0".into(),
            "solver.max_iter=20".into(),
            "checkpoint.period=1".into(),
        ],
    )
    .unwrap();
    let err = run_experiment(&exp, &RunOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("at iteration"), "{err}");
    assert!(err.contains("NaN") || err.contains("inf"), "{err}");
    assert!(err.contains("checkpoint"), "{err}");
    let ckpts = complete_checkpoints(&dir.path().join("nan").join("checkpoints"));
    assert!(!ckpts.is_empty(), "no checkpoint kept: {err}");
    assert!(
        !dir.path()
            .join("nan")
            .join("model_final.safetensors")
            .exists()
    );
}

#[test]
fn training_starts_from_an_original_detectron2_pickle() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let model_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests");
    let path = experiment(dir.path(), "d2", "");
    let exp = load_experiment(
        &path,
        &[
            format!(
                "model.config=\"{}\"",
                model_dir.join("small_model.toml").display()
            ),
            format!(
                "model.weights=\"{}\"",
                model_dir.join("fixtures/import/small_d2_p4.pkl").display()
            ),
            "solver.max_iter=2".into(),
        ],
    )
    .unwrap();
    let r = run_experiment(&exp, &RunOptions::default()).unwrap();
    assert_eq!(r.outcome.iteration, 2);
    let log = std::fs::read_to_string(r.run_dir.join("log.txt")).unwrap();
    // The import report (format, tensors, head surgery) is in the run's log.
    assert!(log.contains("detectron2 format"), "{log}");
    assert!(r.final_weights.is_some());
}

#[test]
fn the_od_api_c4_model_trains_from_its_tf_checkpoint() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/tf_od_api/model");
    let path = experiment(dir.path(), "c4", "");
    let exp = load_experiment(
        &path,
        &[
            format!("model.config=\"{}\"", fixture.join("model.toml").display()),
            format!("model.weights=\"{}\"", fixture.join("model.ckpt").display()),
            "model.weights_format=\"tf-od-api\"".into(),
            "solver.max_iter=2".into(),
        ],
    )
    .unwrap();
    let r = run_experiment(&exp, &RunOptions::default()).unwrap();
    assert_eq!(r.outcome.iteration, 2);
    let log = std::fs::read_to_string(r.run_dir.join("log.txt")).unwrap();
    // The OD API checkpoint went through the importer and head surgery (a TF checkpoint
    // names no classes: 3 foreground classes are matched by position) and trained with the
    // OD API's losses.
    assert!(log.contains("tf-od-api format"), "{log}");
    assert!(log.contains("matched by position"), "{log}");
    assert!(log.contains("iter 2/2"), "{log}");
    let weights = r.final_weights.expect("final weights");
    // The weights it wrote load back into the C4 model.
    let cfg = exp.architecture.clone().with_classes(vec![
        "circle".into(),
        "rectangle".into(),
        "triangle".into(),
    ]);
    let model = mrcnn_model::Detector::load(
        cfg.unwrap(),
        &weights,
        mrcnn_config::WeightsFormat::Auto,
        &burn::prelude::Device::flex(),
    )
    .unwrap();
    assert!(matches!(model, mrcnn_model::Detector::C4(_)));
}

/// A data-parallel run over two wgpu devices (`wgpu` and `wgpu:cpu`: on a machine with lavapipe
/// only, two devices on the same software adapter), stopped and resumed, ends with the weights of
/// the uninterrupted one, up to float rounding: on wgpu the backward kernels that scatter-add
/// (atomics) sum in no fixed order, and Burn autotunes kernels on first use, so two runs agree
/// to rounding, not bit for bit (as PyTorch on CUDA without deterministic algorithms). Minutes
/// on lavapipe (most of it autotuning, ~13 min with an empty autotune cache): runs with
/// `MRCNN_TEST_WGPU_TRAIN=1`, as the wgpu training parity does.
#[test]
fn data_parallel_run_on_two_wgpu_devices_resumes_exactly() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if std::env::var("MRCNN_TEST_WGPU_TRAIN").as_deref() != Ok("1") {
        eprintln!("skipped (set MRCNN_TEST_WGPU_TRAIN=1 to run it)");
        return;
    }
    for a in [
        mrcnn_config::WgpuAdapter::Default,
        mrcnn_config::WgpuAdapter::Cpu,
    ] {
        if let Err(why) = mrcnn_testing::wgpu_device(a) {
            eprintln!("skipped ({why})");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let sets = [
        "devices=[\"wgpu\", \"wgpu:cpu\"]".to_string(),
        "solver.max_iter=4".to_string(),
        "eval.period=0".to_string(),
    ];
    let full = load_experiment(&experiment(dir.path(), "full", ""), &sets).unwrap();
    let a = run_experiment(&full, &RunOptions::default()).unwrap();
    assert_eq!(a.outcome.iteration, 4);
    let log = std::fs::read_to_string(a.run_dir.join("log.txt")).unwrap();
    assert!(log.contains("data parallel over 2 devices"), "{log}");

    let split = load_experiment(&experiment(dir.path(), "split", ""), &sets).unwrap();
    let stop = RunOptions {
        stop_after: Some(2),
        ..Default::default()
    };
    assert_eq!(run_experiment(&split, &stop).unwrap().outcome.iteration, 2);
    let resume = RunOptions {
        resume: true,
        ..Default::default()
    };
    let b = run_experiment(&split, &resume).unwrap();
    assert_eq!(b.outcome.iteration, 4);
    let (ta, tb) = (
        tensors(&a.final_weights.unwrap()),
        tensors(&b.final_weights.unwrap()),
    );
    assert_eq!(ta.len(), tb.len());
    let floats = |d: &[u8]| -> Vec<f32> {
        d.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let mut worst = 0.0f32;
    for ((na, da), (nb, db)) in ta.iter().zip(&tb) {
        assert_eq!(na, nb);
        let (fa, fb) = (floats(da), floats(db));
        let scale = fa.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        let diff = fa
            .iter()
            .zip(&fb)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
            / scale;
        assert!(
            diff <= 1e-5,
            "{na} differs between the resumed and the uninterrupted run by {diff:.2e} of its scale"
        );
        worst = worst.max(diff);
    }
    eprintln!("resumed vs uninterrupted: worst relative difference {worst:.2e}");
}
