//! `mrcnn eval --config EXP.toml [--weights W] [--device D]`: runs the model on the experiment's
//! validation set and writes, into `<output_dir>/eval/` (or `--out`): `metrics.json`, the COCO
//! results `results.json`, `pr_curves_{bbox,segm}.png` (precision-recall per class at IoU 0.5 and
//! 0.75) and prediction overlays `overlays/*.png`; prints the COCO and per-class tables.

use crate::eval::EvalArgs;
use crate::visualize;
use anyhow::{Context, Result, bail};
use mrcnn_core::ModelConfig;
use mrcnn_model::{MaskRcnn, load_torchvision_weights};
use mrcnn_train::data::{load_sets, on_bad_sample};
use mrcnn_train::evaluate::evaluate_model;
use mrcnn_train::run::{model_config, parse_device};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn run(a: &EvalArgs, config: &Path) -> Result<()> {
    let mut sets = a.sets.clone();
    if let Some(d) = &a.device {
        sets.push(format!("device=\"{d}\""));
        sets.push("devices=[]".into());
    }
    let exp = mrcnn_config::load_experiment(config, &sets)?;
    let sets = load_sets(&exp)?;
    let Some(val) = sets.val else {
        bail!(
            "{}: the experiment has no validation set; set dataset.val (coco, tfrecord) or \
             dataset.mask_folder.val_folders / val_fraction (mask-folder)",
            config.display()
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
    let weights: PathBuf = match &a.weights {
        Some(w) => w.clone(),
        None => {
            let w = run_dir.join("model_final.safetensors");
            if !w.is_file() {
                bail!(
                    "no weights: {} does not exist; train first (mrcnn train --config {}) or pass --weights",
                    w.display(),
                    config.display()
                );
            }
            w
        }
    };
    // A data-parallel experiment evaluates on its main device.
    let device = parse_device(&exp.train_devices()[0])?;
    let model = load_torchvision_weights(MaskRcnn::new(cfg, &device)?, &weights)?;
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
        on_bad_sample(&exp.dataset),
        exp.eval.overlays,
    )
    .map_err(anyhow::Error::msg)?;
    let out = a.out.clone().unwrap_or_else(|| run_dir.join("eval"));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    for r in [&ev.bbox, &ev.segm] {
        println!("{}", r.table());
        println!("{}", mrcnn_eval::report::per_class_table(r));
    }
    let s = &ev.segm.simple;
    println!(
        "masks at IoU 0.5: precision {:.3}, recall {:.3}, mean IoU of matches {:.3}",
        s.precision, s.recall, s.mean_iou
    );
    mrcnn_eval::report::write_metrics_json(
        &out.join("metrics.json"),
        &[ev.bbox.clone(), ev.segm.clone()],
    )?;
    let results = mrcnn_eval::dataset::results_to_json(&ev.detections);
    crate::predict::write_atomic(&out.join("results.json"), results.to_string().as_bytes())?;
    mrcnn_eval::pr_curves::pr_curves_png(&out.join("pr_curves_bbox.png"), &ev.bbox)?;
    mrcnn_eval::pr_curves::pr_curves_png(&out.join("pr_curves_segm.png"), &ev.segm)?;
    if !ev.kept.is_empty() {
        let dir = out.join("overlays");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let thr = model.config.mask_head.mask_threshold;
        for (idx, pred) in &ev.kept {
            let rec = &val.images[*idx];
            let sample = mrcnn_data::load_sample(rec).map_err(|p| anyhow::anyhow!("{p}"))?;
            let mut kept = mrcnn_model::Prediction {
                height: pred.height,
                width: pred.width,
                ..Default::default()
            };
            for d in 0..pred.boxes.len() {
                if pred.scores[d] >= exp.eval.score_threshold {
                    kept.boxes.push(pred.boxes[d]);
                    kept.labels.push(pred.labels[d]);
                    kept.scores.push(pred.scores[d]);
                    kept.masks.push(pred.masks[d].clone());
                }
            }
            let names = |l: usize| model.config.class_name(l);
            let img = visualize::overlay(&sample.image, &kept, thr, &names);
            let stem = Path::new(&rec.file_name)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("image_{}", rec.id));
            let dst = dir.join(format!("{stem}.png"));
            img.save(&dst)
                .with_context(|| format!("cannot write overlay {}", dst.display()))?;
        }
    }
    println!(
        "box AP {:.3} AP50 {:.3} | mask AP {:.3} AP50 {:.3}; wrote {}",
        ev.bbox.stats[0],
        ev.bbox.stats[1],
        ev.segm.stats[0],
        ev.segm.stats[1],
        out.display()
    );
    Ok(())
}
