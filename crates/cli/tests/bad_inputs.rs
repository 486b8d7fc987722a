//! The bad-input suite: one row per bad input (what it writes, the command, the exit code and the
//! words the message must contain), run against the `mrcnn` binary. No row may end in a panic, a
//! hang or exit 0 for a bad input. Rows that must succeed (a skip policy, a closed pipe) say what
//! they must report instead.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What a run must end with.
#[derive(Clone, Copy)]
enum Expect {
    /// Exit 1, one `error:` line holding every word.
    Error(&'static [&'static str]),
    /// Exit 0, stderr holding every word.
    Success(&'static [&'static str]),
}

struct Run {
    code: Option<i32>,
    stderr: String,
}

/// Runs `mrcnn args` in `dir` with a time limit (a hang fails the row).
fn run(dir: &Path, args: &[String]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mrcnn"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > Duration::from_secs(180) {
            let _ = child.kill();
            panic!("mrcnn {args:?} did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code,
        stderr: reader.join().unwrap(),
    }
}

fn check(name: &str, r: &Run, expect: Expect) {
    assert!(
        !r.stderr.contains("panicked"),
        "{name}: panic: {}",
        r.stderr
    );
    match expect {
        Expect::Error(words) => {
            assert_eq!(r.code, Some(1), "{name}: exit code; stderr: {}", r.stderr);
            let lines: Vec<&str> = r
                .stderr
                .lines()
                .filter(|l| l.starts_with("error: "))
                .collect();
            assert_eq!(lines.len(), 1, "{name}: one error line: {}", r.stderr);
            for w in words {
                assert!(lines[0].contains(w), "{name}: `{w}` not in: {}", lines[0]);
            }
        }
        Expect::Success(words) => {
            assert_eq!(r.code, Some(0), "{name}: exit code; stderr: {}", r.stderr);
            for w in words {
                assert!(r.stderr.contains(w), "{name}: `{w}` not in: {}", r.stderr);
            }
        }
    }
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

/// A folder with a synthetic set (`shapes/`, 4 + 2 images of 64x64), a tiny model and an
/// experiment (`exp.toml`, 2 iterations) on them.
fn workspace(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mrcnn-bad-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("model.toml"), MODEL).unwrap();
    let synth = run(
        &d,
        &args(&[
            "synth", "--out", "shapes", "--train", "4", "--val", "2", "--width", "64", "--height",
            "64",
        ]),
    );
    assert_eq!(synth.code, Some(0), "{}", synth.stderr);
    std::fs::write(
        d.join("exp.toml"),
        r#"output_dir = "run"
[model]
config = "model.toml"
[dataset]
train = ["shapes/train.json"]
val = ["shapes/val.json"]
[solver]
base_lr = 0.01
warmup_iters = 1
max_iter = 2
images_per_batch = 2
[checkpoint]
period = 1
"#,
    )
    .unwrap();
    d
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn train_set(sets: &[&str]) -> Vec<String> {
    let mut v = args(&["train", "--config", "exp.toml", "--no-progress"]);
    for s in sets {
        v.push("--set".into());
        v.push(s.to_string());
    }
    v
}

type Prepare = fn(&Path) -> Vec<String>;

/// Rows that need only the shared workspace (they write what else they need into it).
fn rows() -> Vec<(&'static str, Prepare, Expect)> {
    vec![
        // Model and input sizes that cannot be built.
        (
            "override num_classes = 0",
            |_| train_set(&["model.overrides.num_classes=0"]),
            Expect::Error(&["model.overrides.num_classes", "at least 2"]),
        ),
        (
            "override fpn.out_channels = 0",
            |_| train_set(&["model.overrides.fpn.out_channels=0"]),
            Expect::Error(&["model.overrides.fpn.out_channels", "at least 1"]),
        ),
        (
            "input.min_sizes = [0]",
            |_| train_set(&["input.min_sizes=[0]"]),
            Expect::Error(&["input.min_sizes"]),
        ),
        (
            "input.max_size = 0",
            |_| train_set(&["input.max_size=0"]),
            Expect::Error(&["input.max_size", "at least 1"]),
        ),
        (
            "input.max_size below min_sizes",
            |_| train_set(&["input.min_sizes=[64]", "input.max_size=32"]),
            Expect::Error(&["input.max_size", "below"]),
        ),
        (
            "a step that cannot fit in memory",
            |_| train_set(&["input.min_sizes=[100000]", "input.max_size=100000"]),
            Expect::Error(&["GB", "images_per_batch"]),
        ),
        (
            "images_per_batch above the training set",
            |_| train_set(&["solver.images_per_batch=64"]),
            Expect::Error(&["images_per_batch = 64", "4 image"]),
        ),
        // Solver values no one could mean.
        (
            "base_lr = 0",
            |_| train_set(&["solver.base_lr=0"]),
            Expect::Error(&["solver.base_lr"]),
        ),
        (
            "momentum = 1",
            |_| train_set(&["solver.momentum=1.0"]),
            Expect::Error(&["solver.momentum", "[0, 1)"]),
        ),
        (
            "negative weight decay",
            |_| train_set(&["solver.weight_decay=-0.1"]),
            Expect::Error(&["solver.weight_decay"]),
        ),
        (
            "gamma = 0",
            |_| train_set(&["solver.gamma=0"]),
            Expect::Error(&["solver.gamma"]),
        ),
        (
            "negative warm-up factor",
            |_| train_set(&["solver.warmup_factor=-0.5"]),
            Expect::Error(&["solver.warmup_factor"]),
        ),
        (
            "clip_grad_norm = 0",
            |_| train_set(&["solver.clip_grad_norm=0"]),
            Expect::Error(&["solver.clip_grad_norm", "disable"]),
        ),
        (
            "bad TOML",
            |d| {
                std::fs::write(d.join("broken.toml"), "[solver\nbase_lr = 1").unwrap();
                args(&["train", "--config", "broken.toml"])
            },
            Expect::Error(&["broken.toml", "TOML syntax error"]),
        ),
        (
            "unknown override key",
            |_| train_set(&["model.overrides.rpn.nms_treshold=0.5"]),
            Expect::Error(&["model.overrides.rpn.nms_treshold", "did you mean"]),
        ),
        // Synthetic data.
        (
            "synth 100000 x 100000",
            |_| {
                args(&[
                    "synth", "--out", "huge", "--width", "100000", "--height", "100000",
                ])
            },
            Expect::Error(&["100000x100000", "16384"]),
        ),
        (
            "synth min shapes above max",
            |_| {
                args(&[
                    "synth",
                    "--out",
                    "mm",
                    "--min-shapes",
                    "5",
                    "--max-shapes",
                    "1",
                ])
            },
            Expect::Error(&["at least 5", "at most 1"]),
        ),
        // COCO files.
        (
            "COCO top level not an object",
            |d| {
                std::fs::write(d.join("list.json"), "[]").unwrap();
                args(&["dataset", "stats", "--from", "coco", "-i", "list.json"])
            },
            Expect::Error(&["list.json", "not a JSON object"]),
        ),
        (
            "COCO negative area",
            |d| {
                let text = std::fs::read_to_string(d.join("shapes/train.json")).unwrap();
                let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
                v["annotations"][0]["area"] = serde_json::json!(-5.0);
                std::fs::write(d.join("shapes/neg.json"), v.to_string()).unwrap();
                args(&[
                    "dataset",
                    "stats",
                    "--from",
                    "coco",
                    "-i",
                    "shapes/neg.json",
                ])
            },
            Expect::Error(&["neg.json", "annotation 0", "area -5"]),
        ),
        (
            "COCO area far from the mask",
            |d| {
                let text = std::fs::read_to_string(d.join("shapes/train.json")).unwrap();
                let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
                v["annotations"][0]["area"] = serde_json::json!(100000.0);
                std::fs::write(d.join("shapes/far.json"), v.to_string()).unwrap();
                args(&[
                    "dataset",
                    "stats",
                    "--from",
                    "coco",
                    "-i",
                    "shapes/far.json",
                ])
            },
            Expect::Error(&["far.json", "far from"]),
        ),
        (
            "corrupt image",
            |d| {
                std::fs::write(d.join("shapes/images/train/000001.png"), b"\x89PNG broken")
                    .unwrap();
                args(&[
                    "dataset",
                    "stats",
                    "--from",
                    "coco",
                    "-i",
                    "shapes/train.json",
                    "--check-images",
                ])
            },
            Expect::Error(&["000001.png", "corrupt image"]),
        ),
        // Mask folders.
        (
            "mask folder without a masks folder",
            |d| {
                let img = d.join("mf/seq1/images");
                std::fs::create_dir_all(&img).unwrap();
                image::RgbImage::new(8, 8).save(img.join("a.png")).unwrap();
                args(&["dataset", "stats", "--from", "mask-folder", "-i", "mf"])
            },
            Expect::Error(&["mf", "masks_dir"]),
        ),
        (
            "mask folder whose masks match no image",
            |d| {
                let seq = d.join("mf2/seq1");
                std::fs::create_dir_all(seq.join("images")).unwrap();
                std::fs::create_dir_all(seq.join("masks")).unwrap();
                image::RgbImage::new(8, 8)
                    .save(seq.join("images/a.png"))
                    .unwrap();
                image::GrayImage::from_pixel(8, 8, image::Luma([255]))
                    .save(seq.join("masks/zzz.png"))
                    .unwrap();
                args(&[
                    "dataset",
                    "stats",
                    "--from",
                    "mask-folder",
                    "-i",
                    "mf2",
                    "--on-bad-sample",
                    "skip",
                    "--class-rule",
                    ".*=tool",
                ])
            },
            Expect::Error(&["not one object"]),
        ),
        (
            "mask folder with a mask that is not binary",
            |d| {
                let seq = d.join("mf3/seq1");
                std::fs::create_dir_all(seq.join("images")).unwrap();
                std::fs::create_dir_all(seq.join("masks/a")).unwrap();
                image::RgbImage::new(8, 8)
                    .save(seq.join("images/a.png"))
                    .unwrap();
                let m = image::GrayImage::from_fn(8, 8, |x, _| image::Luma([(x * 30) as u8]));
                m.save(seq.join("masks/a/tool.png")).unwrap();
                args(&[
                    "dataset",
                    "stats",
                    "--from",
                    "mask-folder",
                    "-i",
                    "mf3",
                    "--class-rule",
                    ".*=tool",
                ])
            },
            Expect::Error(&["tool.png", "not binary", "neither 0 nor 210", "threshold"]),
        ),
        // Converting.
        (
            "convert an undecodable image",
            |d| {
                std::fs::write(d.join("shapes/images/val/000000.png"), b"junk").unwrap();
                args(&[
                    "convert",
                    "--from",
                    "coco",
                    "-i",
                    "shapes/val.json",
                    "--to",
                    "tfrecord",
                    "-o",
                    "tf",
                ])
            },
            Expect::Error(&["000000.png", "corrupt image"]),
        ),
        (
            "convert into a file",
            |d| {
                std::fs::write(d.join("a_file"), b"x").unwrap();
                args(&[
                    "convert",
                    "--from",
                    "coco",
                    "-i",
                    "shapes/train.json",
                    "--to",
                    "coco",
                    "-o",
                    "a_file",
                ])
            },
            Expect::Error(&["a_file", "is a file, expected a folder"]),
        ),
        // TFRecords.
        (
            "TFRecord with an image bomb",
            |d| {
                let ex = mrcnn_data::tfrecord::Example::from([
                    (
                        "image/encoded".to_string(),
                        mrcnn_data::tfrecord::Feature::Bytes(vec![png_bomb(30000, 30000)]),
                    ),
                    (
                        "image/width".to_string(),
                        mrcnn_data::tfrecord::Feature::Int64(vec![30000]),
                    ),
                    (
                        "image/height".to_string(),
                        mrcnn_data::tfrecord::Feature::Int64(vec![30000]),
                    ),
                ]);
                let mut buf = Vec::new();
                mrcnn_data::tfrecord::write_record(
                    &mut buf,
                    &mrcnn_data::tfrecord::encode_example(&ex),
                )
                .unwrap();
                std::fs::write(d.join("bomb.tfrecord"), buf).unwrap();
                args(&[
                    "dataset",
                    "stats",
                    "--from",
                    "tfrecord",
                    "-i",
                    "bomb.tfrecord",
                    "--check-images",
                ])
            },
            Expect::Error(&["bomb.tfrecord record 0", "30000x30000 pixels", "limit"]),
        ),
        (
            "truncated TFRecord",
            |d| {
                let c = run(
                    d,
                    &args(&[
                        "convert",
                        "--from",
                        "coco",
                        "-i",
                        "shapes/val.json",
                        "--to",
                        "tfrecord",
                        "-o",
                        "tf",
                    ]),
                );
                assert_eq!(c.code, Some(0), "{}", c.stderr);
                let f = std::fs::read_dir(d.join("tf"))
                    .unwrap()
                    .map(|e| e.unwrap().path())
                    .find(|p| p.to_string_lossy().contains("tfrecord"))
                    .expect("a record file");
                let bytes = std::fs::read(&f).unwrap();
                std::fs::write(&f, &bytes[..bytes.len() - 10]).unwrap();
                vec![
                    "dataset".into(),
                    "stats".into(),
                    "--from".into(),
                    "tfrecord".into(),
                    "-i".into(),
                    f.display().to_string(),
                ]
            },
            Expect::Error(&["tfrecord", "record 1", "truncated"]),
        ),
        // Predicting.
        (
            "predict with --score-threshold NaN",
            |d| predict(d, &["--score-threshold", "NaN"]),
            Expect::Error(&["--score-threshold NaN"]),
        ),
        (
            "predict a folder with an unreadable image, error policy",
            |d| {
                std::fs::write(d.join("shapes/images/train/zz_bad.png"), b"junk").unwrap();
                predict(d, &[])
            },
            Expect::Error(&["zz_bad.png", "--on-bad-sample skip"]),
        ),
        (
            "predict a folder with an unreadable image, skip policy",
            |d| {
                std::fs::write(d.join("shapes/images/train/zz_bad.png"), b"junk").unwrap();
                predict(d, &["--on-bad-sample", "skip"])
            },
            Expect::Success(&["skipped 1 unreadable image", "zz_bad.png"]),
        ),
        (
            "predict into a folder",
            |d| {
                let mut a = predict(d, &[]);
                let i = a.iter().position(|x| x == "--output").unwrap();
                a[i + 1] = d.join("shapes").display().to_string();
                a
            },
            Expect::Error(&["shapes"]),
        ),
        (
            "predict with weights holding NaN",
            |d| {
                let w = nan_weights(d);
                let mut a = predict(d, &[]);
                let i = a.iter().position(|x| x == "--weights").unwrap();
                a[i + 1] = w;
                a
            },
            Expect::Error(&["nan.safetensors", "NaN or infinite", "backbone.body.conv1"]),
        ),
        (
            "import a hostile pickle",
            |d| {
                let evil = root().join("crates/model/tests/fixtures/import/evil_os_system.pkl");
                let cfg = root().join("crates/model/tests/small_model.toml");
                let out = d.join("out.safetensors");
                vec![
                    "import-weights".into(),
                    "--format".into(),
                    "detectron2".into(),
                    evil.display().to_string(),
                    "--model-config".into(),
                    cfg.display().to_string(),
                    "--out".into(),
                    out.display().to_string(),
                ]
            },
            Expect::Error(&["evil_os_system.pkl", "os.system"]),
        ),
        // The annotation tools' formats.
        (
            "labelme folder without a labelme JSON",
            |d| {
                std::fs::create_dir_all(d.join("lm")).unwrap();
                image::RgbImage::new(8, 8).save(d.join("lm/a.png")).unwrap();
                args(&["dataset", "stats", "--from", "labelme", "-i", "lm"])
            },
            Expect::Error(&["lm", "no image with annotations"]),
        ),
        (
            "labelme JSON that does not parse",
            |d| {
                std::fs::create_dir_all(d.join("lm")).unwrap();
                image::RgbImage::new(8, 8).save(d.join("lm/a.png")).unwrap();
                std::fs::write(d.join("lm/a.json"), "{\"shapes\": [").unwrap();
                args(&[
                    "convert", "--from", "labelme", "-i", "lm", "--to", "coco", "-o", "out",
                ])
            },
            Expect::Error(&["a.json", "not JSON", "line 1"]),
        ),
        (
            "a COCO file read as VIA",
            |_| {
                args(&[
                    "dataset",
                    "stats",
                    "--from",
                    "via",
                    "-i",
                    "shapes/train.json",
                ])
            },
            Expect::Error(&["train.json", "no image in this file", "_via_img_metadata"]),
        ),
        (
            "VIA regions with two attributes and none named like a class",
            |d| {
                let via = r#"{"a.png10": {"filename": "a.png", "size": 10, "file_attributes": {},
                    "regions": [{"shape_attributes": {"name": "rect", "x": 1, "y": 1,
                    "width": 3, "height": 3}, "region_attributes": {"colour": "red",
                    "size": "big"}}]}}"#;
                std::fs::write(d.join("via.json"), via).unwrap();
                args(&["dataset", "stats", "--from", "via", "-i", "via.json"])
            },
            Expect::Error(&["via.json", "colour, size", "--class-attribute"]),
        ),
        (
            "a CVAT file of another kind",
            |d| {
                std::fs::write(d.join("x.xml"), "<tracks><track/></tracks>").unwrap();
                args(&["dataset", "stats", "--from", "cvat", "-i", "x.xml"])
            },
            Expect::Error(&["x.xml", "<tracks>", "CVAT for images 1.1"]),
        ),
        (
            "a VOC folder without SegmentationObject",
            |d| {
                std::fs::create_dir_all(d.join("voc/JPEGImages")).unwrap();
                std::fs::create_dir_all(d.join("voc/SegmentationClass")).unwrap();
                args(&["dataset", "stats", "--from", "voc-masks", "-i", "voc"])
            },
            Expect::Error(&["voc", "SegmentationObject"]),
        ),
        (
            "an EXIF policy no one has",
            |_| train_set(&["dataset.exif=sideways"]),
            Expect::Error(&["dataset.exif", "sideways"]),
        ),
        (
            "dataset.val_fraction = 1",
            |_| {
                train_set(&[
                    "dataset.format=labelme",
                    "dataset.val=[]",
                    "dataset.val_fraction=1.0",
                ])
            },
            Expect::Error(&["dataset.val_fraction", "[0, 1)"]),
        ),
        (
            "dataset.val_fraction beside dataset.val",
            |_| train_set(&["dataset.val_fraction=0.2"]),
            Expect::Error(&["dataset.val_fraction", "keep one"]),
        ),
        (
            "dataset.class_attribute for COCO",
            |_| train_set(&["dataset.class_attribute=class"]),
            Expect::Error(&["dataset.class_attribute", "VIA"]),
        ),
    ]
}

