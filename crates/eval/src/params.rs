//! COCOeval's default detection parameters (`Params.setDetParams`).
//!
//! The thresholds are built the way `np.linspace` builds them (`i * step +
//! start`, last value set to `stop`), because IoUs are compared against them
//! with `<` and summarize finds 0.5 / 0.75 by exact equality.

/// Number of IoU thresholds (.50:.05:.95).
pub const T: usize = 10;
/// Number of recall thresholds (0:.01:1).
pub const R: usize = 101;
/// Number of area ranges.
pub const A: usize = 4;
/// Number of max-detection settings.
pub const M: usize = 3;

/// `np.linspace(.5, 0.95, 10)`.
pub fn iou_thrs() -> [f64; T] {
    linspace(0.5, 0.95)
}

/// `np.linspace(.0, 1.00, 101)`.
pub fn rec_thrs() -> [f64; R] {
    linspace(0.0, 1.0)
}

fn linspace<const N: usize>(start: f64, stop: f64) -> [f64; N] {
    let step = (stop - start) / (N - 1) as f64;
    let mut out = [0.0; N];
    for (i, v) in out.iter_mut().enumerate() {
        *v = i as f64 * step + start;
    }
    out[N - 1] = stop;
    out
}

/// `[[0, 1e5**2], [0, 32**2], [32**2, 96**2], [96**2, 1e5**2]]`, bounds inclusive.
pub const AREA_RNG: [[f64; 2]; A] = [[0.0, 1e10], [0.0, 1024.0], [1024.0, 9216.0], [9216.0, 1e10]];
/// Labels of [`AREA_RNG`].
pub const AREA_LBL: [&str; A] = ["all", "small", "medium", "large"];
/// `maxDets`.
pub const MAX_DETS: [usize; M] = [1, 10, 100];

/// Whether `area` falls outside area range `a` (COCOeval: `area<lo or area>hi`).
#[inline]
pub(crate) fn outside(area: f64, a: usize) -> bool {
    area < AREA_RNG[a][0] || area > AREA_RNG[a][1]
}

/// Ordering of `np.argsort(-scores, kind='mergesort')` when used with a
/// stable sort: higher score first, -0.0 == 0.0, NaN last.
#[inline]
pub(crate) fn score_order(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => (-a + 0.0).total_cmp(&(-b + 0.0)),
        (a_nan, b_nan) => a_nan.cmp(&b_nan),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_hit_summarize_values() {
        let t = iou_thrs();
        assert_eq!(t[0], 0.5);
        assert_eq!(t[5], 0.75);
        assert_eq!(t[8], 0.8999999999999999); // as numpy
        let r = rec_thrs();
        assert_eq!(r[1], 0.01);
        assert_eq!(r[100], 1.0);
    }

    #[test]
    fn score_order_is_descending_stable_nan_last() {
        let mut v = [
            (0.5, 0),
            (f64::NAN, 1),
            (0.9, 2),
            (0.5, 3),
            (-0.0, 4),
            (0.0, 5),
        ];
        v.sort_by(|a, b| score_order(a.0, b.0));
        let idx: Vec<usize> = v.iter().map(|p| p.1).collect();
        assert_eq!(idx, vec![2, 0, 3, 4, 5, 1]);
    }
}
