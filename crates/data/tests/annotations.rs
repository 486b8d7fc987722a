//! The annotation tools' readers against `data/samples/annotations/` (made by
//! `tools/reference/make_annotation_fixtures.py`): every instance's mask equal to pycocotools'
//! rasterisation of the same shapes, every trap given its error, and each format surviving
//! format -> COCO -> TFRecord -> COCO unchanged.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mrcnn_data::{
    ConvertOptions, Dataset, DatasetFormat, ExifPolicy, ImageSource, InputOptions, OnBadSample,
    ProblemLog, StatsOptions, read_input,
};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/samples/annotations")
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn options(format: DatasetFormat, input: &Path) -> InputOptions {
    InputOptions {
        format,
        inputs: vec![input.display().to_string()],
        ..Default::default()
    }
}

fn read(o: &InputOptions) -> Result<(Vec<Dataset>, Vec<String>), mrcnn_data::DataError> {
    let mut log = ProblemLog::new(o.on_bad_sample);
    let mut notes = Vec::new();
    let splits = read_input(o, &mut log, &mut notes)?;
    Ok((splits.into_iter().map(|s| s.dataset).collect(), notes))
}

/// Image key (path relative to the fixtures) -> sorted (class, counts) of its instances.
fn instances(sets: &[Dataset]) -> BTreeMap<String, Vec<(String, Vec<u32>)>> {
    let root = fixtures().canonicalize().unwrap();
    let mut out = BTreeMap::new();
    for ds in sets {
        for img in &ds.images {
            let ImageSource::File(p) = &img.source else {
                panic!("a file")
            };
            let key = p.canonicalize().unwrap();
            let key = key
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            let mut v: Vec<(String, Vec<u32>)> = img
                .annotations
                .iter()
                .map(|a| {
                    let name = ds.category(a.category).unwrap().name.clone();
                    (name, a.mask.counts.clone())
                })
                .collect();
            v.sort();
            out.insert(key, v);
        }
    }
    out
}

fn expected_for(prefix: &str) -> BTreeMap<String, Vec<(String, Vec<u32>)>> {
    let e = expected();
    let mut out = BTreeMap::new();
    for (k, list) in e.as_object().unwrap() {
        if !k.starts_with(prefix) {
            continue;
        }
        let mut v: Vec<(String, Vec<u32>)> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let counts = i["counts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| c.as_u64().unwrap() as u32)
                    .collect();
                (i["class"].as_str().unwrap().to_string(), counts)
            })
            .collect();
        v.sort();
        out.insert(k.clone(), v);
    }
    out
}

fn assert_masks(format: DatasetFormat, input: &str, prefix: &str) -> Vec<String> {
    let (sets, notes) = read(&options(format, &fixtures().join(input))).unwrap();
    let got = instances(&sets);
    let want = expected_for(prefix);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{input}: images"
    );
    for (k, w) in &want {
        let g = &got[k];
        assert_eq!(g.len(), w.len(), "{k}: instance count");
        for (a, b) in g.iter().zip(w) {
            assert_eq!(a.0, b.0, "{k}: class");
            assert_eq!(
                a.1, b.1,
                "{k}: mask of a '{}' instance differs from pycocotools'",
                a.0
            );
        }
    }
    notes
}

#[test]
fn labelme_masks_equal_pycocotools() {
    let notes = assert_masks(DatasetFormat::Labelme, "labelme", "labelme/");
    let all = notes.join("\n");
    assert!(all.contains("shape(s) without an area"), "{all}");
    assert!(all.contains("clipped"), "{all}");
}

#[test]
fn labelme_classes_keep_spaces_and_non_ascii_names() {
    let (sets, _) = read(&options(
        DatasetFormat::Labelme,
        &fixtures().join("labelme"),
    ))
    .unwrap();
    let names: Vec<&str> = sets[0].categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["cat", "crème brûlée", "dog", "hot dog", "plate"]);
}

#[test]
fn via2_project_and_export_equal_pycocotools() {
    assert_masks(DatasetFormat::Via, "via2/via_project.json", "via2/");
    assert_masks(DatasetFormat::Via, "via2/via_export.json", "via2/");
}

#[test]
fn via3_masks_equal_pycocotools() {
    assert_masks(DatasetFormat::Via, "via3/via_project.json", "via3/");
}

#[test]
fn cvat_masks_equal_pycocotools_and_labels_keep_cvat_order() {
    assert_masks(DatasetFormat::Cvat, "cvat/annotations.xml", "cvat/");
    let (sets, _) = read(&options(
        DatasetFormat::Cvat,
        &fixtures().join("cvat/annotations.xml"),
    ))
    .unwrap();
    let names: Vec<&str> = sets[0].categories.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(&names[..3], ["cat", "dog", "person"]);
}

#[test]
fn voc_masks_are_the_object_pixels_and_imagesets_split() {
    assert_masks(DatasetFormat::VocMasks, "voc", "voc/");
    let (sets, _) = read(&options(DatasetFormat::VocMasks, &fixtures().join("voc"))).unwrap();
    assert_eq!((sets[0].images.len(), sets[1].images.len()), (2, 1));
    assert_eq!(sets[0].categories.len(), 20, "VOC's 20 classes");
}

