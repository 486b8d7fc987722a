//! Convolution (no groups) on the CPU backend (flex), plain or under autodiff: im2col and one
//! matrix product per block of output pixels, forward and both gradients.
//!
//! Why not Burn's convolution: flex's forward first copies the whole input to channels-last on
//! one thread and zero-fills its output before the parallel part, and Burn 0.22 has no
//! weight-gradient kernel for flex: its generic `conv2d_weight_backward` runs another
//! convolution over a batch of the `c_in` input channels with the output gradient as the kernel,
//! 9-row matrix products for a 3x3 kernel that each repack the whole output gradient (48-70
//! GFLOP/s on these cores against about 150 for an ordinary product), and its input gradient is
//! a transposed convolution with the same serial copies. Those were the largest parts of the
//! R101-FPN training step (BENCHMARKS.md, "Training step"). Here, for each block of output
//! pixels (several images, or rows of one image, so the column matrix stays under a budget):
//! - the columns `[kh * kw * c_in, pixels]` are unfolded from the input in parallel, one column
//!   row per task, padding as zeros, straight from the `NCHW` layout;
//! - forward: `W [c_out, kh*kw*c_in] @ columns`, written into the output's block in place (the
//!   output starts as the bias);
//! - weight gradient: `dy_block @ columns^T`, accumulated in one buffer;
//! - input gradient: `W^T @ dy_block`, then folded back (col2im) onto the input's planes, in
//!   parallel over (image, channel) planes, which no two tasks share.
//!
//! Each product reads `dy` and the weight through strides ([`crate::gemm`]): no transposed copy.
//!
//! 3x3 convolutions of stride 1 and dilation 1 (most of R101-FPN's) go to `winograd_flex`
//! instead, forward and both gradients: 2.25 times fewer multiply-adds.
//!
//! [`try_conv2d`] answers `None` for anything else (other backends, groups, non-f32, gradient
//! checkpointing), and the caller uses Burn's convolution.

use crate::blocks::{Block, blocks};
use crate::flex_backend::{Ad, On, on};
use crate::gemm::{Tile, View, product_into, tiles_into};
use crate::par::{for_chunks, par_rows, par_vec};
use crate::winograd_flex;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

/// Elements of one block's column matrix (32 MB of f32): large enough for efficient products,
/// small enough that the mask head's 128 RoIs or the FPN's stride-4 level never unfold at once.
const COLUMN_BUDGET: usize = 8 << 20;

fn is_flex<const D: usize>(t: &Tensor<D>) -> bool {
    on(t) == Some(On::Plain)
}

fn is_autodiff<const D: usize>(t: &Tensor<D>) -> bool {
    on(t) == Some(On::Autodiff)
}

