//! rleFrPoly: polygon rasterisation exactly as pycocotools' maskApi.c.
//!
//! COCO ground truth is mostly polygons, so the pixels they cover decide the
//! metrics: the C code's integer casts, rounding and 5x upsampling are kept
//! as they are, including x86-64's result for out-of-range casts.

use crate::rle::Rle;

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

/// rleFrPoly: rasterise one polygon exactly as maskApi.c.
///
/// The outline is walked on a 5x upsampled integer grid; wherever it crosses a
/// pixel-centre column the boundary row is recorded, and the sorted boundary
/// positions become the run lengths.
pub(crate) fn fr_poly(xy: &[f64], h: u32, w: u32) -> Rle {
    let k = xy.len() / 2;
    if k == 0 {
        // C reads an uninitialised vertex here and draws nothing.
        return Rle {
            h,
            w,
            counts: vec![h.wrapping_mul(w)],
        };
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
        return Rle {
            h,
            w,
            counts: vec![h.wrapping_mul(w)],
        };
    }
    let mut u: Vec<i32> = Vec::with_capacity(m);
    let mut v: Vec<i32> = Vec::with_capacity(m);
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
                u.push(t.wrapping_add(xs));
                v.push(c_int(ys as f64 + s * t as f64 + 0.5));
            }
        } else {
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t.wrapping_add(ys));
                u.push(c_int(xs as f64 + s * t as f64 + 0.5));
            }
        }
    }
    // Points where the outline crosses a pixel-centre column, downsampled.
    let wm1 = (w as u64).wrapping_sub(1) as f64; // C: siz arithmetic
    let hf = h as f64;
    let mut bx: Vec<i32> = Vec::new();
    let mut by: Vec<i32> = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let mut xd = (if u[j] < u[j - 1] {
            u[j]
        } else {
            u[j].wrapping_sub(1)
        }) as f64;
        xd = (xd + 0.5) / POLY_SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > wm1 {
            continue;
        }
        let mut yd = (if v[j] < v[j - 1] { v[j] } else { v[j - 1] }) as f64;
        yd = (yd + 0.5) / POLY_SCALE - 0.5;
        if yd < 0.0 {
            yd = 0.0;
        } else if yd > hf {
            yd = hf;
        }
        yd = yd.ceil();
        bx.push(xd as i32);
        by.push(yd as i32);
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
    Rle { h, w, counts: b }
}
