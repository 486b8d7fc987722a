//! A user's labelme project from the labelled folder to a trained and evaluated model: a
//! 20-image project made here (rectangles and circles, two classes with spaces and accents in
//! one name) goes through `dataset stats`, `dataset show`, `convert` and `train` + `eval
//! --config` with `dataset.format = "labelme"`, a seeded validation split and the quickstart's
//! model (`model_configs/mask_rcnn_tiny_FPN.toml`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use image::{Rgb, RgbImage};

fn mrcnn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mrcnn"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {err}", out.status.code());
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// 20 images of 64x64 with one to three objects each: "boîte rouge" rectangles and "ball"
/// circles, painted and annotated the way labelme stores them.
fn make_project(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..20u32 {
        let mut img = RgbImage::from_pixel(64, 64, Rgb([40, 60, 40 + 5 * i as u8]));
        let mut shapes = Vec::new();
        for k in 0..(1 + i % 3) {
            let (x, y) = (4 + (i * 7 + k * 23) % 36, 4 + (i * 11 + k * 19) % 36);
            if (i + k) % 2 == 0 {
                let (x1, y1) = (x + 14 + k * 2, y + 12);
                for py in y..y1 {
                    for px in x..x1 {
                        img.put_pixel(px, py, Rgb([220, 40, 40]));
                    }
                }
                shapes.push(serde_json::json!({
                    "label": "boîte rouge", "points": [[x, y], [x1, y1]], "group_id": null,
                    "description": "", "shape_type": "rectangle", "flags": {}, "mask": null
                }));
            } else {
                let (cx, cy, r) = (x as f64 + 9.0, y as f64 + 9.0, 8.0);
                for py in 0..64u32 {
                    for px in 0..64u32 {
                        let (dx, dy) = (px as f64 + 0.5 - cx, py as f64 + 0.5 - cy);
                        if dx * dx + dy * dy <= r * r {
                            img.put_pixel(px, py, Rgb([240, 220, 60]));
                        }
                    }
                }
                shapes.push(serde_json::json!({
                    "label": "ball", "points": [[cx, cy], [cx + r, cy]], "group_id": null,
                    "description": "", "shape_type": "circle", "flags": {}, "mask": null
                }));
            }
        }
        let name = format!("frame_{i:02}.png");
        img.save(dir.join(&name)).unwrap();
        let json = serde_json::json!({
            "version": "5.3.1", "flags": {}, "shapes": shapes, "imagePath": name,
            "imageData": null, "imageHeight": 64, "imageWidth": 64
        });
        std::fs::write(
            dir.join(format!("frame_{i:02}.json")),
            serde_json::to_string_pretty(&json).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn a_labelme_project_converts_trains_and_evaluates() {
    let d: PathBuf = std::env::temp_dir().join(format!("mrcnn-labelme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let proj = d.join("labelled");
    make_project(&proj);
    let input = [
        "--from",
        "labelme",
        "-i",
        s(&proj),
        "--val-fraction",
        "0.25",
        "--seed",
        "1",
    ];

    let stats = ok(&mrcnn(&[&["dataset", "stats"][..], &input].concat()));
    assert!(
        stats.contains("train:") && stats.contains("val:"),
        "{stats}"
    );
    assert!(
        stats.contains("images: 15") && stats.contains("images: 5"),
        "{stats}"
    );
    assert!(
        stats.contains("boîte rouge") && stats.contains("ball"),
        "{stats}"
    );

    let show = d.join("show");
    ok(&mrcnn(
        &[
            &["dataset", "show"][..],
            &input,
            &["--out", s(&show), "--count", "4"],
        ]
        .concat(),
    ));
    assert!(show.join("sheet-01.png").is_file() && show.join("classes.png").is_file());

    let coco = d.join("coco");
    let conv = ok(&mrcnn(
        &[&["convert"][..], &input, &["--to", "coco", "-o", s(&coco)]].concat(),
    ));
    assert!(conv.contains("train.json: 15 images"), "{conv}");
    assert!(coco.join("val.json").is_file() && coco.join("images/frame_00.png").is_file());

    let exp = d.join("exp.toml");
    std::fs::write(
        &exp,
        format!(
            r#"
output_dir = "{d}/run"
[model]
config = "{root}/model_configs/mask_rcnn_tiny_FPN.toml"
[dataset]
format = "labelme"
train = ["{proj}"]
val_fraction = 0.25
split_seed = 1
[solver]
base_lr = 0.01
warmup_iters = 1
max_iter = 3
images_per_batch = 2
"#,
            d = d.display(),
            proj = proj.display(),
            root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../..")
                .display()
        ),
    )
    .unwrap();
    let train = ok(&mrcnn(&["train", "--config", s(&exp), "--no-progress"]));
    assert!(train.contains("mask AP"), "{train}");
    let eval = ok(&mrcnn(&["eval", "--config", s(&exp)]));
    assert!(
        eval.contains("IoU metric: segm") && eval.contains("ball"),
        "{eval}"
    );
    let _ = std::fs::remove_dir_all(&d);
}
