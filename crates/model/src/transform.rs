//! The input transform (torchvision's `GeneralizedRCNNTransform`): normalise by mean/std, resize
//! so the shorter side reaches `min_size` without the longer passing `max_size` (bilinear,
//! align_corners = false, output size `floor(side * scale)`), and pad the batch with zeros to a
//! multiple of `size_divisible`. Detectron2's BGR 0-255 input is a config switch, and so is the
//! TensorFlow Object Detection API's `keep_aspect_ratio_resizer` (`input.resizer`).

use burn::prelude::*;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use mrcnn_config::{InputConfig, PixelFormat, Resizer};
use mrcnn_core::host;

/// One image: RGB, channel-first `[3, height, width]`, values in [0, 1].
#[derive(Debug, Clone)]
pub struct ImageInput {
    /// `3 * height * width` values, channel-first (R plane, G plane, B plane), each in [0, 1].
    pub data: Vec<f32>,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
}

impl ImageInput {
    /// An 8-bit RGB image as model input (each channel divided by 255, as torchvision's
    /// `to_tensor`).
    pub fn from_rgb(img: &image::RgbImage) -> Self {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut data = vec![0.0f32; 3 * h * w];
        for (x, y, p) in img.enumerate_pixels() {
            let i = y as usize * w + x as usize;
            for c in 0..3 {
                data[c * h * w + i] = p.0[c] as f32 / 255.0;
            }
        }
        Self {
            data,
            height: h,
            width: w,
        }
    }

    /// Any decoded image (gray, 16-bit, with alpha...) as RGB model input.
    pub fn from_image(img: &image::DynamicImage) -> Self {
        Self::from_rgb(&img.to_rgb8())
    }
}

/// A padded batch and the size of each image inside it.
#[derive(Debug, Clone)]
pub struct ImageList {
    /// `[N, 3, H, W]`, padded.
    pub tensor: Tensor<4>,
    /// Resized (unpadded) `[h, w]` of each image.
    pub image_sizes: Vec<[usize; 2]>,
    /// Original `[h, w]` of each image.
    pub original_sizes: Vec<[usize; 2]>,
}

/// torchvision's resize rule: the scale and the resulting size.
pub fn resized_size(h: usize, w: usize, min_size: usize, max_size: usize) -> [usize; 2] {
    let (lo, hi) = (h.min(w) as f64, h.max(w) as f64);
    let scale = (min_size as f64 / lo).min(max_size as f64 / hi);
    [
        (h as f64 * scale).floor() as usize,
        (w as f64 * scale).floor() as usize,
    ]
}

/// The OD API's `keep_aspect_ratio_resizer` size, as `resize_to_range` computes it: the target
/// `[min, max]` for a landscape image (`[max, min]` otherwise, squares included), then
/// `resize_images(preserve_aspect_ratio = True)`: scale `min(target_h / h, target_w / w)` and
/// sides `round(scale * side)`, half to even, all in float32.
pub fn tf_keep_aspect_ratio_size(
    h: usize,
    w: usize,
    min_size: usize,
    max_size: usize,
) -> [usize; 2] {
    let (hf, wf) = (h as f32, w as f32);
    let [th, tw] = if h < w {
        [min_size, max_size]
    } else {
        [max_size, min_size]
    };
    let scale = (th as f32 / hf).min(tw as f32 / wf);
    [
        (scale * hf).round_ties_even() as usize,
        (scale * wf).round_ties_even() as usize,
    ]
}

/// TensorFlow 1's `resize_bilinear` (`align_corners = False`, `half_pixel_centers = False`, as
/// `tf.compat.v1.image.resize_images` calls it): source coordinate `i * in / out`, the lower
/// neighbour `floor`, the upper one clamped to the edge. On the host, on channel-first planes:
/// Burn's `interpolate` has only half-pixel centres and aligned corners.
pub fn tf_resize_bilinear(
    data: &[f32],
    channels: usize,
    from: [usize; 2],
    to: [usize; 2],
) -> Vec<f32> {
    let taps = |n_in: usize, n_out: usize| -> Vec<(usize, usize, f32)> {
        let scale = n_in as f32 / n_out as f32;
        (0..n_out)
            .map(|i| {
                let src = i as f32 * scale;
                let lo = (src.floor() as usize).min(n_in - 1);
                (lo, (lo + 1).min(n_in - 1), src - lo as f32)
            })
            .collect()
    };
    let (ys, xs) = (taps(from[0], to[0]), taps(from[1], to[1]));
    let mut out = Vec::with_capacity(channels * to[0] * to[1]);
    for plane in data.chunks_exact(from[0] * from[1]).take(channels) {
        for &(y0, y1, ly) in &ys {
            let (r0, r1) = (&plane[y0 * from[1]..], &plane[y1 * from[1]..]);
            for &(x0, x1, lx) in &xs {
                let top = r0[x0] + (r0[x1] - r0[x0]) * lx;
                let bottom = r1[x0] + (r1[x1] - r1[x0]) * lx;
                out.push(top + (bottom - top) * ly);
            }
        }
    }
    out
}

