//! Interop with the real TensorFlow and pycocotools, through committed fixtures
//! made by `tools/reference/make_tfrecord_fixtures.py`:
//! * `tf_written.tfrecord`: written by `tf.io.TFRecordWriter`; we must read
//!   exactly `tf_written.expected.json`.
//! * `coco_input.json`: polygons, uncompressed and compressed RLE, crowd; we
//!   must rasterise exactly pycocotools' masks in `coco_input.expected.json`.
//! * `rust_written.tfrecord` / `rust_written_coco.json`: written here (set
//!   `UPDATE_FIXTURES=1` to regenerate); the script checks that TensorFlow and
//!   pycocotools read them as `rust_written.expected.json`.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{GrayImage, ImageFormat, Rgb, RgbImage};
use mrcnn_data::coco::{read_coco_str, write_coco};
use mrcnn_data::tfrecord::{read_tfrecords, write_tfrecords};
use mrcnn_data::{
    Category, Dataset, ImageRecord, ImageSource, Instance, OnBadSample, ProblemLog, Rle,
};
use serde_json::{Value, json};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load_json(name: &str) -> Value {
    let p = fixtures().join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

fn u8s(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect()
}

#[test]
fn reads_tensorflow_written_records() {
    let exp = load_json("tf_written.expected.json");
    let mut log = ProblemLog::new(OnBadSample::Error);
    let ds = read_tfrecords(&[fixtures().join("tf_written.tfrecord")], None, &mut log).unwrap();
    let recs = exp["records"].as_array().unwrap();
    assert_eq!(ds.images.len(), recs.len());
    let names: Vec<_> = ds
        .categories
        .iter()
        .map(|c| (c.id, c.name.as_str()))
        .collect();
    assert_eq!(names, [(1, "circle"), (2, "square")]);
    for (img, r) in ds.images.iter().zip(recs) {
        assert_eq!(img.file_name, r["filename"].as_str().unwrap());
        assert_eq!(
            img.id,
            r["source_id"].as_str().unwrap().parse::<u64>().unwrap()
        );
        assert_eq!(
            (img.width as u64, img.height as u64),
            (r["width"].as_u64().unwrap(), r["height"].as_u64().unwrap())
        );
        let rgb = image::load_from_memory(&img.source.read_bytes().unwrap())
            .unwrap()
            .to_rgb8();
        assert_eq!(rgb.into_raw(), u8s(&r["pixels"]));
        let objs = r["objects"].as_array().unwrap();
        assert_eq!(img.annotations.len(), objs.len());
        for (a, o) in img.annotations.iter().zip(objs) {
            assert_eq!(
                ds.category(a.category).unwrap().name,
                o["text"].as_str().unwrap()
            );
            assert_eq!(
                ds.category(a.category).unwrap().id as u64,
                o["label"].as_u64().unwrap()
            );
            assert_eq!(a.mask.decode(), u8s(&o["mask"]));
            let b: Vec<f32> = o["bbox_xyxy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(a.bbox.to_vec(), b);
            assert_eq!(a.iscrowd, o["is_crowd"].as_u64().unwrap() != 0);
        }
    }
}

#[test]
fn coco_reader_matches_pycocotools() {
    let exp = load_json("coco_input.expected.json");
    let text = std::fs::read_to_string(fixtures().join("coco_input.json")).unwrap();
    let mut log = ProblemLog::new(OnBadSample::Error);
    let ds = read_coco_str(
        &text,
        Path::new("coco_input.json"),
        Path::new("."),
        false,
        &mut log,
    )
    .unwrap();
    let anns = exp["annotations"].as_array().unwrap();
    let ours: Vec<&Instance> = ds.images.iter().flat_map(|i| &i.annotations).collect();
    assert_eq!(ours.len(), anns.len());
    for (a, e) in ours.iter().zip(anns) {
        assert_eq!(a.mask.decode(), u8s(&e["mask"]), "annotation {}", e["id"]);
        assert_eq!(a.iscrowd, e["iscrowd"].as_u64().unwrap() != 0);
        assert_eq!(a.mask.area(), e["area_pixels"].as_u64().unwrap());
    }
}

/// A tiny dataset with embedded PNGs: fixed content, so the written files are stable.
fn rust_dataset() -> Dataset {
    let (w, h) = (12u32, 10u32);
    let png = |seed: u8| {
        let img = RgbImage::from_fn(w, h, |x, y| Rgb([x as u8 * 20, y as u8 * 25, seed]));
        let mut c = Cursor::new(Vec::new());
        img.write_to(&mut c, ImageFormat::Png).unwrap();
        c.into_inner()
    };
    let mask = |f: &dyn Fn(u32, u32) -> bool| {
        let m = GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y) as u8]));
        Rle::encode(m.as_raw(), h, w)
    };
    let img = |id: u64, seed: u8, anns: Vec<Instance>| ImageRecord {
        apply_exif: false,
        id,
        file_name: format!("img_{id}.png"),
        source: ImageSource::Encoded {
            bytes: png(seed),
            format: "png".into(),
            origin: "fixture".into(),
        },
        width: w,
        height: h,
        annotations: anns,
    };
    Dataset {
        categories: vec![
            Category {
                id: 3,
                name: "blob".into(),
            },
            Category {
                id: 5,
                name: "bar".into(),
            },
        ],
        images: vec![
            img(
                7,
                1,
                vec![
                    Instance::from_mask(
                        1,
                        mask(&|x, y| (x as i32 - 4).pow(2) + (y as i32 - 4).pow(2) <= 9),
                        false,
                    ),
                    Instance::from_mask(2, mask(&|x, y| x >= 6 && y >= 7), false),
                ],
            ),
            img(
                8,
                2,
                vec![Instance::from_mask(2, mask(&|x, _| x == 11), true)],
            ),
            img(9, 3, vec![]),
        ],
    }
}

