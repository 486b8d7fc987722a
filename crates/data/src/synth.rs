//! `mrcnn synth`: a seeded synthetic "shapes" dataset for smoke tests and the quickstart.
//!
//! Each image has a noisy grey background and a few circles, rectangles and
//! triangles in a handful of colours (colour does not give the class away: the
//! model has to learn shape). Shapes are painted in order, so a later shape
//! hides the earlier ones' pixels; masks are the *visible* pixels. A shape left
//! with fewer than `--min-area` visible pixels is removed from the picture
//! altogether (not only from the labels) and the scene re-rendered, so nothing
//! visible is unlabelled.
//!
//! Output (COCO layout of this project):
//! `<out>/train.json`, `<out>/val.json`, `<out>/images/{train,val}/NNNNNN.png`,
//! `<out>/label_map.pbtxt`.
//! Every image depends only on (seed, split, index): `--train 10` gives the
//! first ten images of `--train 1000`.

use image::{Rgb, RgbImage};
use mrcnn_coco::Rle;
use mrcnn_config::SynthSection;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{DataError, Report};
use crate::model::{Category, Dataset, ImageRecord, ImageSource, Instance};

/// Class names in label order (ids 1, 2, 3).
pub const SHAPE_CLASSES: [&str; 3] = ["circle", "rectangle", "triangle"];

const PALETTE: [[u8; 3]; 5] = [
    [220, 40, 40],
    [40, 180, 60],
    [50, 80, 220],
    [230, 200, 40],
    [200, 60, 200],
];

#[derive(Clone, Debug)]
enum Shape {
    Circle { cx: f32, cy: f32, r: f32 },
    Rect { x0: f32, y0: f32, x1: f32, y1: f32 },
    Triangle { p: [[f32; 2]; 3] },
}

impl Shape {
    fn label(&self) -> u32 {
        match self {
            Shape::Circle { .. } => 1,
            Shape::Rect { .. } => 2,
            Shape::Triangle { .. } => 3,
        }
    }

    /// Does the shape cover the pixel whose centre is (x, y)?
    fn contains(&self, x: f32, y: f32) -> bool {
        match *self {
            Shape::Circle { cx, cy, r } => (x - cx).powi(2) + (y - cy).powi(2) <= r * r,
            Shape::Rect { x0, y0, x1, y1 } => x >= x0 && x < x1 && y >= y0 && y < y1,
            Shape::Triangle { p } => {
                let s = |a: [f32; 2], b: [f32; 2]| {
                    (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0])
                };
                let (d0, d1, d2) = (s(p[0], p[1]), s(p[1], p[2]), s(p[2], p[0]));
                (d0 >= 0.0 && d1 >= 0.0 && d2 >= 0.0) || (d0 <= 0.0 && d1 <= 0.0 && d2 <= 0.0)
            }
        }
    }
}

fn random_shape(rng: &mut ChaCha8Rng, w: u32, h: u32) -> Shape {
    let s = w.min(h) as f32;
    let cx = rng.random_range(0.1..0.9) * w as f32;
    let cy = rng.random_range(0.1..0.9) * h as f32;
    match rng.random_range(0..3) {
        0 => Shape::Circle {
            cx,
            cy,
            r: rng.random_range(0.08..0.22) * s,
        },
        1 => {
            let hw = rng.random_range(0.07..0.22) * s;
            let hh = rng.random_range(0.07..0.22) * s;
            Shape::Rect {
                x0: cx - hw,
                y0: cy - hh,
                x1: cx + hw,
                y1: cy + hh,
            }
        }
        _ => {
            // Vertices at well-separated angles keep triangles fat enough to see.
            let r = rng.random_range(0.12..0.28) * s;
            let a0 = rng.random_range(0.0..std::f32::consts::TAU);
            let mut p = [[0.0; 2]; 3];
            for (k, v) in p.iter_mut().enumerate() {
                let a = a0 + k as f32 * std::f32::consts::TAU / 3.0 + rng.random_range(-0.4..0.4);
                *v = [cx + r * a.cos(), cy + r * a.sin()];
            }
            Shape::Triangle { p }
        }
    }
}

/// Index (1-based) of the topmost shape at each pixel, 0 for background.
fn rasterize(shapes: &[Shape], w: u32, h: u32) -> Vec<u16> {
    let mut ids = vec![0u16; (w * h) as usize];
    for (k, s) in shapes.iter().enumerate() {
        for y in 0..h {
            for x in 0..w {
                if s.contains(x as f32 + 0.5, y as f32 + 0.5) {
                    ids[(y * w + x) as usize] = k as u16 + 1;
                }
            }
        }
    }
    ids
}

