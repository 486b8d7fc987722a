//! `mrcnn eval --config EXP.toml [--weights W] [--device D]`: runs the model on the experiment's
//! validation set and writes, into `<output_dir>/eval/` (or `--out`): `metrics.json`, the COCO
//! results `results.json`, `pr_curves_{bbox,segm}.png` (precision-recall per class at IoU 0.5 and
//! 0.75) and prediction overlays `overlays/*.png`; prints the COCO and per-class tables.

use crate::{outln, overlays};
use anyhow::{Context, Result, bail};
use mrcnn_config::{ModelConfig, WeightsFormat};
use mrcnn_model::Detector;
use mrcnn_train::data::load_sets;
use mrcnn_train::evaluate::evaluate_model;
use mrcnn_train::run::model_config;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What `--config` evaluates.
pub struct ModelEval<'a> {
    pub config: &'a Path,
    pub sets: &'a [String],
    pub weights: Option<&'a Path>,
    pub out: Option<&'a Path>,
}

pub fn run(a: &ModelEval) -> Result<()> {
    let exp = mrcnn_config::load_experiment(a.config, a.sets)?;
    let sets = load_sets(&exp)?;
    let Some(val) = sets.val else {
        bail!(
            "{}: the experiment has no validation set; set dataset.val (coco, tfrecord) or \
             dataset.mask_folder.val_folders / val_fraction (mask-folder)",
            a.config.display()
        );
    };
    let run_dir = &exp.output_dir;
    // The architecture the run trained (classes included), else the one the experiment implies.
    let trained = run_dir.join("model.toml");
    let cfg = if trained.is_file() {
        ModelConfig::load(&trained)?
    } else {
        model_config(&exp, &val)?
    };
    let weights: PathBuf = match a.weights {
        Some(w) => w.to_path_buf(),
        None => {
            let w = run_dir.join("model_final.safetensors");
            if !w.is_file() {
                bail!(
                    "no weights: {} does not exist; train first (mrcnn train --config {}) or pass --weights",
                    w.display(),
                    a.config.display()
                );
            }
            w
        }
    };
    // A data-parallel experiment evaluates on its main device.
    let device = mrcnn_core::device_by_name(&exp.train_devices()[0])?;
    let model = Detector::load(cfg, &weights, WeightsFormat::Auto, &device)?;
    let val = Arc::new(val);
    eprintln!(
        "evaluating {} on {} validation images",
        weights.display(),
        exp.eval
            .max_images
            .map_or(val.images.len(), |m| m.min(val.images.len()))
    );
    let ev = evaluate_model(
        &model,
        &val,
        exp.eval.max_images,
        exp.solver.images_per_batch,
        exp.loader.workers,
        exp.dataset.on_bad_sample,
        exp.eval.overlays,
    )?;
    let out = a
        .out
        .map_or_else(|| run_dir.join("eval"), Path::to_path_buf);
    if out.is_file() {
        bail!("--out {}: is a file, expected a folder", out.display());
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    for r in [&ev.bbox, &ev.segm] {
        outln!("{}", r.table());
        outln!("{}", mrcnn_eval::report::per_class_table(r));
    }
    let s = &ev.segm.simple;
    outln!(
        "masks at IoU 0.5: precision {:.3}, recall {:.3}, mean IoU of matches {:.3}",
        s.precision,
        s.recall,
        s.mean_iou
    );
    mrcnn_eval::report::write_metrics_json(
        &out.join("metrics.json"),
        &[ev.bbox.clone(), ev.segm.clone()],
    )?;
    let results = mrcnn_coco::results_to_json(&ev.detections);
    let results_path = out.join("results.json");
    mrcnn_coco::files::write_atomic(&results_path, results.as_bytes())
        .with_context(|| format!("cannot write {}", results_path.display()))?;
    mrcnn_draw::pr_curves::pr_curves_png(&out.join("pr_curves_bbox.png"), &ev.bbox)?;
    mrcnn_draw::pr_curves::pr_curves_png(&out.join("pr_curves_segm.png"), &ev.segm)?;
    if !ev.kept.is_empty() {
        let dir = out.join("overlays");
        for (idx, pred) in &ev.kept {
            let rec = &val.images[*idx];
            let sample = mrcnn_data::load_sample(rec).map_err(mrcnn_data::DataError::BadSample)?;
            let names = |l: usize| model.config().class_name(l);
            let img = overlays::draw(&sample.image, pred, exp.eval.score_threshold, &names);
            let stem = Path::new(&rec.file_name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("image_{}", rec.id));
            mrcnn_draw::write_png(&dir.join(format!("{stem}.png")), &img)?;
        }
    }
    outln!(
        "box AP {:.3} AP50 {:.3} | mask AP {:.3} AP50 {:.3}; wrote {}",
        ev.bbox.stats[0],
        ev.bbox.stats[1],
        ev.segm.stats[0],
        ev.segm.stats[1],
        out.display()
    );
    Ok(())
}