#[test]
fn rust_written_fixtures_are_current() {
    let ds = rust_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let tf = write_tfrecords(&ds, &tmp.path().join("rust_written.tfrecord"), 1).unwrap();
    write_coco(&ds, &tmp.path().join("rust_written_coco.json"), None).unwrap();
    let expected = json!({"images": ds.images.iter().map(|i| json!({
        "id": i.id, "file_name": i.file_name, "width": i.width, "height": i.height,
        "pixels": image::load_from_memory(&i.source.read_bytes().unwrap()).unwrap().to_rgb8().into_raw(),
        "objects": i.annotations.iter().map(|a| json!({
            "text": ds.category(a.category).unwrap().name, "label": ds.category(a.category).unwrap().id,
            "bbox_xyxy": a.bbox, "mask": a.mask.decode(), "area": a.area, "is_crowd": a.iscrowd as u8,
        })).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()});
    let files = [
        ("rust_written.tfrecord", std::fs::read(&tf[0]).unwrap()),
        (
            "rust_written_coco.json",
            std::fs::read(tmp.path().join("rust_written_coco.json")).unwrap(),
        ),
        (
            "rust_written.expected.json",
            serde_json::to_vec_pretty(&expected).unwrap(),
        ),
    ];
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    for (name, bytes) in files {
        let p = fixtures().join(name);
        if update || !p.exists() {
            std::fs::write(&p, &bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(&p).unwrap(),
            bytes,
            "{name} is stale: rerun with UPDATE_FIXTURES=1 and the script"
        );
    }
    // And we read our own output back identically.
    let mut log = ProblemLog::new(OnBadSample::Error);
    let back = read_tfrecords(&tf, None, &mut log).unwrap();
    assert_eq!(back.categories, ds.categories);
    for (a, b) in back.images.iter().zip(&ds.images) {
        assert_eq!(a.annotations, b.annotations);
        assert_eq!(a.id, b.id);
    }
}
