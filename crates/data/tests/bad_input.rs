//! Every kind of bad input is reported with its location, under both policies,
//! and never panics.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use mrcnn_data::coco::{read_coco, read_coco_str};
use mrcnn_data::mask_folder::{read_mask_folder, save_binary_mask};
use mrcnn_data::tfrecord::{
    Example, Feature, encode_example, read_tfrecords, write_record, write_tfrecords,
};
use mrcnn_data::{
    Category, ClassRule, DataError, DatasetFormat, InputOptions, MaskFolderSection, OnBadSample,
    ProblemKind, ProblemLog, StatsOptions, stats,
};
use serde_json::{Value, json};

/// Under Error: the first problem is the error. Under Skip: it is listed and counted.
fn both<T: std::fmt::Debug>(
    f: impl Fn(&mut ProblemLog) -> Result<T, DataError>,
    kind: ProblemKind,
) -> (T, ProblemLog) {
    let mut log = ProblemLog::new(OnBadSample::Error);
    match f(&mut log) {
        Err(DataError::BadSample(p)) => assert_eq!(p.kind, kind, "{p}"),
        other => panic!("expected a {kind} error, got {other:?}"),
    }
    let mut log = ProblemLog::new(OnBadSample::Skip);
    let out = f(&mut log).unwrap();
    assert!(
        log.problems.iter().any(|p| p.kind == kind),
        "{:?}",
        log.problems
    );
    assert!(log.skipped_images + log.skipped_annotations >= 1);
    (out, log)
}

fn coco(anns: Value) -> String {
    json!({
        "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}],
        "categories": [{"id": 1, "name": "x"}],
        "annotations": anns,
    })
    .to_string()
}

fn read(text: &str, log: &mut ProblemLog) -> Result<usize, DataError> {
    let ds = read_coco_str(text, Path::new("in.json"), Path::new("."), false, log)?;
    Ok(ds.images.iter().map(|i| i.annotations.len()).sum())
}

fn ann(seg: Value, bbox: Value) -> Value {
    json!({"id": 1, "image_id": 1, "category_id": 1, "segmentation": seg, "bbox": bbox, "iscrowd": 0})
}

const TRI: [f64; 6] = [1.0, 1.0, 8.0, 1.0, 4.0, 6.0];

#[test]
fn coco_annotation_problems() {
    let good = ann(json!([TRI]), json!([1, 1, 7, 5]));
    let cases = [
        (
            ann(json!([[1.0, 1.0, 5.0, 5.0]]), json!([1, 1, 4, 4])),
            ProblemKind::BadPolygon,
        ),
        (
            ann(json!([[1.0, 1.0, 5.0, 5.0, 3.0]]), Value::Null),
            ProblemKind::BadPolygon,
        ),
        (
            ann(json!([TRI]), json!([15, 1, 10, 5])),
            ProblemKind::BadBox,
        ),
        (ann(json!([TRI]), json!([1, 1, 0, 5])), ProblemKind::BadBox),
        (
            ann(json!({"size": [11, 20], "counts": [5, 10]}), Value::Null),
            ProblemKind::MaskSizeMismatch,
        ),
        (
            ann(json!({"size": [10, 20], "counts": "\u{7f}"}), Value::Null),
            ProblemKind::BadRle,
        ),
        (
            ann(json!({"size": [10, 20], "counts": [5, 10]}), Value::Null),
            ProblemKind::BadRle,
        ),
        (
            ann(json!([[30.0, 30.0, 40.0, 30.0, 35.0, 40.0]]), Value::Null),
            ProblemKind::EmptyMask,
        ),
        (
            json!({"id": 1, "image_id": 1, "category_id": 2, "segmentation": [TRI]}),
            ProblemKind::UnknownClass,
        ),
        (
            json!({"id": 1, "image_id": 5, "category_id": 1, "segmentation": [TRI]}),
            ProblemKind::UnknownImage,
        ),
        (
            json!({"id": 1, "image_id": "x", "category_id": 1}),
            ProblemKind::BadRecord,
        ),
    ];
    for (bad, kind) in cases {
        let text = coco(json!([good, bad, good]));
        let (n, log) = both(|l| read(&text, l), kind);
        assert_eq!(n, 2, "{kind}: the good annotations stay");
        assert_eq!(log.skipped_annotations, 1);
        assert_eq!(log.problems[0].annotation, Some(1), "{kind}: located");
    }
}