/// Normalises one image on `device`: `[3, h, w]`.
pub fn normalize(img: &ImageInput, cfg: &InputConfig, device: &Device) -> Tensor<3> {
    let t = host::tensor(img.data.clone(), [3, img.height, img.width], device);
    let t = match cfg.format {
        PixelFormat::Rgb01 => t,
        // RGB [0,1] -> BGR [0,255].
        PixelFormat::Bgr255 => t.flip([0]) * 255.0,
        PixelFormat::Rgb255 => t * 255.0,
    };
    let mean = host::tensor(cfg.pixel_mean.to_vec(), [3, 1, 1], device);
    let std = host::tensor(cfg.pixel_std.to_vec(), [3, 1, 1], device);
    (t - mean) / std
}

/// Normalises, resizes (to `min_size`) and batches `images`.
pub fn transform(
    images: &[ImageInput],
    cfg: &InputConfig,
    min_size: usize,
    device: &Device,
) -> ImageList {
    let mut resized = Vec::with_capacity(images.len());
    let mut image_sizes = Vec::with_capacity(images.len());
    for img in images {
        if cfg.resizer == Resizer::TfKeepAspectRatio {
            // The OD API resizes the 0-255 image, then subtracts the means: resized first here
            // too (the input is in [0, 1] here; the bilinear weights are the same).
            let [h, w] = tf_keep_aspect_ratio_size(img.height, img.width, min_size, cfg.max_size);
            let data = tf_resize_bilinear(&img.data, 3, [img.height, img.width], [h, w]);
            let resized_img = ImageInput {
                data,
                height: h,
                width: w,
            };
            resized.push(normalize(&resized_img, cfg, device));
            image_sizes.push([h, w]);
            continue;
        }
        let t = normalize(img, cfg, device);
        let [h, w] = resized_size(img.height, img.width, min_size, cfg.max_size);
        let t = if [h, w] == [img.height, img.width] {
            t
        } else {
            let t4: Tensor<4> = t.unsqueeze_dim(0);
            let opts = InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_align_corners(false)
                .with_output_size([h, w]);
            interpolate(t4, opts).squeeze_dim(0)
        };
        resized.push(t);
        image_sizes.push([h, w]);
    }
    let tensor = batch(resized, &image_sizes, cfg.size_divisible, device);
    ImageList {
        tensor,
        image_sizes,
        original_sizes: images.iter().map(|i| [i.height, i.width]).collect(),
    }
}

/// Pads to the largest size rounded up to a multiple of `div` and stacks.
pub fn batch(
    images: Vec<Tensor<3>>,
    sizes: &[[usize; 2]],
    div: usize,
    device: &Device,
) -> Tensor<4> {
    let up = |v: usize| v.div_ceil(div) * div;
    let hp = up(sizes.iter().map(|s| s[0]).max().unwrap_or(0));
    let wp = up(sizes.iter().map(|s| s[1]).max().unwrap_or(0));
    let mut out = Tensor::<4>::zeros([images.len(), 3, hp, wp], device);
    for (i, (t, s)) in images.into_iter().zip(sizes).enumerate() {
        out = out.slice_assign([i..i + 1, 0..3, 0..s[0], 0..s[1]], t.unsqueeze_dim(0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_rule() {
        assert_eq!(resized_size(480, 640, 800, 1333), [800, 1066]);
        assert_eq!(resized_size(100, 1000, 800, 1333), [133, 1333]);
        assert_eq!(resized_size(150, 200, 160, 256), [160, 213]);
    }

    #[test]
    fn tf_keep_aspect_ratio_rule() {
        // The atrous config's 800 / 1365: rounded, where torchvision floors (1066).
        assert_eq!(tf_keep_aspect_ratio_size(480, 640, 800, 1365), [800, 1067]);
        // Capped by the long side.
        assert_eq!(tf_keep_aspect_ratio_size(400, 1000, 800, 1365), [546, 1365]);
        assert_eq!(tf_keep_aspect_ratio_size(500, 500, 800, 1365), [800, 800]);
    }

    #[test]
    fn tf_bilinear_uses_top_left_source_positions() {
        // 1x4 -> 1x2: sources x = 0 and 2 exactly (no half-pixel shift).
        let out = tf_resize_bilinear(&[0.0, 1.0, 2.0, 3.0], 1, [1, 4], [1, 2]);
        assert_eq!(out, vec![0.0, 2.0]);
        // 1x2 -> 1x4: x = 0, 0.5, 1, 1.5 -> the last one clamps to the edge.
        let out = tf_resize_bilinear(&[0.0, 1.0], 1, [1, 2], [1, 4]);
        assert_eq!(out, vec![0.0, 0.5, 1.0, 1.0]);
    }
}