/// The convolution of `x` by `weight` (and `bias`) when all are f32 flex tensors, plain or under
/// autodiff without checkpointing, the convolution has one group and the output is not empty;
/// `None` otherwise.
pub(crate) fn try_conv2d(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    options: &ConvOptions<2>,
) -> Option<Tensor<4>> {
    let f32s = x.dtype() == DType::F32 && weight.dtype() == DType::F32;
    if options.groups != 1 || !f32s || bias.is_some_and(|b| b.dtype() != DType::F32) {
        return None;
    }
    let g = Geometry::new(x.dims(), weight.dims(), options)?;
    if is_flex(x) && is_flex(weight) && bias.is_none_or(is_flex) {
        let prim = |t: &Tensor<4>| t.clone().try_into_primitive::<Flex>().ok();
        let b = bias.map(|b| b.clone().try_into_primitive::<Flex>().ok());
        let y = forward(
            &prim(x)?,
            &prim(weight)?,
            b.flatten().as_ref(),
            &g,
            COLUMN_BUDGET,
        );
        return Some(Tensor::from_primitive::<Flex>(y));
    }
    if !(is_autodiff(x) && is_autodiff(weight) && bias.is_none_or(is_autodiff)) {
        return None;
    }
    let prim = |t: &Tensor<4>| t.clone().try_into_primitive::<Ad>().ok();
    let (x, x_node) = prim(x)?.into_parts();
    let (w, w_node) = prim(weight)?.into_parts();
    let y = match bias {
        Some(b) => {
            let (b, b_node) = b.clone().try_into_primitive::<Ad>().ok()?.into_parts();
            let y = forward(&x, &w, Some(&b), &g, TILE);
            match Conv2dBackward::<3>
                .prepare::<NoCheckpointing>([x_node, w_node, b_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x, w, g), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
        None => {
            let y = forward(&x, &w, None, &g, TILE);
            match Conv2dBackward::<2>
                .prepare::<NoCheckpointing>([x_node, w_node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish((x, w, g), y),
                OpsKind::UnTracked(prep) => prep.finish(y),
            }
        }
    };
    Some(Tensor::from_primitive::<Ad>(y))
}

/// Sizes of one convolution.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Geometry {
    n: usize,
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    kh: usize,
    kw: usize,
    stride: [usize; 2],
    dilation: [usize; 2],
    /// Top and left padding (the bottom and right only shape the output).
    pad: [usize; 2],
    ho: usize,
    wo: usize,
}

impl Geometry {
    /// `None` when the kernel's channels differ from the input's or the output would be empty.
    fn new(x: [usize; 4], w: [usize; 4], options: &ConvOptions<2>) -> Option<Self> {
        let [n, c_in, h, wd] = x;
        let [c_out, c_w, kh, kw] = w;
        let [(pt, pb), (pl, pr)] = options.padding;
        let [sh, sw] = options.stride;
        let [dh, dw] = options.dilation;
        let out = |size: usize, pads: usize, k: usize, d: usize, s: usize| {
            let span = d * (k - 1) + 1;
            (size + pads >= span && s > 0).then(|| (size + pads - span) / s + 1)
        };
        if c_w != c_in || kh == 0 || kw == 0 || dh == 0 || dw == 0 {
            return None;
        }
        let ho = out(h, pt + pb, kh, dh, sh)?;
        let wo = out(wd, pl + pr, kw, dw, sw)?;
        let sizes = [n, c_in, c_out, ho, wo];
        (!sizes.contains(&0)).then_some(Self {
            n,
            c_in,
            h,
            w: wd,
            c_out,
            kh,
            kw,
            stride: [sh, sw],
            dilation: [dh, dw],
            pad: [pt, pl],
            ho,
            wo,
        })
    }

    /// The sizes for [`winograd_flex`] when this is a 3x3 convolution of stride 1 and dilation
    /// 1 with padding at most 2 on the top and left.
    fn winograd(&self) -> Option<winograd_flex::Sizes> {
        let taken = [self.kh, self.kw] == [3, 3]
            && self.stride == [1, 1]
            && self.dilation == [1, 1]
            && self.pad.iter().all(|&p| p <= 2);
        taken.then_some(winograd_flex::Sizes {
            n: self.n,
            c_in: self.c_in,
            h: self.h,
            w: self.w,
            c_out: self.c_out,
            pad: self.pad,
            ho: self.ho,
            wo: self.wo,
        })
    }

    /// The sizes of the input gradient's convolution for [`winograd_flex`] (the output gradient
    /// convolved with the kernel turned by 180 degrees, padded by `2 - pad`), when
    /// [`Geometry::winograd`] takes this one.
    fn input_gradient(&self) -> Option<winograd_flex::Sizes> {
        self.winograd().map(|s| winograd_flex::Sizes {
            n: s.n,
            c_in: s.c_out,
            h: s.ho,
            w: s.wo,
            c_out: s.c_in,
            pad: s.pad.map(|p| 2 - p),
            ho: s.h,
            wo: s.w,
        })
    }

    /// Rows of the column matrix: `kh * kw * c_in`.
    fn rows(&self) -> usize {
        self.c_in * self.kh * self.kw
    }

    /// The output columns `lo..hi` whose input column `ox * stride + kx * dilation - pad` lies
    /// in the input, and that input column for `ox = lo`.
    fn valid_columns(&self, kx: usize) -> (usize, usize, usize) {
        let (s, offset) = (self.stride[1], kx * self.dilation[1]);
        let pad = self.pad[1];
        // ox * s + offset >= pad and ox * s + offset < pad + w.
        let lo = pad.saturating_sub(offset).div_ceil(s);
        let hi = ((pad + self.w).saturating_sub(offset))
            .div_ceil(s)
            .min(self.wo);
        let lo = lo.min(hi);
        (lo, hi, lo * s + offset - pad.min(lo * s + offset))
    }

    /// The input row that output row `oy` reads at kernel row `ky`, if inside the input.
    fn input_row(&self, oy: usize, ky: usize) -> Option<usize> {
        (oy * self.stride[0] + ky * self.dilation[0])
            .checked_sub(self.pad[0])
            .filter(|&iy| iy < self.h)
    }
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice().expect("contiguous f32")
}

/// Writes one column-matrix row's values for output pixels `p0..p0 + dst.len()` of one image:
/// the input under tap `(ky, kx)` of channel plane `plane`, zero where the tap falls in the
/// padding. Pixels run along output rows and wrap to the next row.
fn unfold_row(dst: &mut [f32], plane: &[f32], g: &Geometry, [ky, kx]: [usize; 2], p0: usize) {
    let (lo, hi, ix0) = g.valid_columns(kx);
    let s = g.stride[1];
    let mut done = 0;
    while done < dst.len() {
        let p = p0 + done;
        let (oy, ox_a) = (p / g.wo, p % g.wo);
        let ox_b = g.wo.min(ox_a + dst.len() - done);
        let d = &mut dst[done..done + (ox_b - ox_a)];
        done += ox_b - ox_a;
        let Some(iy) = g.input_row(oy, ky) else {
            d.fill(0.0);
            continue;
        };
        let src = &plane[iy * g.w..][..g.w];
        // The valid output columns of this stretch, `va..vb`.
        let va = ox_a.max(lo).min(ox_b);
        let vb = ox_b.min(hi).max(va);
        d[..va - ox_a].fill(0.0);
        d[vb - ox_a..].fill(0.0);
        let first = ix0 + (va - lo) * s;
        let valid = &mut d[va - ox_a..vb - ox_a];
        if valid.is_empty() {
            continue;
        }
        if s == 1 {
            valid.copy_from_slice(&src[first..first + valid.len()]);
        } else {
            for (k, v) in valid.iter_mut().enumerate() {
                *v = src[first + k * s];
            }
        }
    }
}

/// Which input plane and tap a column-matrix row reads: rows tap by tap, channels inner (flex's
/// own order, so a pixel's sum over taps adds in the order flex's convolution adds and rounds
/// as it did).
fn row_source(g: &Geometry, row: usize) -> (usize, [usize; 2]) {
    let (c, tap) = (row % g.c_in, row / g.c_in);
    (c, [tap / g.kw, tap % g.kw])
}

/// The block's column matrix `[kh * kw * c_in, pixels]` into `columns` (every element written),
/// pixels image by image, then output row, then output column.
fn im2col(x: &[f32], g: &Geometry, b: &Block, columns: &mut Vec<f32>) {
    let per_image = b.per_image(g.wo);
    let pixels = (b.n1 - b.n0) * per_image;
    columns.resize(g.rows() * pixels, 0.0);
    let len = g.rows() * pixels;
    for_chunks(&mut columns[..len], pixels, len, |row, dst| {
        let (c, tap) = row_source(g, row);
        for (j, image) in (b.n0..b.n1).enumerate() {
            let plane = &x[(image * g.c_in + c) * g.h * g.w..][..g.h * g.w];
            let d = &mut dst[j * per_image..][..per_image];
            unfold_row(d, plane, g, tap, b.r0 * g.wo);
        }
    });
}

/// Adds the block's column-matrix gradient `[c_in * kh * kw, pixels]` back onto the input
/// gradient `dx` (`[n, c_in, h, w]`): each (image, channel) plane by one task.
fn col2im(dcolumns: &[f32], g: &Geometry, b: &Block, dx: &mut [f32]) {
    let per_image = b.per_image(g.wo);
    let pixels = (b.n1 - b.n0) * per_image;
    let planes = g.h * g.w;
    let dx = &mut dx[b.n0 * g.c_in * planes..b.n1 * g.c_in * planes];
    let work = g.rows() * pixels;
    for_chunks(dx, planes, work, |index, plane| {
        let (j, c) = (index / g.c_in, index % g.c_in);
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = (ky * g.kw + kx) * g.c_in + c;
                debug_assert_eq!(row_source(g, row), (c, [ky, kx]));
                let src = &dcolumns[row * pixels + j * per_image..][..per_image];
                let (lo, hi, ix0) = g.valid_columns(kx);
                for (ri, oy) in (b.r0..b.r1).enumerate() {
                    let Some(iy) = g.input_row(oy, ky) else {
                        continue;
                    };
                    let dst = &mut plane[iy * g.w..][..g.w];
                    let s = &src[ri * g.wo..][..g.wo];
                    for (k, &v) in s[lo..hi].iter().enumerate() {
                        dst[ix0 + k * g.stride[1]] += v;
                    }
                }
            }
        }
    });
}

