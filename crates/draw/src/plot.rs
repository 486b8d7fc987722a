//! Line charts as PNG: one or more panels in a grid, each with its own axes, ticks, grid,
//! legend and series, an optional right-hand y axis, under an optional chart title.
//!
//! Drawn with `image` (lines: [`crate::draw`]) and the 8x8 bitmap font of [`crate::font`], not
//! with `plotters`: plotters renders text only through system fonts (`font-kit`/fontconfig) or a
//! TTF held in memory (`ab_glyph`), and a bare CI machine has neither; drawing ourselves also
//! keeps the dependency footprint at `image` (already built for the CLI) and `font8x8`.
//!
//! A panel whose series hold no finite point is drawn as a frame with "no data yet" (or
//! [`Panel::empty_text`]), so a chart always has the same size whatever data exists.

use std::path::Path;

use image::{Rgb, RgbImage};

use crate::draw::{Rect, dot, fill_rect, hline, segment, stroke_rect, vline};
use crate::font::{draw_text, draw_text_up, text_height, text_width};
use crate::png::{DrawError, write_png};

/// Series colours, in order (matplotlib's tab10).
pub const PALETTE: [[u8; 3]; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// Size of [`line_chart_png`]'s image.
pub const LINE_CHART_SIZE: (u32, u32) = (960, 540);

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const GRID: Rgb<u8> = Rgb([215, 215, 215]);
const FRAME: Rgb<u8> = Rgb([90, 90, 90]);
const MUTED: Rgb<u8> = Rgb([120, 120, 120]);

/// Which y axis a series is measured against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Axis {
    #[default]
    Left,
    Right,
}

/// One line: `(x, y)` points drawn in order; a non-finite coordinate breaks the line. Series of
/// at most 50 points also get a dot at each point.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub axis: Axis,
    /// Line width in pixels; 0 (the default): 2. A wider first series stays visible where a
    /// later one runs on top of it.
    pub width: f64,
}

impl Series {
    /// A series on the left axis.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Series {
        Series {
            name: name.into(),
            points,
            axis: Axis::Left,
            width: 0.0,
        }
    }
}

/// Where a panel's legend goes inside its plot area.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Legend {
    #[default]
    TopRight,
    TopLeft,
    BottomLeft,
    BottomRight,
    None,
}

/// One plot area. Series colours follow [`PALETTE`] in the order of `series`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Label of the right axis (shown when a series uses [`Axis::Right`]).
    pub y_label_right: String,
    pub series: Vec<Series>,
    /// Fixed x range; `None`: the data's range.
    pub x_range: Option<(f64, f64)>,
    /// Fixed left y range; `None`: the data's range plus 5% either side.
    pub y_range: Option<(f64, f64)>,
    /// Fixed right y range; `None`: as `y_range`.
    pub y_range_right: Option<(f64, f64)>,
    /// Automatic y ranges of non-negative data start at 0.
    pub y_from_zero: bool,
    pub legend: Legend,
    /// Text of a panel without data; empty: "no data yet".
    pub empty_text: String,
}

/// `PALETTE[i % 10]` as a pixel.
pub fn color(i: usize) -> Rgb<u8> {
    Rgb(PALETTE[i % PALETTE.len()])
}

fn finite(p: &(f64, f64)) -> bool {
    p.0.is_finite() && p.1.is_finite()
}

