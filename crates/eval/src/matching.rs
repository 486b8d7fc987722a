//! COCOeval.computeIoU + evaluateImg for one (category, image) cell.
//!
//! The IoU matrix is computed once per cell and reused for the four area
//! ranges (pycocotools does the same through `self.ious`). Per area range and
//! IoU threshold, detections (highest score first) greedily take the best
//! still-free gt, preferring non-ignored gts, exactly as evaluateImg's loops.

use crate::params::{A, M, MAX_DETS, T, iou_thrs, outside, score_order};
use crate::prepare::{Cell, Prepared};
use crate::result::IouType;
use mrcnn_coco::rle::{bb_iou_pair, rle_iou_with_boxes};

/// The detection is matched to a gt whose id is nonzero (`dtm != 0`).
pub(crate) const MATCHED: u8 = 1;
/// The detection is ignored (`dtIg`).
pub(crate) const IGNORED: u8 = 2;

/// evaluateImg's output for one area range.
pub(crate) struct AreaEval {
    /// Number of non-ignored gts (`np.count_nonzero(gtIg==0)`).
    pub npig: u32,
    /// `[d * T + t]`: [`MATCHED`] / [`IGNORED`] bits per detection and threshold
    /// (a detection's thresholds together: accumulate gathers them at once).
    pub flags: Vec<u8>,
}

/// Counts for the simple IoU-0.5 numbers (area "all", up to 100 dets).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SimpleCounts {
    pub tp: u64,
    pub fp: u64,
    pub iou_sum: f64,
}

pub(crate) struct CellEval {
    /// Scores of the kept detections, highest first (`dtScores`).
    pub scores: Vec<f64>,
    pub areas: [AreaEval; A],
    /// All kept detections, then only those with score >= 0.5.
    pub simple: [SimpleCounts; 2],
}

/// Score threshold of the second [`CellEval::simple`] entry.
pub(crate) const SIMPLE_SCORE_THR: f64 = 0.5;

pub(crate) fn evaluate_cell(p: &Prepared<'_>, cell: &Cell) -> CellEval {
    let max_det = MAX_DETS[M - 1];
    // dt sorted by score (stable, as mergesort), truncated to maxDets[-1].
    let mut dts = cell.dts.clone();
    dts.sort_by(|&a, &b| score_order(p.dt[a as usize].score, p.dt[b as usize].score));
    dts.truncate(max_det);
    let gts = &cell.gts;
    let (nd, ng) = (dts.len(), gts.len());

    // ious[d * G + g], gt in file order (computeIoU).
    let mut ious = vec![0.0f64; nd * ng];
    for (di, &d) in dts.iter().enumerate() {
        let dobj = &p.dt[d as usize];
        for (gi, &g) in gts.iter().enumerate() {
            let gobj = &p.gt[g as usize];
            ious[di * ng + gi] = match (p.iou_type, &dobj.rle, &gobj.rle) {
                (IouType::Segm, Some(dr), Some(gr)) => {
                    rle_iou_with_boxes(dr, &dobj.bbox, gr, &gobj.bbox, gobj.crowd)
                }
                _ => bb_iou_pair(&dobj.bbox, &gobj.bbox, gobj.crowd),
            };
        }
    }

    let thrs = iou_thrs();
    let scores: Vec<f64> = dts.iter().map(|&d| p.dt[d as usize].score).collect();
    let mut simple = [SimpleCounts::default(); 2];
    // Scratch buffers reused across area ranges.
    let mut order: Vec<usize> = Vec::with_capacity(ng);
    let mut gt_ig: Vec<bool> = Vec::with_capacity(ng);
    let mut gtm = vec![false; T * ng];
    let areas: [AreaEval; A] = std::array::from_fn(|a| {
        // gt: ignore = iscrowd or outside area range; stable sort, ignored last.
        let ig = |g: u32| {
            let o = &p.gt[g as usize];
            o.crowd || outside(o.area, a)
        };
        order.clear();
        order.extend((0..ng).filter(|&gi| !ig(gts[gi])));
        let npig = order.len() as u32;
        order.extend((0..ng).filter(|&gi| ig(gts[gi])));
        gt_ig.clear();
        gt_ig.extend(order.iter().map(|&gi| ig(gts[gi])));

        let mut flags = vec![0u8; T * nd];
        if nd > 0 && ng > 0 {
            gtm.fill(false);
            for (t, &thr) in thrs.iter().enumerate() {
                let gtm_t = &mut gtm[t * ng..(t + 1) * ng];
                for d in 0..nd {
                    let row = &ious[d * ng..(d + 1) * ng];
                    let mut best = thr.min(1.0 - 1e-10);
                    let mut m = usize::MAX;
                    for (s, &gi) in order.iter().enumerate() {
                        let gobj = &p.gt[gts[gi] as usize];
                        // already matched and not a crowd: skip
                        if gtm_t[s] && !gobj.crowd {
                            continue;
                        }
                        // matched a regular gt and reached the ignored ones: stop
                        if m != usize::MAX && !gt_ig[m] && gt_ig[s] {
                            break;
                        }
                        if row[gi] < best {
                            continue;
                        }
                        best = row[gi];
                        m = s;
                    }
                    if m == usize::MAX {
                        continue;
                    }
                    let mut f = 0u8;
                    if gt_ig[m] {
                        f |= IGNORED;
                    }
                    // dtm stores the gt id; a gt with id 0 reads as "unmatched".
                    if p.gt[gts[order[m]] as usize].id != 0 {
                        f |= MATCHED;
                    }
                    flags[d * T + t] = f;
                    gtm_t[m] = true;
                    if a == 0 && t == 0 && f == MATCHED {
                        for (k, thr_s) in [f64::NEG_INFINITY, SIMPLE_SCORE_THR].iter().enumerate() {
                            if scores[d] >= *thr_s {
                                simple[k].iou_sum += best;
                            }
                        }
                    }
                }
            }
        }
        // Unmatched detections outside the area range are ignored.
        for (d, &dd) in dts.iter().enumerate() {
            if outside(p.dt[dd as usize].area, a) {
                for f in &mut flags[d * T..(d + 1) * T] {
                    if *f & MATCHED == 0 {
                        *f |= IGNORED;
                    }
                }
            }
        }
        AreaEval { npig, flags }
    });
    // Simple counts at IoU 0.5 (t = 0), area "all".
    for (d, &score) in scores.iter().enumerate() {
        let f = areas[0].flags[d * T];
        if f & IGNORED != 0 {
            continue;
        }
        for (k, thr_s) in [f64::NEG_INFINITY, SIMPLE_SCORE_THR].iter().enumerate() {
            if score >= *thr_s {
                if f & MATCHED != 0 {
                    simple[k].tp += 1;
                } else {
                    simple[k].fp += 1;
                }
            }
        }
    }
    CellEval {
        scores,
        areas,
        simple,
    }
}
