//! RoIAlign with exactly torchvision's `roi_align` semantics: per bin, a grid of sampling points
//! (`sampling_ratio` per side, or `ceil(roi size / output size)` when it is 0), each bilinearly
//! interpolated (points beyond one pixel outside the map count as zero, points in the last
//! half-pixel are clamped to the border), averaged over the whole grid; `aligned` shifts by half a
//! pixel and lets boxes be smaller than one pixel.
//!
//! Burn has no RoIAlign, so it is built from differentiable tensor ops: the sampling positions and
//! bilinear weights are computed on the host (they depend only on the detached boxes, as in
//! torchvision), and the device does one `select` of the feature columns, a multiply by the
//! weights and a sum. The backward of `select` is a scatter-add, so gradients reach the features
//! on every backend. Boxes with different adaptive grids are grouped and run separately.

use crate::BoxXyxy;
use burn::prelude::*;
use std::collections::BTreeMap;

/// RoIAlign parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoiAlignParams {
    /// Output `[height, width]`.
    pub output: [usize; 2],
    /// Feature-map size / image size (e.g. 0.25 for stride 4).
    pub spatial_scale: f32,
    /// Sampling points per bin side; 0 = adaptive.
    pub sampling_ratio: usize,
    pub aligned: bool,
}

/// One region: the image it belongs to and its box in image pixels.
pub type Roi = (usize, BoxXyxy);

/// Upper bound on `channels x gathered samples` per device call (16 Mi floats = 64 MiB): bounds
/// host memory, and stays under wgpu's default 128 MiB storage-buffer binding limit.
pub(crate) const MAX_GATHER_ELEMS: usize = 16 << 20;

/// Per-roi sampling layout computed on the host.
struct RoiGeometry {
    start: [f32; 2], // y, x
    bin: [f32; 2],   // bin height, width
    grid: [usize; 2],
}

fn geometry(b: &BoxXyxy, p: &RoiAlignParams) -> RoiGeometry {
    let offset = if p.aligned { 0.5f32 } else { 0.0 };
    let sx = b[0] * p.spatial_scale - offset;
    let sy = b[1] * p.spatial_scale - offset;
    let ex = b[2] * p.spatial_scale - offset;
    let ey = b[3] * p.spatial_scale - offset;
    let mut rw = ex - sx;
    let mut rh = ey - sy;
    if !p.aligned {
        rw = rw.max(1.0);
        rh = rh.max(1.0);
    }
    let bin_h = rh / p.output[0] as f32;
    let bin_w = rw / p.output[1] as f32;
    let grid = if p.sampling_ratio > 0 {
        [p.sampling_ratio, p.sampling_ratio]
    } else {
        [
            (rh / p.output[0] as f32).ceil().max(0.0) as usize,
            (rw / p.output[1] as f32).ceil().max(0.0) as usize,
        ]
    };
    RoiGeometry {
        start: [sy, sx],
        bin: [bin_h, bin_w],
        grid,
    }
}

/// Bilinear corners `(y, x)` and weights of one sample, or `None` when it lies outside
/// `[-1, h] x [-1, w]` (torchvision's `bilinear_interpolate`).
fn bilinear(mut y: f32, mut x: f32, h: usize, w: usize) -> Option<[(usize, usize, f32); 4]> {
    if y < -1.0 || y > h as f32 || x < -1.0 || x > w as f32 {
        return None;
    }
    if y <= 0.0 {
        y = 0.0;
    }
    if x <= 0.0 {
        x = 0.0;
    }
    let mut y_low = y as usize;
    let mut x_low = x as usize;
    let y_high;
    let x_high;
    if y_low >= h - 1 {
        y_low = h - 1;
        y_high = h - 1;
        y = y_low as f32;
    } else {
        y_high = y_low + 1;
    }
    if x_low >= w - 1 {
        x_low = w - 1;
        x_high = w - 1;
        x = x_low as f32;
    } else {
        x_high = x_low + 1;
    }
    let ly = y - y_low as f32;
    let lx = x - x_low as f32;
    let hy = 1.0 - ly;
    let hx = 1.0 - lx;
    Some([
        (y_low, x_low, hy * hx),
        (y_low, x_high, hy * lx),
        (y_high, x_low, ly * hx),
        (y_high, x_high, ly * lx),
    ])
}

