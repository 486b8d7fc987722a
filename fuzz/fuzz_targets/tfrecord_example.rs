//! `tf.train.Example` → image record: the OD API schema mapping (`image/*`,
//! `image/object/*`) with a real encoded image and PNG or dense masks, so that
//! the per-object checks (list lengths, classes, mask sizes, boxes) are reached.
//!
//! The input is structured (`arbitrary`): image size, object list, masks,
//! optional wrong sizes/types, plus arbitrary extra features that override the
//! well-formed ones. The Example is encoded, framed and read with `read_tfrecords`.
#![no_main]

#[path = "common.rs"]
mod common;

use std::io::Cursor;

use arbitrary::Arbitrary;
use image::{GrayImage, ImageBuffer, ImageFormat, Luma, RgbImage};
use libfuzzer_sys::fuzz_target;
use mrcnn_data::tfrecord::{
    Example, Feature, decode_example, encode_example, read_tfrecords, write_record,
};
use mrcnn_data::{Category, OnBadSample, ProblemLog};

#[derive(Arbitrary, Debug)]
struct Input {
    /// Image size: 1 + value % 24.
    width: u8,
    height: u8,
    /// Replace the encoded image by these bytes (header fuzzing).
    raw_image: Option<Vec<u8>>,
    declared_width: Option<i64>,
    declared_height: Option<i64>,
    format: Option<String>,
    filename: Option<String>,
    source_id: Option<String>,
    objects: Vec<Object>,
    /// Masks as one dense float list instead of PNGs.
    dense: bool,
    /// Read with a fixed label map {1: circle, 2: square}.
    label_map: bool,
    /// Write the record this many times (0..=2 extra copies): duplicate names and ids.
    copies: u8,
    /// Features set last, overriding the well-formed ones.
    extra: Vec<(Key, Value)>,
}

#[derive(Arbitrary, Debug)]
struct Object {
    /// Normalised `[xmin, ymin, xmax, ymax]`.
    bbox: Option<[f32; 4]>,
    label: Option<i64>,
    text: Option<String>,
    mask: Mask,
    crowd: Option<i64>,
    area: Option<f32>,
}

#[derive(Arbitrary, Debug)]
enum Mask {
    /// A PNG of the image size plus (dw, dh) % 3, pixels cycled from `bits`.
    Png {
        bits: Vec<u8>,
        dw: u8,
        dh: u8,
        sixteen_bit: bool,
    },
    /// Arbitrary bytes as the PNG.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Key {
    Encoded,
    Format,
    Height,
    Width,
    Filename,
    SourceId,
    Xmin,
    Xmax,
    Ymin,
    Ymax,
    Text,
    Label,
    Mask,
    Crowd,
    Area,
    Other(String),
}

impl Key {
    fn name(&self) -> String {
        match self {
            Key::Encoded => "image/encoded",
            Key::Format => "image/format",
            Key::Height => "image/height",
            Key::Width => "image/width",
            Key::Filename => "image/filename",
            Key::SourceId => "image/source_id",
            Key::Xmin => "image/object/bbox/xmin",
            Key::Xmax => "image/object/bbox/xmax",
            Key::Ymin => "image/object/bbox/ymin",
            Key::Ymax => "image/object/bbox/ymax",
            Key::Text => "image/object/class/text",
            Key::Label => "image/object/class/label",
            Key::Mask => "image/object/mask",
            Key::Crowd => "image/object/is_crowd",
            Key::Area => "image/object/area",
            Key::Other(s) => return s.clone(),
        }
        .to_string()
    }
}

#[derive(Arbitrary, Debug)]
enum Value {
    Bytes(Vec<Vec<u8>>),
    Float(Vec<f32>),
    Int64(Vec<i64>),
}

