//! `mrcnn convert`: read one format, write another.
//!
//! Output folder layout: COCO → `<out>/<split>.json` + `<out>/images/<file_name>`;
//! TFRecord → `<out>/<split>.tfrecord` (or `-0000i-of-0000N` shards).
//! Both also get `<out>/label_map.pbtxt` and `<out>/label_map.toml`.

use std::path::PathBuf;

use mrcnn_config::DatasetFormat;

use crate::error::{DataError, ProblemLog, Report};
use crate::input::{InputOptions, read_input};
use crate::model::{Dataset, ImageSource};

/// What `convert` reads and writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertOptions {
    pub input: InputOptions,
    /// Output format: coco or tfrecord.
    pub to: DatasetFormat,
    /// Output folder.
    pub out: PathBuf,
    /// TFRecord shards per split (at least 1).
    pub shards: usize,
}

/// Reads the input and writes it in the output format; the report lists the files and what was
/// skipped.
pub fn convert(args: &ConvertOptions) -> Result<Report, DataError> {
    if args.to == DatasetFormat::MaskFolder {
        return Err(DataError::Options(
            "writing mask folders is not supported (convert to coco or tfrecord)".into(),
        ));
    }
    if args.shards == 0 {
        return Err(DataError::Options(
            "0 TFRecord shards: give at least 1".into(),
        ));
    }
    let mut log = ProblemLog::new(args.input.on_bad_sample);
    let mut report = Report::default();
    let mut splits = read_input(&args.input, &mut log, &mut report.lines)?;
    // Every image is decoded on the way: an undecodable, truncated or mis-sized image must not
    // reach the output, where it would fail (or silently mislead) a training run later.
    for s in &mut splits {
        crate::sample::keep_decodable(&mut s.dataset, &mut log)?;
    }
    for s in &mut splits {
        bake_orientation(&mut s.dataset)?;
    }
    if args.out.is_file() {
        return Err(DataError::Options(format!(
            "output {}: is a file, expected a folder",
            args.out.display()
        )));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| DataError::io(&args.out, e))?;
    let mut cats = None;
    for s in &splits {
        let n_inst: usize = s.dataset.images.iter().map(|i| i.annotations.len()).sum();
        match args.to {
            DatasetFormat::Coco => {
                let json = args.out.join(format!("{}.json", s.name));
                crate::coco::write_coco(&s.dataset, &json, Some(&args.out.join("images")))?;
                report.lines.push(format!(
                    "{}: {} images, {n_inst} instances",
                    json.display(),
                    s.dataset.images.len()
                ));
            }
            _ => {
                let prefix = args.out.join(format!("{}.tfrecord", s.name));
                let files = crate::tfrecord::write_tfrecords(&s.dataset, &prefix, args.shards)?;
                report.lines.push(format!(
                    "{} ({} file(s)): {} images, {n_inst} instances",
                    prefix.display(),
                    files.len(),
                    s.dataset.images.len()
                ));
            }
        }
        cats.get_or_insert(s.dataset.categories.clone());
    }
    if let Some(c) = cats {
        for name in ["label_map.pbtxt", "label_map.toml"] {
            crate::labelmap::write_label_map(&args.out.join(name), &c)?;
        }
    }
    report.add_log(log);
    Ok(report)
}

/// Photos read with their EXIF orientation applied are written upright: their annotations are
/// drawn on the rotated view, and COCO and TFRecord readers (pycocotools, TensorFlow, and ours
/// with their default `exif = "ignore"`) use the stored pixels. Such an image is re-encoded as
/// PNG (lossless) with the orientation applied, and its name gets the `.png` extension; images
/// without a tag are written as they are.
fn bake_orientation(ds: &mut Dataset) -> Result<(), DataError> {
    for img in &mut ds.images {
        if !img.apply_exif {
            continue;
        }
        img.apply_exif = false;
        let bytes = img.source.read_bytes()?;
        let name = img.source.describe();
        let oriented = crate::image_info::image_info(&bytes).is_ok_and(|i| i.orientation != 1);
        if !oriented {
            continue;
        }
        let rgb = crate::image_info::decode_rgb(&bytes, true)
            .map_err(|e| DataError::format(&name, e.to_string()))?;
        let mut png = Vec::new();
        rgb.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| DataError::format(&name, e.to_string()))?;
        img.source = ImageSource::Encoded {
            bytes: png,
            format: "png".into(),
            origin: format!("{name} (EXIF orientation applied)"),
        };
        let stem = img
            .file_name
            .rsplit_once('.')
            .map_or(img.file_name.as_str(), |(s, _)| s);
        img.file_name = format!("{stem}.png");
    }
    Ok(())
}