#[test]
fn coco_file_problems() {
    let dir = tempfile::tempdir().unwrap();
    // Missing image file.
    let json = dir.path().join("d.json");
    std::fs::write(&json, coco(json!([ann(json!([TRI]), Value::Null)]))).unwrap();
    let (ds, log) = both(
        |l| read_coco(&json, dir.path(), l),
        ProblemKind::MissingFile,
    );
    assert!(ds.images.is_empty());
    assert!(log.problems[0].to_string().contains("a.png"));
    // Not JSON / not COCO: a file-level error, no panic.
    for text in [
        "{",
        "[1,2]",
        "{\"images\": 3}",
        "{\"categories\": [{\"id\": 0, \"name\": \"bg\"}]}",
    ] {
        let mut log = ProblemLog::new(OnBadSample::Skip);
        assert!(
            matches!(read(text, &mut log), Err(DataError::Format { .. })),
            "{text}"
        );
    }
}

#[test]
fn corrupt_and_truncated_images() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("images");
    std::fs::create_dir_all(&img).unwrap();
    RgbImage::from_pixel(20, 10, Rgb([9, 9, 9]))
        .save(img.join("a.png"))
        .unwrap();
    let bytes = std::fs::read(img.join("a.png")).unwrap();
    std::fs::write(img.join("b.png"), &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(img.join("c.png"), b"not an image at all").unwrap();
    let text = json!({
        "images": [
            {"id": 1, "file_name": "a.png", "width": 20, "height": 10},
            {"id": 2, "file_name": "b.png", "width": 20, "height": 10},
            {"id": 3, "file_name": "c.png", "width": 20, "height": 10},
        ],
        "categories": [{"id": 1, "name": "x"}], "annotations": [],
    });
    std::fs::write(dir.path().join("d.json"), text.to_string()).unwrap();
    let args = |p| StatsOptions {
        input: InputOptions {
            format: DatasetFormat::Coco,
            inputs: vec![dir.path().join("d.json").display().to_string()],
            images: None,
            label_map: None,
            on_bad_sample: p,
            mask_folder: MaskFolderSection::default(),
            ..Default::default()
        },
        check_images: true,
    };
    match stats(&args(OnBadSample::Error)) {
        Err(DataError::BadSample(p)) => {
            assert_eq!(p.kind, ProblemKind::CorruptImage);
            // The image file names it; its index in `images[]` would add nothing.
            assert!(p.file.ends_with("images/b.png"), "{p}");
        }
        other => panic!("{other:?}"),
    }
    let r = stats(&args(OnBadSample::Skip)).unwrap();
    assert_eq!(r.skipped_images, 2);
    assert!(
        r.problems
            .iter()
            .all(|p| p.kind == ProblemKind::CorruptImage)
    );
    assert!(r.to_string().contains("images: 1 "), "{r}");
}

fn tiny_dataset_records(dir: &Path) -> PathBuf {
    let text = coco(json!([ann(json!([TRI]), Value::Null)]));
    let mut ds = read_coco_str(
        &text,
        Path::new("x"),
        Path::new("."),
        false,
        &mut ProblemLog::default(),
    )
    .unwrap();
    let mut png = std::io::Cursor::new(Vec::new());
    RgbImage::new(20, 10)
        .write_to(&mut png, image::ImageFormat::Png)
        .unwrap();
    ds.images[0].source = mrcnn_data::ImageSource::Encoded {
        bytes: png.into_inner(),
        format: "png".into(),
        origin: "test".into(),
    };
    let mut second = ds.images[0].clone();
    second.id = 2;
    second.file_name = "b.png".into();
    ds.images.push(second);
    write_tfrecords(&ds, &dir.join("t.tfrecord"), 1)
        .unwrap()
        .remove(0)
}

