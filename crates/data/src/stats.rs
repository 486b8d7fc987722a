//! `mrcnn dataset stats`: counts, sizes and problems of a dataset.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{DataError, ProblemLog, Report};
use crate::input::{InputOptions, read_input};
use crate::model::Dataset;

/// What `dataset stats` reads.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatsOptions {
    pub input: InputOptions,
    /// Decode every image and mask (finds corrupt files; slower).
    pub check_images: bool,
}

/// Statistics of one split.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct DatasetStats {
    pub images: usize,
    pub instances: usize,
    pub empty_images: usize,
    pub crowd_instances: usize,
    /// Class name → instance count (every class listed, also with 0).
    pub per_class: BTreeMap<String, usize>,
    /// COCO size buckets by mask area: < 32², < 96², larger.
    pub small: usize,
    pub medium: usize,
    pub large: usize,
    pub min_size: Option<(u32, u32)>,
    pub max_size: Option<(u32, u32)>,
    /// (width, height) → images.
    pub sizes: BTreeMap<(u32, u32), usize>,
    /// Images with an EXIF orientation tag other than 1: "file (orientation 6, applied)".
    pub exif_rotated: Vec<String>,
    /// Images not stored as 8-bit RGB, converted on decoding: "file: 16-bit grayscale".
    pub converted: Vec<String>,
}

pub fn dataset_stats(ds: &Dataset) -> DatasetStats {
    let mut s = DatasetStats {
        images: ds.images.len(),
        per_class: ds.categories.iter().map(|c| (c.name.clone(), 0)).collect(),
        ..Default::default()
    };
    for img in &ds.images {
        *s.sizes.entry((img.width, img.height)).or_default() += 1;
        let px = img.width as u64 * img.height as u64;
        if s.min_size.is_none_or(|(w, h)| px < w as u64 * h as u64) {
            s.min_size = Some((img.width, img.height));
        }
        if s.max_size.is_none_or(|(w, h)| px > w as u64 * h as u64) {
            s.max_size = Some((img.width, img.height));
        }
        if img.annotations.is_empty() {
            s.empty_images += 1;
        }
        for a in &img.annotations {
            s.instances += 1;
            s.crowd_instances += a.iscrowd as usize;
            if let Some(c) = ds.category(a.category) {
                *s.per_class.entry(c.name.clone()).or_default() += 1;
            }
            match a.mask.area() {
                x if x < 32 * 32 => s.small += 1,
                x if x < 96 * 96 => s.medium += 1,
                _ => s.large += 1,
            }
        }
    }
    s
}

impl fmt::Display for DatasetStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  images: {} ({} without instances)",
            self.images, self.empty_images
        )?;
        writeln!(
            f,
            "  instances: {} ({} crowd; {} small, {} medium, {} large)",
            self.instances, self.crowd_instances, self.small, self.medium, self.large
        )?;
        for (name, n) in &self.per_class {
            writeln!(f, "    {name}: {n}")?;
        }
        if !self.exif_rotated.is_empty() {
            writeln!(f, "  EXIF-rotated images: {}", self.exif_rotated.len())?;
            for r in &self.exif_rotated {
                writeln!(f, "    {r}")?;
            }
        }
        if !self.converted.is_empty() {
            writeln!(
                f,
                "  images converted to 8-bit RGB: {}",
                self.converted.len()
            )?;
            for c in &self.converted {
                writeln!(f, "    {c}")?;
            }
        }
        if let (Some(a), Some(b)) = (self.min_size, self.max_size) {
            writeln!(
                f,
                "  image sizes: {} distinct, smallest {}x{}, largest {}x{}",
                self.sizes.len(),
                a.0,
                a.1,
                b.0,
                b.1
            )?;
        }
        Ok(())
    }
}

/// Reads every image's header: the EXIF-rotated and the converted images, by name. A header
/// that does not read is left to the decoding check (`check_images`) and the loader.
pub fn image_kinds(ds: &Dataset, s: &mut DatasetStats) {
    for img in &ds.images {
        let info = match &img.source {
            crate::model::ImageSource::File(p) => crate::image_info::image_info_file(p).ok(),
            crate::model::ImageSource::Encoded { bytes, .. } => {
                Some(crate::image_info::image_info(bytes))
            }
        };
        let Some(Ok(info)) = info else {
            continue;
        };
        let name = img.source.describe();
        if info.orientation != 1 {
            let how = if img.apply_exif {
                "applied"
            } else {
                "not applied: dataset.exif = \"ignore\""
            };
            s.exif_rotated
                .push(format!("{name} (orientation {}, {how})", info.orientation));
        }
        if let Some(from) = info.converted_from {
            s.converted.push(format!("{name}: {from}"));
        }
    }
}

/// Read the input, optionally decode every sample, and report statistics per split.
pub fn stats(args: &StatsOptions) -> Result<Report, DataError> {
    let mut log = ProblemLog::new(args.input.on_bad_sample);
    let mut report = Report::default();
    let splits = read_input(&args.input, &mut log, &mut report.lines)?;
    for s in &splits {
        let mut ds = s.dataset.clone();
        if args.check_images {
            crate::sample::keep_decodable(&mut ds, &mut log)?;
        }
        let mut st = dataset_stats(&ds);
        image_kinds(&ds, &mut st);
        report
            .lines
            .push(format!("{}:\n{st}", s.name).trim_end().to_string());
    }
    report.add_log(log);
    Ok(report)
}
