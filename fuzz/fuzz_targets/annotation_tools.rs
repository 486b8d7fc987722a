//! The annotation tools' readers (labelme, VIA 2/3, CVAT XML) on arbitrary file contents: the
//! first byte picks the format, the rest is the annotation file, written next to a real 8x6 PNG
//! named `a.png` (and `images/a.png` for CVAT) so that shapes are reached. Read under the skip
//! policy and the error policy: no panic, the two policies agree, and every dataset returned
//! holds the readers' invariants.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use mrcnn_data::{DatasetFormat, InputOptions, OnBadSample, ProblemLog, read_input};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let dir = common::temp_path("tools");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let png = image::RgbImage::from_pixel(8, 6, image::Rgb([9, 9, 9]));
    png.save(dir.join("a.png")).unwrap();
    png.save(dir.join("images/a.png")).unwrap();
    let (format, input) = match which % 3 {
        0 => {
            std::fs::write(dir.join("a.json"), rest).unwrap();
            (DatasetFormat::Labelme, dir.clone())
        }
        1 => {
            std::fs::write(dir.join("via.json"), rest).unwrap();
            (DatasetFormat::Via, dir.join("via.json"))
        }
        _ => {
            std::fs::write(dir.join("annotations.xml"), rest).unwrap();
            (DatasetFormat::Cvat, dir.join("annotations.xml"))
        }
    };
    let options = |policy| InputOptions {
        format,
        inputs: vec![input.display().to_string()],
        on_bad_sample: policy,
        val_fraction: if which & 4 != 0 { 0.5 } else { 0.0 },
        ..Default::default()
    };
    let mut skip = ProblemLog::new(OnBadSample::Skip);
    let got = read_input(&options(OnBadSample::Skip), &mut skip, &mut Vec::new());
    let mut strict = ProblemLog::new(OnBadSample::Error);
    let strict_ok = read_input(&options(OnBadSample::Error), &mut strict, &mut Vec::new()).is_ok();
    match &got {
        Ok(splits) => {
            for s in splits {
                common::check_dataset(&s.dataset);
                common::check_coco_round_trip(&s.dataset);
            }
            assert_eq!(
                strict_ok,
                skip.problems.is_empty(),
                "error policy disagrees with the skip log"
            );
        }
        Err(_) => assert!(!strict_ok, "an error under skip but not under error"),
    }
    let _ = std::fs::remove_dir_all(&dir);
});
