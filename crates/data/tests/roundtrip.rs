//! Mask folder → TFRecord (sharded) → COCO keeps every instance pixel-exact.

use std::path::Path;

use image::{Rgb, RgbImage};
use mrcnn_data::coco::read_coco;
use mrcnn_data::mask_folder::{read_mask_folder, save_binary_mask};
use mrcnn_data::{
    ClassRule, ConvertOptions, Dataset, DatasetFormat, InputOptions, MaskFolderSection,
    OnBadSample, ProblemLog, convert,
};

const W: u32 = 40;
const H: u32 = 30;

fn rect(x0: u32, y0: u32, x1: u32, y1: u32) -> Vec<u8> {
    (0..H)
        .flat_map(|y| (0..W).map(move |x| (x >= x0 && x < x1 && y >= y0 && y < y1) as u8))
        .collect()
}

fn save_rgb(path: &Path, seed: u8) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    RgbImage::from_fn(W, H, |x, y| Rgb([x as u8 * 3 + seed, y as u8 * 5, seed]))
        .save(path)
        .unwrap();
}

/// seq1: EndoVis style (a folder per instrument), seq2: a folder per frame.
fn make_mask_folder(root: &Path) {
    save_rgb(&root.join("seq1/images/frame000.png"), 1);
    save_rgb(&root.join("seq1/images/frame001.png"), 2);
    let m = |p: &str, mask: Vec<u8>| save_binary_mask(&root.join(p), &mask, W, H).unwrap();
    m("seq1/masks/Grasper_labels/frame000.png", rect(2, 3, 12, 20));
    m("seq1/masks/Needle_labels/frame000.png", rect(10, 5, 30, 9));
    m("seq1/masks/Grasper_labels/frame001.png", rect(0, 0, 40, 1));
    m(
        "seq1/masks/Needle_labels/frame001.png",
        vec![0; (W * H) as usize],
    ); // absent: ignored
    save_rgb(&root.join("seq2/images/a.png"), 3);
    m("seq2/masks/a/needle_1.png", rect(39, 29, 40, 30));
    m("seq2/masks/a/grasper_2.png", rect(5, 5, 6, 25));
}

fn rule(pattern: &str, class: &str) -> ClassRule {
    ClassRule {
        pattern: pattern.into(),
        class: class.into(),
    }
}

fn mf_args() -> MaskFolderSection {
    MaskFolderSection {
        images_dir: "images".into(),
        masks_dir: "masks".into(),
        labels_dir: "labels".into(),
        class_rules: vec![rule("(?i)grasper", "grasper"), rule("(?i)needle", "needle")],
        val_folders: vec!["seq2".into()],
        ..Default::default()
    }
}

fn input(format: DatasetFormat, inputs: Vec<String>) -> InputOptions {
    InputOptions {
        format,
        inputs,
        images: None,
        label_map: None,
        on_bad_sample: OnBadSample::Error,
        mask_folder: mf_args(),
        ..Default::default()
    }
}

fn assert_same(a: &Dataset, b: &Dataset) {
    assert_eq!(a.categories, b.categories);
    assert_eq!(a.images.len(), b.images.len());
    for (x, y) in a.images.iter().zip(&b.images) {
        assert_eq!(x.file_name, y.file_name);
        assert_eq!((x.width, x.height), (y.width, y.height));
        assert_eq!(x.annotations, y.annotations, "{}", x.file_name);
        assert_eq!(
            x.source.read_bytes().unwrap(),
            y.source.read_bytes().unwrap()
        );
    }
}

