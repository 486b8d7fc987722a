//! `mrcnn predict`: run a model on an image or a folder of images, write COCO results JSON
//! (bbox as x, y, w, h; segmentation as compressed RLE), and optionally PNG overlays.

use crate::{images, names, overlays};
use anyhow::{Context, Result, bail};
use clap::Args;
use mrcnn_coco::{Instances, ResultRecord};
use mrcnn_config::{ExifPolicy, OnBadSample, WeightsFormat};
use mrcnn_model::{Detector, ImageInput, Predict};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model config TOML (model_configs/...).
    #[arg(long)]
    pub model_config: PathBuf,
    /// Weights: torchvision-layout .safetensors or .pth, a Detectron2 .pkl, or (with
    /// --weights-format mmdet) an MMDetection .pth.
    #[arg(long)]
    pub weights: PathBuf,
    /// Layout of --weights: auto (by extension), torchvision, detectron2 or mmdet.
    #[arg(long, default_value = "auto", value_parser = names::<WeightsFormat>(WeightsFormat::NAMES))]
    pub weights_format: WeightsFormat,
    /// An image file or a folder of images.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the COCO results JSON.
    #[arg(long)]
    pub output: PathBuf,
    /// cpu, wgpu, wgpu:N, wgpu:integrated:N, wgpu:virtual:N or wgpu:cpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Keep detections with at least this score, in [0, 1] (the model's own threshold applies
    /// first).
    #[arg(long, default_value_t = 0.0)]
    pub score_threshold: f32,
    /// Folder for PNG overlays.
    #[arg(long)]
    pub visualize: Option<PathBuf>,
    /// A COCO ground-truth JSON whose image ids (matched by file name) and category ids (label k
    /// = k-th category by id) the results should use, so `mrcnn eval` can score them.
    #[arg(long)]
    pub coco_gt: Option<PathBuf>,
    /// EXIF orientation of photos: apply (predict on the image as a photo viewer shows it;
    /// boxes and masks are in that frame) or ignore (the stored pixels), as in training's
    /// `dataset.exif`.
    #[arg(long, default_value = "apply", value_parser = names::<ExifPolicy>(ExifPolicy::NAMES))]
    pub exif: ExifPolicy,
    /// An image that cannot be read: error (stop) or skip (name it and go on).
    #[arg(long, default_value = "error", value_parser = names::<OnBadSample>(OnBadSample::NAMES))]
    pub on_bad_sample: OnBadSample,
}

/// Image and category ids taken from a COCO ground truth.
struct GtIds {
    images: Vec<(PathBuf, i64)>,
    categories: Vec<i64>,
}

impl GtIds {
    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let gt = Instances::from_json_str(&text).map_err(|e| e.in_file(path))?;
        let mut images = Vec::new();
        for (i, im) in gt.images.into_iter().enumerate() {
            let Some(f) = im.file_name else {
                bail!("{}: images[{i}] needs a file_name", path.display());
            };
            images.push((PathBuf::from(f), im.id));
        }
        let mut categories: Vec<i64> = gt.categories.iter().map(|c| c.id).collect();
        categories.sort_unstable();
        Ok(Self { images, categories })
    }

    /// The id of the ground-truth image whose file name `path` ends with.
    fn image_id(&self, path: &Path) -> Option<i64> {
        self.images
            .iter()
            .find(|(f, _)| path.ends_with(f))
            .map(|(_, id)| *id)
    }
}

pub fn run(a: &PredictArgs) -> Result<()> {
    let t = a.score_threshold;
    if !(0.0..=1.0).contains(&t) {
        bail!("--score-threshold {t}: give a score in [0, 1]");
    }
    if let Some(dir) = &a.visualize
        && dir.is_file()
    {
        bail!(
            "--visualize {}: is a file, expected a folder",
            dir.display()
        );
    }
    if a.output.is_dir() {
        bail!(
            "--output {}: is a folder, expected a file name",
            a.output.display()
        );
    }
    let dev = mrcnn_core::device_by_name(&a.device)?;
    let files = images::list_images(&a.input)?;
    let gt = a.coco_gt.as_deref().map(GtIds::load).transpose()?;
    let cfg = mrcnn_config::ModelConfig::load(&a.model_config)?;
    let model = Detector::load(cfg, &a.weights, a.weights_format, &dev)?;
    if let Some(dir) = &a.visualize {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let img = match images::load_rgb(path, a.exif == ExifPolicy::Apply) {
            Ok(img) => img,
            Err(e) if a.on_bad_sample == OnBadSample::Skip => {
                eprintln!("skipped: {e:#}");
                skipped.push(path.clone());
                continue;
            }
            Err(e) => {
                return Err(e.context("use --on-bad-sample skip to go on without such images"));
            }
        };
        let mut pred = model
            .predict(&[ImageInput::from_rgb(&img)])
            .pop()
            .context("the model returned no prediction")?;
        pred.retain_scores(|s| s >= t);
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let image_id = match &gt {
            Some(g) => g.image_id(path).with_context(|| {
                format!(
                    "{}: no image with this file name in the --coco-gt file",
                    path.display()
                )
            })?,
            None => i as i64 + 1,
        };
        let category_of = |label: usize| -> Option<i64> {
            match &gt {
                Some(g) => g.categories.get(label.wrapping_sub(1)).copied(),
                None => Some(label as i64),
            }
        };
        if let Some(l) = pred.labels.iter().find(|&&l| category_of(l).is_none()) {
            bail!("label {l} has no category in the --coco-gt file");
        }
        for d in pred.to_coco(image_id, category_of) {
            let mut r: ResultRecord = d.to_record();
            r.file_name = Some(file_name.clone());
            records.push(r);
        }
        eprintln!("{}: {} detections", path.display(), pred.len());
        if let Some(dir) = &a.visualize {
            let names = |l: usize| model.config().class_name(l);
            let out = overlays::draw(&img, &pred, 0.0, &names);
            let dst = dir.join(Path::new(&file_name).with_extension("png"));
            mrcnn_draw::write_png(&dst, &out)?;
        }
    }
    let json = serde_json::to_string(&records)?;
    mrcnn_coco::files::write_atomic(&a.output, json.as_bytes())
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    eprintln!(
        "wrote {} detections for {} images to {}",
        records.len(),
        files.len() - skipped.len(),
        a.output.display()
    );
    if !skipped.is_empty() {
        eprintln!(
            "skipped {} unreadable image(s): {}",
            skipped.len(),
            skipped
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}