/// The weight `[c_out, c_in, kh, kw]` as `[c_out, kh, kw, c_in]`, the column matrix's row order.
fn taps_last(w: &[f32], g: &Geometry) -> Vec<f32> {
    let (taps, rows) = (g.kh * g.kw, g.rows());
    par_rows(g.c_out * rows, rows, |o, d| {
        let src = &w[o * rows..][..rows];
        for (c, s) in src.chunks_exact(taps).enumerate() {
            for (t, &v) in s.iter().enumerate() {
                d[t * g.c_in + c] = v;
            }
        }
    })
}

/// The inverse of [`taps_last`]: `[c_out, kh, kw, c_in]` back to `[c_out, c_in, kh, kw]`.
fn channels_first(w: &[f32], g: &Geometry) -> Vec<f32> {
    let (taps, rows) = (g.kh * g.kw, g.rows());
    par_rows(g.c_out * rows, rows, |o, d| {
        let src = &w[o * rows..][..rows];
        for (t, s) in src.chunks_exact(g.c_in).enumerate() {
            for (c, &v) in s.iter().enumerate() {
                d[c * taps + t] = v;
            }
        }
    })
}

/// Output pixels per tile of the forward: flex's own tile (its convolution's `TILE_SIZE`).
const TILE: usize = 512;

