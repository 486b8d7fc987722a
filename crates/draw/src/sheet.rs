//! Pictures for looking at a dataset before training on it (`mrcnn dataset show`): a contact
//! sheet of captioned images, and a bar chart of instances per class.

use image::imageops::FilterType;
use image::{Rgb, RgbImage};

use crate::draw::{Rect, fill_rect};
use crate::font::{draw_text, text_height, text_width};
use crate::plot::{color, fit_text};

const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
const INK: Rgb<u8> = Rgb([20, 20, 20]);
const MARGIN: u32 = 8;

/// A `w` x `h` image scaled to fit a `cell` x `cell` square, enlarged at most `max_scale`
/// times: its new size, the scale, and the filter (nearest neighbour when enlarging, which
/// keeps mask edges and 1-px outlines crisp).
pub fn fit(w: u32, h: u32, cell: u32, max_scale: f64) -> (u32, u32, f64, FilterType) {
    let scale = (cell as f64 / w.max(1) as f64)
        .min(cell as f64 / h.max(1) as f64)
        .min(max_scale);
    let (sw, sh) = (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    );
    let filter = if scale > 1.0 {
        FilterType::Nearest
    } else {
        FilterType::Triangle
    };
    (sw, sh, scale, filter)
}

/// The images in a grid of `columns`, each scaled (never enlarged beyond 2x) to fit a
/// `cell` x `cell` square, with its caption under it, cut to the cell's width.
pub fn contact_sheet(cells: &[(RgbImage, String)], columns: usize, cell: u32) -> RgbImage {
    let columns = columns.max(1);
    let rows = cells.len().div_ceil(columns).max(1);
    let caption_h = text_height(1) + 4;
    let (cw, ch) = (cell + MARGIN, cell + caption_h + MARGIN);
    let mut out = RgbImage::from_pixel(
        columns.min(cells.len().max(1)) as u32 * cw + MARGIN,
        rows as u32 * ch + MARGIN,
        BACKGROUND,
    );
    for (i, (img, caption)) in cells.iter().enumerate() {
        let (x0, y0) = (
            MARGIN + (i % columns) as u32 * cw,
            MARGIN + (i / columns) as u32 * ch,
        );
        let (w, h) = img.dimensions();
        let (sw, sh, _, filter) = fit(w, h, cell, 2.0);
        let scaled = image::imageops::resize(img, sw, sh, filter);
        image::imageops::replace(&mut out, &scaled, x0 as i64, y0 as i64);
        let text = fit_text(caption, cell as i64, 1);
        draw_text(&mut out, x0 as i64, (y0 + sh + 2) as i64, &text, INK, 1);
    }
    out
}

/// Horizontal bars, one per `(name, count)`, longest bar = the largest count, the count
/// written after each bar, the title above.
pub fn bar_chart(title: &str, bars: &[(String, u64)]) -> RgbImage {
    let bar_h = text_height(1) + 8;
    let label_w = bars
        .iter()
        .map(|(n, _)| text_width(n, 1))
        .max()
        .unwrap_or(0)
        .min(240);
    let plot_w = 480u32;
    let width = MARGIN * 3 + label_w + plot_w + text_width("0000000", 1);
    let top = MARGIN * 2 + text_height(2);
    let height = top + bars.len().max(1) as u32 * (bar_h + 4) + MARGIN;
    let mut out = RgbImage::from_pixel(width, height, BACKGROUND);
    draw_text(&mut out, MARGIN as i64, MARGIN as i64, title, INK, 2);
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    for (i, (name, n)) in bars.iter().enumerate() {
        let y = (top + i as u32 * (bar_h + 4)) as i64;
        let text_y = y + ((bar_h - text_height(1)) / 2) as i64;
        let label = fit_text(name, label_w as i64, 1);
        draw_text(&mut out, MARGIN as i64, text_y, &label, INK, 1);
        let x = (MARGIN * 2 + label_w) as i64;
        let len = (*n as f64 / max as f64 * plot_w as f64).round() as i64;
        fill_rect(
            &mut out,
            Rect::new(x, y, len.max(1), bar_h as i64),
            color(i),
        );
        draw_text(&mut out, x + len + 4, text_y, &n.to_string(), INK, 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_places_scaled_cells_in_a_grid() {
        let red = RgbImage::from_pixel(20, 10, Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(10, 20, Rgb([0, 0, 255]));
        let cells = vec![
            (red, "a".to_string()),
            (blue.clone(), "b".to_string()),
            (blue, "c".to_string()),
        ];
        let s = contact_sheet(&cells, 2, 40);
        let caption_h = text_height(1) + 4;
        assert_eq!(s.width(), 2 * (40 + MARGIN) + MARGIN);
        assert_eq!(s.height(), 2 * (40 + caption_h + MARGIN) + MARGIN);
        // The first image is enlarged 2x (20x10 -> 40x20), the second 2x too (10x20 -> 20x40).
        assert_eq!(s.get_pixel(MARGIN + 39, MARGIN + 19).0, [255, 0, 0]);
        assert_eq!(s.get_pixel(MARGIN + 39, MARGIN + 21).0, [255, 255, 255]);
        let x1 = MARGIN + 40 + MARGIN;
        assert_eq!(s.get_pixel(x1 + 19, MARGIN + 39).0, [0, 0, 255]);
    }

    #[test]
    fn bars_are_proportional_to_counts() {
        let c = bar_chart("t", &[("a".into(), 10), ("b".into(), 5)]);
        let row = |i: u32| {
            let y = MARGIN * 2 + text_height(2) + i * (text_height(1) + 12) + 2;
            (0..c.width())
                .filter(|&x| c.get_pixel(x, y).0 == color(i as usize).0)
                .count()
        };
        assert_eq!(row(0), 480);
        assert_eq!(row(1), 240);
    }
}
