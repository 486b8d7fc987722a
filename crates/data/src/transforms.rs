//! Seeded training transforms on decoded samples: resize, horizontal flip, colour jitter.
//!
//! Resizing follows torchvision's `GeneralizedRCNNTransform`: pick a short-side
//! target from `min_sizes`, scale = min(min_size / short side, max_size / long
//! side), output size = floor(side · scale), image resampled bilinearly with
//! `align_corners=False` and no antialiasing, masks by nearest neighbour (both
//! as `torch.nn.functional.interpolate`), boxes scaled per axis.
//! Randomness comes from a ChaCha stream keyed by (seed, epoch, index), so a
//! sample's augmentation does not depend on loader order or thread count.

use image::{GrayImage, Luma, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sample::Sample;

/// Colour jitter strengths, as torchvision's `ColorJitter` (factor drawn from [1-s, 1+s]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ColorJitter {
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TransformConfig {
    /// Short-side targets; one is drawn per sample (torchvision default: `[800]`).
    pub min_sizes: Vec<u32>,
    /// Long-side cap (torchvision default: 1333).
    pub max_size: u32,
    /// Probability of a horizontal flip.
    pub hflip_prob: f32,
    pub color_jitter: Option<ColorJitter>,
    /// Resize to `min_sizes`/`max_size` here (default). `false` leaves the size
    /// alone, for torchvision's semantics where the model's own input transform
    /// (`GeneralizedRCNNTransform`) resizes; jitter and flip draw the same values
    /// either way.
    #[serde(default = "default_true")]
    pub resize: bool,
}

fn default_true() -> bool {
    true
}

impl Default for TransformConfig {
    fn default() -> Self {
        TransformConfig {
            min_sizes: vec![800],
            max_size: 1333,
            hflip_prob: 0.5,
            color_jitter: None,
            resize: true,
        }
    }
}

/// A seeded augmentation pipeline.
#[derive(Clone, Debug)]
pub struct Transforms {
    pub config: TransformConfig,
    pub seed: u64,
}

impl Transforms {
    pub fn new(config: TransformConfig, seed: u64) -> Self {
        Transforms { config, seed }
    }

    /// Augment sample `index` for `epoch`: jitter, flip, resize (unless `config.resize` is false).
    pub fn apply(&self, s: Sample, epoch: u64, index: u64) -> Sample {
        let key = self
            .seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(epoch.wrapping_mul(0xD1B5_4A32_D192_ED03))
            .wrapping_add(index);
        let mut rng = ChaCha8Rng::seed_from_u64(key);
        let mut s = s;
        if let Some(cj) = &self.config.color_jitter {
            let f = |rng: &mut ChaCha8Rng, v: f32| {
                if v > 0.0 {
                    rng.random_range((1.0 - v).max(0.0)..=1.0 + v)
                } else {
                    1.0
                }
            };
            let (b, c, sat) = (
                f(&mut rng, cj.brightness),
                f(&mut rng, cj.contrast),
                f(&mut rng, cj.saturation),
            );
            color_jitter(&mut s.image, b, c, sat);
        }
        if rng.random::<f32>() < self.config.hflip_prob {
            s = hflip(s);
        }
        if !self.config.resize {
            return s;
        }
        let min_size = if self.config.min_sizes.is_empty() {
            s.image.width().min(s.image.height())
        } else {
            self.config.min_sizes[rng.random_range(0..self.config.min_sizes.len())]
        };
        resize(s, min_size, self.config.max_size)
    }
}

/// torchvision's size rule: the output (width, height) for a `w`×`h` image.
pub fn resized_dims(w: u32, h: u32, min_size: u32, max_size: u32) -> (u32, u32) {
    let (lo, hi) = (w.min(h) as f32, w.max(h) as f32);
    let scale = (min_size as f32 / lo).min(max_size as f32 / hi);
    // torch: floor(in * scale) with recompute_scale_factor=True, in float32
    // (640x480 -> 1066x800 only because 480 * f32(800/480) rounds to 800.0).
    let nw = ((w as f32 * scale).floor() as u32).max(1);
    let nh = ((h as f32 * scale).floor() as u32).max(1);
    (nw, nh)
}

/// Resize image (bilinear), masks (nearest) and boxes together; a no-op (no
/// resampling) when the size rule gives the input size.
pub fn resize(mut s: Sample, min_size: u32, max_size: u32) -> Sample {
    let (w, h) = s.image.dimensions();
    if w == 0 || h == 0 {
        return s;
    }
    let (nw, nh) = resized_dims(w, h, min_size, max_size);
    if (nw, nh) == (w, h) {
        return s;
    }
    s.image = resize_bilinear(&s.image, nw, nh);
    s.masks = s.masks.iter().map(|m| resize_nearest(m, nw, nh)).collect();
    let (rx, ry) = (nw as f32 / w as f32, nh as f32 / h as f32);
    for b in &mut s.boxes {
        *b = [b[0] * rx, b[1] * ry, b[2] * rx, b[3] * ry];
    }
    s
}

/// Mirror left-right: image, masks and boxes.
pub fn hflip(mut s: Sample) -> Sample {
    let w = s.image.width() as f32;
    image::imageops::flip_horizontal_in_place(&mut s.image);
    for m in &mut s.masks {
        image::imageops::flip_horizontal_in_place(m);
    }
    for b in &mut s.boxes {
        *b = [w - b[2], b[1], w - b[0], b[3]];
    }
    s
}

/// Brightness, contrast, saturation factors (1.0 = unchanged), in that order.
pub fn color_jitter(img: &mut RgbImage, brightness: f32, contrast: f32, saturation: f32) {
    let gray = |p: [f32; 3]| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    let n = (img.width() * img.height()).max(1) as f32;
    let mean = img
        .pixels()
        .map(|p| gray(p.0.map(|c| c as f32)) * brightness)
        .sum::<f32>()
        / n;
    for p in img.pixels_mut() {
        let mut v = p.0.map(|c| c as f32 * brightness);
        v = v.map(|c| (c - mean) * contrast + mean);
        let g = gray(v);
        v = v.map(|c| (c - g) * saturation + g);
        *p = Rgb(v.map(|c| c.round().clamp(0.0, 255.0) as u8));
    }
}

/// `F.interpolate(mode="bilinear", align_corners=False)` without antialiasing.
pub fn resize_bilinear(img: &RgbImage, nw: u32, nh: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let taps = |out: u32, inp: u32| -> Vec<(u32, u32, f32)> {
        let scale = inp as f32 / out as f32;
        (0..out)
            .map(|d| {
                let src = ((d as f32 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src.floor() as u32).min(inp - 1);
                let i1 = (i0 + 1).min(inp - 1);
                (i0, i1, src - i0 as f32)
            })
            .collect()
    };
    let (xt, yt) = (taps(nw, w), taps(nh, h));
    let mut out = RgbImage::new(nw, nh);
    for (y, &(y0, y1, fy)) in yt.iter().enumerate() {
        for (x, &(x0, x1, fx)) in xt.iter().enumerate() {
            let p = |xx, yy| img.get_pixel(xx, yy).0.map(|c| c as f32);
            let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
            let mut v = [0u8; 3];
            for k in 0..3 {
                let top = a[k] + (b[k] - a[k]) * fx;
                let bot = c[k] + (d[k] - c[k]) * fx;
                v[k] = (top + (bot - top) * fy).round().clamp(0.0, 255.0) as u8;
            }
            out.put_pixel(x as u32, y as u32, Rgb(v));
        }
    }
    out
}

/// `F.interpolate(mode="nearest")`: source index floor(dst · in / out).
pub fn resize_nearest(m: &GrayImage, nw: u32, nh: u32) -> GrayImage {
    let (w, h) = m.dimensions();
    let (sx, sy) = (w as f32 / nw as f32, h as f32 / nh as f32);
    GrayImage::from_fn(nw, nh, |x, y| {
        let xs = ((x as f32 * sx).floor() as u32).min(w - 1);
        let ys = ((y as f32 * sy).floor() as u32).min(h - 1);
        Luma([m.get_pixel(xs, ys).0[0]])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        let mut m = GrayImage::new(10, 6);
        for y in 1..3 {
            for x in 2..5 {
                m.put_pixel(x, y, Luma([1]));
            }
        }
        Sample {
            image_id: 1,
            image: RgbImage::from_fn(10, 6, |x, y| Rgb([x as u8 * 20, y as u8 * 30, 7])),
            boxes: vec![[2.0, 1.0, 5.0, 3.0]],
            labels: vec![1],
            masks: vec![m],
            iscrowd: vec![false],
        }
    }

    #[test]
    fn size_rule_matches_torchvision() {
        assert_eq!(resized_dims(640, 480, 800, 1333), (1066, 800));
        assert_eq!(resized_dims(2000, 500, 800, 1333), (1333, 333));
        assert_eq!(resized_dims(10, 6, 12, 100), (20, 12));
        assert_eq!(resized_dims(640, 427, 800, 1333), (1199, 800));
        assert_eq!(resized_dims(500, 333, 640, 1333), (960, 640));
    }

    #[test]
    fn flip_moves_boxes_with_masks() {
        let s = hflip(sample());
        assert_eq!(s.boxes[0], [5.0, 1.0, 8.0, 3.0]);
        assert_eq!(s.masks[0].get_pixel(5, 1).0[0], 1);
        assert_eq!(s.masks[0].get_pixel(4, 1).0[0], 0);
        assert_eq!(s.image.get_pixel(0, 0).0[0], 180);
    }

    #[test]
    fn resize_scales_boxes_and_masks() {
        let s = resize(sample(), 12, 100);
        assert_eq!(s.image.dimensions(), (20, 12));
        assert_eq!(s.boxes[0], [4.0, 2.0, 10.0, 6.0]);
        let area: u32 = s.masks[0].pixels().map(|p| p.0[0] as u32).sum();
        assert_eq!(area, 24);
    }

    #[test]
    fn deterministic_under_seed() {
        let cfg = TransformConfig {
            min_sizes: vec![8, 12, 16],
            max_size: 100,
            hflip_prob: 0.5,
            color_jitter: Some(ColorJitter {
                brightness: 0.2,
                contrast: 0.2,
                saturation: 0.2,
            }),
            resize: true,
        };
        let t = Transforms::new(cfg, 3);
        let a: Vec<_> = (0..8).map(|i| t.apply(sample(), 1, i)).collect();
        let b: Vec<_> = (0..8).map(|i| t.apply(sample(), 1, i)).collect();
        assert_eq!(a, b);
        // Different indices do get different augmentations.
        assert!(
            a.iter()
                .any(|s| s.image.dimensions() != a[0].image.dimensions() || s.boxes != a[0].boxes)
        );
    }

    #[test]
    fn resize_to_same_size_is_identity() {
        let s = sample();
        // Short side 6 -> 6: nothing is resampled, the sample comes back unchanged.
        assert_eq!(resize(s.clone(), 6, 1333), s);
    }

    #[test]
    fn no_resize_keeps_size_and_draws_same_flips_and_jitter() {
        let mut cfg = TransformConfig {
            min_sizes: vec![12, 16],
            max_size: 100,
            hflip_prob: 0.5,
            color_jitter: Some(ColorJitter {
                brightness: 0.3,
                contrast: 0.3,
                saturation: 0.3,
            }),
            resize: true,
        };
        let with = Transforms::new(cfg.clone(), 5);
        cfg.resize = false;
        let without = Transforms::new(cfg, 5);
        let mut flipped = 0;
        for i in 0..16 {
            let a = with.apply(sample(), 2, i);
            let b = without.apply(sample(), 2, i);
            assert_eq!(b.image.dimensions(), (10, 6));
            assert_eq!(b.masks[0].dimensions(), (10, 6));
            // Same flip decision: the box's horizontal side matches after scaling back.
            let sx = a.image.width() as f32 / 10.0;
            assert!((a.boxes[0][0] / sx - b.boxes[0][0]).abs() < 1e-4);
            flipped += (b.boxes[0][0] == 5.0) as u32;
            // Same jitter: resizing `b` the way `a` was resized gives `a`.
            let (w, h) = a.image.dimensions();
            assert_eq!(resize_bilinear(&b.image, w, h), a.image);
        }
        assert!(flipped > 0 && flipped < 16);
    }

    #[test]
    fn resize_flag_defaults_to_true_in_toml() {
        let c: TransformConfig =
            toml::from_str("min_sizes = [800]\nmax_size = 1333\nhflip_prob = 0.5").unwrap();
        assert!(c.resize);
    }
}