/// `[n, c_out, ho, wo]`: the convolution, in tiles of `tile` output pixels of one image, each
/// unfolded and multiplied on one thread ([`crate::gemm::tiles_into`]).
fn forward(
    x: &FlexTensor,
    w: &FlexTensor,
    bias: Option<&FlexTensor>,
    g: &Geometry,
    tile: usize,
) -> FlexTensor {
    let (x, w) = (x.to_contiguous(), w.to_contiguous());
    if let Some(s) = g.winograd() {
        let u = winograd_flex::kernels(values(&w), [g.c_out, g.c_in], false);
        let b = bias.map(|b| b.to_contiguous());
        let b = b.as_ref().map(values);
        let out = winograd_flex::conv(values(&x), &u, b, &s, winograd_flex::TILES);
        return FlexTensor::from_data(TensorData::new(out, [g.n, g.c_out, g.ho, g.wo]));
    }
    let (xs, ws) = (values(&x), &taps_last(values(&w), g));
    let plane = g.ho * g.wo;
    let len = g.n * g.c_out * plane;
    let (mut out, accumulate) = match bias {
        Some(b) => {
            let b = b.to_contiguous();
            let b = values(&b);
            (par_rows(len, plane, |i, d| d.fill(b[i % g.c_out])), true)
        }
        None => (par_vec(len, |_| 0.0), false),
    };
    // Enough tiles for every thread (layer4's 16x16 maps are a single 512-pixel tile), but
    // not below 64 pixels, under which the products lose their efficiency.
    let threads = rayon::current_num_threads().max(1);
    let tile = tile.min((g.n * plane).div_ceil(2 * threads).max(64));
    let tiles: Vec<(usize, usize)> = (0..g.n)
        .flat_map(|image| (0..plane).step_by(tile).map(move |p0| (image, p0)))
        .collect();
    let spans: Vec<Tile> = tiles
        .iter()
        .map(|&(image, p0)| Tile {
            offset: image * g.c_out * plane + p0,
            n: tile.min(plane - p0),
        })
        .collect();
    let rows = g.rows();
    let unfold = |t: usize, scratch: &mut Vec<f32>| {
        let (image, p0) = tiles[t];
        let n = spans[t].n;
        scratch.resize(rows * n, 0.0);
        // Channel by channel, so the reads stay in one input plane while its taps' rows are
        // written (the rows are tap-major, see `row_source`).
        for c in 0..g.c_in {
            let x_plane = &xs[(image * g.c_in + c) * g.h * g.w..][..g.h * g.w];
            for tap in 0..g.kh * g.kw {
                let row = tap * g.c_in + c;
                let dst = &mut scratch[row * n..][..n];
                unfold_row(dst, x_plane, g, [tap / g.kw, tap % g.kw], p0);
            }
        }
        scratch.truncate(rows * n);
    };
    let lhs = View::rows(ws, 0, rows);
    tiles_into(
        &mut out,
        plane,
        [g.c_out, rows],
        &spans,
        lhs,
        unfold,
        accumulate,
    );
    FlexTensor::from_data(TensorData::new(out, [g.n, g.c_out, g.ho, g.wo]))
}

