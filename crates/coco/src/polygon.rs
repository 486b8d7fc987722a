//! rleFrPoly: polygon rasterisation exactly as pycocotools' maskApi.c.
//!
//! COCO ground truth is mostly polygons, so the pixels they cover decide the
//! metrics: the C code's integer casts, rounding and 5x upsampling are kept
//! as they are, including x86-64's result for out-of-range casts.

/// Polygon rasterisation works on a grid 5 times finer than the pixels.
const POLY_SCALE: f64 = 5.0;

/// Upper bound on upsampled outline points (about 50 million pixels of perimeter).
const MAX_POLY_POINTS: usize = 1 << 28;

/// C's `(int)v` as compiled for x86-64 (cvttsd2si): truncation toward zero,
/// and the "integer indefinite" `INT_MIN` for NaN and out-of-range values.
#[inline]
fn c_int(v: f64) -> i32 {
    if v.is_nan() || v >= 2147483648.0 || v <= -2147483649.0 {
        i32::MIN
    } else {
        v as i32
    }
}

/// rleFrPoly: rasterise one polygon exactly as maskApi.c; returns the run lengths of the
/// `h x w` mask (the caller wraps them in an `Rle`).
///
/// The outline is walked on a 5x upsampled integer grid; wherever it crosses a
/// pixel-centre column the boundary row is recorded, and the sorted boundary
/// positions become the run lengths.
pub(crate) fn fr_poly(xy: &[f64], h: u32, w: u32) -> Vec<u32> {
    if h == 0 || w == 0 {
        // No pixels to draw. C goes on with `w - 1` wrapped to 2^64 - 1 and
        // records boundaries past the end, so its runs do not sum to h*w = 0, and
        // merging two such masks (rleMerge) never terminates.
        return vec![0];
    }
    let k = xy.len() / 2;
    if k == 0 {
        // C reads an uninitialised vertex here and draws nothing.
        return vec![h.wrapping_mul(w)];
    }
    let mut x: Vec<i32> = (0..k)
        .map(|j| c_int(POLY_SCALE * xy[2 * j] + 0.5))
        .collect();
    let mut y: Vec<i32> = (0..k)
        .map(|j| c_int(POLY_SCALE * xy[2 * j + 1] + 0.5))
        .collect();
    x.push(x[0]);
    y.push(y[0]);
    let mut m = 0usize;
    for j in 0..k {
        let dx = x[j].wrapping_sub(x[j + 1]).unsigned_abs();
        let dy = y[j].wrapping_sub(y[j + 1]).unsigned_abs();
        m += dx.max(dy) as usize + 1;
    }
    if m > MAX_POLY_POINTS {
        // Absurd coordinates: C would try to allocate gigabytes. Draw nothing.
        return vec![h.wrapping_mul(w)];
    }
    // Points where the outline crosses a pixel-centre column, downsampled.
    // The outline points are visited as they are generated (C stores all m of
    // them first: up to 2 GB for a polygon far outside the image).
    let wm1 = (w as u64).wrapping_sub(1) as f64; // C: siz arithmetic
    let hf = h as f64;
    let mut bx: Vec<i32> = Vec::new();
    let mut by: Vec<i32> = Vec::new();
    let mut prev: Option<(i32, i32)> = None;
    // The C loop's body for the consecutive outline points (u[j-1], v[j-1]), (u[j], v[j]).
    let mut visit = |uj: i32, vj: i32| {
        let Some((up, vp)) = prev.replace((uj, vj)) else {
            return;
        };
        if uj == up {
            return;
        }
        let mut xd = (if uj < up { uj } else { uj.wrapping_sub(1) }) as f64;
        xd = (xd + 0.5) / POLY_SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > wm1 {
            return;
        }
        let mut yd = (if vj < vp { vj } else { vp }) as f64;
        yd = (yd + 0.5) / POLY_SCALE - 0.5;
        if yd < 0.0 {
            yd = 0.0;
        } else if yd > hf {
            yd = hf;
        }
        yd = yd.ceil();
        bx.push(xd as i32);
        by.push(yd as i32);
    };
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = xe.wrapping_sub(xs).wrapping_abs();
        let dy = ys.wrapping_sub(ye).wrapping_abs();
        // Always step along the longer axis, from the lower end, so each
        // edge is rasterised identically whichever way it is traversed.
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        let s = if dx >= dy {
            ye.wrapping_sub(ys) as f64 / dx as f64
        } else {
            xe.wrapping_sub(xs) as f64 / dy as f64
        };
        if dx >= dy {
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                visit(t.wrapping_add(xs), c_int(ys as f64 + s * t as f64 + 0.5));
            }
        } else {
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                visit(c_int(xs as f64 + s * t as f64 + 0.5), t.wrapping_add(ys));
            }
        }
    }
    // Boundary positions in column-major pixel index, plus the end sentinel.
    let mut a: Vec<u32> = bx
        .iter()
        .zip(&by)
        .map(|(&xx, &yy)| xx.wrapping_mul(h as i32).wrapping_add(yy) as u32)
        .collect();
    a.push((h as u64 * w as u64) as u32);
    a.sort_unstable();
    let mut p = 0u32;
    for aj in a.iter_mut() {
        let t = *aj;
        *aj = aj.wrapping_sub(p);
        p = t;
    }
    // Zero-length runs mean two boundaries coincide: they cancel, so the
    // neighbouring runs are joined.
    let mut b: Vec<u32> = Vec::with_capacity(a.len());
    b.push(a[0]);
    let mut j = 1usize;
    while j < a.len() {
        if a[j] > 0 {
            b.push(a[j]);
            j += 1;
        } else {
            j += 1;
            if j < a.len() {
                if let Some(last) = b.last_mut() {
                    *last = last.wrapping_add(a[j]);
                }
                j += 1;
            }
        }
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rle::Rle;

    /// Fuzzing regression (`fuzz/`, target `rle`): a polygon on an image of width 0
    /// gave runs summing to 28 instead of 0, and a union of two of them (what
    /// COCOeval does for a multi-polygon annotation) looped forever.
    #[test]
    fn zero_sized_images_give_empty_masks() {
        let tri = vec![2.0, 2.0, 2.0, 20.0, -600.0, 20.0];
        for (h, w) in [(26, 0), (0, 26), (0, 0)] {
            assert_eq!(fr_poly(&tri, h, w), vec![0]);
            let two =
                Rle::from_polygons(&[tri.clone(), vec![1.0, 1.0, 1.0, 10.0, -50.0, 5.0]], h, w);
            assert_eq!((two.h, two.w, two.area()), (h, w, 0));
            assert_eq!(two.counts.iter().map(|&c| c as u64).sum::<u64>(), 0);
        }
    }

    /// Fuzzing regression: a triangle reaching 26 million pixels out (a 40-byte
    /// polygon in a COCO file) made the outline buffers take 2 GB; the points are
    /// now visited without being stored. Same pixels as before: the whole image.
    #[test]
    fn far_out_polygons_are_drawn_without_storing_the_outline() {
        let big = 2.0e6;
        let r = fr_poly(&[-big, -big, 3.0 * big, -big, -big, 3.0 * big], 10, 12);
        assert_eq!(r, vec![0, 120]);
        // Entirely outside: nothing.
        let r = fr_poly(&[-big, 0.0, -big / 2.0, 0.0, -big, 5.0], 10, 12);
        assert_eq!(r, vec![120]);
    }
}
