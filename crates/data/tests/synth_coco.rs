//! `synth` writes a COCO dataset that the COCO reader reads back exactly.

use mrcnn_data::SynthSection;
use mrcnn_data::coco::read_coco;
use mrcnn_data::synth::{synth, synth_image};
use mrcnn_data::{OnBadSample, ProblemLog, load_sample};

fn args(out: &std::path::Path) -> SynthSection {
    SynthSection {
        out: out.to_path_buf(),
        train_images: 6,
        val_images: 3,
        width: 64,
        height: 48,
        min_objects: 2,
        max_objects: 5,
        min_area: 30,
        seed: 7,
    }
}

#[test]
fn synth_then_read_coco() {
    let dir = tempfile::tempdir().unwrap();
    let a = args(dir.path());
    let report = synth(&a).unwrap();
    assert!(report.problems.is_empty());
    for (split, n) in [("train", 6), ("val", 3)] {
        let mut log = ProblemLog::new(OnBadSample::Error);
        let ds = read_coco(
            &dir.path().join(format!("{split}.json")),
            &dir.path().join("images"),
            &mut log,
        )
        .unwrap();
        assert_eq!(ds.images.len(), n);
        assert_eq!(
            ds.class_names(),
            ["background", "circle", "rectangle", "triangle"]
        );
        for (i, rec) in ds.images.iter().enumerate() {
            let (_, inst) = synth_image(&a, (split == "val") as u64, i as u64);
            assert_eq!(rec.annotations.len(), inst.len());
            let s = load_sample(rec).unwrap();
            assert_eq!(s.image.dimensions(), (64, 48));
            let mut cover = vec![0u8; 64 * 48];
            for (k, (label, mask)) in inst.iter().enumerate() {
                assert_eq!(s.labels[k], *label);
                assert_eq!(s.masks[k].as_raw(), mask, "mask {k} of image {i}");
                let area: u32 = mask.iter().map(|&v| v as u32).sum();
                assert!(area >= 30);
                for (c, &m) in cover.iter_mut().zip(mask) {
                    *c += m;
                }
                let b = s.boxes[k];
                assert!(b[0] < b[2] && b[1] < b[3] && b[2] <= 64.0 && b[3] <= 48.0);
            }
            // Occlusion-aware: visible masks never overlap.
            assert!(cover.iter().all(|&c| c <= 1));
        }
    }
}

#[test]
fn synth_is_deterministic() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    synth(&args(d1.path())).unwrap();
    synth(&args(d2.path())).unwrap();
    for f in [
        "train.json",
        "val.json",
        "images/train/000005.png",
        "images/val/000002.png",
        "label_map.pbtxt",
    ] {
        assert_eq!(
            std::fs::read(d1.path().join(f)).unwrap(),
            std::fs::read(d2.path().join(f)).unwrap(),
            "{f}"
        );
    }
    let mut other = args(d1.path());
    other.seed = 8;
    assert_ne!(
        synth_image(&other, 0, 0).0,
        synth_image(&args(d1.path()), 0, 0).0
    );
}