/// Min and max of `vals`, or `None` when empty.
fn min_max(vals: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    vals.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

/// Widens a degenerate range, pads by `pad` of its span, starts at 0 if asked.
fn widen(r: Option<(f64, f64)>, pad: f64, from_zero: bool) -> (f64, f64) {
    let Some((mut lo, mut hi)) = r else {
        return (0.0, 1.0);
    };
    if from_zero && lo >= 0.0 {
        lo = 0.0;
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(lo.abs()).max(1e-300) {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (if from_zero && lo >= 0.0 { lo } else { lo - d }, hi + d);
    }
    let span = hi - lo;
    hi += span * pad;
    if !(from_zero && lo == 0.0) {
        lo -= span * pad;
    }
    (lo, hi)
}

/// "Nice" tick values (1, 2 or 5 times a power of ten) inside `[lo, hi]`, about `n` of them,
/// and the step.
pub fn ticks(lo: f64, hi: f64, n: usize) -> (Vec<f64>, f64) {
    let span = hi - lo;
    if !span.is_finite() || span <= 0.0 {
        return (vec![lo], 1.0);
    }
    let raw = span / n.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = mag
        * if norm <= 1.0 {
            1.0
        } else if norm <= 2.0 {
            2.0
        } else if norm <= 5.0 {
            5.0
        } else {
            10.0
        };
    let k0 = (lo / step - 1e-9).ceil() as i64;
    let k1 = (hi / step + 1e-9).floor() as i64;
    let vals = (k0..=k1.min(k0 + 100)).map(|k| k as f64 * step).collect();
    (vals, step)
}

/// Tick label of `v` for ticks `step` apart: fixed decimals, or scientific for tiny or huge.
pub fn tick_label(v: f64, step: f64) -> String {
    if v.abs() < step * 1e-6 {
        return "0".into();
    }
    if step < 1e-4 || v.abs() >= 1e6 {
        return format!("{v:.1e}");
    }
    let decimals = (-(step.log10() + 1e-9).floor()).max(0.0) as usize;
    format!("{v:.decimals$}")
}

struct AxisMap {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    labels: Vec<String>,
}

impl AxisMap {
    fn new(range: (f64, f64), n: usize) -> AxisMap {
        let (ticks, step) = ticks(range.0, range.1, n);
        let labels = ticks.iter().map(|&v| tick_label(v, step)).collect();
        AxisMap {
            lo: range.0,
            hi: range.1,
            ticks,
            labels,
        }
    }
    fn label_width(&self) -> i64 {
        self.labels
            .iter()
            .map(|l| text_width(l, 1) as i64)
            .max()
            .unwrap_or(0)
    }
    /// Fraction of the range, 0 at `lo`.
    fn frac(&self, v: f64) -> f64 {
        (v - self.lo) / (self.hi - self.lo)
    }
}

/// `text` cut to at most `max_px` pixels at `scale`, ending in ".." when cut.
pub fn fit_text(text: &str, max_px: i64, scale: u32) -> String {
    let max_chars = (max_px.max(0) as u32 / text_width("a", scale)) as usize;
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    if max_chars < 3 {
        return text.chars().take(max_chars).collect();
    }
    text.chars()
        .take(max_chars - 2)
        .chain("..".chars())
        .collect()
}

/// Draws `panel` into `area` of `img`.
pub fn draw_panel(img: &mut RgbImage, area: Rect, panel: &Panel) {
    fill_rect(img, area, WHITE);
    let has = |axis: Axis| {
        panel
            .series
            .iter()
            .any(|s| s.axis == axis && s.points.iter().any(finite))
    };
    let (has_left, has_right) = (has(Axis::Left), has(Axis::Right));
    let pts = |axis: Option<Axis>| {
        panel
            .series
            .iter()
            .filter(move |s| axis.is_none_or(|a| s.axis == a))
            .flat_map(|s| s.points.iter().copied().filter(finite))
    };
    let xr = panel
        .x_range
        .unwrap_or_else(|| widen(min_max(pts(None).map(|p| p.0)), 0.0, false));
    let yr = panel.y_range.unwrap_or_else(|| {
        widen(
            min_max(pts(Some(Axis::Left)).map(|p| p.1)),
            0.05,
            panel.y_from_zero,
        )
    });
    let yr2 = panel.y_range_right.unwrap_or_else(|| {
        widen(
            min_max(pts(Some(Axis::Right)).map(|p| p.1)),
            0.05,
            panel.y_from_zero,
        )
    });

    let th = text_height(1) as i64;
    let top = area.y + 6 + if panel.title.is_empty() { 0 } else { th + 8 };
    let bottom = area.bottom() - 6 - th - 6 - if panel.x_label.is_empty() { 0 } else { th + 4 };
    let n_y = ((bottom - top) / 45).clamp(2, 10) as usize;
    let ymap = AxisMap::new(yr, n_y);
    let ymap2 = AxisMap::new(yr2, n_y);
    let ylab_w = if panel.y_label.is_empty() { 0 } else { th + 6 };
    let left = area.x + 6 + ylab_w + ymap.label_width() + 6;
    let right = if has_right {
        let ylab2_w = if panel.y_label_right.is_empty() {
            0
        } else {
            th + 6
        };
        area.right() - 6 - ylab2_w - ymap2.label_width() - 6
    } else {
        area.right() - 14
    };
    let plot = Rect::new(left, top, right - left, bottom - top);
    if plot.w < 10 || plot.h < 10 {
        return;
    }
    let n_x = (plot.w / 90).clamp(2, 10) as usize;
    let xmap = AxisMap::new(xr, n_x);
    let px = |x: f64| plot.x as f64 + xmap.frac(x) * (plot.w - 1) as f64;
    let py = |m: &AxisMap, y: f64| (plot.bottom() - 1) as f64 - m.frac(y) * (plot.h - 1) as f64;

    // Title, centred over the plot area.
    if !panel.title.is_empty() {
        let title = fit_text(&panel.title, area.w - 8, 1);
        let tw = text_width(&title, 1) as i64;
        let tx =
            (plot.x + (plot.w - tw) / 2).clamp(area.x + 4, (area.right() - 4 - tw).max(area.x));
        draw_text(img, tx, area.y + 6, &title, BLACK, 1);
    }
    // Grid and ticks.
    let full = Rect::of(img);
    for (v, l) in xmap.ticks.iter().zip(&xmap.labels) {
        let x = px(*v).round() as i64;
        vline(img, plot, x, plot.y, plot.bottom() - 1, GRID, 3);
        vline(img, full, x, plot.bottom(), plot.bottom() + 3, FRAME, 0);
        let lw = text_width(l, 1) as i64;
        let lx = (x - lw / 2).clamp(area.x, area.right() - lw);
        draw_text(img, lx, plot.bottom() + 6, l, BLACK, 1);
    }
    for (v, l) in ymap.ticks.iter().zip(&ymap.labels) {
        let y = py(&ymap, *v).round() as i64;
        hline(img, plot, plot.x, plot.right() - 1, y, GRID, 3);
        hline(img, full, plot.x - 4, plot.x - 1, y, FRAME, 0);
        let lw = text_width(l, 1) as i64;
        draw_text(img, plot.x - 6 - lw, y - th / 2, l, BLACK, 1);
    }
    if has_right {
        for (v, l) in ymap2.ticks.iter().zip(&ymap2.labels) {
            let y = py(&ymap2, *v).round() as i64;
            hline(img, full, plot.right(), plot.right() + 3, y, FRAME, 0);
            draw_text(img, plot.right() + 6, y - th / 2, l, BLACK, 1);
        }
    }
    // Axis labels.
    if !panel.x_label.is_empty() {
        let lw = text_width(&panel.x_label, 1) as i64;
        let y = plot.bottom() + 6 + th + 4;
        draw_text(img, plot.x + (plot.w - lw) / 2, y, &panel.x_label, BLACK, 1);
    }
    if !panel.y_label.is_empty() {
        let lh = text_width(&panel.y_label, 1) as i64;
        let y = (plot.y + (plot.h - lh) / 2).max(area.y);
        draw_text_up(img, area.x + 6, y, &panel.y_label, BLACK, 1);
    }
    if has_right && !panel.y_label_right.is_empty() {
        let lh = text_width(&panel.y_label_right, 1) as i64;
        let y = (plot.y + (plot.h - lh) / 2).max(area.y);
        draw_text_up(
            img,
            area.right() - 6 - th,
            y,
            &panel.y_label_right,
            BLACK,
            1,
        );
    }

    // Series.
    for (i, s) in panel.series.iter().enumerate() {
        let col = color(i);
        let m = if s.axis == Axis::Right { &ymap2 } else { &ymap };
        let markers = s.points.len() <= 50;
        let mut prev: Option<(f64, f64)> = None;
        for p in &s.points {
            if !finite(p) {
                prev = None;
                continue;
            }
            let q = (px(p.0), py(m, p.1));
            let width = if s.width > 0.0 { s.width } else { 2.0 };
            if let Some(a) = prev {
                segment(img, plot, a, q, width, col);
            }
            if markers {
                dot(img, plot, q, 2.5, col);
            }
            prev = Some(q);
        }
    }
    stroke_rect(img, plot, FRAME);

    if !has_left && !has_right {
        let msg = if panel.empty_text.is_empty() {
            "no data yet"
        } else {
            &panel.empty_text
        };
        let lw = text_width(msg, 1) as i64;
        draw_text(
            img,
            plot.x + (plot.w - lw) / 2,
            plot.y + (plot.h - th) / 2,
            msg,
            MUTED,
            1,
        );
        return;
    }
    draw_legend(img, plot, panel);
}

fn draw_legend(img: &mut RgbImage, plot: Rect, panel: &Panel) {
    if panel.legend == Legend::None || panel.series.is_empty() {
        return;
    }
    let th = text_height(1) as i64;
    let labels: Vec<String> = panel
        .series
        .iter()
        .map(|s| match s.axis {
            Axis::Left => s.name.clone(),
            Axis::Right => format!("{} (right)", s.name),
        })
        .collect();
    let tw = labels
        .iter()
        .map(|l| text_width(l, 1) as i64)
        .max()
        .unwrap_or(0);
    let (w, h) = (tw + 36, labels.len() as i64 * (th + 6) + 6);
    let (x, y) = match panel.legend {
        Legend::TopLeft => (plot.x + 8, plot.y + 8),
        Legend::BottomLeft => (plot.x + 8, plot.bottom() - 8 - h),
        Legend::BottomRight => (plot.right() - 8 - w, plot.bottom() - 8 - h),
        _ => (plot.right() - 8 - w, plot.y + 8),
    };
    let r = Rect::new(x, y, w, h);
    fill_rect(img, r, WHITE);
    stroke_rect(img, r, GRID);
    for (i, l) in labels.iter().enumerate() {
        let ly = y + 6 + i as i64 * (th + 6);
        let cy = (ly + th / 2) as f64 - 0.5;
        segment(
            img,
            r,
            ((x + 6) as f64, cy),
            ((x + 24) as f64, cy),
            2.0,
            color(i),
        );
        draw_text(img, x + 30, ly, l, BLACK, 1);
    }
}

/// Renders `panels` in a grid of `columns` columns, each `panel_size` (width, height) pixels,
/// under `title` (2x text; no title band when empty). No panels: one empty panel.
pub fn render_panels(
    title: &str,
    panels: &[Panel],
    columns: usize,
    panel_size: (u32, u32),
) -> RgbImage {
    let empty = [Panel::default()];
    let panels = if panels.is_empty() {
        &empty[..]
    } else {
        panels
    };
    let cols = columns.clamp(1, panels.len());
    let rows = panels.len().div_ceil(cols);
    let (pw, ph) = (panel_size.0.max(120), panel_size.1.max(90));
    let band = if title.is_empty() {
        0
    } else {
        text_height(2) + 16
    };
    let mut img = RgbImage::from_pixel(cols as u32 * pw, band + rows as u32 * ph, WHITE);
    if !title.is_empty() {
        let w = img.width() as i64 - 8;
        let scale = if text_width(title, 2) as i64 <= w {
            2
        } else {
            1
        };
        let title = fit_text(title, w, scale);
        let tw = text_width(&title, scale) as i64;
        let y = 10 + (text_height(2) - text_height(scale)) as i64 / 2;
        let x = (img.width() as i64 - tw) / 2;
        draw_text(&mut img, x, y, &title, BLACK, scale);
    }
    for (i, p) in panels.iter().enumerate() {
        let (c, r) = ((i % cols) as u32, (i / cols) as u32);
        let area = Rect::new(
            (c * pw) as i64,
            (band + r * ph) as i64,
            pw as i64,
            ph as i64,
        );
        draw_panel(&mut img, area, p);
    }
    img
}

/// [`render_panels`] written as PNG (atomically) to `path`.
pub fn panels_png(
    path: &Path,
    title: &str,
    panels: &[Panel],
    columns: usize,
    panel_size: (u32, u32),
) -> Result<(), DrawError> {
    write_png(path, &render_panels(title, panels, columns, panel_size))
}

/// One panel of `series` ([`LINE_CHART_SIZE`], legend top right, ranges from the data), titled
/// `title`, written as PNG to `path`. For axis labels or fixed ranges build a [`Panel`] and use
/// [`panels_png`].
pub fn line_chart_png(path: &Path, title: &str, series: &[Series]) -> Result<(), DrawError> {
    let panel = Panel {
        title: title.to_string(),
        series: series.to_vec(),
        ..Panel::default()
    };
    panels_png(path, "", &[panel], 1, LINE_CHART_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_and_labels() {
        let (t, s) = ticks(0.0, 1.0, 5);
        assert_eq!(s, 0.2);
        assert_eq!(t.len(), 6);
        let l: Vec<String> = t.iter().map(|&v| tick_label(v, s)).collect();
        assert_eq!(l, ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        let (t, s) = ticks(-3.0, 1234.0, 5);
        assert_eq!((s, t[0], *t.last().unwrap()), (500.0, 0.0, 1000.0));
        assert_eq!(tick_label(1000.0, 500.0), "1000");
        assert_eq!(tick_label(2e-5, 1e-5), "2.0e-5");
        assert_eq!(tick_label(0.05, 0.05), "0.05");
        assert_eq!(ticks(1.0, 1.0, 5).0, vec![1.0]);
    }

    #[test]
    fn degenerate_input_does_not_panic() {
        let wild = Series::new("w", vec![(0.0, 1e308), (1.0, -1e308), (2.0, 5e-324)]);
        let panels = [
            Panel {
                x_range: Some((1.0, 1.0)),
                y_range: Some((2.0, -2.0)),
                series: vec![wild.clone()],
                ..Panel::default()
            },
            Panel {
                title: "x".repeat(500),
                y_label: "y".repeat(500),
                series: vec![wild, Series::new("", vec![])],
                ..Panel::default()
            },
        ];
        let img = render_panels(&"t".repeat(400), &panels, 0, (1, 1));
        assert_eq!(img.dimensions(), (120, 16 + 16 + 2 * 90));
    }

    #[test]
    fn long_text_is_cut() {
        assert_eq!(fit_text("abcdef", 48, 1), "abcdef");
        assert_eq!(fit_text("abcdefg", 48, 1), "abcd..");
        assert_eq!(fit_text("abcdefg", 8, 1), "a");
        assert_eq!(fit_text("abc", -5, 2), "");
    }

    #[test]
    fn ranges() {
        assert_eq!(widen(None, 0.05, false), (0.0, 1.0));
        assert_eq!(widen(Some((2.0, 2.0)), 0.05, false), (1.8, 2.2));
        assert_eq!(widen(Some((0.5, 1.5)), 0.0, true), (0.0, 1.5));
    }
}