#[test]
fn tfrecord_crc_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let f = tiny_dataset_records(dir.path());
    let good = std::fs::read(&f).unwrap();
    let rd = |l: &mut ProblemLog| {
        read_tfrecords(std::slice::from_ref(&f), None, l).map(|d| d.images.len())
    };

    let mut bad = good.clone();
    bad[40] ^= 0x10; // inside the first record's payload
    std::fs::write(&f, &bad).unwrap();
    let (n, log) = both(rd, ProblemKind::CrcMismatch);
    assert_eq!(n, 1, "the second record is still read");
    assert_eq!(log.problems[0].record, Some(0));

    let mut bad = good.clone();
    bad[2] ^= 1; // the first length
    std::fs::write(&f, &bad).unwrap();
    let (n, _) = both(rd, ProblemKind::CrcMismatch);
    assert_eq!(n, 0);

    std::fs::write(&f, &good[..good.len() - 3]).unwrap();
    let (n, log) = both(rd, ProblemKind::TruncatedRecord);
    assert_eq!((n, log.problems[0].record), (1, Some(1)));

    // Valid framing around garbage: a bad record, not a panic.
    let mut buf = Vec::new();
    write_record(&mut buf, &[0x0a, 0x05, 0xff]).unwrap();
    std::fs::write(&f, &buf).unwrap();
    both(rd, ProblemKind::BadRecord);
}

fn example(w: i64, mask_png: Vec<u8>, xmax: f32, label: i64) -> Example {
    let mut img = std::io::Cursor::new(Vec::new());
    RgbImage::new(4, 4)
        .write_to(&mut img, image::ImageFormat::Png)
        .unwrap();
    Example::from([
        (
            "image/encoded".to_string(),
            Feature::Bytes(vec![img.into_inner()]),
        ),
        ("image/width".to_string(), Feature::Int64(vec![w])),
        ("image/height".to_string(), Feature::Int64(vec![4])),
        (
            "image/object/bbox/xmin".to_string(),
            Feature::Float(vec![0.0]),
        ),
        (
            "image/object/bbox/xmax".to_string(),
            Feature::Float(vec![xmax]),
        ),
        (
            "image/object/bbox/ymin".to_string(),
            Feature::Float(vec![0.0]),
        ),
        (
            "image/object/bbox/ymax".to_string(),
            Feature::Float(vec![0.5]),
        ),
        (
            "image/object/class/label".to_string(),
            Feature::Int64(vec![label]),
        ),
        (
            "image/object/mask".to_string(),
            Feature::Bytes(vec![mask_png]),
        ),
    ])
}

fn mask_png(w: u32, h: u32) -> Vec<u8> {
    let mut c = std::io::Cursor::new(Vec::new());
    image::GrayImage::from_pixel(w, h, image::Luma([1]))
        .write_to(&mut c, image::ImageFormat::Png)
        .unwrap();
    c.into_inner()
}

