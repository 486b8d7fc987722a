//! COCOeval.accumulate: precision/recall curves per category, area range and
//! max-detections setting, sampled at 101 recall thresholds.
//!
//! Kept from pycocotools on purpose: detections of all images are merged with
//! a stable sort on score (ties keep image order, then per-image order);
//! precision is made monotone from the right; the sample at recall `r` is the
//! precision at `np.searchsorted(rc, r, side='left')`, and samples past the
//! last detection stay 0 (the `try/except IndexError` in the original).

use rayon::prelude::*;

use crate::matching::{CellEval, IGNORED, MATCHED};
use crate::params::{A, M, MAX_DETS, R, T, rec_thrs, score_order};
use crate::prepare::Cell;

/// `np.spacing(1)`: keeps `tp / (tp + fp)` finite when both are 0.
const EPS: f64 = f64::EPSILON;

/// `precision[T][R][K][A][M]` and `recall[T][K][A][M]`, -1 where a category
/// has no non-ignored gt for that setting.
pub(crate) struct Accumulated {
    pub k: usize,
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
}

impl Accumulated {
    #[inline]
    pub fn p_index(&self, t: usize, r: usize, k: usize, a: usize, m: usize) -> usize {
        (((t * R + r) * self.k + k) * A + a) * M + m
    }
    #[inline]
    pub fn r_index(&self, t: usize, k: usize, a: usize, m: usize) -> usize {
        ((t * self.k + k) * A + a) * M + m
    }
}

/// Per-category output: `[t][r][a][m]` precision and `[t][a][m]` recall.
struct CatCurves {
    precision: Vec<f64>,
    recall: Vec<f64>,
}

pub(crate) fn accumulate(n_cat: usize, cells: &[Cell], evals: &[CellEval]) -> Accumulated {
    // Cells are sorted by (k, i): each category is one contiguous range.
    let mut ranges = vec![(0usize, 0usize); n_cat];
    let mut start = 0;
    while start < cells.len() {
        let k = cells[start].k;
        let mut end = start;
        while end < cells.len() && cells[end].k == k {
            end += 1;
        }
        ranges[k] = (start, end);
        start = end;
    }
    let per_cat: Vec<CatCurves> = ranges
        .par_iter()
        .map(|&(s, e)| accumulate_category(&evals[s..e]))
        .collect();

    let mut acc = Accumulated {
        k: n_cat,
        precision: vec![-1.0; T * R * n_cat * A * M],
        recall: vec![-1.0; T * n_cat * A * M],
    };
    for (k, c) in per_cat.iter().enumerate() {
        for t in 0..T {
            for a in 0..A {
                for m in 0..M {
                    let ri = acc.r_index(t, k, a, m);
                    acc.recall[ri] = c.recall[(t * A + a) * M + m];
                    for r in 0..R {
                        let pi = acc.p_index(t, r, k, a, m);
                        acc.precision[pi] = c.precision[((t * R + r) * A + a) * M + m];
                    }
                }
            }
        }
    }
    acc
}

fn accumulate_category(evals: &[CellEval]) -> CatCurves {
    let rec = rec_thrs();
    let mut out = CatCurves {
        precision: vec![-1.0; T * R * A * M],
        recall: vec![-1.0; T * A * M],
    };
    // (score, cell, detection) of all kept detections, sorted once: for a
    // smaller maxDet the stable order of the subset is the filtered order.
    let mut entries: Vec<(f64, u32, u32)> = Vec::new();
    for (c, e) in evals.iter().enumerate() {
        for (d, &s) in e.scores.iter().enumerate() {
            entries.push((s, c as u32, d as u32));
        }
    }
    entries.sort_by(|x, y| score_order(x.0, y.0));
    let mut flags: Vec<u8> = Vec::with_capacity(entries.len() * T);
    let mut rc: Vec<Vec<f64>> = vec![Vec::new(); T];
    let mut pr: Vec<Vec<f64>> = vec![Vec::new(); T];
    for a in 0..A {
        let npig: u64 = evals.iter().map(|e| e.areas[a].npig as u64).sum();
        if npig == 0 {
            continue;
        }
        for (m, &max_det) in MAX_DETS.iter().enumerate() {
            // Gather this setting's flags in score order (one random access
            // per detection instead of one per threshold).
            flags.clear();
            for &(_, c, d) in &entries {
                if (d as usize) < max_det {
                    let f = &evals[c as usize].areas[a].flags;
                    flags.extend_from_slice(&f[d as usize * T..(d as usize + 1) * T]);
                }
            }
            let nd = flags.len() / T;
            let (mut tp, mut fp) = ([0u64; T], [0u64; T]);
            for t in 0..T {
                rc[t].clear();
                pr[t].clear();
            }
            for fd in flags.chunks_exact(T) {
                for t in 0..T {
                    let f = fd[t];
                    if f & IGNORED == 0 {
                        if f & MATCHED != 0 {
                            tp[t] += 1;
                        } else {
                            fp[t] += 1;
                        }
                    }
                    let (tpf, fpf) = (tp[t] as f64, fp[t] as f64);
                    rc[t].push(tpf / npig as f64);
                    pr[t].push(tpf / (fpf + tpf + EPS));
                }
            }
            for t in 0..T {
                let (rc, pr) = (&rc[t], &mut pr[t]);
                out.recall[(t * A + a) * M + m] = rc.last().copied().unwrap_or(0.0);
                for i in (1..nd).rev() {
                    if pr[i] > pr[i - 1] {
                        pr[i - 1] = pr[i];
                    }
                }
                for (ri, &r) in rec.iter().enumerate() {
                    let pi = rc.partition_point(|&x| x < r);
                    // Past the last detection precision stays 0.
                    let q = if pi < nd { pr[pi] } else { 0.0 };
                    out.precision[((t * R + ri) * A + a) * M + m] = q;
                }
            }
        }
    }
    out
}