fn png(img: &image::DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn build(inp: &Input) -> Example {
    let (w, h) = (1 + inp.width as u32 % 24, 1 + inp.height as u32 % 24);
    let mut ex = Example::new();
    let encoded = match &inp.raw_image {
        Some(b) => b.clone(),
        None => png(&RgbImage::from_pixel(w, h, image::Rgb([90, 120, 200])).into()),
    };
    ex.insert("image/encoded".into(), Feature::Bytes(vec![encoded]));
    let b = |s: &str| Feature::Bytes(vec![s.as_bytes().to_vec()]);
    if let Some(f) = &inp.format {
        ex.insert("image/format".into(), b(f));
    }
    if let Some(f) = &inp.filename {
        ex.insert("image/filename".into(), b(f));
    }
    if let Some(f) = &inp.source_id {
        ex.insert("image/source_id".into(), b(f));
    }
    ex.insert(
        "image/width".into(),
        Feature::Int64(vec![inp.declared_width.unwrap_or(w as i64)]),
    );
    ex.insert(
        "image/height".into(),
        Feature::Int64(vec![inp.declared_height.unwrap_or(h as i64)]),
    );

    let objs = &inp.objects;
    let boxes: Vec<[f32; 4]> = objs.iter().filter_map(|o| o.bbox).collect();
    for (i, k) in ["xmin", "ymin", "xmax", "ymax"].iter().enumerate() {
        if !boxes.is_empty() {
            let v = boxes.iter().map(|b| b[i]).collect();
            ex.insert(format!("image/object/bbox/{k}"), Feature::Float(v));
        }
    }
    let labels: Vec<i64> = objs.iter().filter_map(|o| o.label).collect();
    if !labels.is_empty() {
        ex.insert("image/object/class/label".into(), Feature::Int64(labels));
    }
    let texts: Vec<Vec<u8>> = objs
        .iter()
        .filter_map(|o| o.text.as_ref().map(|t| t.as_bytes().to_vec()))
        .collect();
    if !texts.is_empty() {
        ex.insert("image/object/class/text".into(), Feature::Bytes(texts));
    }
    let crowd: Vec<i64> = objs.iter().filter_map(|o| o.crowd).collect();
    if !crowd.is_empty() {
        ex.insert("image/object/is_crowd".into(), Feature::Int64(crowd));
    }
    let area: Vec<f32> = objs.iter().filter_map(|o| o.area).collect();
    if !area.is_empty() {
        ex.insert("image/object/area".into(), Feature::Float(area));
    }
    let pixels = |bits: &[u8], n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| {
                if bits.is_empty() {
                    0
                } else {
                    bits[i % bits.len()]
                }
            })
            .collect()
    };
    if inp.dense {
        let mut v = Vec::new();
        for o in objs {
            match &o.mask {
                Mask::Png { bits, .. } => v.extend(
                    pixels(bits, (w * h) as usize)
                        .iter()
                        .map(|&p| p as f32 / 255.0),
                ),
                Mask::Raw(r) => v.extend(r.iter().map(|&p| p as f32 / 128.0)),
            }
        }
        ex.insert("image/object/mask".into(), Feature::Float(v));
    } else {
        let masks = objs
            .iter()
            .map(|o| match &o.mask {
                Mask::Png {
                    bits,
                    dw,
                    dh,
                    sixteen_bit,
                } => {
                    let (mw, mh) = (w + *dw as u32 % 3, h + *dh as u32 % 3);
                    let p = pixels(bits, (mw * mh) as usize);
                    if *sixteen_bit {
                        let p16 = p.iter().map(|&x| x as u16).collect();
                        png(&ImageBuffer::<Luma<u16>, Vec<u16>>::from_raw(mw, mh, p16)
                            .unwrap()
                            .into())
                    } else {
                        png(&GrayImage::from_raw(mw, mh, p).unwrap().into())
                    }
                }
                Mask::Raw(r) => r.clone(),
            })
            .collect();
        ex.insert("image/object/mask".into(), Feature::Bytes(masks));
    }
    for (k, v) in &inp.extra {
        let f = match v {
            Value::Bytes(b) => Feature::Bytes(b.clone()),
            Value::Float(f) => Feature::Float(f.clone()),
            Value::Int64(i) => Feature::Int64(i.clone()),
        };
        ex.insert(k.name(), f);
    }
    ex
}

fuzz_target!(|inp: Input| {
    let ex = build(&inp);
    let enc = encode_example(&ex);
    let back = decode_example(&enc).expect("an encoded Example decodes");
    assert_eq!(encode_example(&back), enc, "Example round trip");

    let mut file = Vec::new();
    for _ in 0..=(inp.copies % 3) {
        write_record(&mut file, &enc).unwrap();
    }
    let path = common::temp_path("tfrecord");
    std::fs::write(&path, &file).unwrap();
    let label_map = [
        Category {
            id: 1,
            name: "circle".into(),
        },
        Category {
            id: 2,
            name: "square".into(),
        },
    ];
    let lm = inp.label_map.then_some(&label_map[..]);
    let mut skip = ProblemLog::new(OnBadSample::Skip);
    let ds = read_tfrecords(std::slice::from_ref(&path), lm, &mut skip)
        .expect("with --on-bad-sample skip only I/O can fail");
    common::check_dataset(&ds);
    if std::env::var_os("MRCNN_FUZZ_DEBUG").is_some() {
        let anns: usize = ds.images.iter().map(|i| i.annotations.len()).sum();
        eprintln!(
            "{} images, {anns} annotations, {} problems",
            ds.images.len(),
            skip.problems.len()
        );
    }
    let mut strict = ProblemLog::new(OnBadSample::Error);
    let strict_ok = read_tfrecords(std::slice::from_ref(&path), lm, &mut strict).is_ok();
    assert_eq!(
        strict_ok,
        skip.problems.is_empty(),
        "error policy disagrees with the skip log"
    );
    if inp.raw_image.is_none() {
        for img in &ds.images {
            let (w, h) = (1 + inp.width as u32 % 24, 1 + inp.height as u32 % 24);
            assert_eq!((img.width, img.height), (w, h));
        }
    }
    let names: std::collections::HashSet<_> = ds.images.iter().map(|i| &i.file_name).collect();
    assert_eq!(names.len(), ds.images.len(), "two images share a file name");
    common::check_coco_round_trip(&ds);
});