/// One synthetic image and its instances `(label, row-major 0/1 mask)`.
pub fn synth_image(args: &SynthSection, split: u64, index: u64) -> (RgbImage, Vec<(u32, Vec<u8>)>) {
    let (w, h) = (args.width.max(1), args.height.max(1));
    let seed = args
        .seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(split.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(index);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = rng.random_range(args.min_objects..=args.max_objects);
    let mut shapes: Vec<(Shape, [u8; 3])> = (0..n)
        .map(|_| {
            let s = random_shape(&mut rng, w, h);
            (s, PALETTE[rng.random_range(0..PALETTE.len())])
        })
        .collect();

    // Remove shapes that occlusion leaves too small, then re-render: removing
    // one can uncover another, so repeat until stable.
    let ids = loop {
        let geo: Vec<Shape> = shapes.iter().map(|s| s.0.clone()).collect();
        let ids = rasterize(&geo, w, h);
        let mut area = vec![0u64; shapes.len() + 1];
        for &i in &ids {
            area[i as usize] += 1;
        }
        let before = shapes.len();
        let mut k = 0;
        shapes.retain(|_| {
            k += 1;
            area[k] >= args.min_area
        });
        if shapes.len() == before {
            break ids;
        }
    };

    let bg: i32 = rng.random_range(70..170);
    let mut img = RgbImage::new(w, h);
    for (i, px) in img.pixels_mut().enumerate() {
        let base = match ids[i] {
            0 => [bg; 3],
            k => shapes[k as usize - 1].1.map(|c| c as i32),
        };
        let noise = if ids[i] == 0 { 25 } else { 15 };
        *px = Rgb(base.map(|c| (c + rng.random_range(-noise..=noise)).clamp(0, 255) as u8));
    }
    let inst = shapes
        .iter()
        .enumerate()
        .map(|(k, (s, _))| {
            let m = ids.iter().map(|&i| (i as usize == k + 1) as u8).collect();
            (s.label(), m)
        })
        .collect();
    (img, inst)
}

/// Generate one split in memory, writing its PNGs under `<out>/images/<split>/`.
fn synth_split(
    args: &SynthSection,
    name: &str,
    split: u64,
    n: usize,
) -> Result<Dataset, DataError> {
    let dir = args.out.join("images").join(name);
    std::fs::create_dir_all(&dir).map_err(|e| DataError::io(&dir, e))?;
    let mut ds = Dataset {
        categories: shape_categories(),
        images: Vec::with_capacity(n),
    };
    for i in 0..n {
        let (img, inst) = synth_image(args, split, i as u64);
        let file_name = format!("{name}/{i:06}.png");
        let path = args.out.join("images").join(&file_name);
        img.save(&path)
            .map_err(|e| DataError::format(&path, e.to_string()))?;
        let (w, h) = img.dimensions();
        ds.images.push(ImageRecord {
            apply_exif: false,
            id: i as u64 + 1,
            file_name,
            source: ImageSource::File(path),
            width: w,
            height: h,
            annotations: inst
                .into_iter()
                .map(|(l, m)| Instance::from_mask(l, Rle::encode(&m, h, w), false))
                .collect(),
        });
    }
    Ok(ds)
}

pub fn shape_categories() -> Vec<Category> {
    SHAPE_CLASSES
        .iter()
        .enumerate()
        .map(|(i, n)| Category {
            id: i as u32 + 1,
            name: n.to_string(),
        })
        .collect()
}

/// Largest synthetic image side: a 16384 x 16384 RGB image is 768 MB already.
pub const MAX_SIDE: u32 = 16384;

/// Write the synthetic dataset; the report lists the files and counts.
pub fn synth(args: &SynthSection) -> Result<Report, DataError> {
    let side = 8..=MAX_SIDE;
    if !side.contains(&args.width) || !side.contains(&args.height) {
        return Err(DataError::Options(format!(
            "image size {}x{}: width and height must be in 8..={MAX_SIDE}",
            args.width, args.height
        )));
    }
    if args.max_objects == 0 || args.max_objects > 1000 {
        return Err(DataError::Options(format!(
            "at most {} objects per image: use 1..=1000",
            args.max_objects
        )));
    }
    if args.min_objects > args.max_objects {
        return Err(DataError::Options(format!(
            "at least {} and at most {} objects per image: the least must not exceed the most",
            args.min_objects, args.max_objects
        )));
    }
    if args.train_images + args.val_images == 0 {
        return Err(DataError::Options(
            "0 training and 0 validation images: nothing to make".into(),
        ));
    }
    let mut report = Report::default();
    for (split, (name, n)) in [("train", args.train_images), ("val", args.val_images)]
        .into_iter()
        .enumerate()
    {
        let ds = synth_split(args, name, split as u64, n)?;
        let json = args.out.join(format!("{name}.json"));
        crate::coco::write_coco(&ds, &json, None)?;
        let inst: usize = ds.images.iter().map(|i| i.annotations.len()).sum();
        report.lines.push(format!(
            "{}: {} images, {} instances",
            json.display(),
            ds.images.len(),
            inst
        ));
    }
    let lm = args.out.join("label_map.pbtxt");
    crate::labelmap::write_label_map(&lm, &shape_categories())?;
    report.lines.push(format!("{}", lm.display()));
    Ok(report)
}
