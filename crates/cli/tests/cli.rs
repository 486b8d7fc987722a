//! The `mrcnn` binary as a user runs it: predict on synthetic images with the small parity model,
//! evaluate the result, and bad input giving a one-line error and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mrcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mrcnn"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mrcnn-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Asserts a clean failure: exit code 1, one `error:` line naming `needle`, no panic.
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

#[test]
fn synth_predict_eval() {
    let d = tmp("e2e");
    let data = d.join("shapes");
    let out = mrcnn(&[
        "synth",
        "--out",
        s(&data),
        "--train",
        "0",
        "--val",
        "3",
        "--width",
        "200",
        "--height",
        "150",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = root().join("crates/model/tests/small_model.toml");
    let w = root().join("crates/model/tests/fixtures/small/weights.safetensors");
    let preds = d.join("pred.json");
    let gt = data.join("val.json");
    let out = mrcnn(&[
        "predict",
        "--model-config",
        s(&cfg),
        "--weights",
        s(&w),
        "--input",
        s(&data.join("images/val")),
        "--output",
        s(&preds),
        "--visualize",
        s(&d.join("viz")),
        "--coco-gt",
        s(&gt),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&preds).unwrap()).unwrap();
    let records = records.as_array().unwrap();
    assert!(!records.is_empty(), "the small model detects something");
    for r in records {
        let seg = &r["segmentation"];
        assert_eq!(seg["size"], serde_json::json!([150, 200]));
        let rle =
            mrcnn_coco::Rle::from_compressed(seg["counts"].as_str().unwrap(), 150, 200).unwrap();
        assert!(rle.area() > 0);
        assert_eq!(r["bbox"].as_array().unwrap().len(), 4);
    }
    assert_eq!(
        std::fs::read_dir(d.join("viz")).unwrap().count(),
        3,
        "one overlay per image"
    );
    let metrics = d.join("metrics.json");
    let out = mrcnn(&[
        "eval",
        "--gt",
        s(&gt),
        "--dets",
        s(&preds),
        "--metrics",
        s(&metrics),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    assert!(m["segm"]["stats"]["AP"].as_f64().unwrap() >= 0.0);
}

#[test]
fn bad_input_is_one_clear_line() {
    let d = tmp("bad");
    let cfg = root().join("crates/model/tests/small_model.toml");
    let w = root().join("crates/model/tests/fixtures/small/weights.safetensors");
    let out_json = d.join("o.json");
    let bad_png = d.join("bad.png");
    std::fs::write(&bad_png, b"not an image").unwrap();
    let good_dir = d.join("imgs");
    std::fs::create_dir_all(&good_dir).unwrap();
    image::RgbImage::new(40, 30)
        .save(good_dir.join("a.png"))
        .unwrap();

    // Unreadable image.
    let out = mrcnn(&[
        "predict",
        "--model-config",
        s(&cfg),
        "--weights",
        s(&w),
        "--input",
        s(&bad_png),
        "--output",
        s(&out_json),
    ]);
    assert_clean_error(&out, "bad.png");
    // Wrong weight file.
    let fake = d.join("w.pth");
    std::fs::write(&fake, b"garbage").unwrap();
    let out = mrcnn(&[
        "predict",
        "--model-config",
        s(&cfg),
        "--weights",
        s(&fake),
        "--input",
        s(&good_dir),
        "--output",
        s(&out_json),
    ]);
    assert_clean_error(&out, "w.pth");
    // Weights that do not fit the config (missing and mis-shaped keys).
    let r50 = root().join("model_configs/mask_rcnn_R_50_FPN.toml");
    let out = mrcnn(&[
        "predict",
        "--model-config",
        s(&r50),
        "--weights",
        s(&w),
        "--input",
        s(&good_dir),
        "--output",
        s(&out_json),
    ]);
    assert_clean_error(&out, "missing keys");
    // Unknown TOML key.
    let bad_cfg = d.join("bad.toml");
    std::fs::write(&bad_cfg, "num_classes = 4\n[rpn]\nnms_tresh = 0.3\n").unwrap();
    let out = mrcnn(&[
        "predict",
        "--model-config",
        s(&bad_cfg),
        "--weights",
        s(&w),
        "--input",
        s(&good_dir),
        "--output",
        s(&out_json),
    ]);
    assert_clean_error(&out, "nms_tresh");
    // Missing input.
    let out = mrcnn(&[
        "predict",
        "--model-config",
        s(&cfg),
        "--weights",
        s(&w),
        "--input",
        s(&d.join("nope")),
        "--output",
        s(&out_json),
    ]);
    assert_clean_error(&out, "nope");
    assert!(!out_json.exists(), "nothing written on failure");
}

#[test]
fn predict_turns_a_phone_photo_upright_unless_told_not_to() {
    // data/samples/annotations/traps/exif_rotated: stored 40 wide x 30 high, EXIF orientation 6.
    let photo = root().join("data/samples/annotations/traps/exif_rotated/exif_rotated.jpg");
    let cfg = root().join("crates/model/tests/small_model.toml");
    let w = root().join("crates/model/tests/fixtures/small/weights.safetensors");
    for (policy, size) in [("apply", (30, 40)), ("ignore", (40, 30))] {
        let d = tmp(&format!("exif-{policy}"));
        let out = mrcnn(&[
            "predict",
            "--model-config",
            s(&cfg),
            "--weights",
            s(&w),
            "--input",
            s(&photo),
            "--output",
            s(&d.join("p.json")),
            "--visualize",
            s(&d.join("vis")),
            "--exif",
            policy,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let overlay = std::fs::read_dir(d.join("vis"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let dims = image::image_dimensions(overlay.path()).unwrap();
        assert_eq!(dims, size, "--exif {policy}");
    }
}
