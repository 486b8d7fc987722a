//! COCO run-length encoded (RLE) binary masks, mirroring pycocotools' `maskApi.c`.
//!
//! Layout: a mask of `h` rows and `w` columns is flattened in column-major
//! (Fortran) order and stored as alternating run lengths, the first run counting
//! zeros (it is 0 when the first pixel is foreground). This is exactly the
//! representation pycocotools uses, so compressed strings produced here can be
//! written into COCO result files and read back by pycocotools, and vice versa.
//!
//! Every operation copies the arithmetic of the C original (integer widths,
//! rounding, polygon upsampling by 5), because COCO metrics depend on the exact
//! pixels a polygon rasterises to and on the exact IoU values.

use thiserror::Error;

use crate::polygon::fr_poly;

/// Errors from parsing RLE data that came from outside (JSON files, strings).
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RleError {
    /// A compressed string may only hold the 64 characters `'0'..='o'`.
    #[error(
        "compressed RLE string has invalid character {ch:?} at byte {pos} (allowed: '0'..='o')"
    )]
    BadChar { ch: char, pos: usize },
    /// The last character of a compressed string announced a continuation.
    #[error("compressed RLE string ends inside a count that starts at byte {pos}")]
    Truncated { pos: usize },
    /// A count needs more characters than a 64-bit value can hold.
    #[error("compressed RLE string has an over-long count starting at byte {pos}")]
    Overlong { pos: usize },
    /// A decoded count is negative or does not fit 32 bits.
    #[error("RLE count #{index} is {value}, outside 0..=4294967295")]
    CountOutOfRange { index: usize, value: i64 },
    /// Runs must cover the image exactly.
    #[error("RLE counts sum to {sum} but size is {h}x{w} = {expected} pixels")]
    SizeMismatch {
        sum: u64,
        h: u32,
        w: u32,
        expected: u64,
    },
}

/// A binary mask as COCO runs (column-major, first run = zeros), as pycocotools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rle {
    pub h: u32,
    pub w: u32,
    pub counts: Vec<u32>,
}

/// Whether a `w` x `h` image fits COCO masks: their runs and polygon rasterisation use 32-bit
/// pixel positions (as pycocotools' maskApi.c), so a mask of more than 2^32 pixels would be
/// silently wrong. Every reader refuses larger images with this test.
pub fn addressable(w: u32, h: u32) -> bool {
    w as u64 * h as u64 <= u32::MAX as u64
}

impl Rle {
    /// rleEncode: `mask` is row-major `h*w`; any nonzero byte is foreground.
    ///
    /// # Panics
    /// If `mask.len() != h*w` (a caller bug, not a data error).
    pub fn encode(mask: &[u8], h: u32, w: u32) -> Rle {
        let (hh, ww) = (h as usize, w as usize);
        assert_eq!(mask.len(), hh * ww, "Rle::encode: mask length must be h*w");
        let mut counts = Vec::new();
        let mut prev = false;
        let mut run = 0u32;
        // Walk in column-major order: that is the order COCO runs are defined in.
        for x in 0..ww {
            for y in 0..hh {
                let v = mask[y * ww + x] != 0;
                if v != prev {
                    counts.push(run);
                    run = 0;
                    prev = v;
                }
                run += 1;
            }
        }
        counts.push(run);
        Rle { h, w, counts }
    }

    /// rleDecode into a row-major `h*w` mask of 0/1. Runs past the end are clipped.
    pub fn decode(&self) -> Vec<u8> {
        let (hh, ww) = (self.h as usize, self.w as usize);
        let n = hh * ww;
        let mut out = vec![0u8; n];
        let mut pos = 0usize;
        let mut fg = false;
        for &c in &self.counts {
            let end = (pos + c as usize).min(n);
            if fg {
                for k in pos..end {
                    out[(k % hh) * ww + k / hh] = 1;
                }
            }
            pos = end;
            fg = !fg;
        }
        out
    }

    /// rleArea: number of foreground pixels.
    pub fn area(&self) -> u64 {
        self.counts
            .iter()
            .skip(1)
            .step_by(2)
            .map(|&c| c as u64)
            .sum()
    }

