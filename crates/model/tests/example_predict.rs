//! `examples/predict.rs` (the library API in a few lines) runs on the fixture model and prints
//! what the library predicts. `cargo test` builds the examples before running the tests.

use burn::prelude::Device;
use mrcnn_model::{ImageInput, MaskRcnn};
use std::path::{Path, PathBuf};
use std::process::Command;

fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let bin = dir
        .join("examples")
        .join(format!("predict{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "{} is not built: run the tests with `cargo test --release -p mrcnn-model` (which builds \
         the examples), or `cargo build --release -p mrcnn-model --example predict` first",
        bin.display()
    );
    bin
}

#[test]
fn the_predict_example_prints_the_models_detections() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let config = root.join("small_model.toml");
    let weights = root.join("fixtures/small/weights.safetensors");
    let dir = std::env::temp_dir().join(format!("mrcnn-example-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let image = dir.join("photo.png");
    image::RgbImage::from_fn(200, 150, |x, y| {
        image::Rgb([
            (x * 7 % 256) as u8,
            (y * 5 % 256) as u8,
            ((x + y) % 256) as u8,
        ])
    })
    .save(&image)
    .unwrap();

    let out = Command::new(example_binary())
        .args([&config, &weights, &image])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();

    let model = MaskRcnn::from_files(&config, &weights, &Device::flex()).unwrap();
    let pred = &model.predict(&[ImageInput::from_image(&image::open(&image).unwrap())])[0];
    assert!(!pred.is_empty(), "the fixture model detects something");
    assert_eq!(lines.len(), pred.len(), "{stdout}");
    for (i, line) in lines.iter().enumerate() {
        let want = format!(
            "{} {:.3} ",
            model.config.class_name(pred.labels[i]),
            pred.scores[i]
        );
        assert!(line.starts_with(&want), "{line} vs {want}");
        assert!(
            line.ends_with(&format!(" {} px", pred.mask_rle(i).area())),
            "{line}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