/// RoIAlign of `rois` on `features` `[N, C, H, W]`; returns `[K, C, out_h, out_w]` in roi order.
///
/// Inference on the CPU (a flex tensor outside an autodiff graph) takes a direct host loop, like
/// torchvision's own CPU kernel: the gather formulation below moves `4 x samples` copies of every
/// channel through memory and was the largest cost of the box branch. Everything else (autodiff,
/// GPUs) uses the tensor-op version, whose backward Burn derives, except its weighted sum of
/// taps in CPU training (`pool_taps`, an op with its own backward).
pub fn roi_align(features: Tensor<4>, rois: &[Roi], p: &RoiAlignParams) -> Tensor<4> {
    if !features.is_autodiff() && features.device() == Device::flex() {
        return roi_align_host(features, rois, p);
    }
    roi_align_tensor_ops(features, rois, p)
}

/// Bilinear taps `(y * W + x, weight / count)` of every bin of one roi, `[bin][tap]`.
fn bin_taps(g: &RoiGeometry, p: &RoiAlignParams, h: usize, w: usize) -> Vec<Vec<(usize, f32)>> {
    let [oh, ow] = p.output;
    let samples = g.grid[0] * g.grid[1];
    let inv_count = 1.0 / samples.max(1) as f32;
    let mut bins = Vec::with_capacity(oh * ow);
    for ph in 0..oh {
        for pw in 0..ow {
            let mut taps = Vec::with_capacity(4 * samples);
            for iy in 0..g.grid[0] {
                let y = g.start[0]
                    + ph as f32 * g.bin[0]
                    + (iy as f32 + 0.5) * g.bin[0] / g.grid[0] as f32;
                for ix in 0..g.grid[1] {
                    let x = g.start[1]
                        + pw as f32 * g.bin[1]
                        + (ix as f32 + 0.5) * g.bin[1] / g.grid[1] as f32;
                    if let Some(cs) = bilinear(y, x, h, w) {
                        taps.extend(
                            cs.into_iter()
                                .map(|(yy, xx, wt)| (yy * w + xx, wt * inv_count)),
                        );
                    }
                }
            }
            bins.push(taps);
        }
    }
    bins
}

/// The host loop: rois in parallel, channels outer, precomputed taps inner.
fn roi_align_host(features: Tensor<4>, rois: &[Roi], p: &RoiAlignParams) -> Tensor<4> {
    use rayon::prelude::*;
    let [_, c, h, w] = features.dims();
    let device = features.device();
    let [oh, ow] = p.output;
    // Read in place when the map is an f32 flex tensor (it is, on this path): a copy of the
    // stride-4 level alone is 62 MB at 800x1216, made on the calling thread for each pooler.
    let contiguous = (features.dtype() == burn::tensor::DType::F32)
        .then(|| {
            features
                .clone()
                .try_into_primitive::<burn_flex::Flex>()
                .ok()
        })
        .flatten()
        .map(|t| t.to_contiguous());
    let copied;
    let data: &[f32] = match contiguous.as_ref().and_then(|t| t.as_slice::<f32>()) {
        Some(values) => values,
        None => {
            copied = crate::host::to_vec(features);
            &copied
        }
    };
    let per_roi = c * oh * ow;
    let mut out = vec![0.0f32; rois.len() * per_roi];
    out.par_chunks_mut(per_roi.max(1))
        .zip(rois.par_iter())
        .for_each_init(Vec::new, |scratch, (dst, (b, bx))| {
            let taps = bin_taps(&geometry(bx, p), p, h, w);
            let image = &data[b * c * h * w..(b + 1) * c * h * w];
            pool_region(image, [c, h, w], &taps, scratch, dst);
        });
    crate::host::tensor(out, [rois.len(), c, oh, ow], &device)
}