/// The output gradient of one image's block rows, `[c_out, per_image]`, read in place.
fn dy_block<'a>(dy: &'a [f32], g: &Geometry, b: &Block, image: usize) -> View<'a> {
    View {
        data: dy,
        offset: image * g.c_out * g.ho * g.wo + b.r0 * g.wo,
        rs: g.ho * g.wo,
        cs: 1,
    }
}

/// `(dL/dW, dL/dx)`, each when asked: for each block, the columns once, then
/// `dW += dy_block @ columns^T` and `dx += col2im(W^T @ dy_block)`.
fn backward(
    x: &FlexTensor,
    w: &FlexTensor,
    dy: &FlexTensor,
    g: &Geometry,
    budget: usize,
    [want_dw, want_dx]: [bool; 2],
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (x, w, dy) = (x.to_contiguous(), w.to_contiguous(), dy.to_contiguous());
    let (xs, dys) = (values(&x), values(&dy));
    let rows = g.rows();
    // A 3x3 stride-1 convolution has both gradients by `winograd_flex` (its input gradient is
    // such a convolution too).
    if let Some(s) = g.winograd() {
        let dw = want_dw
            .then(|| winograd_flex::weight_gradient(xs, dys, &s, winograd_flex::GRADIENT_TILES));
        let dx = want_dx.then(|| {
            let s = g.input_gradient().expect("taken with the forward");
            let u = winograd_flex::kernels(values(&w), [g.c_in, g.c_out], true);
            winograd_flex::conv(dys, &u, None, &s, winograd_flex::TILES)
        });
        return (dw, dx);
    }
    let ws = &taps_last(values(&w), g);
    let mut dw = want_dw.then(|| vec![0.0f32; g.c_out * rows]);
    let mut dx = want_dx.then(|| par_vec(g.n * g.c_in * g.h * g.w, |_| 0.0));
    SCRATCH.with_borrow_mut(|(columns, dcolumns)| {
        for b in blocks(g.n, g.ho, g.wo, rows, budget) {
            block_backward(
                &b,
                [xs, ws, dys],
                g,
                [columns, dcolumns],
                [&mut dw, &mut dx],
            );
        }
    });
    (dw.map(|dw| channels_first(&dw, g)), dx)
}

