//! COCO RLE: `Rle::from_compressed`, `from_uncompressed`, `from_polygons` /
//! `from_bbox` (arbitrary floats), then decode / encode / area / to_bbox /
//! to_compressed / merge / iou on what parsed, checked against the decoded
//! pixels. Mask sizes are kept at most 200x200 so the fuzzer tests logic, not
//! memory; the parsers themselves never allocate by a declared size.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use mrcnn_coco::rle::{Rle, RleError, iou};

#[derive(Arbitrary, Debug)]
struct Input {
    h: u16,
    w: u16,
    masks: Vec<Source>,
    crowd: Vec<bool>,
}

#[derive(Arbitrary, Debug)]
enum Source {
    /// A compressed counts string; with `fit`, a size mismatch is retried at
    /// the size the string covers (when small), so valid strings are kept.
    Compressed {
        s: String,
        fit: bool,
    },
    /// Raw bytes as a compressed string (mostly in '0'..='o').
    CompressedBytes(Vec<u8>),
    /// Uncompressed counts; with `fit`, the last count is set to make them cover h*w.
    Uncompressed {
        counts: Vec<u32>,
        fit: bool,
    },
    Polygons(Vec<Vec<Coord>>),
    Bbox([Coord; 4]),
    /// A mask from pixels, through `Rle::encode`.
    Pixels(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Coord {
    /// Quarter pixels around the image, as polygons mostly are.
    Near(i16),
    Raw(f64),
}

impl Coord {
    fn get(self) -> f64 {
        match self {
            Coord::Near(v) => v as f64 / 16.0,
            Coord::Raw(f) => f,
        }
    }
}

const MAX_SIDE: u32 = 200;

fn parse(src: &Source, h: u32, w: u32) -> Option<Rle> {
    match src {
        Source::Compressed { s, fit } => match Rle::from_compressed(s, h, w) {
            Ok(r) => Some(r),
            Err(RleError::SizeMismatch { sum, .. })
                if *fit && sum > 0 && sum <= (MAX_SIDE * MAX_SIDE) as u64 =>
            {
                let sum = sum as u32;
                let hh = (1..=sum.min(MAX_SIDE))
                    .rev()
                    .find(|d| sum.is_multiple_of(*d) && sum / d <= MAX_SIDE)?;
                Some(Rle::from_compressed(s, hh, sum / hh).expect("the fitted size parses"))
            }
            Err(_) => None,
        },
        Source::CompressedBytes(b) => {
            let s: String = b.iter().map(|&c| (48 + c % 64) as char).collect();
            Rle::from_compressed(&s, h, w).ok()
        }
        Source::Uncompressed { counts, fit } => {
            let mut c = counts.clone();
            if *fit {
                let n = (h * w) as u64;
                let sum: u64 = c
                    .iter()
                    .take(c.len().saturating_sub(1))
                    .map(|&x| x as u64)
                    .sum();
                match c.last_mut() {
                    Some(l) if sum <= n => *l = (n - sum) as u32,
                    None => c.push(n as u32),
                    _ => {}
                }
            }
            Rle::from_uncompressed(&c, h, w).ok()
        }
        Source::Polygons(p) => {
            let p: Vec<Vec<f64>> = p
                .iter()
                .map(|q| q.iter().map(|c| c.get()).collect())
                .collect();
            Some(Rle::from_polygons(&p, h, w))
        }
        Source::Bbox(b) => Some(Rle::from_bbox(b.map(Coord::get), h, w)),
        Source::Pixels(p) => {
            let n = (h * w) as usize;
            let m: Vec<u8> = (0..n)
                .map(|i| if p.is_empty() { 0 } else { p[i % p.len()] & 1 })
                .collect();
            Some(Rle::encode(&m, h, w))
        }
    }
}

/// The tight `[x, y, w, h]` box of a row-major mask.
fn mask_box(m: &[u8], h: u32, w: u32) -> [f64; 4] {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for y in 0..h {
        for x in 0..w {
            if m[(y * w + x) as usize] != 0 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
    }
    if x0 == u32::MAX {
        return [0.0; 4];
    }
    [
        x0 as f64,
        y0 as f64,
        (x1 - x0 + 1) as f64,
        (y1 - y0 + 1) as f64,
    ]
}

fuzz_target!(|inp: Input| {
    let (h, w) = (inp.h as u32 % (MAX_SIDE + 1), inp.w as u32 % (MAX_SIDE + 1));
    let mut same_size = Vec::new();
    let mut pixels = Vec::new();
    for src in inp.masks.iter().take(8) {
        let Some(r) = parse(src, h, w) else { continue };
        common::check_rle_sum(&r);
        let m = r.decode();
        assert_eq!(m.len(), (r.h * r.w) as usize);
        assert!(m.iter().all(|&v| v <= 1));
        assert_eq!(r.area(), m.iter().map(|&v| v as u64).sum::<u64>(), "area");
        // Exact string round trip (zero-length runs included).
        assert_eq!(
            Rle::from_compressed(&r.to_compressed(), r.h, r.w).as_ref(),
            Ok(&r)
        );
        assert_eq!(Rle::from_uncompressed(&r.counts, r.h, r.w).as_ref(), Ok(&r));
        // Canonical form: same pixels, and its box is the pixels' box.
        let c = Rle::encode(&m, r.h, r.w);
        assert_eq!(c.decode(), m, "encode/decode");
        assert_eq!(c.to_bbox(), mask_box(&m, r.h, r.w), "to_bbox of {c:?}");
        if (r.h, r.w) == (h, w) {
            same_size.push(c);
            pixels.push(m);
        }
    }
    if same_size.is_empty() {
        return;
    }
    let n = (h * w) as usize;
    let union: Vec<u8> = (0..n)
        .map(|i| pixels.iter().any(|m| m[i] != 0) as u8)
        .collect();
    let inter: Vec<u8> = (0..n)
        .map(|i| pixels.iter().all(|m| m[i] != 0) as u8)
        .collect();
    assert_eq!(Rle::merge(&same_size, false).decode(), union, "union");
    assert_eq!(Rle::merge(&same_size, true).decode(), inter, "intersection");

    let o = iou(&same_size, &same_size, &inp.crowd);
    for (a, (ra, ma)) in same_size.iter().zip(&pixels).enumerate() {
        for (b, mb) in pixels.iter().enumerate() {
            let crowd = inp.crowd.get(b).copied().unwrap_or(false);
            let i = ma
                .iter()
                .zip(mb)
                .filter(|(x, y)| **x != 0 && **y != 0)
                .count();
            let u = if crowd {
                ra.area() as usize
            } else {
                ma.iter()
                    .zip(mb)
                    .filter(|(x, y)| **x != 0 || **y != 0)
                    .count()
            };
            let want = if i == 0 { 0.0 } else { i as f64 / u as f64 };
            assert_eq!(o[a][b], want, "iou of masks {a} and {b} (crowd {crowd})");
        }
    }
});