/// `mrcnn predict` of the training images with the parity tests' small model.
fn predict(d: &Path, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        "predict".to_string(),
        "--model-config".into(),
        root()
            .join("crates/model/tests/small_model.toml")
            .display()
            .to_string(),
        "--weights".into(),
        root()
            .join("crates/model/tests/fixtures/small/weights.safetensors")
            .display()
            .to_string(),
        "--input".into(),
        d.join("shapes/images/train").display().to_string(),
        "--output".into(),
        d.join("preds.json").display().to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// The small model's weights with one NaN in `backbone.body.conv1.weight`.
fn nan_weights(d: &Path) -> String {
    let src = root().join("crates/model/tests/fixtures/small/weights.safetensors");
    let bytes = std::fs::read(src).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let mut data = view.data().to_vec();
            if name == "backbone.body.conv1.weight" {
                data[..4].copy_from_slice(&f32::NAN.to_le_bytes());
            }
            (name, view.shape().to_vec(), data)
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, b)| {
            (
                n.as_str(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let out = d.join("nan.safetensors");
    std::fs::write(&out, safetensors::tensor::serialize(views, &None).unwrap()).unwrap();
    out.display().to_string()
}

/// Temporary files (`.name.PID.N.partial.ext`, see `mrcnn_coco::files`) left under `dir`.
fn stray_temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.to_string_lossy().contains(".partial") {
                out.push(p);
            }
        }
    }
    out
}