/// One RoI of [`roi_align_host`]: `dst[ch * bins + bin]` is the sum over bin `bin`'s taps
/// `(y * w + x, weight)` of `weight * image[ch, y, x]`, for `image` `[c, h, w]`.
///
/// The RoI's footprint (the rows and columns its taps touch) is first copied channels-last into
/// `scratch`, row by row of each channel plane; each tap is then one multiply-add over all
/// channels at once, on vector registers. Reading the taps plane by plane instead (one scalar
/// chain per channel and bin, each load from a different place of a large map) was most of the
/// box branch's time. Each output still adds its taps in their order, from zero: the values are
/// the same as a plain loop's.
fn pool_region(
    image: &[f32],
    [c, h, w]: [usize; 3],
    taps: &[Vec<(usize, f32)>],
    scratch: &mut Vec<f32>,
    dst: &mut [f32],
) {
    let bins = taps.len();
    let all = taps.iter().flatten();
    let (mut y0, mut y1, mut x0, mut x1) = (h, 0, w, 0);
    for &(i, _) in all {
        let (y, x) = (i / w, i % w);
        (y0, y1, x0, x1) = (y0.min(y), y1.max(y + 1), x0.min(x), x1.max(x + 1));
    }
    if y0 >= y1 {
        // No tap inside the map: every bin averages nothing.
        dst.fill(0.0);
        return;
    }
    let rw = x1 - x0;
    // `scratch[(ry * rw + rx) * c + ch]`: the footprint, channels last, then one bin's sums.
    scratch.resize((y1 - y0) * rw * c + c, 0.0);
    let (region, acc) = scratch.split_at_mut((y1 - y0) * rw * c);
    for (ch, plane) in image.chunks_exact(h * w).enumerate() {
        for (ry, row) in plane[y0 * w..y1 * w].chunks_exact(w).enumerate() {
            for (rx, &v) in row[x0..x1].iter().enumerate() {
                region[(ry * rw + rx) * c + ch] = v;
            }
        }
    }
    for (bin, t) in taps.iter().enumerate() {
        acc.fill(0.0);
        for &(i, wt) in t {
            let at = ((i / w - y0) * rw + (i % w - x0)) * c;
            for (a, &v) in acc.iter_mut().zip(&region[at..at + c]) {
                *a += wt * v;
            }
        }
        for (ch, &a) in acc.iter().enumerate() {
            dst[ch * bins + bin] = a;
        }
    }
}

/// The tensor-op RoIAlign (differentiable, any backend); [`roi_align`] picks it except for CPU
/// inference.
pub fn roi_align_tensor_ops(features: Tensor<4>, rois: &[Roi], p: &RoiAlignParams) -> Tensor<4> {
    let [n, c, h, w] = features.dims();
    let device = features.device();
    let [oh, ow] = p.output;
    if rois.is_empty() {
        return Tensor::zeros([0, c, oh, ow], &device);
    }
    // Channels first, all images side by side: column `b*H*W + y*W + x`.
    let flat = features.permute([1, 0, 2, 3]).reshape([c, n * h * w]);

    let geoms: Vec<RoiGeometry> = rois.iter().map(|(_, b)| geometry(b, p)).collect();
    let mut groups: BTreeMap<[usize; 2], Vec<usize>> = BTreeMap::new();
    for (k, g) in geoms.iter().enumerate() {
        groups.entry(g.grid).or_default().push(k);
    }

    let mut parts = Vec::new();
    let mut order = Vec::with_capacity(rois.len());
    // The CPU training op reads taps in place: no gather to bound, one call per grid.
    let in_place = crate::taps_flex::applies(&flat);
    for (grid, members) in groups {
        let samples = grid[0] * grid[1];
        if samples == 0 {
            // An empty sampling grid (possible with aligned, adaptive and a degenerate box)
            // averages nothing: torchvision returns zeros.
            parts.push(Tensor::zeros([members.len(), c, oh, ow], &device));
            order.extend_from_slice(&members);
            continue;
        }
        let per_roi = oh * ow * 4 * samples;
        let chunk = if in_place {
            members.len()
        } else {
            (MAX_GATHER_ELEMS / (c * per_roi)).max(1)
        };
        for ks in members.chunks(chunk) {
            let mut idx = Vec::with_capacity(ks.len() * per_roi);
            let mut wts = Vec::with_capacity(ks.len() * per_roi);
            let inv_count = 1.0 / samples as f32;
            for &k in ks {
                let (b, _) = rois[k];
                let base = b * h * w;
                let g = &geoms[k];
                for ph in 0..oh {
                    for pw in 0..ow {
                        // Layout per bin: [corner][sample], summed in one reduction below.
                        let mut corners = vec![(0usize, 0.0f32); 4 * samples];
                        for iy in 0..grid[0] {
                            let y = g.start[0]
                                + ph as f32 * g.bin[0]
                                + (iy as f32 + 0.5) * g.bin[0] / grid[0] as f32;
                            for ix in 0..grid[1] {
                                let x = g.start[1]
                                    + pw as f32 * g.bin[1]
                                    + (ix as f32 + 0.5) * g.bin[1] / grid[1] as f32;
                                let s = iy * grid[1] + ix;
                                if let Some(cs) = bilinear(y, x, h, w) {
                                    for (ci, (yy, xx, wt)) in cs.into_iter().enumerate() {
                                        corners[ci * samples + s] =
                                            (base + yy * w + xx, wt * inv_count);
                                    }
                                }
                            }
                        }
                        for (i, wt) in corners {
                            idx.push(i);
                            wts.push(wt);
                        }
                    }
                }
            }
            parts.push(pool_taps(&flat, &idx, wts, [ks.len(), oh, ow], 4 * samples));
            order.extend_from_slice(ks);
        }
    }
    restore_order(parts, &order, &device)
}