#[test]
fn valid_traps_load_with_their_masks() {
    for case in [
        "exif_rotated",
        "gray16",
        "palette",
        "rgba",
        "la",
        "gray",
        "cmyk",
        "progressive",
        "self_intersecting",
    ] {
        let prefix = format!("traps/{case}/");
        let notes = assert_masks(DatasetFormat::Labelme, &prefix, &prefix);
        if case == "self_intersecting" {
            assert!(notes.join("\n").contains("self-intersecting"), "{notes:?}");
        }
        // The pixels decode (converted to RGB, rotated by EXIF) at the annotated size.
        let (sets, _) = read(&options(DatasetFormat::Labelme, &fixtures().join(&prefix))).unwrap();
        let s =
            mrcnn_data::load_sample(&sets[0].images[0]).unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(s.masks.len(), s.labels.len());
    }
}

#[test]
fn the_exif_rotated_photo_is_upright_only_when_exif_is_applied() {
    let dir = fixtures().join("traps/exif_rotated");
    let (sets, _) = read(&options(DatasetFormat::Labelme, &dir)).unwrap();
    let s = mrcnn_data::load_sample(&sets[0].images[0]).unwrap();
    assert_eq!(s.image.dimensions(), (30, 40));
    let o = InputOptions {
        exif: Some(ExifPolicy::Ignore),
        ..options(DatasetFormat::Labelme, &dir)
    };
    let e = read(&o).unwrap_err().to_string();
    assert!(
        e.contains("says the image is 30x40") && e.contains("40x30"),
        "{e}"
    );
    assert!(e.contains("EXIF orientation 6 is not applied"), "{e}");
}

#[test]
fn bad_traps_are_errors_naming_file_and_shape_or_skips_when_asked() {
    for (case, words) in [
        (
            "two_points",
            &[
                "two_points.json",
                "shape 1",
                "at least 3 points, this one has 2",
            ][..],
        ),
        ("unknown_shape", &["unknown_shape.json", "'hexagon'"][..]),
        (
            "wrong_size",
            &["wrong_size.json", "says the image is 64x48", "48x40"][..],
        ),
    ] {
        let dir = fixtures().join("traps").join(case);
        let e = read(&options(DatasetFormat::Labelme, &dir))
            .unwrap_err()
            .to_string();
        for w in words {
            assert!(e.contains(w), "{case}: '{w}' not in: {e}");
        }
        let skip = InputOptions {
            on_bad_sample: OnBadSample::Skip,
            ..options(DatasetFormat::Labelme, &dir)
        };
        let mut log = ProblemLog::new(OnBadSample::Skip);
        let r = read_input(&skip, &mut log, &mut Vec::new());
        assert_eq!(log.problems.len(), 1, "{case}: one problem logged");
        if case == "wrong_size" {
            // The image is left out, so nothing is left to train on: still an error.
            assert!(r.is_err(), "{case}");
            assert_eq!(log.skipped_images, 1);
        } else {
            assert_eq!(log.skipped_annotations, 1, "{case}");
            assert_eq!(
                r.unwrap()[0].dataset.images[0].annotations.len(),
                1,
                "{case}"
            );
        }
    }
}

#[test]
fn val_fraction_splits_by_image_with_the_seed() {
    let o = |seed| InputOptions {
        val_fraction: 0.34,
        split_seed: seed,
        ..options(DatasetFormat::Labelme, &fixtures().join("labelme"))
    };
    let (a, _) = read(&o(1)).unwrap();
    let (b, _) = read(&o(1)).unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].images.len(), a[1].images.len()), (2, 1));
    assert_eq!(a[1].images[0].file_name, b[1].images[0].file_name);
    let drawn: std::collections::BTreeSet<String> = (0..20)
        .map(|s| read(&o(s)).unwrap().0[1].images[0].file_name.clone())
        .collect();
    assert!(drawn.len() > 1, "the seed changes the draw");
}

