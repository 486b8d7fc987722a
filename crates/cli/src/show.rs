//! `mrcnn dataset show`: contact sheets of some images with their ground truth drawn (masks,
//! boxes, class names) and a bar chart of instances per class, to see at a glance whether the
//! classes, the masks and the photos' orientation are what the training will see.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use image::imageops::FilterType;
use mrcnn_coco::MaskCrop;
use mrcnn_data::{ProblemLog, Report, Skipped, dataset_stats, load_sample, read_input};
use mrcnn_draw::{OverlayItem, bar_chart, contact_sheet, fit, overlay, write_png};

use crate::data_cmds::InputArgs;

/// Side of a sheet's square cell, in pixels.
const CELL: u32 = 320;

/// `mrcnn dataset show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Folder for the sheets (`sheet-01.png`, ...) and `classes.png`.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// How many images to draw, picked with --seed from all splits.
    #[arg(long, default_value_t = 12)]
    pub count: usize,
    /// Images per sheet (3 per row).
    #[arg(long, default_value_t = 6)]
    pub per_sheet: usize,
}

pub fn show(a: &ShowArgs) -> Result<Report> {
    if a.count == 0 || a.per_sheet == 0 {
        anyhow::bail!("--count and --per-sheet must be at least 1");
    }
    let opts = a.input.options()?;
    let mut log = ProblemLog::new(opts.on_bad_sample);
    let mut report = Report::default();
    let splits = read_input(&opts, &mut log, &mut report.lines)?;
    if a.out.is_file() {
        anyhow::bail!("output {}: is a file, expected a folder", a.out.display());
    }
    std::fs::create_dir_all(&a.out).with_context(|| a.out.display().to_string())?;

    let all: Vec<(usize, usize)> = splits
        .iter()
        .enumerate()
        .flat_map(|(s, sp)| (0..sp.dataset.images.len()).map(move |i| (s, i)))
        .collect();
    let picked = mrcnn_data::annotations::seeded_pick(all.len(), a.count, opts.split_seed);
    let mut cells = Vec::new();
    for k in picked {
        let (s, i) = all[k];
        let ds = &splits[s].dataset;
        let rec = &ds.images[i];
        let sample = match load_sample(rec) {
            Ok(x) => x,
            Err(p) => {
                log.bad(p, Skipped::Image)?;
                continue;
            }
        };
        // Drawn at the sheet's scale, so that captions and outlines are readable on small
        // images and not blurred on large ones.
        let (w0, h0) = sample.image.dimensions();
        let (w, h, f, filter) = fit(w0, h0, CELL, f64::INFINITY);
        let image = image::imageops::resize(&sample.image, w, h, filter);
        let crops: Vec<MaskCrop> = sample
            .masks
            .iter()
            .map(|m| MaskCrop {
                x: 0,
                y: 0,
                width: w,
                height: h,
                data: image::imageops::resize(m, w, h, FilterType::Nearest).into_raw(),
            })
            .collect();
        let items: Vec<OverlayItem> = crops
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let name = ds
                    .category(sample.labels[j])
                    .map_or("?".to_string(), |c| c.name.clone());
                let crowd = if sample.iscrowd[j] { " (crowd)" } else { "" };
                OverlayItem {
                    bbox: sample.boxes[j].map(|v| (v as f64 * f) as f32),
                    caption: format!("{name}{crowd}"),
                    mask: Some(m),
                }
            })
            .collect();
        let caption = format!(
            "{}: {} ({})",
            splits[s].name,
            rec.file_name,
            sample.masks.len()
        );
        cells.push((overlay(&image, &items), caption));
    }
    for (n, chunk) in cells.chunks(a.per_sheet).enumerate() {
        let path = a.out.join(format!("sheet-{:02}.png", n + 1));
        write_png(&path, &contact_sheet(chunk, 3, CELL))?;
        report
            .lines
            .push(format!("{}: {} image(s)", path.display(), chunk.len()));
    }
    let mut per_class: Vec<(String, u64)> = Vec::new();
    for sp in &splits {
        for (name, n) in dataset_stats(&sp.dataset).per_class {
            match per_class.iter_mut().find(|(c, _)| *c == name) {
                Some(e) => e.1 += n as u64,
                None => per_class.push((name, n as u64)),
            }
        }
    }
    let path = a.out.join("classes.png");
    write_png(&path, &bar_chart("instances per class", &per_class))?;
    report.lines.push(format!(
        "{}: {} class(es): {}",
        path.display(),
        per_class.len(),
        per_class
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    report.add_log(log);
    Ok(report)
}
