//! Prediction (or ground-truth) overlays: masks tinted per instance, box outlines, and a caption
//! per instance ("class score") on a dark band, in the 8x8 bitmap font of [`crate::font`].

use image::{Rgb, RgbImage};
use mrcnn_coco::MaskCrop;

use crate::draw::{Rect, fill_rect};
use crate::font::{draw_text, text_height, text_width};
use crate::plot::PALETTE;

/// One instance to draw.
#[derive(Clone, Debug)]
pub struct OverlayItem<'a> {
    /// `[x1, y1, x2, y2]` in image pixels.
    pub bbox: [f32; 4],
    /// Drawn above the box's top-left corner, e.g. `"cat 0.93"`.
    pub caption: String,
    /// Tinted when given.
    pub mask: Option<&'a MaskCrop>,
}

/// `img` with `items` drawn over it; instance `i` takes colour `i` of the palette.
pub fn overlay(img: &RgbImage, items: &[OverlayItem]) -> RgbImage {
    let mut out = img.clone();
    let (w, h) = (out.width(), out.height());
    let colour = |i: usize| PALETTE[i % PALETTE.len()];
    for (i, item) in items.iter().enumerate() {
        let Some(m) = item.mask else { continue };
        let col = colour(i);
        for y in m.y..(m.y + m.height).min(h) {
            for x in m.x..(m.x + m.width).min(w) {
                if m.get(x, y) {
                    let px = out.get_pixel_mut(x, y);
                    for (p, c) in px.0.iter_mut().zip(col) {
                        *p = ((*p as u16 + c as u16) / 2) as u8;
                    }
                }
            }
        }
    }
    for (i, item) in items.iter().enumerate() {
        let col = Rgb(colour(i));
        let b = item.bbox;
        let (x0, y0) = (b[0].max(0.0) as i64, b[1].max(0.0) as i64);
        let x1 = (b[2] as i64).min(w as i64 - 1);
        let y1 = (b[3] as i64).min(h as i64 - 1);
        for x in x0..=x1 {
            for y in [y0, y1] {
                if x < w as i64 && y < h as i64 {
                    out.put_pixel(x as u32, y as u32, col);
                }
            }
        }
        for y in y0..=y1 {
            for x in [x0, x1] {
                if x < w as i64 && y < h as i64 {
                    out.put_pixel(x as u32, y as u32, col);
                }
            }
        }
        let ty = (y0 - text_height(1) as i64 - 1).max(0);
        let band = Rect::new(
            x0,
            ty,
            text_width(&item.caption, 1) as i64,
            text_height(1) as i64,
        );
        fill_rect(&mut out, band, Rgb([0, 0, 0]));
        draw_text(&mut out, x0, ty, &item.caption, col, 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_boxes_and_captions_are_drawn() {
        let img = RgbImage::from_pixel(40, 30, Rgb([200, 200, 200]));
        let mask = MaskCrop {
            x: 10,
            y: 12,
            width: 4,
            height: 3,
            data: vec![1; 12],
        };
        let out = overlay(
            &img,
            &[OverlayItem {
                bbox: [9.0, 11.0, 20.0, 25.0],
                caption: "é 0.9".into(),
                mask: Some(&mask),
            }],
        );
        let c = PALETTE[0];
        let tint = |v: u8, k: usize| ((v as u16 + c[k] as u16) / 2) as u8;
        assert_eq!(
            out.get_pixel(11, 13).0,
            [tint(200, 0), tint(200, 1), tint(200, 2)]
        );
        assert_eq!(out.get_pixel(9, 20).0, c, "box outline");
        assert_eq!(out.get_pixel(30, 28).0, [200; 3], "untouched");
        assert!(out.pixels().any(|p| p.0 == [0, 0, 0]), "caption band");
    }
}