#[test]
fn every_format_survives_coco_and_tfrecord_unchanged() {
    for (format, input) in [
        (DatasetFormat::Labelme, "labelme"),
        (DatasetFormat::Via, "via2/via_project.json"),
        (DatasetFormat::Via, "via3/via_project.json"),
        (DatasetFormat::Cvat, "cvat/annotations.xml"),
        (DatasetFormat::VocMasks, "voc"),
        (DatasetFormat::Labelme, "traps/exif_rotated"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let first = options(format, &fixtures().join(input));
        let (orig, _) = read(&first).unwrap();
        let c1 = tmp.path().join("coco1");
        mrcnn_data::convert(&ConvertOptions {
            input: first,
            to: DatasetFormat::Coco,
            out: c1.clone(),
            shards: 1,
        })
        .unwrap();
        let t = tmp.path().join("tf");
        mrcnn_data::convert(&ConvertOptions {
            input: options(DatasetFormat::Coco, &c1.join("train.json")),
            to: DatasetFormat::Tfrecord,
            out: t.clone(),
            shards: 1,
        })
        .unwrap();
        let c2 = tmp.path().join("coco2");
        mrcnn_data::convert(&ConvertOptions {
            input: options(DatasetFormat::Tfrecord, &t.join("train.tfrecord")),
            to: DatasetFormat::Coco,
            out: c2.clone(),
            shards: 1,
        })
        .unwrap();
        let (back, _) = read(&options(DatasetFormat::Coco, &c2.join("train.json"))).unwrap();
        let key = |ds: &Dataset| -> BTreeMap<String, Vec<(String, Vec<u32>)>> {
            ds.images
                .iter()
                .map(|i| {
                    let mut v: Vec<(String, Vec<u32>)> = i
                        .annotations
                        .iter()
                        .map(|a| {
                            (
                                ds.category(a.category).unwrap().name.clone(),
                                a.mask.counts.clone(),
                            )
                        })
                        .collect();
                    v.sort();
                    (i.file_name.clone(), v)
                })
                .collect()
        };
        let png_names = |m: BTreeMap<String, Vec<(String, Vec<u32>)>>| -> BTreeMap<_, _> {
            // A photo written upright is re-encoded as PNG (see `convert`).
            m.into_iter()
                .map(|(k, v)| (k.replace("exif_rotated.jpg", "exif_rotated.png"), v))
                .collect()
        };
        assert_eq!(
            png_names(key(&orig[0])),
            key(&back[0]),
            "{input}: masks or classes changed"
        );
        // What was written decodes at the annotated size with the readers' default policy.
        for img in &back[0].images {
            mrcnn_data::load_sample(img).unwrap_or_else(|e| panic!("{input}: {e}"));
        }
    }
}

#[test]
fn stats_names_every_rotated_and_converted_image() {
    let r = mrcnn_data::stats(&StatsOptions {
        input: InputOptions {
            on_bad_sample: OnBadSample::Skip,
            ..options(DatasetFormat::Labelme, &fixtures().join("traps"))
        },
        check_images: false,
    })
    .unwrap()
    .to_string();
    for w in [
        "exif_rotated.jpg (orientation 6, applied)",
        "gray16.png: 16-bit grayscale",
        "palette.png: palette",
        "rgba.png: RGBA",
        "la.png: grayscale with alpha",
        "gray.png: grayscale",
        "cmyk.jpg: CMYK",
        "wrong_size.json",
        "two_points.json",
        "unknown_shape.json",
    ] {
        assert!(r.contains(w), "'{w}' not in:\n{r}");
    }
}

#[test]
fn labelme_mask_shapes_and_crowd_flags() {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::new(10, 8)
        .save(dir.path().join("m.png"))
        .unwrap();
    // A 3x2 mask PNG with one pixel off, placed at (4, 5): labelme >= 5.3's "mask" shape.
    let mut m = image::GrayImage::from_pixel(3, 2, image::Luma([255]));
    m.put_pixel(0, 1, image::Luma([0]));
    let mut png = Vec::new();
    m.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&png);
    let json = serde_json::json!({
        "shapes": [
            {"label": "blob", "points": [[4, 5], [6, 6]], "shape_type": "mask", "mask": b64,
             "group_id": null, "flags": {}},
            {"label": "people", "points": [[0, 0], [3, 3]], "shape_type": "rectangle",
             "group_id": null, "flags": {"crowd": true}}
        ],
        "imagePath": "m.png", "imageWidth": 10, "imageHeight": 8
    });
    std::fs::write(dir.path().join("m.json"), json.to_string()).unwrap();
    let (sets, _) = read(&options(DatasetFormat::Labelme, dir.path())).unwrap();
    let img = &sets[0].images[0];
    let blob = &img.annotations[0];
    let px = blob.mask.decode();
    let on: Vec<(usize, usize)> = (0..80)
        .filter(|&k| px[k] == 1)
        .map(|k| (k % 10, k / 10))
        .collect();
    assert_eq!(on, [(4, 5), (5, 5), (6, 5), (5, 6), (6, 6)]);
    assert!(!blob.iscrowd);
    assert!(
        img.annotations[1].iscrowd,
        "the crowd flag makes a crowd region"
    );
}

#[test]
fn a_shape_outside_the_image_is_a_bad_annotation() {
    let dir = tempfile::tempdir().unwrap();
    image::RgbImage::new(10, 8)
        .save(dir.path().join("o.png"))
        .unwrap();
    let json = serde_json::json!({
        "shapes": [
            {"label": "gone", "points": [[20, 20], [30, 20], [25, 28]], "shape_type": "polygon"},
            {"label": "kept", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}
        ],
        "imagePath": "o.png", "imageWidth": 10, "imageHeight": 8
    });
    std::fs::write(dir.path().join("o.json"), json.to_string()).unwrap();
    let e = read(&options(DatasetFormat::Labelme, dir.path()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("o.json") && e.contains("covers no pixel"), "{e}");
    let skip = InputOptions {
        on_bad_sample: OnBadSample::Skip,
        ..options(DatasetFormat::Labelme, dir.path())
    };
    let (sets, _) = read(&skip).unwrap();
    assert_eq!(sets[0].images[0].annotations.len(), 1);
}
