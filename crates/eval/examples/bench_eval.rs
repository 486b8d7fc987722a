//! Time our COCOeval (segm) on the synthetic case of
//! `tools/reference/bench_eval.py` (same splitmix64 stream, same data).
//!
//! `cargo run --release -p mrcnn-eval --example bench_eval -- [n_images=5000] [dets_per_image=100]`

use std::time::Instant;

use mrcnn_coco::{Category, GtAnnotation, Image, results_to_json};
use mrcnn_eval::{CocoGt, Detection, IouType, Rle, Segmentation, evaluate};

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

const N_CATS: usize = 10;
const GT_PER_IMAGE: usize = 8;

fn diamond(x: f64, y: f64, w: f64, h: f64) -> Vec<f64> {
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    vec![cx, y, x + w, cy, cx, y + h, x, cy]
}

fn generate(n_images: usize, per_image: usize) -> (CocoGt, Vec<Detection>) {
    let mut rng = SplitMix64(2024);
    let mut gt = CocoGt {
        categories: (1..=N_CATS as i64)
            .map(|id| Category {
                id,
                name: format!("cat{id}"),
                supercategory: None,
            })
            .collect(),
        ..Default::default()
    };
    let mut dets = Vec::with_capacity(n_images * per_image);
    let mut ann_id = 1i64;
    for i in 0..n_images {
        let h = 300 + (rng.uniform() * 200.0) as u32;
        let w = 400 + (rng.uniform() * 200.0) as u32;
        let (hf, wf) = (h as f64, w as f64);
        let image_id = i as i64 + 1;
        gt.images.push(Image {
            id: image_id,
            height: h,
            width: w,
            file_name: None,
        });
        let mut gts = Vec::with_capacity(GT_PER_IMAGE);
        for _ in 0..GT_PER_IMAGE {
            let cat = 1 + (rng.uniform() * N_CATS as f64) as i64;
            let bw = 8.0 + rng.uniform() * (wf / 2.0);
            let bh = 8.0 + rng.uniform() * (hf / 2.0);
            let x = rng.uniform() * (wf - bw);
            let y = rng.uniform() * (hf - bh);
            gt.annotations.push(GtAnnotation {
                id: ann_id,
                image_id,
                category_id: cat,
                bbox: Some([x, y, bw, bh]),
                area: bw * bh / 2.0,
                iscrowd: ann_id % 20 == 0,
                segmentation: Some(Segmentation::Polygons(vec![diamond(x, y, bw, bh)])),
            });
            gts.push((cat, x, y, bw, bh));
            ann_id += 1;
        }
        for j in 0..per_image {
            let (mut cat, mut x, mut y, mut bw, mut bh) = gts[j % GT_PER_IMAGE];
            if rng.uniform() < 0.7 {
                x += (rng.uniform() - 0.5) * 0.2 * bw;
                y += (rng.uniform() - 0.5) * 0.2 * bh;
                bw *= 0.9 + 0.2 * rng.uniform();
                bh *= 0.9 + 0.2 * rng.uniform();
            } else {
                bw = 8.0 + rng.uniform() * (wf / 3.0);
                bh = 8.0 + rng.uniform() * (hf / 3.0);
                x = rng.uniform() * (wf - bw);
                y = rng.uniform() * (hf - bh);
            }
            if rng.uniform() < 0.1 {
                cat = 1 + (rng.uniform() * N_CATS as f64) as i64;
            }
            let score = rng.uniform();
            let rle = Rle::from_polygons(&[diamond(x, y, bw, bh)], h, w);
            dets.push(Detection {
                image_id,
                category_id: cat,
                score,
                bbox: Some([x, y, bw, bh]),
                segmentation: Some(Segmentation::Rle(rle)),
            });
        }
    }
    (gt, dets)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n_images: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(5000);
    let per_image: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100);
    let t0 = Instant::now();
    let (gt, dets) = generate(n_images, per_image);
    println!(
        "generated {n_images} images, {} detections in {:.1}s",
        dets.len(),
        t0.elapsed().as_secs_f64()
    );
    // Results go through JSON, as a results file would (parsing is timed).
    let json = results_to_json(&dets);
    drop(dets);
    let t0 = Instant::now();
    let dets = gt.load_results_str(&json)?;
    let t_load = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let r = evaluate(&gt, &dets, IouType::Segm)?;
    let t_eval = t1.elapsed().as_secs_f64();
    let stats: Vec<String> = r.stats.iter().map(|v| format!("{v:.6}")).collect();
    println!("stats: {}", stats.join(" "));
    println!(
        "mrcnn-eval segm: load results {t_load:.2}s + evaluate {t_eval:.2}s = {:.2}s ({} threads)",
        t_load + t_eval,
        rayon::current_num_threads()
    );
    Ok(())
}