#[test]
fn mask_folder_to_tfrecord_to_coco() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("mf");
    make_mask_folder(&root);
    let mut log = ProblemLog::new(OnBadSample::Error);
    let orig = read_mask_folder(&root, &mf_args(), None, &mut log).unwrap();
    assert_eq!(orig.empty_masks, 1);
    assert_eq!(orig.train.images.len(), 2);
    assert_eq!(orig.val.images.len(), 1);
    assert_eq!(
        orig.train.class_names(),
        ["background", "grasper", "needle"]
    );
    assert_eq!(orig.train.images[0].annotations.len(), 2);
    assert_eq!(
        orig.train.images[0].annotations[0].bbox,
        [2.0, 3.0, 12.0, 20.0]
    );

    let tf = tmp.path().join("tf");
    let r = convert(&ConvertOptions {
        input: input(DatasetFormat::MaskFolder, vec![root.display().to_string()]),
        to: DatasetFormat::Tfrecord,
        out: tf.clone(),
        shards: 2,
    })
    .unwrap();
    assert!(r.lines.iter().any(|l| l.contains("1 all-zero")));
    assert!(tf.join("train.tfrecord-00001-of-00002").is_file());
    assert!(tf.join("val.tfrecord").is_file() || tf.join("val.tfrecord-00000-of-00002").is_file());

    let coco = tmp.path().join("coco");
    let mut args = input(
        DatasetFormat::Tfrecord,
        vec![
            format!("{}/train.tfrecord@2", tf.display()),
            format!("{}/val.tfrecord-*", tf.display()),
        ],
    );
    args.label_map = Some(tf.join("label_map.pbtxt"));
    convert(&ConvertOptions {
        input: args,
        to: DatasetFormat::Coco,
        out: coco.clone(),
        shards: 1,
    })
    .unwrap();

    for (split, want) in [("train", &orig.train), ("val", &orig.val)] {
        let mut log = ProblemLog::new(OnBadSample::Error);
        let mut back = read_coco(
            &coco.join(format!("{split}.json")),
            &coco.join("images"),
            &mut log,
        )
        .unwrap();
        // Shards interleave images (i % n); compare in file-name order.
        back.images.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        for img in &mut back.images {
            img.id = want
                .images
                .iter()
                .find(|w| w.file_name == img.file_name)
                .unwrap()
                .id;
            img.source = want
                .images
                .iter()
                .find(|w| w.file_name == img.file_name)
                .unwrap()
                .source
                .clone();
        }
        assert_same(want, &back);
    }
}

#[test]
fn label_pngs_with_sidecar_and_fraction_split() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for i in 0..10 {
        save_rgb(&root.join(format!("images/{i}.png")), i);
        let lab = image::GrayImage::from_fn(W, H, |x, _| {
            image::Luma([if x < 10 {
                0
            } else if x < 20 {
                3
            } else {
                7
            }])
        });
        std::fs::create_dir_all(root.join("labels")).unwrap();
        lab.save(root.join(format!("labels/{i}.png"))).unwrap();
        std::fs::write(
            root.join(format!("labels/{i}.json")),
            r#"{"3": "cell", "7": "nucleus"}"#,
        )
        .unwrap();
    }
    let args = MaskFolderSection {
        val_fraction: 0.3,
        split_seed: 1,
        ..mf_args()
    };
    let mut log = ProblemLog::new(OnBadSample::Error);
    let d = read_mask_folder(
        root,
        &MaskFolderSection {
            val_folders: vec![],
            ..args
        },
        None,
        &mut log,
    )
    .unwrap();
    assert_eq!((d.train.images.len(), d.val.images.len()), (7, 3));
    // Classes not named by rules are numbered after them, in order of use.
    assert_eq!(
        d.train.class_names(),
        ["background", "grasper", "needle", "cell", "nucleus"]
    );
    let a = &d.train.images[0].annotations;
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].bbox, [10.0, 0.0, 20.0, 30.0]);
    assert_eq!(a[1].area, 600.0);
}

/// A TFRecord whose `image/source_id` is a number beyond COCO's (JSON int64) ids: the images are
/// numbered instead, so that the COCO written from it keeps every image (found by fuzzing).
#[test]
fn source_ids_beyond_int64_are_renumbered() {
    use mrcnn_data::coco::{read_coco_str, to_instances};
    use mrcnn_data::tfrecord::{read_tfrecords, write_tfrecords};
    use mrcnn_data::{Category, ImageRecord, ImageSource, Instance, Rle};
    let dir = tempfile::tempdir().unwrap();
    let mut png = Vec::new();
    RgbImage::new(W, H)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let ds = Dataset {
        categories: vec![Category {
            id: 1,
            name: "box".into(),
        }],
        images: vec![ImageRecord {
            id: 11_406_509_395_579_415_211,
            file_name: "a.png".into(),
            source: ImageSource::Encoded {
                bytes: png,
                format: "png".into(),
                origin: "test".into(),
            },
            width: W,
            height: H,
            annotations: vec![Instance::from_mask(
                1,
                Rle::encode(&rect(2, 3, 9, 8), H, W),
                false,
            )],
            apply_exif: false,
        }],
    };
    let files = write_tfrecords(&ds, &dir.path().join("t.tfrecord"), 1).unwrap();
    let mut log = ProblemLog::new(OnBadSample::Error);
    let back = read_tfrecords(&files, None, &mut log).unwrap();
    assert_eq!(back.images[0].id, 1);
    let text = serde_json::to_string(&to_instances(&back)).unwrap();
    let coco = read_coco_str(&text, Path::new("x.json"), Path::new("."), false, &mut log).unwrap();
    assert_eq!(coco.images.len(), 1);
}