/// A valid 4x4 PNG whose header says `w` x `h`: decoding it would need w*h*3 bytes.
fn png_bomb(w: u32, h: u32) -> Vec<u8> {
    let mut c = std::io::Cursor::new(Vec::new());
    image::GrayImage::new(4, 4)
        .write_to(&mut c, image::ImageFormat::Png)
        .unwrap();
    let mut png = c.into_inner();
    // IHDR: length (8..12), "IHDR" (12..16), width (16..20), height (20..24), ..., CRC (29..33).
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

/// PNG's CRC-32 (ISO 3309), bit by bit: 17 bytes per test, not worth a dependency.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

#[test]
fn every_bad_input_gets_a_clear_answer() {
    for (name, prepare, expect) in rows() {
        // A fresh workspace per row: rows damage files on purpose.
        let d = workspace(&name.replace(|c: char| !c.is_ascii_alphanumeric(), "_"));
        let a = prepare(&d);
        let r = run(&d, &a);
        eprintln!("{name}: exit {:?}: {}", r.code, r.stderr.trim());
        check(name, &r, expect);
        let stray = stray_temporaries(&d);
        assert!(stray.is_empty(), "{name}: left {stray:?}");
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// A corrupt validation image stops the run before it trains (error policy), or is left out,
/// counted and named in the log and metrics.json (skip policy).
#[test]
fn corrupt_validation_images_are_found_at_start() {
    let d = workspace("val");
    std::fs::write(d.join("shapes/images/val/000001.png"), b"junk").unwrap();
    let r = run(&d, &train_set(&[]));
    check(
        "val, error",
        &r,
        Expect::Error(&["000001.png", "corrupt image"]),
    );
    assert!(!d.join("run/checkpoints").exists(), "nothing trained");
    let r = run(&d, &train_set(&["dataset.on_bad_sample=skip"]));
    check("val, skip", &r, Expect::Success(&[]));
    let log = std::fs::read_to_string(d.join("run/log.txt")).unwrap();
    assert!(
        log.contains("1 validation image(s) cannot be read"),
        "{log}"
    );
    let metrics = std::fs::read_to_string(d.join("run/metrics.json")).unwrap();
    assert!(
        metrics.contains("skipped_images") && metrics.contains("000001.png"),
        "{metrics}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// `--resume` after the dataset's classes changed says what differs instead of a record-loading
/// panic.
#[test]
fn resume_after_the_classes_changed() {
    let d = workspace("resume");
    let r = run(&d, &train_set(&[]));
    check("first run", &r, Expect::Success(&[]));
    let text = std::fs::read_to_string(d.join("shapes/train.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["categories"][0]["name"] = serde_json::json!("disc");
    std::fs::write(d.join("shapes/train.json"), v.to_string()).unwrap();
    let text = std::fs::read_to_string(d.join("shapes/val.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["categories"][0]["name"] = serde_json::json!("disc");
    std::fs::write(d.join("shapes/val.json"), v.to_string()).unwrap();
    let mut a = train_set(&["solver.max_iter=3"]);
    a.push("--resume".into());
    let r = run(&d, &a);
    check(
        "resume",
        &r,
        Expect::Error(&["--resume", "model differs", "class_names", "disc"]),
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// `mrcnn eval ... | head -1`: the reader goes away after one line; exit 0, no error text.
#[test]
fn a_closed_stdout_ends_quietly() {
    let d = workspace("pipe");
    let gt = d.join("shapes/val.json");
    let dets = d.join("dets.json");
    std::fs::write(&dets, "[]").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mrcnn"))
        .args(["eval", "--gt"])
        .arg(&gt)
        .arg("--dets")
        .arg(&dets)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the first line is written (as `head -1` does after its line):
    // every write the command makes then fails with a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("error") && !err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}
