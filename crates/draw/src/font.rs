//! Text for the PNG reports: the public-domain 8x8 bitmap font of the `font8x8` crate (the same
//! glyphs `mrcnn predict --visualize` uses), drawn at an integer scale.
//!
//! Why a bitmap font and not `plotters`' text: plotters only draws glyphs through `font-kit`
//! (system fonts via fontconfig) or `ab_glyph` (a TTF that we would have to ship); without either
//! its text calls succeed and draw nothing. A bare CI machine has no fonts, so the charts of this
//! crate are drawn with `image` plus this font and need nothing from the system.
//!
//! Covered: ASCII, Latin-1 and Greek; any other character is drawn as `?`.

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

/// Glyph cell size in pixels at scale 1.
pub const GLYPH: u32 = 8;

fn glyph(ch: char) -> [u8; 8] {
    font8x8::BASIC_FONTS
        .get(ch)
        .or_else(|| font8x8::LATIN_FONTS.get(ch))
        .or_else(|| font8x8::GREEK_FONTS.get(ch))
        .or_else(|| font8x8::BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

/// Width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u32) -> u32 {
    text.chars().count() as u32 * GLYPH * scale
}

/// Height in pixels of one line at `scale`.
pub fn text_height(scale: u32) -> u32 {
    GLYPH * scale
}

fn put(img: &mut RgbImage, x: i64, y: i64, col: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, col);
    }
}

/// Draws `text` with its top-left corner at (x, y); only the glyph pixels are set (transparent
/// background), pixels outside the image are skipped.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, col: Rgb<u8>, scale: u32) {
    let s = scale.max(1) as i64;
    for (ci, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        let x0 = x + ci as i64 * GLYPH as i64 * s;
        for (gy, row) in g.iter().enumerate() {
            for gx in 0..8 {
                if row >> gx & 1 == 1 {
                    for dy in 0..s {
                        for dx in 0..s {
                            put(img, x0 + gx as i64 * s + dx, y + gy as i64 * s + dy, col);
                        }
                    }
                }
            }
        }
    }
}

/// Draws `text` rotated 90 degrees counter-clockwise (reading bottom to top), its bounding box's
/// top-left corner at (x, y); the box is `text_height(scale)` wide and `text_width(..)` high.
pub fn draw_text_up(img: &mut RgbImage, x: i64, y: i64, text: &str, col: Rgb<u8>, scale: u32) {
    let s = scale.max(1) as i64;
    let len = text.chars().count() as i64;
    for (ci, ch) in text.chars().enumerate() {
        let g = glyph(ch);
        // Character ci occupies rows from the bottom up.
        let y_base = y + (len - ci as i64) * GLYPH as i64 * s - 1;
        for (gy, row) in g.iter().enumerate() {
            for gx in 0..8 {
                if row >> gx & 1 == 1 {
                    // Rotating CCW: glyph column gx goes up, glyph row gy goes right.
                    let px = x + gy as i64 * s;
                    let py = y_base - gx as i64 * s;
                    for dy in 0..s {
                        for dx in 0..s {
                            put(img, px + dx, py - dy, col);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_inside_its_box_only() {
        let mut img = RgbImage::from_pixel(40, 20, Rgb([255, 255, 255]));
        draw_text(&mut img, 2, 3, "A1", Rgb([0, 0, 0]), 1);
        let dark: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|p| p.2.0[0] == 0)
            .map(|p| (p.0, p.1))
            .collect();
        assert!(!dark.is_empty());
        assert!(
            dark.iter()
                .all(|&(x, y)| (2..18).contains(&x) && (3..11).contains(&y))
        );
        assert_eq!(text_width("A1", 2), 32);
    }

    #[test]
    fn vertical_text_fits_its_box_and_clips() {
        let mut img = RgbImage::from_pixel(20, 40, Rgb([255, 255, 255]));
        draw_text_up(&mut img, 1, 2, "ab", Rgb([0, 0, 0]), 1);
        let dark: Vec<(u32, u32)> = img
            .enumerate_pixels()
            .filter(|p| p.2.0[0] == 0)
            .map(|p| (p.0, p.1))
            .collect();
        assert!(!dark.is_empty());
        assert!(
            dark.iter()
                .all(|&(x, y)| (1..9).contains(&x) && (2..18).contains(&y))
        );
        // Off-image text is clipped, not a panic.
        draw_text(&mut img, -100, 35, "clipped ÿ€", Rgb([0, 0, 0]), 3);
        draw_text_up(&mut img, 15, -50, "clipped", Rgb([0, 0, 0]), 2);
    }
}