    /// rleToBbox: `[x, y, w, h]` of the foreground, `[0; 4]` for an empty mask.
    ///
    /// Uses the same unsigned 32-bit arithmetic as the C code, so even odd
    /// inputs (zero-length runs) give the same box as pycocotools.
    pub fn to_bbox(&self) -> [f64; 4] {
        let h = self.h;
        let m = (self.counts.len() / 2) * 2;
        if m == 0 || h == 0 {
            return [0.0; 4];
        }
        let (mut xs, mut ys, mut xe, mut ye) = (self.w, h, 0u32, 0u32);
        let mut cc = 0u32;
        let mut xp = 0u32;
        for j in 0..m {
            cc = cc.wrapping_add(self.counts[j]);
            let t = cc.wrapping_sub((j % 2) as u32);
            let y = t % h;
            let x = (t - y) / h;
            if j % 2 == 0 {
                xp = x;
            } else if xp < x {
                // The run wraps over a column boundary: it covers full height.
                ys = 0;
                ye = h - 1;
            }
            xs = xs.min(x);
            xe = xe.max(x);
            ys = ys.min(y);
            ye = ye.max(y);
        }
        [
            xs as f64,
            ys as f64,
            xe.wrapping_sub(xs).wrapping_add(1) as f64,
            ye.wrapping_sub(ys).wrapping_add(1) as f64,
        ]
    }

    /// rleToString: pycocotools' compressed counts string.
    ///
    /// LEB128-like, 5 data bits per char (bit 0x20 = "more"), offset by 48;
    /// counts from the fourth on are stored as the difference to the count two
    /// places earlier (same parity run), which makes them small.
    pub fn to_compressed(&self) -> String {
        let mut s = String::with_capacity(self.counts.len() * 2);
        for i in 0..self.counts.len() {
            let mut x = self.counts[i] as i64;
            if i > 2 {
                x -= self.counts[i - 2] as i64;
            }
            loop {
                let mut c = (x & 0x1f) as u8;
                x >>= 5;
                let more = if c & 0x10 != 0 { x != -1 } else { x != 0 };
                if more {
                    c |= 0x20;
                }
                s.push((c + 48) as char);
                if !more {
                    break;
                }
            }
        }
        s
    }

    /// rleFrString, with validation: bad characters, truncation, negative or
    /// oversized counts and counts not summing to `h*w` are errors.
    pub fn from_compressed(s: &str, h: u32, w: u32) -> Result<Rle, RleError> {
        let bytes = s.as_bytes();
        let mut counts: Vec<u32> = Vec::with_capacity(bytes.len());
        let mut p = 0usize;
        while p < bytes.len() {
            let start = p;
            let mut x: i64 = 0;
            let mut k = 0u32;
            loop {
                let Some(&b) = bytes.get(p) else {
                    return Err(RleError::Truncated { pos: start });
                };
                if !(48..=111).contains(&b) {
                    // Report the full (possibly multi-byte) character.
                    let ch = s[p..].chars().next().unwrap_or('\u{fffd}');
                    return Err(RleError::BadChar { ch, pos: p });
                }
                if k >= 12 {
                    return Err(RleError::Overlong { pos: start });
                }
                let c = (b - 48) as i64;
                x |= (c & 0x1f) << (5 * k);
                p += 1;
                k += 1;
                if c & 0x20 == 0 {
                    if c & 0x10 != 0 {
                        // Sign-extend the last 5-bit group.
                        x |= -1i64 << (5 * k);
                    }
                    break;
                }
            }
            let m = counts.len();
            if m > 2 {
                x += counts[m - 2] as i64;
            }
            if !(0..=u32::MAX as i64).contains(&x) {
                return Err(RleError::CountOutOfRange { index: m, value: x });
            }
            counts.push(x as u32);
        }
        check_sum(&counts, h, w)?;
        Ok(Rle { h, w, counts })
    }

    /// COCO uncompressed RLE (`"counts": [..]`), validated to cover `h*w`.
    pub fn from_uncompressed(counts: &[u32], h: u32, w: u32) -> Result<Rle, RleError> {
        check_sum(counts, h, w)?;
        Ok(Rle {
            h,
            w,
            counts: counts.to_vec(),
        })
    }

