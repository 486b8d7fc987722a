//! Pascal VOC instance masks (VOC 2012's segmentation layout, and every dataset made like it).
//!
//! ```text
//! root/JPEGImages/<stem>.jpg
//! root/SegmentationObject/<stem>.png    palette PNG: pixel = instance 1..N, 0 background
//! root/SegmentationClass/<stem>.png     palette PNG: pixel = class index
//! root/ImageSets/Segmentation/{train,val}.txt   optional split (one stem per line)
//! ```
//! Both PNGs are read by palette index, not colour. 255 is VOC's "void" border: it belongs to
//! no instance. An instance's class is the class index its pixels have in SegmentationClass
//! (the most common one, should they differ); the class names are VOC's 20 (index 1 aeroplane
//! ... 20 tvmonitor) unless a label map names the indices. Only the images that have a
//! SegmentationObject PNG are read (VOC has many more JPEGs than masks).

use std::collections::BTreeMap;
use std::path::Path;

use mrcnn_coco::Rle;

use super::{Labelled, LabelledInstance, ToolOptions, ToolRead, checked_size, note};
use crate::error::{DataError, Problem, ProblemKind, ProblemLog, Skipped};

/// VOC's class names by index (1-based; 0 is background).
pub const VOC_CLASSES: [&str; 20] = [
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
];

/// Pixel values of a PNG as stored (palette indices for a palette PNG, grey levels for a grey
/// one): `image` expands palettes to colours, so the PNG is read with the `png` crate.
fn indices(path: &Path) -> Result<(u32, u32, Vec<u8>), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut dec = png::Decoder::new(std::io::BufReader::new(file));
    dec.set_transformations(png::Transformations::IDENTITY);
    let mut reader = dec.read_info().map_err(|e| e.to_string())?;
    let info = reader.info();
    let (w, h) = (info.width, info.height);
    let ok = matches!(
        (info.color_type, info.bit_depth),
        (
            png::ColorType::Indexed | png::ColorType::Grayscale,
            png::BitDepth::Eight
        )
    );
    if !ok {
        return Err(format!(
            "a {:?} {:?}-bit PNG; VOC masks are 8-bit palette (or grey) PNGs whose values are \
             the instance or class numbers",
            info.color_type, info.bit_depth as u8
        ));
    }
    let mut buf = vec![0; reader.output_buffer_size().ok_or("PNG too large")?];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(frame.buffer_size());
    Ok((w, h, buf))
}

fn split_list(root: &Path, name: &str) -> Result<Option<Vec<String>>, DataError> {
    let p = root.join("ImageSets/Segmentation").join(name);
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).map_err(|e| DataError::io(&p, e))?;
    Ok(Some(
        text.lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect(),
    ))
}

/// Reads a VOC-style root folder.
pub fn read_voc(
    root: &Path,
    opts: &ToolOptions,
    log: &mut ProblemLog,
) -> Result<ToolRead, DataError> {
    let objects = root.join("SegmentationObject");
    let classes = root.join("SegmentationClass");
    for d in [&objects, &classes, &root.join("JPEGImages")] {
        if !d.is_dir() {
            return Err(DataError::format(
                root,
                format!(
                    "no {} folder: a voc-masks dataset has JPEGImages/, SegmentationObject/ and \
                     SegmentationClass/ (see data/README.md)",
                    d.file_name().unwrap_or_default().to_string_lossy()
                ),
            ));
        }
    }
    let train = split_list(root, "train.txt")?;
    let val = split_list(root, "val.txt")?;
    let mut stems: Vec<String> = std::fs::read_dir(&objects)
        .map_err(|e| DataError::io(&objects, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    stems.sort();
    let mut unlisted = Vec::new();
    let mut out = Vec::new();
    for stem in stems {
        let is_val = match (&train, &val) {
            (None, None) => None,
            (t, v) => {
                if v.as_ref().is_some_and(|v| v.contains(&stem)) {
                    Some(true)
                } else if t.as_ref().is_none_or(|t| t.contains(&stem)) {
                    Some(false)
                } else {
                    unlisted.push(stem.clone());
                    continue;
                }
            }
        };
        let obj_png = objects.join(format!("{stem}.png"));
        let image = ["jpg", "jpeg", "png", "JPG"]
            .iter()
            .map(|e| root.join("JPEGImages").join(format!("{stem}.{e}")))
            .find(|p| p.is_file())
            .unwrap_or_else(|| root.join("JPEGImages").join(format!("{stem}.jpg")));
        let Some((w, h)) = checked_size(&image, &obj_png, None, opts.apply_exif, log)? else {
            continue;
        };
        let cls_png = classes.join(format!("{stem}.png"));
        let read = |p: &Path| -> Result<Vec<u8>, Problem> {
            let (mw, mh, v) =
                indices(p).map_err(|e| Problem::new(ProblemKind::CorruptImage, p, e))?;
            if (mw, mh) != (w, h) {
                let d = format!("the mask is {mw}x{mh}, the image {w}x{h}");
                return Err(Problem::new(ProblemKind::MaskSizeMismatch, p, d));
            }
            Ok(v)
        };
        let (obj, cls) = match (read(&obj_png), read(&cls_png)) {
            (Ok(o), Ok(c)) => (o, c),
            (Err(p), _) | (_, Err(p)) => {
                log.bad(p, Skipped::Image)?;
                continue;
            }
        };
        // instance id -> (class index -> pixel count)
        let mut votes: BTreeMap<u8, BTreeMap<u8, u64>> = BTreeMap::new();
        for (&o, &c) in obj.iter().zip(&cls) {
            if o != 0 && o != 255 {
                *votes.entry(o).or_default().entry(c).or_default() += 1;
            }
        }
        let mut instances = Vec::new();
        for (id, v) in votes {
            let (&c, _) = v
                .iter()
                .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
                .expect("counted");
            let named = match &opts.label_map {
                Some(lm) => lm.iter().find(|l| l.id == c as u32).map(|l| l.name.clone()),
                None => VOC_CLASSES
                    .get((c as usize).wrapping_sub(1))
                    .map(|s| s.to_string()),
            };
            let name = match named {
                Some(n) => n,
                None => {
                    let d = format!(
                        "instance {id} has class index {c} in {}, which is not a VOC class \
                         (1..20) nor in the label map; give a label map naming the indices",
                        cls_png.display()
                    );
                    log.bad(
                        Problem::new(ProblemKind::UnknownClass, &obj_png, d)
                            .annotation(id as usize),
                        Skipped::Annotation,
                    )?;
                    continue;
                }
            };
            let m: Vec<u8> = obj.iter().map(|&o| (o == id) as u8).collect();
            instances.push(LabelledInstance {
                class: name,
                mask: Rle::encode(&m, h, w),
                iscrowd: false,
            });
        }
        out.push(Labelled {
            file_name: super::rel_name(&image, root),
            path: image,
            width: w,
            height: h,
            instances,
            origin: obj_png,
            is_val,
        });
    }
    let notes = note(
        "image(s) with masks but in neither ImageSets/Segmentation/train.txt nor val.txt, left \
         out",
        &unlisted,
    )
    .into_iter()
    .collect();
    Ok(ToolRead {
        images: out,
        declared: match &opts.label_map {
            Some(_) => Vec::new(),
            None => VOC_CLASSES.iter().map(|s| s.to_string()).collect(),
        },
        notes,
    })
}
