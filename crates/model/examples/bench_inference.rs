//! Per-image inference time of Mask R-CNN ResNet-101-FPN on flex (or wgpu), on the very weights
//! and image that `tools/reference/bench_torchvision.py --save-weights DIR` timed in PyTorch.
//!
//! ```sh
//! python3 tools/reference/bench_torchvision.py --size 800x1216 --box-score-thresh 0 --save-weights /tmp/bench
//! cargo build --release --workspace --example bench_inference
//! ./target/release/examples/bench_inference /tmp/bench 800x1216 [cpu|wgpu] [repeats]
//! ```
//! Prints one JSON line: median seconds over the repeats after one warm-up, detections, peak RSS.

use mrcnn_config::ModelConfig;
use mrcnn_model::{ImageInput, MaskRcnn, load_torchvision_weights};
use mrcnn_testing::Fixture;
use std::path::Path;
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: bench_inference DIR HxW [cpu|wgpu] [repeats]");
        std::process::exit(2);
    }
    println!("{}", run(&args));
}

/// `args`: DIR HxW [device] [repeats]; returns the JSON line. (Also run by the GPU check's
/// binary, `crates/model/tests/gpu_check.rs`.)
pub fn run(args: &[String]) -> String {
    let dir = Path::new(&args[0]);
    let size = &args[1];
    let device_name = args.get(2).map_or("cpu", String::as_str);
    let device = mrcnn_core::device_by_name(device_name).unwrap_or_else(|e| panic!("{e}"));
    let repeats: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(3);
    let (h, w) = size
        .split_once('x')
        .map(|(a, b)| (a.parse::<usize>().unwrap(), b.parse::<usize>().unwrap()))
        .unwrap();

    // torchvision's resnet_fpn_backbone("resnet101") + MaskRCNN defaults, as the Python script
    // builds it: FrozenBatchNorm2d eps 1e-5, no resize (min/max size = the image's sides), and
    // box_score_thresh 0 so that both run the mask branch on 100 detections.
    let root =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model_configs/mask_rcnn_R_101_FPN.toml");
    let mut cfg = ModelConfig::load(&root).expect("model config");
    cfg.backbone.norm_eps = 1e-5;
    let (min, max) = if (h, w) == (800, 1216) {
        (800, 1333)
    } else {
        (h.min(w), h.max(w))
    };
    cfg.input.min_size = vec![min];
    cfg.input.max_size = max;
    cfg.roi_heads.score_thresh = 0.0;

    let model = MaskRcnn::new(cfg, &device).expect("model");
    let model = load_torchvision_weights(model, &dir.join(format!("weights_{size}.safetensors")))
        .expect("weights");
    let img = Fixture::load(&dir.join(format!("image_{size}.safetensors")));
    let input = ImageInput {
        data: img.f32("image"),
        height: h,
        width: w,
    };

    let mut times = Vec::new();
    let mut dets = 0;
    for i in 0..=repeats {
        let t0 = Instant::now();
        let p = model.predict(std::slice::from_ref(&input));
        // torchvision's time includes pasting every mask into the image: do the same work.
        let pasted: usize = (0..p[0].len())
            .map(|d| p[0].pasted_mask(d).probs.len())
            .sum();
        std::hint::black_box(pasted);
        device.sync().ok();
        let dt = t0.elapsed().as_secs_f64();
        dets = p[0].boxes.len();
        if i > 0 {
            times.push(dt);
        }
    }
    // The full-size model must give torchvision's detections: compare with what the script saved.
    let dets_path = dir.join(format!("dets_{size}.safetensors"));
    let mut agreement = "null".to_string();
    if dets_path.is_file() {
        let reference = Fixture::load(&dets_path);
        let p = model.predict(std::slice::from_ref(&input)).remove(0);
        let got: Vec<_> = (0..p.boxes.len())
            .map(|k| (p.boxes[k], p.labels[k], p.scores[k]))
            .collect();
        let eb = reference.boxes("boxes");
        let el = reference.f32("labels");
        let es = reference.f32("scores");
        let expected: Vec<_> = (0..eb.len())
            .map(|k| (eb[k], el[k] as usize, es[k]))
            .collect();
        let (missing, extra, worst) = mrcnn_testing::match_boxes(&got, &expected, 1e-2);
        let hw = h * w;
        let em = reference.f32("masks");
        let mut mask_diff = 0.0f32;
        for (k, e) in expected.iter().enumerate() {
            if let Some(j) = got
                .iter()
                .position(|g| g.1 == e.1 && (0..4).all(|c| (g.0[c] - e.0[c]).abs() <= 1e-2))
            {
                for (a, b) in p
                    .mask_probabilities(j)
                    .iter()
                    .zip(&em[k * hw..(k + 1) * hw])
                {
                    mask_diff = mask_diff.max((a - b).abs());
                }
            }
        }
        agreement = format!(
            "{{\"matched\": {}, \"of\": {}, \"max_box_diff_px\": {worst:.3e}, \"max_mask_prob_diff\": {mask_diff:.3e}}}",
            expected.len() - missing.len(),
            expected.len()
        );
        eprintln!(
            "vs torchvision: {} of {} detections match (max box diff {worst:.2e} px, max mask prob diff {mask_diff:.2e}); {} missing, {} extra",
            expected.len() - missing.len(),
            expected.len(),
            missing.len(),
            extra.len()
        );
        if !missing.is_empty() || !extra.is_empty() {
            let lowest = expected.iter().map(|e| e.2).fold(f32::MAX, f32::min);
            eprintln!("  lowest torchvision score kept: {lowest:e}");
            eprintln!(
                "  missing: {:?}",
                missing.iter().map(|m| (m.1, m.2)).collect::<Vec<_>>()
            );
            eprintln!(
                "  extra:   {:?}",
                extra.iter().map(|m| (m.1, m.2)).collect::<Vec<_>>()
            );
        }
    }

    // One more run, timed stage by stage (each stage synced), to show where the time goes.
    let mut stages: Vec<(&str, f64)> = Vec::new();
    let mut t = Instant::now();
    let mut lap = |name: &'static str, stages: &mut Vec<(&str, f64)>| {
        device.sync().ok();
        stages.push((name, t.elapsed().as_secs_f64()));
        t = Instant::now();
    };
    let batch = model.transform(std::slice::from_ref(&input));
    lap("transform", &mut stages);
    let feats = model.features(&batch);
    lap("backbone+fpn", &mut stages);
    let rpn = model.rpn_output(&batch, &feats);
    lap("rpn head", &mut stages);
    let props = model.proposals(&batch, &rpn, false);
    lap("proposals", &mut stages);
    let props: Vec<Vec<_>> = props.into_iter().map(|p| p.boxes).collect();
    let rois = mrcnn_roi_heads::rois_of(&props);
    let out = model.roi_heads.box_branch(&feats, &rois, &model.config);
    let d = model
        .roi_heads
        .detections(&batch.image_sizes, &props, &out, &model.config);
    lap("box branch", &mut stages);
    let m = model.roi_heads.mask_probs(&feats, &d, &model.config);
    lap("mask branch", &mut stages);
    let p = model.postprocess(&batch, d, m);
    let pasted: usize = (0..p[0].len())
        .map(|d| p[0].pasted_mask(d).probs.len())
        .sum();
    std::hint::black_box(pasted);
    lap("paste", &mut stages);
    eprintln!("stages: {stages:?}");

    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    format!(
        "{{\"impl\": \"mrcnn\", \"mode\": \"inference\", \"device\": \"{device_name}\", \"size\": \"{size}\", \"times_s\": {times:?}, \"median_s\": {median:.4}, \"detections\": {dets}, \"vs_torchvision\": {agreement}, \"peak_rss_mb\": {:.1}}}",
        peak_rss_mb()
    )
}