thread_local! {
    /// The backward's column and column-gradient buffers, kept between calls: every element is
    /// written before it is read, so a buffer that only grows saves zeroing and faulting in up to
    /// 64 MB for every convolution of every step (the memory stays with the thread).
    static SCRATCH: std::cell::RefCell<(Vec<f32>, Vec<f32>)> =
        const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
}

/// One block of [`backward`]: `dW += dy_block @ columns^T`, `dx += col2im(W^T @ dy_block)`.
fn block_backward(
    b: &Block,
    [xs, ws, dys]: [&[f32]; 3],
    g: &Geometry,
    [columns, dcolumns]: [&mut Vec<f32>; 2],
    [dw, dx]: [&mut Option<Vec<f32>>; 2],
) {
    let rows = g.rows();
    let per_image = b.per_image(g.wo);
    let pixels = (b.n1 - b.n0) * per_image;
    // The block's output gradient as one `[c_out, pixels]` matrix: read in place for a block
    // of one image, gathered for several (one product over all their pixels instead of a
    // small one per image: the mask head's 14x14 RoIs).
    let gathered;
    let dyb = if b.n1 - b.n0 == 1 {
        dy_block(dys, g, b, b.n0)
    } else {
        let plane = g.ho * g.wo;
        gathered = par_rows(g.c_out * pixels, pixels, |o, d| {
            for (j, d) in d.chunks_exact_mut(per_image).enumerate() {
                d.copy_from_slice(
                    &dys[((b.n0 + j) * g.c_out + o) * plane + b.r0 * g.wo..][..per_image],
                );
            }
        });
        View::rows(&gathered, 0, pixels)
    };
    if let Some(dw) = dw {
        im2col(xs, g, b, columns);
        let cols_t = View::rows(columns, 0, pixels).t();
        product_into(
            dw,
            0,
            rows,
            [g.c_out, rows, pixels],
            dyb,
            cols_t,
            true,
            true,
        );
    }
    if let Some(dx) = dx {
        // Every element is written by the product (it does not accumulate).
        dcolumns.resize(rows * pixels, 0.0);
        let w_t = View::rows(ws, 0, rows).t();
        let dims = [rows, pixels, g.c_out];
        product_into(dcolumns, 0, pixels, dims, w_t, dyb, false, true);
        col2im(dcolumns, g, b, dx);
    }
}

/// The backward step: parents are the input, the weight and, when `N` is 3, the bias.
#[derive(Debug)]
struct Conv2dBackward<const N: usize>;