#[test]
fn tfrecord_content_problems() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.tfrecord");
    let lm = [Category {
        id: 1,
        name: "a".into(),
    }];
    let cases = [
        (
            example(4, mask_png(3, 4), 0.5, 1),
            ProblemKind::MaskSizeMismatch,
        ),
        (example(4, mask_png(4, 4), 1.5, 1), ProblemKind::BadBox),
        (example(4, mask_png(4, 4), 0.0, 1), ProblemKind::BadBox),
        (
            example(4, mask_png(4, 4), 0.5, 2),
            ProblemKind::UnknownClass,
        ),
        (
            example(4, b"junk".to_vec(), 0.5, 1),
            ProblemKind::CorruptImage,
        ),
        (example(5, mask_png(4, 4), 0.5, 1), ProblemKind::BadRecord),
    ];
    for (ex, kind) in cases {
        let mut buf = Vec::new();
        write_record(&mut buf, &encode_example(&ex)).unwrap();
        write_record(
            &mut buf,
            &encode_example(&example(4, mask_png(4, 4), 0.5, 1)),
        )
        .unwrap();
        std::fs::write(&f, &buf).unwrap();
        let (ds, log) = both(
            |l| read_tfrecords(std::slice::from_ref(&f), Some(&lm), l),
            kind,
        );
        assert_eq!(ds.images.len() + log.skipped_images, 2, "{kind}");
        assert_eq!(log.problems[0].record, Some(0), "{kind}");
    }
}

#[test]
fn mask_folder_problems() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("images")).unwrap();
    RgbImage::new(8, 6)
        .save(root.join("images/f0.png"))
        .unwrap();
    let full = vec![1u8; 48];
    save_binary_mask(&root.join("masks/tool/f0.png"), &full, 8, 6).unwrap();
    let args = MaskFolderSection {
        class_rules: vec![ClassRule {
            pattern: "tool".into(),
            class: "tool".into(),
        }],
        ..Default::default()
    };
    let args = MaskFolderSection {
        images_dir: "images".into(),
        masks_dir: "masks".into(),
        labels_dir: "labels".into(),
        ..args
    };
    let rd = |l: &mut ProblemLog| {
        read_mask_folder(root, &args, None, l).map(|d| d.train.images[0].annotations.len())
    };

    save_binary_mask(&root.join("masks/tool2/f0.png"), &[1; 20], 5, 4).unwrap();
    assert_eq!(both(rd, ProblemKind::MaskSizeMismatch).0, 1);
    std::fs::remove_dir_all(root.join("masks/tool2")).unwrap();

    save_binary_mask(&root.join("masks/other/f0.png"), &full, 8, 6).unwrap();
    assert_eq!(both(rd, ProblemKind::UnknownClass).0, 1);
    std::fs::remove_dir_all(root.join("masks/other")).unwrap();

    save_binary_mask(&root.join("masks/tool/f9.png"), &full, 8, 6).unwrap();
    assert_eq!(both(rd, ProblemKind::UnknownImage).0, 1);
    std::fs::remove_file(root.join("masks/tool/f9.png")).unwrap();

    // A truncated PNG in the folder-per-frame layout.
    std::fs::create_dir_all(root.join("masks/f0")).unwrap();
    std::fs::write(root.join("masks/f0/tool_bad.png"), b"\x89PNG\r\n").unwrap();
    assert_eq!(both(rd, ProblemKind::CorruptImage).0, 1);
    std::fs::remove_dir_all(root.join("masks/f0")).unwrap();

    std::fs::write(root.join("images/f1.png"), b"garbage").unwrap();
    let (n, log) = both(rd, ProblemKind::CorruptImage);
    assert_eq!((n, log.skipped_images), (1, 1));
}

#[test]
fn labelmap_files_and_unknown_names() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.pbtxt");
    std::fs::write(&p, "item { id: 1 name: 'a' }\nitem { id: 2 name: 'a' }\n").unwrap();
    assert!(matches!(
        mrcnn_data::labelmap::read_label_map(&p),
        Err(DataError::Format { .. })
    ));
    let t = dir.path().join("m.toml");
    mrcnn_data::labelmap::write_label_map(
        &t,
        &[Category {
            id: 4,
            name: "z".into(),
        }],
    )
    .unwrap();
    assert_eq!(mrcnn_data::labelmap::read_label_map(&t).unwrap()[0].id, 4);
    assert!(matches!(
        mrcnn_data::labelmap::read_label_map(&dir.path().join("none.toml")),
        Err(DataError::Io { .. })
    ));
}
