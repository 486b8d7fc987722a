//! `mrcnn predict`: run a model on an image or a folder of images, write COCO results JSON
//! (bbox as x, y, w, h; segmentation as compressed RLE), and optionally PNG overlays.

use crate::{device, images, visualize};
use anyhow::{Context, Result};
use clap::Args;
use mrcnn_core::ModelConfig;
use mrcnn_eval::rle::Rle;
use mrcnn_model::{MaskRcnn, load_torchvision_weights};
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// Model config TOML (model_configs/...).
    #[arg(long)]
    pub model_config: PathBuf,
    /// Weights: torchvision-layout .safetensors or .pth.
    #[arg(long)]
    pub weights: PathBuf,
    /// An image file or a folder of images.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the COCO results JSON.
    #[arg(long)]
    pub output: PathBuf,
    /// cpu or wgpu.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Keep detections with at least this score (the model's own threshold applies first).
    #[arg(long, default_value_t = 0.0)]
    pub score_threshold: f32,
    /// Folder for PNG overlays.
    #[arg(long)]
    pub visualize: Option<PathBuf>,
    /// A COCO ground-truth JSON whose image ids (matched by file name) and category ids (label k
    /// = k-th category by id) the results should use, so `mrcnn eval` can score them.
    #[arg(long)]
    pub coco_gt: Option<PathBuf>,
}

/// Image and category ids taken from a COCO ground truth.
struct GtIds {
    images: Vec<(PathBuf, usize)>,
    categories: Vec<usize>,
}

impl GtIds {
    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", path.display()))?;
        let field = |k: &str| {
            v[k].as_array().with_context(|| {
                format!(
                    "{}: no \"{k}\" list; is this a COCO instances file?",
                    path.display()
                )
            })
        };
        let mut images = Vec::new();
        for (i, im) in field("images")?.iter().enumerate() {
            let (Some(f), Some(id)) = (im["file_name"].as_str(), im["id"].as_u64()) else {
                anyhow::bail!("{}: images[{i}] needs file_name and id", path.display());
            };
            images.push((PathBuf::from(f), id as usize));
        }
        let mut categories: Vec<usize> = field("categories")?
            .iter()
            .filter_map(|c| c["id"].as_u64())
            .map(|c| c as usize)
            .collect();
        categories.sort_unstable();
        Ok(Self { images, categories })
    }

    /// The id of the ground-truth image whose file name `path` ends with.
    fn image_id(&self, path: &Path) -> Option<usize> {
        self.images
            .iter()
            .find(|(f, _)| path.ends_with(f))
            .map(|(_, id)| *id)
    }
}

/// One COCO result record.
#[derive(Serialize)]
struct ResultRecord {
    image_id: usize,
    file_name: String,
    category_id: usize,
    bbox: [f32; 4],
    score: f32,
    segmentation: Segmentation,
}

#[derive(Serialize)]
struct Segmentation {
    size: [u32; 2],
    counts: String,
}

pub fn run(a: &PredictArgs) -> Result<()> {
    let cfg = ModelConfig::load(&a.model_config)?;
    let dev = device::parse_device(&a.device)?;
    let files = images::list_images(&a.input)?;
    let model = MaskRcnn::new(cfg, &dev)?;
    let model = load_torchvision_weights(model, &a.weights)?;
    if let Some(dir) = &a.visualize {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let gt = a.coco_gt.as_deref().map(GtIds::load).transpose()?;
    let thr = model.config.mask_head.mask_threshold;
    let mut records = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let img = images::load_rgb(path)?;
        let pred = model
            .predict(&[images::to_input(&img)])
            .pop()
            .context("the model returned no prediction")?;
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
            None => i + 1,
        };
        let mut kept = mrcnn_model::Prediction {
            height: pred.height,
            width: pred.width,
            ..Default::default()
        };
        for d in 0..pred.boxes.len() {
            if pred.scores[d] < a.score_threshold {
                continue;
            }
            let b = pred.boxes[d];
            let bin: Vec<u8> = pred.masks[d].iter().map(|&p| u8::from(p >= thr)).collect();
            let rle = Rle::encode(&bin, pred.height as u32, pred.width as u32);
            records.push(ResultRecord {
                image_id,
                file_name: file_name.clone(),
                category_id: match &gt {
                    Some(g) => *g.categories.get(pred.labels[d] - 1).with_context(|| {
                        format!(
                            "label {} has no category in the --coco-gt file",
                            pred.labels[d]
                        )
                    })?,
                    None => pred.labels[d],
                },
                bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                score: pred.scores[d],
                segmentation: Segmentation {
                    size: [rle.h, rle.w],
                    counts: rle.to_compressed(),
                },
            });
            kept.boxes.push(b);
            kept.labels.push(pred.labels[d]);
            kept.scores.push(pred.scores[d]);
            kept.masks.push(pred.masks[d].clone());
        }
        eprintln!("{}: {} detections", path.display(), kept.boxes.len());
        if let Some(dir) = &a.visualize {
            let names = |l: usize| model.config.class_name(l);
            let out = visualize::overlay(&img, &kept, thr, &names);
            let dst = dir.join(Path::new(&file_name).with_extension("png"));
            out.save(&dst)
                .with_context(|| format!("cannot write overlay {}", dst.display()))?;
        }
    }
    let json = serde_json::to_string(&records)?;
    write_atomic(&a.output, json.as_bytes())?;
    eprintln!(
        "wrote {} detections for {} images to {}",
        records.len(),
        files.len(),
        a.output.display()
    );
    Ok(())
}

/// Writes through a temporary file and a rename, so a crash never leaves a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
