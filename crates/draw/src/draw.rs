//! Pixel primitives for the report charts on an `image::RgbImage`: alpha blending, antialiased
//! thick line segments and dots (coverage from the distance to the segment), rectangles and
//! dashed grid lines, all clipped to a rectangle.

use image::{Rgb, RgbImage};

/// A pixel rectangle `[x, x + w) x [y, y + h)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

impl Rect {
    pub fn new(x: i64, y: i64, w: i64, h: i64) -> Rect {
        Rect {
            x,
            y,
            w: w.max(0),
            h: h.max(0),
        }
    }
    pub fn right(&self) -> i64 {
        self.x + self.w
    }
    pub fn bottom(&self) -> i64 {
        self.y + self.h
    }
    pub fn contains(&self, x: i64, y: i64) -> bool {
        x >= self.x && x < self.right() && y >= self.y && y < self.bottom()
    }
    /// The whole image.
    pub fn of(img: &RgbImage) -> Rect {
        Rect::new(0, 0, img.width() as i64, img.height() as i64)
    }
}

/// Mixes `col` into pixel (x, y) with opacity `a` in [0, 1]; outside `clip` or the image nothing.
pub fn blend(img: &mut RgbImage, clip: Rect, x: i64, y: i64, col: Rgb<u8>, a: f64) {
    if a <= 0.0 || !clip.contains(x, y) || !Rect::of(img).contains(x, y) {
        return;
    }
    let a = a.min(1.0);
    let p = img.get_pixel_mut(x as u32, y as u32);
    for c in 0..3 {
        p.0[c] = (p.0[c] as f64 * (1.0 - a) + col.0[c] as f64 * a).round() as u8;
    }
}

/// Fills `r` (clipped to the image) with `col`.
pub fn fill_rect(img: &mut RgbImage, r: Rect, col: Rgb<u8>) {
    let full = Rect::of(img);
    for y in r.y.max(0)..r.bottom().min(full.h) {
        for x in r.x.max(0)..r.right().min(full.w) {
            img.put_pixel(x as u32, y as u32, col);
        }
    }
}

/// One-pixel outline of `r`.
pub fn stroke_rect(img: &mut RgbImage, r: Rect, col: Rgb<u8>) {
    let full = Rect::of(img);
    for x in r.x..r.right() {
        for y in [r.y, r.bottom() - 1] {
            blend(img, full, x, y, col, 1.0);
        }
    }
    for y in r.y..r.bottom() {
        for x in [r.x, r.right() - 1] {
            blend(img, full, x, y, col, 1.0);
        }
    }
}

/// Horizontal line at `y` from `x0` to `x1` inclusive; `dash` > 0 draws `dash` on, `dash` off.
pub fn hline(img: &mut RgbImage, clip: Rect, x0: i64, x1: i64, y: i64, col: Rgb<u8>, dash: i64) {
    for x in x0..=x1 {
        if dash <= 0 || (x - x0) / dash % 2 == 0 {
            blend(img, clip, x, y, col, 1.0);
        }
    }
}

/// Vertical line at `x` from `y0` to `y1` inclusive; `dash` as in [`hline`].
pub fn vline(img: &mut RgbImage, clip: Rect, x: i64, y0: i64, y1: i64, col: Rgb<u8>, dash: i64) {
    for y in y0..=y1 {
        if dash <= 0 || (y - y0) / dash % 2 == 0 {
            blend(img, clip, x, y, col, 1.0);
        }
    }
}

/// Antialiased segment of width `width` between pixel-centre coordinates `a` and `b`, with round
/// caps (so consecutive segments join without gaps).
pub fn segment(
    img: &mut RgbImage,
    clip: Rect,
    a: (f64, f64),
    b: (f64, f64),
    width: f64,
    col: Rgb<u8>,
) {
    let half = width / 2.0;
    let (xmin, xmax) = (a.0.min(b.0) - half - 1.0, a.0.max(b.0) + half + 1.0);
    let (ymin, ymax) = (a.1.min(b.1) - half - 1.0, a.1.max(b.1) + half + 1.0);
    // Restrict the scan to the clip rectangle (segments may run far outside it).
    let x0 = (xmin.floor() as i64).max(clip.x);
    let x1 = (xmax.ceil() as i64).min(clip.right() - 1);
    let y0 = (ymin.floor() as i64).max(clip.y);
    let y1 = (ymax.ceil() as i64).min(clip.bottom() - 1);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (px, py) = (x as f64, y as f64);
            let t = if len2 > 0.0 {
                (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (qx, qy) = (a.0 + t * dx - px, a.1 + t * dy - py);
            let d = (qx * qx + qy * qy).sqrt();
            let cover = (half + 0.5 - d).clamp(0.0, 1.0);
            if cover > 0.0 {
                // Max-blend against what this segment already drew is not tracked: a pixel
                // partly covered by two joined segments just gets a little darker.
                blend(img, clip, x, y, col, cover);
            }
        }
    }
}

/// Filled antialiased disc of radius `r` at `c`.
pub fn dot(img: &mut RgbImage, clip: Rect, c: (f64, f64), r: f64, col: Rgb<u8>) {
    segment(img, clip, c, c, 2.0 * r, col);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_draws_along_and_clips() {
        let mut img = RgbImage::from_pixel(20, 10, Rgb([255, 255, 255]));
        let clip = Rect::new(0, 0, 10, 10);
        segment(
            &mut img,
            clip,
            (1.0, 5.0),
            (18.0, 5.0),
            2.0,
            Rgb([0, 0, 255]),
        );
        assert_eq!(*img.get_pixel(5, 5), Rgb([0, 0, 255]));
        assert_eq!(*img.get_pixel(5, 1), Rgb([255, 255, 255]));
        // Right of the clip rectangle nothing is drawn.
        assert_eq!(*img.get_pixel(15, 5), Rgb([255, 255, 255]));
        // Far outside the image: no panic.
        segment(
            &mut img,
            Rect::of(&RgbImage::new(1, 1)),
            (-1e9, 0.0),
            (1e9, 3.0),
            3.0,
            Rgb([0, 0, 0]),
        );
    }
}