impl<const N: usize> Backward<Flex, N> for Conv2dBackward<N> {
    type State = (FlexTensor, FlexTensor, Geometry);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let dy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, w, g) = ops.state;
        if let Some(Some(node)) = ops.parents.get(2) {
            let dys = values(&dy);
            let plane = g.ho * g.wo;
            let db = par_vec(g.c_out, |o| {
                (0..g.n)
                    .map(|i| {
                        dys[(i * g.c_out + o) * plane..][..plane]
                            .iter()
                            .sum::<f32>()
                    })
                    .sum()
            });
            let db = FlexTensor::from_data(TensorData::new(db, [g.c_out]));
            grads.register::<Flex>(node.id, db);
        }
        let want = [ops.parents[1].is_some(), ops.parents[0].is_some()];
        let (dw, dx) = backward(&x, &w, &dy, &g, COLUMN_BUDGET, want);
        if let (Some(node), Some(dw)) = (&ops.parents[1], dw) {
            let shape = [g.c_out, g.c_in, g.kh, g.kw];
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dw, shape)));
        }
        if let (Some(node), Some(dx)) = (&ops.parents[0], dx) {
            let shape = [g.n, g.c_in, g.h, g.w];
            grads.register::<Flex>(node.id, FlexTensor::from_data(TensorData::new(dx, shape)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv2d;

    fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn max_abs<const D: usize>(a: Tensor<D>) -> f32 {
        a.abs().max().into_scalar::<f32>()
    }

    /// Values (plain and under autodiff) and input, weight and bias gradients equal to Burn's
    /// convolution on random shapes: kernels 3x3, 7x7 and 1x3, strides 1 and 2, dilation 1 and 2,
    /// symmetric, asymmetric and no padding, batches of one and several, with and without bias.
    #[test]
    fn matches_burn_conv_values_and_gradients() {
        let device = Device::flex().autodiff();
        // (n, c_in, c_out, kernel, stride, padding, input hw, bias)
        type Case = (
            usize,
            usize,
            usize,
            [usize; 2],
            [usize; 2],
            [(usize, usize); 2],
            [usize; 2],
            bool,
        );
        let cases: [Case; 7] = [
            (1, 4, 5, [3, 3], [1, 1], [(1, 1), (1, 1)], [9, 11], true),
            (3, 3, 6, [3, 3], [2, 2], [(1, 1), (1, 1)], [10, 7], false),
            (1, 3, 4, [7, 7], [2, 2], [(3, 3), (3, 3)], [16, 13], false),
            (2, 5, 3, [1, 3], [1, 2], [(0, 0), (2, 1)], [6, 9], true),
            (4, 2, 3, [3, 3], [1, 1], [(0, 1), (1, 0)], [5, 5], true),
            (1, 6, 6, [3, 3], [1, 1], [(0, 0), (0, 0)], [8, 8], false),
            (2, 3, 4, [3, 3], [1, 1], [(2, 2), (2, 2)], [7, 9], true),
        ];
        for (i, &(n, c_in, c_out, kernel, stride, padding, hw, with_bias)) in
            cases.iter().enumerate()
        {
            let normal = Distribution::Normal(0.0, 1.0);
            let x = Tensor::<4>::random([n, c_in, hw[0], hw[1]], normal, &device).require_grad();
            let w = Tensor::<4>::random([c_out, c_in, kernel[0], kernel[1]], normal, &device)
                .require_grad();
            let b = with_bias.then(|| Tensor::<1>::random([c_out], normal, &device).require_grad());
            let dilation = if i == 6 { [2, 2] } else { [1, 1] };
            let options = ConvOptions::new_with_padding(stride, padding, dilation, 1);

            let ours = try_conv2d(&x, &w, b.as_ref(), &options).expect("flex autodiff f32");
            let burn = conv2d(x.clone(), w.clone(), b.clone(), options.clone());
            assert_eq!(ours.dims(), burn.dims(), "case {i}");
            let tol = 1e-5 * max_abs(burn.clone()).max(1.0);
            let d = max_abs_diff(ours.clone(), burn.clone());
            assert!(d < tol, "case {i}: values differ by {d}");

            // Inference: the same values without autodiff.
            let plain_b = b.as_ref().map(|b| b.clone().inner());
            let plain = try_conv2d(
                &x.clone().inner(),
                &w.clone().inner(),
                plain_b.as_ref(),
                &options,
            )
            .expect("plain flex f32");
            let d = max_abs_diff(plain, burn.clone().inner());
            assert!(d < tol, "case {i}: plain values differ by {d}");

            let probe = Tensor::<4>::random(burn.dims(), normal, &device);
            let g_ours = (ours * probe.clone()).sum().backward();
            let g_burn = (burn * probe).sum().backward();
            let pairs = [
                (x.grad(&g_ours).unwrap(), x.grad(&g_burn).unwrap(), "input"),
                (w.grad(&g_ours).unwrap(), w.grad(&g_burn).unwrap(), "weight"),
            ];
            for (a, e, what) in pairs {
                let tol = 1e-4 * max_abs(e.clone()).max(1.0);
                let diff = max_abs_diff(a, e);
                assert!(diff < tol, "case {i}: {what} gradient differs by {diff}");
            }
            if let Some(b) = &b {
                let diff = max_abs_diff(b.grad(&g_ours).unwrap(), b.grad(&g_burn).unwrap());
                assert!(
                    diff < 1e-4 * n as f32 * 100.0,
                    "case {i}: bias gradient {diff}"
                );
            }
        }
    }

    /// Values and both gradients equal Burn's whatever the tiles (forward) and blocks (backward):
    /// one block, several images per block, row ranges of one image, single rows; strided and
    /// dilated.
    #[test]
    fn any_blocks_give_burns_values_and_gradients() {
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.0, 1.0);
        for options in [
            ConvOptions::new([2, 2], [1, 1], [1, 1], 1),
            ConvOptions::new_with_padding([1, 1], [(2, 1), (0, 2)], [2, 2], 1),
        ] {
            let x = Tensor::<4>::random([3, 4, 9, 8], normal, &device).require_grad();
            let w = Tensor::<4>::random([5, 4, 3, 3], normal, &device).require_grad();
            let y = conv2d(x.clone(), w.clone(), None, options.clone());
            let probe = Tensor::<4>::random(y.dims(), normal, &device);
            let grads = (y.clone() * probe.clone()).sum().backward();
            let (dx_ref, dw_ref) = (x.grad(&grads).unwrap(), w.grad(&grads).unwrap());
            let prim = |t: Tensor<4>| t.inner().try_into_primitive::<Flex>().unwrap();
            let plain = |v: Vec<f32>, shape: [usize; 4]| {
                Tensor::<4>::from_data(TensorData::new(v, shape), &Device::flex())
            };
            let (xp, wp, dyp) = (prim(x.clone()), prim(w.clone()), prim(probe));
            let g = Geometry::new(x.dims(), w.dims(), &options).unwrap();
            // Tiles of one image, of several rows, of part of a row.
            for tile in [512, 7, 3] {
                let ours = forward(&xp, &wp, None, &g, tile);
                let ours = Tensor::<4>::from_primitive::<Flex>(ours);
                let d = max_abs_diff(ours, y.clone().inner());
                assert!(d < 1e-4, "tile {tile}: values differ by {d}");
            }
            for budget in [usize::MAX, 2 * 720, 720, 300, 1] {
                let ours = forward(&xp, &wp, None, &g, TILE);
                let ours = Tensor::<4>::from_primitive::<Flex>(ours);
                let d = max_abs_diff(ours, y.clone().inner());
                assert!(d < 1e-4, "budget {budget}: values differ by {d}");
                let (dw, dx) = backward(&xp, &wp, &dyp, &g, budget, [true, true]);
                let d = max_abs_diff(plain(dw.unwrap(), w.dims()), dw_ref.clone());
                assert!(d < 1e-4, "budget {budget}: weight gradient differs by {d}");
                let d = max_abs_diff(plain(dx.unwrap(), x.dims()), dx_ref.clone());
                assert!(d < 1e-4, "budget {budget}: input gradient differs by {d}");
            }
        }
    }

    /// Groups, other dtypes, mismatched channels and empty outputs are left to Burn; plain flex
    /// tensors (inference) and dilation are taken.
    #[test]
    fn declines_what_it_does_not_take() {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for device in [Device::flex(), Device::flex().autodiff()] {
            let x = Tensor::<4>::zeros([1, 2, 5, 5], &device);
            let w = Tensor::<4>::zeros([3, 2, 3, 3], &device);
            assert!(try_conv2d(&x, &w, None, &options).is_some());
            let dilated = ConvOptions::new([1, 1], [2, 2], [2, 2], 1);
            assert!(try_conv2d(&x, &w, None, &dilated).is_some());
            let grouped = ConvOptions::new([1, 1], [1, 1], [1, 1], 2);
            let w1 = Tensor::<4>::zeros([4, 1, 3, 3], &device);
            assert!(try_conv2d(&x, &w1, None, &grouped).is_none());
            assert!(
                try_conv2d(&x, &w1, None, &options).is_none(),
                "channels differ"
            );
            let big = Tensor::<4>::zeros([3, 2, 9, 9], &device);
            let unpadded = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
            assert!(
                try_conv2d(&x, &big, None, &unpadded).is_none(),
                "empty output"
            );
            let f64s = x.clone().cast(DType::F64);
            assert!(try_conv2d(&f64s, &w, None, &options).is_none());
        }
    }
}