    /// frPyObjects(polygons) followed by merge (union), as COCO.annToRLE does.
    ///
    /// Each polygon is `[x0, y0, x1, y1, ...]` in pixel coordinates; an odd
    /// trailing value is ignored. Quirk kept from pycocotools: when the first
    /// polygon has exactly 4 values the list is taken as boxes `[x, y, w, h]`
    /// (frPyObjects' `len(pyobj[0]) == 4` test); we apply that to every
    /// 4-value entry. An empty list gives an empty mask (pycocotools raises).
    /// As in C, `h*w` must fit 32 bits (the COCO readers refuse larger images);
    /// beyond that the runs are wrong.
    pub fn from_polygons(polys: &[Vec<f64>], h: u32, w: u32) -> Rle {
        let as_boxes = polys.first().is_some_and(|p| p.len() == 4);
        let rles: Vec<Rle> = polys
            .iter()
            .map(|p| {
                if as_boxes && p.len() == 4 {
                    Rle::from_bbox([p[0], p[1], p[2], p[3]], h, w)
                } else {
                    Rle {
                        h,
                        w,
                        counts: fr_poly(p, h, w),
                    }
                }
            })
            .collect();
        if rles.is_empty() {
            return Rle {
                h,
                w,
                counts: vec![h.wrapping_mul(w)],
            };
        }
        Rle::merge(&rles, false)
    }

    /// rleFrBbox: rasterise box `[x, y, w, h]` as the polygon of its corners.
    pub fn from_bbox(bbox: [f64; 4], h: u32, w: u32) -> Rle {
        let (xs, ys) = (bbox[0], bbox[1]);
        let (xe, ye) = (xs + bbox[2], ys + bbox[3]);
        Rle {
            h,
            w,
            counts: fr_poly(&[xs, ys, xs, ye, xe, ye, xe, ys], h, w),
        }
    }

    /// rleMerge: union (or intersection) of masks of one size. As in C, an
    /// empty slice or masks of different sizes give an empty 0x0 RLE.
    pub fn merge(rles: &[Rle], intersect: bool) -> Rle {
        let Some(first) = rles.first() else {
            return Rle {
                h: 0,
                w: 0,
                counts: Vec::new(),
            };
        };
        if rles.len() == 1 {
            return first.clone();
        }
        let (h, w) = (first.h, first.w);
        let mut cnts = first.counts.clone();
        for b_rle in &rles[1..] {
            if b_rle.h != h || b_rle.w != w {
                return Rle {
                    h: 0,
                    w: 0,
                    counts: Vec::new(),
                };
            }
            let a_c = std::mem::take(&mut cnts);
            let b_c = &b_rle.counts;
            let mut out = Vec::with_capacity(a_c.len() + b_c.len());
            let mut ca = a_c.first().copied().unwrap_or(0);
            let mut cb = b_c.first().copied().unwrap_or(0);
            let (mut v, mut va, mut vb) = (false, false, false);
            let (mut a, mut b) = (1usize, 1usize);
            let mut cc = 0u32;
            let mut ct = 1u32;
            while ct > 0 {
                let c = ca.min(cb);
                cc = cc.wrapping_add(c);
                ct = 0;
                ca -= c;
                if ca == 0 && a < a_c.len() {
                    ca = a_c[a];
                    a += 1;
                    va = !va;
                }
                ct = ct.wrapping_add(ca);
                cb -= c;
                if cb == 0 && b < b_c.len() {
                    cb = b_c[b];
                    b += 1;
                    vb = !vb;
                }
                ct = ct.wrapping_add(cb);
                let vp = v;
                v = if intersect { va && vb } else { va || vb };
                if v != vp || ct == 0 {
                    out.push(cc);
                    cc = 0;
                }
            }
            cnts = out;
        }
        Rle { h, w, counts: cnts }
    }
}

fn check_sum(counts: &[u32], h: u32, w: u32) -> Result<(), RleError> {
    let sum: u64 = counts.iter().map(|&c| c as u64).sum();
    let expected = h as u64 * w as u64;
    if sum != expected {
        return Err(RleError::SizeMismatch {
            sum,
            h,
            w,
            expected,
        });
    }
    Ok(())
}

