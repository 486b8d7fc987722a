//! Prediction overlays: masks tinted per instance, box outlines, and "class score" labels drawn
//! with an 8x8 bitmap font.

use image::{Rgb, RgbImage};
use mrcnn_model::Prediction;

const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
];

/// Draws `pred` over `img` (detections at or above `threshold` for the mask).
pub fn overlay(
    img: &RgbImage,
    pred: &Prediction,
    mask_threshold: f32,
    names: &dyn Fn(usize) -> String,
) -> RgbImage {
    let mut out = img.clone();
    let (w, h) = (out.width() as usize, out.height() as usize);
    for (i, mask) in pred.masks.iter().enumerate() {
        let col = PALETTE[i % PALETTE.len()];
        for (p, &v) in mask.iter().enumerate() {
            if v >= mask_threshold {
                let px = out.get_pixel_mut((p % w) as u32, (p / w) as u32);
                for c in 0..3 {
                    px.0[c] = ((px.0[c] as u16 + col[c] as u16) / 2) as u8;
                }
            }
        }
    }
    for (i, b) in pred.boxes.iter().enumerate() {
        let col = Rgb(PALETTE[i % PALETTE.len()]);
        let x0 = b[0].max(0.0) as usize;
        let y0 = b[1].max(0.0) as usize;
        let x1 = (b[2] as usize).min(w.saturating_sub(1));
        let y1 = (b[3] as usize).min(h.saturating_sub(1));
        for x in x0..=x1 {
            for y in [y0, y1] {
                if x < w && y < h {
                    out.put_pixel(x as u32, y as u32, col);
                }
            }
        }
        for y in y0..=y1 {
            for x in [x0, x1] {
                if x < w && y < h {
                    out.put_pixel(x as u32, y as u32, col);
                }
            }
        }
        let label = format!("{} {:.2}", names(pred.labels[i]), pred.scores[i]);
        draw_text(&mut out, x0, y0.saturating_sub(9), &label, col);
    }
    out
}

/// Writes `text` at (x, y) with a dark background for legibility.
fn draw_text(img: &mut RgbImage, x: usize, y: usize, text: &str, col: Rgb<u8>) {
    use font8x8::UnicodeFonts;
    let (w, h) = (img.width() as usize, img.height() as usize);
    for (ci, ch) in text.chars().enumerate() {
        let glyph = font8x8::BASIC_FONTS.get(ch).unwrap_or([0; 8]);
        for (gy, row) in glyph.iter().enumerate() {
            for gx in 0..8 {
                let (px, py) = (x + ci * 8 + gx, y + gy);
                if px < w && py < h {
                    let on = row >> gx & 1 == 1;
                    img.put_pixel(px as u32, py as u32, if on { col } else { Rgb([0, 0, 0]) });
                }
            }
        }
    }
}