/// The weighted sums of gathered feature columns: `flat` is `[C, columns]`, `idx`/`wts` hold
/// `taps` (column, weight) pairs per output pixel of `rows` regions of `oh x ow` pixels, in
/// region, row, column order; returns `[rows, C, oh, ow]`. One `select` on the device (its
/// backward is a scatter-add, so gradients reach the features on every backend), a multiply and
/// a sum: RoIAlign's and `crop_and_resize`'s common step. In training on the CPU, one op that
/// reads the taps in place (`taps_flex`), with its own backward.
pub(crate) fn pool_taps(
    flat: &Tensor<2>,
    idx: &[usize],
    wts: Vec<f32>,
    [rows, oh, ow]: [usize; 3],
    taps: usize,
) -> Tensor<4> {
    let c = flat.dims()[0];
    let pooled = match crate::taps_flex::try_pool_taps(flat, idx, &wts, taps) {
        Some(pooled) => pooled,
        None => {
            let gathered = crate::host::select(flat.clone(), 1, idx);
            let weights = crate::host::tensor(wts, [1, idx.len()], &flat.device());
            (gathered * weights)
                .reshape([c, rows * oh * ow, taps])
                .sum_dim(2)
                .reshape([c, rows * oh * ow])
        }
    };
    pooled.reshape([c, rows, oh, ow]).permute([1, 0, 2, 3])
}

/// Concatenates `parts` (whose rows are `order`) and puts row `order[i]` back at position
/// `order[i]`.
pub fn restore_order(parts: Vec<Tensor<4>>, order: &[usize], _device: &Device) -> Tensor<4> {
    let all = if parts.len() == 1 {
        parts.into_iter().next().expect("one part")
    } else {
        Tensor::cat(parts, 0)
    };
    if order.iter().enumerate().all(|(i, &k)| i == k) {
        return all;
    }
    let mut inverse = vec![0usize; order.len()];
    for (pos, &k) in order.iter().enumerate() {
        inverse[k] = pos;
    }
    crate::host::select(all, 0, &inverse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_map_gives_constant_bins() {
        let d = Device::flex();
        let f = Tensor::<4>::ones([1, 2, 8, 8], &d) * 3.0;
        let rois = [(0, [1.0, 1.0, 6.0, 5.0])];
        let p = RoiAlignParams {
            output: [2, 2],
            spatial_scale: 1.0,
            sampling_ratio: 2,
            aligned: false,
        };
        let out = crate::host::to_vec(roi_align(f, &rois, &p));
        assert!(out.iter().all(|v| (v - 3.0).abs() < 1e-6), "{out:?}");
    }

    #[test]
    fn outside_samples_count_as_zero() {
        let d = Device::flex();
        let f = Tensor::<4>::ones([1, 1, 4, 4], &d);
        // The whole box lies far outside: every sample is invalid.
        let rois = [(0, [20.0, 20.0, 30.0, 30.0])];
        let p = RoiAlignParams {
            output: [1, 1],
            spatial_scale: 1.0,
            sampling_ratio: 2,
            aligned: false,
        };
        let out = crate::host::to_vec(roi_align(f, &rois, &p));
        assert_eq!(out, vec![0.0]);
    }
}
