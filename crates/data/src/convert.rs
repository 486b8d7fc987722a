//! `mrcnn convert`: read one format, write another.
//!
//! Output folder layout: COCO → `<out>/<split>.json` + `<out>/images/<file_name>`;
//! TFRecord → `<out>/<split>.tfrecord` (or `-0000i-of-0000N` shards).
//! Both also get `<out>/label_map.pbtxt` and `<out>/label_map.toml`.

use std::path::PathBuf;

use crate::error::{DataError, ProblemLog, Report};
use crate::input::{Format, InputArgs, read_input};

/// Arguments of `mrcnn convert`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct ConvertArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Output format (coco or tfrecord).
    #[arg(long, value_enum)]
    pub to: Format,
    /// Output folder.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// TFRecord shards per split.
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
}

pub fn run_convert(args: &ConvertArgs) -> Result<Report, DataError> {
    if args.to == Format::MaskFolder {
        return Err(DataError::Args(
            "--to mask-folder is not supported (use coco or tfrecord)".into(),
        ));
    }
    if args.shards == 0 {
        return Err(DataError::Args("--shards must be ≥ 1".into()));
    }
    let mut log = ProblemLog::new(args.input.on_bad_sample);
    let mut report = Report::default();
    let splits = read_input(&args.input, &mut log, &mut report.lines)?;
    std::fs::create_dir_all(&args.out).map_err(|e| DataError::io(&args.out, e))?;
    let mut cats = None;
    for s in &splits {
        let n_inst: usize = s.dataset.images.iter().map(|i| i.annotations.len()).sum();
        match args.to {
            Format::Coco => {
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