/// bbIou for one pair of `[x, y, w, h]` boxes; crowd: divide by the dt area.
#[inline]
pub fn bb_iou_pair(d: &[f64; 4], g: &[f64; 4], crowd: bool) -> f64 {
    let ga = g[2] * g[3];
    let da = d[2] * d[3];
    let w = (d[2] + d[0]).min(g[2] + g[0]) - d[0].max(g[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (d[3] + d[1]).min(g[3] + g[1]) - d[1].max(g[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let u = if crowd { da } else { da + ga - i };
    i / u
}

/// The exact mask part of rleIou for one pair whose boxes overlap.
/// Returns -1 for masks of different sizes, as the C code does.
#[inline]
pub fn rle_iou_exact(d: &Rle, g: &Rle, crowd: bool) -> f64 {
    if d.h != g.h || d.w != g.w {
        return -1.0;
    }
    let (dc, gc) = (&d.counts[..], &g.counts[..]);
    let mut ca = dc.first().copied().unwrap_or(0);
    let mut cb = gc.first().copied().unwrap_or(0);
    let (mut va, mut vb) = (false, false);
    let (mut a, mut b) = (1usize, 1usize);
    let (mut i, mut u) = (0u32, 0u32);
    let mut ct = 1u32;
    while ct > 0 {
        let c = ca.min(cb);
        if va || vb {
            u = u.wrapping_add(c);
            if va && vb {
                i = i.wrapping_add(c);
            }
        }
        ct = 0;
        ca -= c;
        if ca == 0 && a < dc.len() {
            ca = dc[a];
            a += 1;
            va = !va;
        }
        ct = ct.wrapping_add(ca);
        cb -= c;
        if cb == 0 && b < gc.len() {
            cb = gc[b];
            b += 1;
            vb = !vb;
        }
        ct = ct.wrapping_add(cb);
    }
    if i == 0 {
        u = 1;
    } else if crowd {
        u = d.area() as u32;
    }
    i as f64 / u as f64
}

/// rleIou with precomputed boxes (rleToBbox of each mask): box IoU first,
/// the exact mask IoU only where the boxes overlap, exactly as maskApi.c.
#[inline]
pub fn rle_iou_with_boxes(
    d: &Rle,
    d_box: &[f64; 4],
    g: &Rle,
    g_box: &[f64; 4],
    crowd: bool,
) -> f64 {
    let o = bb_iou_pair(d_box, g_box, crowd);
    if o > 0.0 {
        rle_iou_exact(d, g, crowd)
    } else {
        o
    }
}

/// rleIou: mask IoU matrix `[dt][gt]`; for a crowd gt the union is the dt area.
/// `iscrowd` shorter than `gt` counts missing entries as not crowd.
pub fn iou(dt: &[Rle], gt: &[Rle], iscrowd: &[bool]) -> Vec<Vec<f64>> {
    let db: Vec<[f64; 4]> = dt.iter().map(Rle::to_bbox).collect();
    let gb: Vec<[f64; 4]> = gt.iter().map(Rle::to_bbox).collect();
    dt.iter()
        .zip(&db)
        .map(|(d, dbb)| {
            gt.iter()
                .zip(&gb)
                .enumerate()
                .map(|(j, (g, gbb))| {
                    rle_iou_with_boxes(d, dbb, g, gbb, iscrowd.get(j).copied().unwrap_or(false))
                })
                .collect()
        })
        .collect()
}

/// bbIou: box IoU matrix `[dt][gt]` for `[x, y, w, h]` boxes.
pub fn bbox_iou(dt: &[[f64; 4]], gt: &[[f64; 4]], iscrowd: &[bool]) -> Vec<Vec<f64>> {
    dt.iter()
        .map(|d| {
            gt.iter()
                .enumerate()
                .map(|(j, g)| bb_iou_pair(d, g, iscrowd.get(j).copied().unwrap_or(false)))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_roundtrip_and_first_run_zero() {
        // 3x4, foreground at (0,0) so the first (zeros) run is empty.
        let m = [1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0];
        let r = Rle::encode(&m, 3, 4);
        assert_eq!(r.counts[0], 0);
        assert_eq!(r.decode(), m.to_vec());
        assert_eq!(r.area(), 5);
        assert_eq!(r.counts.iter().map(|&c| c as u64).sum::<u64>(), 12);
    }

    #[test]
    fn compressed_roundtrip_large_counts_and_deltas() {
        let r = Rle {
            h: 1000,
            w: 1000,
            counts: vec![123456, 7, 500000, 3, 1, 376533],
        };
        let s = r.to_compressed();
        assert_eq!(Rle::from_compressed(&s, 1000, 1000).unwrap(), r);
    }

    #[test]
    fn bad_compressed_strings_are_errors() {
        assert!(matches!(
            Rle::from_compressed("a b", 1, 1),
            Err(RleError::BadChar { pos: 1, .. })
        ));
        // 'P' = 80 -> 32: continuation bit set on the last char.
        assert!(matches!(
            Rle::from_compressed("P", 1, 1),
            Err(RleError::Truncated { pos: 0 })
        ));
        assert!(matches!(
            Rle::from_compressed("2", 1, 1),
            Err(RleError::SizeMismatch { sum: 2, .. })
        ));
        assert!(Rle::from_compressed("é", 1, 1).is_err());
        assert!(Rle::from_compressed(&"o".repeat(40), 1, 1).is_err());
        assert!(Rle::from_uncompressed(&[1, 2], 2, 2).is_err());
    }

    #[test]
    fn empty_and_full_boxes() {
        let e = Rle::encode(&[0; 6], 2, 3);
        assert_eq!(e.to_bbox(), [0.0; 4]);
        assert_eq!(e.area(), 0);
        let f = Rle::encode(&[1; 6], 2, 3);
        assert_eq!(f.to_bbox(), [0.0, 0.0, 3.0, 2.0]);
    }

    #[test]
    fn merge_union_and_intersection() {
        let a = Rle::encode(&[1, 1, 0, 0], 2, 2);
        let b = Rle::encode(&[0, 1, 0, 1], 2, 2);
        assert_eq!(
            Rle::merge(&[a.clone(), b.clone()], false).decode(),
            vec![1, 1, 0, 1]
        );
        assert_eq!(
            Rle::merge(&[a.clone(), b.clone()], true).decode(),
            vec![0, 1, 0, 0]
        );
        let other = Rle::encode(&[1; 3], 1, 3);
        assert_eq!(Rle::merge(&[a, other], false).h, 0);
    }

    #[test]
    fn iou_crowd_and_size_mismatch() {
        let a = Rle::encode(&[1, 1, 0, 0], 2, 2);
        let b = Rle::encode(&[1, 1, 1, 1], 2, 2);
        let o = iou(std::slice::from_ref(&a), std::slice::from_ref(&b), &[false]);
        assert_eq!(o[0][0], 0.5);
        let o = iou(std::slice::from_ref(&a), &[b], &[true]);
        assert_eq!(o[0][0], 1.0);
        let c = Rle::encode(&[1; 6], 2, 3);
        assert_eq!(iou(&[a], &[c], &[false])[0][0], -1.0);
    }

    #[test]
    fn degenerate_polygons_do_not_panic() {
        let r = Rle::from_polygons(&[vec![]], 4, 4);
        assert_eq!(r.area(), 0);
        let r = Rle::from_polygons(&[vec![1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], 4, 4);
        assert_eq!(r.counts.iter().map(|&c| c as u64).sum::<u64>(), 16);
        let r = Rle::from_polygons(&[vec![-1e12, 0.0, 1e12, 0.0, 0.0, 1e12]], 4, 4);
        assert_eq!(r.counts.iter().map(|&c| c as u64).sum::<u64>(), 16);
        let r = Rle::from_polygons(&[], 0, 0);
        assert_eq!(r.area(), 0);
    }

    #[test]
    fn bbox_iou_basic() {
        let o = bbox_iou(&[[0.0, 0.0, 2.0, 2.0]], &[[1.0, 0.0, 2.0, 2.0]], &[false]);
        assert!((o[0][0] - 2.0 / 6.0).abs() < 1e-15);
    }
}
