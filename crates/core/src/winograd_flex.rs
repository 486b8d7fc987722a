//! 3x3 convolutions of stride 1 and dilation 1 on the CPU backend (flex) by Winograd's minimal
//! filtering F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
//! CVPR 2016): the forward of `conv_flex`, and its input gradient, which for such a convolution is
//! another one of the same kind (the kernel turned by 180 degrees, input and output channels
//! swapped).
//!
//! Why: the im2col product multiplies `9 * c_in` values for each output pixel and channel. Here
//! each 2x2 tile of output pixels comes from the 4x4 input tile under it: with the kernel
//! transformed once to `U = G g G^T` (4x4) and each input tile to `V = B^T d B`, the tile is
//! `A^T (U . V) A`, and the 16 element-wise products summed over input channels are 16 matrix
//! products `U[xi] [c_out, c_in] @ V[xi] [c_in, tiles]`: 16 multiply-adds per 4 pixels instead
//! of 36, 2.25 times fewer. These convolutions (every bottleneck's middle convolution but the
//! three strided ones, the FPN outputs, the RPN head, the mask head) are about half of R101-FPN's
//! multiply-adds. Burn has no Winograd convolution. The transforms only add and halve, so the
//! values stay within float rounding of the direct sum (tested against Burn's convolution).
//!
//! Work is split into blocks of tile rows ([`crate::blocks`]): several whole images, or rows of
//! one, about [`TILES`] tiles each, each block transformed, multiplied and written by one thread
//! so that its transformed tiles stay in that core's cache.

use crate::blocks::{Block, blocks};
use crate::gemm::{View, product_into};
use crate::par::{SERIAL_BELOW, par_rows, par_vec};
use rayon::prelude::*;

/// Tiles (of 2x2 output pixels) per block: the transformed input and product of a block,
/// `16 * channels * TILES` values each, stay within a core's 2 MB L2 cache at 256 channels.
pub(crate) const TILES: usize = 96;

/// Sizes of a 3x3 convolution of stride 1 and dilation 1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sizes {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    /// Top and left padding (each at most 2: a tile's input rows start at `2 * tile - pad`).
    pub pad: [usize; 2],
    pub ho: usize,
    pub wo: usize,
}

impl Sizes {
    /// Rows and columns of 2x2 output tiles.
    fn tiles(&self) -> [usize; 2] {
        [self.ho.div_ceil(2), self.wo.div_ceil(2)]
    }
}

/// `dst[i] = f(a[i], b[i], c[i])`: the kernel transforms' steps, each over all input channels of
/// one output channel at once, so that they run on vector registers.
fn zip3(dst: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) {
    for (((d, &a), &b), &c) in dst.iter_mut().zip(a).zip(b).zip(c) {
        *d = f(a, b, c);
    }
}

/// The transformed kernels `[c_out, 16, c_in]` of a convolution with `c_out` output and `c_in`
/// input channels, `U = G g G^T` with `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0,
/// 1]]`. `w` is the forward's weight: `[c_out, c_in, 3, 3]`, or, when `flipped` (the input
/// gradient's convolution), `[c_in, c_out, 3, 3]`, read turned by 180 degrees.
pub(crate) fn kernels(w: &[f32], [c_out, c_in]: [usize; 2], flipped: bool) -> Vec<f32> {
    let row = 16 * c_in;
    par_rows(c_out * row, row, |o, d| {
        // The output channel's taps, tap-major: `taps[t * c_in + i]`.
        let mut taps = vec![0.0f32; 9 * c_in];
        for i in 0..c_in {
            if flipped {
                let k = &w[(i * c_out + o) * 9..][..9];
                for t in 0..9 {
                    taps[t * c_in + i] = k[8 - t];
                }
            } else {
                let k = &w[(o * c_in + i) * 9..][..9];
                for (t, &v) in k.iter().enumerate() {
                    taps[t * c_in + i] = v;
                }
            }
        }
        let row_of = |m: &[f32], r: usize| -> Vec<f32> { m[r * c_in..][..c_in].to_vec() };
        // `G g`: 4 rows of 3 columns, row-major, each over the input channels.
        let mut gg = vec![0.0f32; 12 * c_in];
        for x in 0..3 {
            let (a, b, c) = (row_of(&taps, x), row_of(&taps, 3 + x), row_of(&taps, 6 + x));
            let mut rows = gg.chunks_exact_mut(c_in).skip(x).step_by(3);
            let mut next = || rows.next().expect("four rows");
            next().copy_from_slice(&a);
            zip3(next(), &a, &b, &c, |a, b, c| 0.5 * (a + b + c));
            zip3(next(), &a, &b, &c, |a, b, c| 0.5 * (a - b + c));
            next().copy_from_slice(&c);
        }
        // `(G g) G^T`: each row's 3 columns to 4.
        for (y, out) in d.chunks_exact_mut(4 * c_in).enumerate() {
            let a = &gg[3 * y * c_in..][..c_in];
            let b = &gg[(3 * y + 1) * c_in..][..c_in];
            let c = &gg[(3 * y + 2) * c_in..][..c_in];
            let mut cols = out.chunks_exact_mut(c_in);
            let mut next = || cols.next().expect("four columns");
            next().copy_from_slice(a);
            zip3(next(), a, b, c, |a, b, c| 0.5 * (a + b + c));
            zip3(next(), a, b, c, |a, b, c| 0.5 * (a - b + c));
            next().copy_from_slice(c);
        }
    })
}

/// `[n, c_out, ho, wo]`: the convolution of `x` (`[n, c_in, h, w]`) by the transformed kernels
/// `u` ([`kernels`]), plus `bias` per output channel, in blocks of about `tiles` tiles.
pub(crate) fn conv(
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    s: &Sizes,
    tiles: usize,
) -> Vec<f32> {
    assert!(s.pad[0] <= 2 && s.pad[1] <= 2, "winograd: padding over 2");
    assert_eq!(x.len(), s.n * s.c_in * s.h * s.w, "winograd: input size");
    assert_eq!(u.len(), s.c_out * 16 * s.c_in, "winograd: kernels size");
    let [ty, tx] = s.tiles();
    let plane = s.ho * s.wo;
    // Every element is written by the output transform: the zeros only fault the pages in on
    // every core instead of the calling thread.
    let mut out = par_vec(s.n * s.c_out * plane, |_| 0.0);
    // Enough blocks for every thread, not under 16 tiles (the products lose their efficiency).
    let threads = rayon::current_num_threads().max(1);
    let per_block = tiles.min((s.n * ty * tx).div_ceil(2 * threads)).max(16);
    let blocks = blocks(s.n, ty, tx, 1, per_block);
    // Each block's output: for each of its images and output channels, the block's output rows
    // of that plane (`2 * r0..2 * r1`, cut at `ho`), borrowed apart so that blocks write in
    // parallel without sharing.
    let mut pieces: Vec<Vec<&mut [f32]>> = blocks.iter().map(|_| Vec::new()).collect();
    let mut first = 0;
    for (index, plane_out) in out.chunks_mut(plane).enumerate() {
        let image = index / s.c_out;
        while blocks[first].n1 <= image {
            first += 1;
        }
        let mut rest = plane_out;
        for (bi, b) in blocks.iter().enumerate().skip(first) {
            if b.n0 > image {
                break;
            }
            let rows = (2 * b.r1).min(s.ho) - 2 * b.r0;
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(rows * s.wo);
            pieces[bi].push(head);
            rest = tail;
        }
    }
    let run = |scratch: &mut Scratch, (b, outs): (&Block, Vec<&mut [f32]>)| {
        block(x, u, bias, s, b, outs, scratch)
    };
    let work = s.n * ty * tx * 16 * s.c_in * s.c_out;
    if blocks.len() == 1 || work < SERIAL_BELOW {
        let mut scratch = Scratch::default();
        blocks
            .iter()
            .zip(pieces)
            .for_each(|job| run(&mut scratch, job));
    } else {
        blocks
            .par_iter()
            .zip(pieces)
            .for_each_init(Scratch::default, run);
    }
    out
}

/// A thread's buffers, kept across its blocks: the transformed input tiles `[c_in, 16, tiles]`,
/// their products `[c_out, 16, tiles]`, and rows of one row of tiles under transformation.
#[derive(Default)]
struct Scratch {
    v: Vec<f32>,
    m: Vec<f32>,
    rows: Vec<f32>,
}

/// `a[i] - b[i]`, `a[i] + b[i]`: the transforms' steps, each over a whole row of tiles, so that
/// they run on vector registers.
fn sub(dst: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
        *d = a - b;
    }
}

fn add(dst: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, &a), &b) in dst.iter_mut().zip(a).zip(b) {
        *d = a + b;
    }
}

/// Tiles per block of [`weight_gradient`], whose products sum over the tiles: a longer block is
/// a longer inner dimension.
pub(crate) const GRADIENT_TILES: usize = 256;

/// `[c_out, c_in, 3, 3]`: the weight gradient of the convolution of `x` (`[n, c_in, h, w]`)
/// given its output gradient `dy` (`[n, c_out, ho, wo]`), in blocks of about `tiles` tiles.
///
/// With `Y = A^T (U . V) A` for each tile, the transformed kernel's gradient is the sum over
/// tiles of `(A dY A^T) . V`: 16 products `[c_out, tiles] @ [tiles, c_in]` per block, summed
/// per thread and then across threads, and the kernel's gradient `G^T dU G`.
pub(crate) fn weight_gradient(x: &[f32], dy: &[f32], s: &Sizes, tiles: usize) -> Vec<f32> {
    assert!(s.pad[0] <= 2 && s.pad[1] <= 2, "winograd: padding over 2");
    assert_eq!(x.len(), s.n * s.c_in * s.h * s.w, "winograd: input size");
    assert_eq!(
        dy.len(),
        s.n * s.c_out * s.ho * s.wo,
        "winograd: gradient size"
    );
    let [ty, tx] = s.tiles();
    let threads = rayon::current_num_threads().max(1);
    let per_block = tiles.min((s.n * ty * tx).div_ceil(threads)).max(16);
    let blocks = blocks(s.n, ty, tx, 1, per_block);
    let len = s.c_out * 16 * s.c_in;
    let sum_block = |(mut scratch, mut acc): (Scratch, Vec<f32>), b: &Block| {
        let nt = (b.n1 - b.n0) * (b.r1 - b.r0) * tx;
        let Scratch { v, m, rows } = &mut scratch;
        transform_input(x, s, b, v, rows);
        transform_output_gradient(dy, s, b, m);
        for xi in 0..16 {
            let lhs = View {
                data: m,
                offset: xi * nt,
                rs: 16 * nt,
                cs: 1,
            };
            let rhs = View {
                data: v,
                offset: xi * nt,
                rs: 1,
                cs: 16 * nt,
            };
            let dims = [s.c_out, s.c_in, nt];
            product_into(
                &mut acc,
                xi * s.c_in,
                16 * s.c_in,
                dims,
                lhs,
                rhs,
                true,
                false,
            );
        }
        (scratch, acc)
    };
    let start = || (Scratch::default(), vec![0.0f32; len]);
    let work = s.n * ty * tx * 16 * s.c_in * s.c_out;
    let du = if blocks.len() == 1 || work < SERIAL_BELOW {
        blocks.iter().fold(start(), sum_block).1
    } else {
        // One accumulator per thread: each is `16 * c_out * c_in` values.
        blocks
            .par_iter()
            .with_min_len(blocks.len().div_ceil(threads))
            .fold(start, sum_block)
            .map(|(_, acc)| acc)
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            })
            .unwrap_or_else(|| vec![0.0; len])
    };
    // The kernels' gradients `G^T dU G`, `G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2,
    // 1/2, 1]]`, over all input channels of one output channel at once.
    let c_in = s.c_in;
    par_rows(s.c_out * c_in * 9, c_in * 9, |o, d| {
        let du = &du[o * 16 * c_in..][..16 * c_in];
        let du = |r: usize| &du[r * c_in..][..c_in];
        // `G^T dU`: 3 rows of 4 columns.
        let mut t = vec![0.0f32; 12 * c_in];
        for x in 0..4 {
            let (a, b, c, e) = (du(x), du(4 + x), du(8 + x), du(12 + x));
            let mut rows = t.chunks_exact_mut(c_in).skip(x).step_by(4);
            let mut next = || rows.next().expect("three rows");
            zip3(next(), a, b, c, |a, b, c| a + 0.5 * (b + c));
            zip3(next(), a, b, c, |_, b, c| 0.5 * (b - c));
            zip3(next(), b, c, e, |b, c, e| 0.5 * (b + c) + e);
        }
        // `(G^T dU) G`: each row's 4 columns to 3, written kernel by kernel.
        let mut g = vec![0.0f32; 9 * c_in];
        for y in 0..3 {
            let col = |x: usize| &t[(4 * y + x) * c_in..][..c_in];
            let (a, b, c, e) = (col(0), col(1), col(2), col(3));
            let mut taps = g.chunks_exact_mut(c_in).skip(3 * y);
            let mut next = || taps.next().expect("three taps");
            zip3(next(), a, b, c, |a, b, c| a + 0.5 * (b + c));
            zip3(next(), a, b, c, |_, b, c| 0.5 * (b - c));
            zip3(next(), b, c, e, |b, c, e| 0.5 * (b + c) + e);
        }
        for (i, k) in d.chunks_exact_mut(9).enumerate() {
            for (tap, v) in k.iter_mut().enumerate() {
                *v = g[tap * c_in + i];
            }
        }
    })
}

/// The output gradient's tiles of block `b` transformed, `A dY A^T` (2x2 to 4x4, zero past the
/// output's edge), into `m` (`[c_out, 16, tiles]`, tiles in [`transform_input`]'s order).
fn transform_output_gradient(dy: &[f32], s: &Sizes, b: &Block, m: &mut Vec<f32>) {
    let [_, tx] = s.tiles();
    let tile_rows = b.r1 - b.r0;
    let nt = (b.n1 - b.n0) * tile_rows * tx;
    m.resize(s.c_out * 16 * nt, 0.0);
    for (j, image) in (b.n0..b.n1).enumerate() {
        for o in 0..s.c_out {
            let plane = &dy[(image * s.c_out + o) * s.ho * s.wo..][..s.ho * s.wo];
            let mo = &mut m[o * 16 * nt..][..16 * nt];
            let at = |y: usize, x: usize| {
                if y < s.ho && x < s.wo {
                    plane[y * s.wo + x]
                } else {
                    0.0
                }
            };
            for (ri, tile_row) in (b.r0..b.r1).enumerate() {
                let t0 = (j * tile_rows + ri) * tx;
                for t in 0..tx {
                    let (y, x) = (2 * tile_row, 2 * t);
                    let (a, bb, c, d) = (at(y, x), at(y, x + 1), at(y + 1, x), at(y + 1, x + 1));
                    // A = [[1, 0], [1, 1], [1, -1], [0, -1]]: rows `A dY`, then columns.
                    let rows = [[a, bb], [a + c, bb + d], [a - c, bb - d], [-c, -d]];
                    for (r, [p, q]) in rows.into_iter().enumerate() {
                        for (col, val) in [p, p + q, p - q, -q].into_iter().enumerate() {
                            mo[(r * 4 + col) * nt + t0 + t] = val;
                        }
                    }
                }
            }
        }
    }
}

/// The input tiles of block `b` transformed, `V = B^T d B`, into `v` (`[c_in, 16, tiles]`), tiles
/// image by image, then tile row, then tile column; `rows` is scratch.
fn transform_input(x: &[f32], s: &Sizes, b: &Block, v: &mut Vec<f32>, rows: &mut Vec<f32>) {
    let [_, tx] = s.tiles();
    let tile_rows = b.r1 - b.r0;
    let nt = (b.n1 - b.n0) * tile_rows * tx;
    // A padded input row holds input columns `-pad .. 2 * tx + 2 - pad`, its
    // even and odd columns `tx + 1` each.
    v.resize(s.c_in * 16 * nt, 0.0);
    let (width, half) = (2 * tx + 2, tx + 1);
    rows.resize(8 * width + 8 * half, 0.0);
    let (padded, rest) = rows.split_at_mut(4 * width);
    let (srows, split) = rest.split_at_mut(4 * width);
    let (even, odd) = split.split_at_mut(4 * half);
    for (j, image) in (b.n0..b.n1).enumerate() {
        for c in 0..s.c_in {
            let plane = &x[(image * s.c_in + c) * s.h * s.w..][..s.h * s.w];
            let vc = &mut v[c * 16 * nt..][..16 * nt];
            for (ri, tile_row) in (b.r0..b.r1).enumerate() {
                for (r, dst) in padded.chunks_exact_mut(width).enumerate() {
                    let iy = (2 * tile_row + r).checked_sub(s.pad[0]);
                    match iy.filter(|&iy| iy < s.h) {
                        Some(iy) => {
                            let src = &plane[iy * s.w..][..s.w];
                            let (lo, hi) = (s.pad[1], (s.pad[1] + s.w).min(width));
                            dst[..lo].fill(0.0);
                            dst[lo..hi].copy_from_slice(&src[..hi - lo]);
                            dst[hi..].fill(0.0);
                        }
                        None => dst.fill(0.0),
                    }
                }
                // Rows: `s = B^T d` (4 rows of `width`), each then split into its even and odd
                // columns.
                let [d0, d1, d2, d3] = [0, 1, 2, 3].map(|r| &padded[r * width..][..width]);
                let mut sr = srows.chunks_exact_mut(width);
                let mut next = || sr.next().expect("four rows");
                sub(next(), d0, d2);
                add(next(), d1, d2);
                sub(next(), d2, d1);
                sub(next(), d1, d3);
                for ((row, e), o) in srows
                    .chunks_exact(width)
                    .zip(even.chunks_exact_mut(half))
                    .zip(odd.chunks_exact_mut(half))
                {
                    for ((pair, e), o) in row.chunks_exact(2).zip(e).zip(o) {
                        *e = pair[0];
                        *o = pair[1];
                    }
                }
                // Columns: `V = s B`, tile `t` reading columns `2t .. 2t + 4` (even `t`, `t + 1`
                // and odd `t`, `t + 1`).
                let t0 = (j * tile_rows + ri) * tx;
                for r in 0..4 {
                    let (e, o) = (&even[r * half..][..half], &odd[r * half..][..half]);
                    let out = |k: usize| (r * 4 + k) * nt + t0;
                    sub(&mut vc[out(0)..][..tx], &e[..tx], &e[1..]);
                    add(&mut vc[out(1)..][..tx], &o[..tx], &e[1..]);
                    sub(&mut vc[out(2)..][..tx], &e[1..], &o[..tx]);
                    sub(&mut vc[out(3)..][..tx], &o[..tx], &o[1..]);
                }
            }
        }
    }
}

/// One block: its input tiles transformed, the 16 products, the output tiles written into
/// `outs` (image by image, then output channel) with the bias.
///
/// The transforms (Lavin and Gray's matrices for F(2x2, 3x3)):
/// `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]` on the 4x4 input tile
/// (`V = B^T d B`) and `A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]` on the 4x4 product (`Y = A^T M
/// A`), each applied to the rows of a whole row of tiles at once, then to its columns.
fn block(
    x: &[f32],
    u: &[f32],
    bias: Option<&[f32]>,
    s: &Sizes,
    b: &Block,
    mut outs: Vec<&mut [f32]>,
    scratch: &mut Scratch,
) {
    let [_, tx] = s.tiles();
    let tile_rows = b.r1 - b.r0;
    let nt = (b.n1 - b.n0) * tile_rows * tx;
    let Scratch { v, m, rows } = scratch;
    transform_input(x, s, b, v, rows);
    // The 16 products `m[:, xi, :] = u[:, xi, :] @ v[:, xi, :]`.
    m.resize(s.c_out * 16 * nt, 0.0);
    for xi in 0..16 {
        let lhs = View {
            data: u,
            offset: xi * s.c_in,
            rs: 16 * s.c_in,
            cs: 1,
        };
        let rhs = View {
            data: v,
            offset: xi * nt,
            rs: 16 * nt,
            cs: 1,
        };
        product_into(
            m,
            xi * nt,
            16 * nt,
            [s.c_out, nt, s.c_in],
            lhs,
            rhs,
            false,
            false,
        );
    }
    // Output transform: rows `r = A^T M` (2 rows of 4 columns, each `tx` tiles long), then
    // columns `Y = r A`, interleaved into the output rows.
    let r = &mut rows[..8 * tx];
    for (j, image_outs) in outs.chunks_mut(s.c_out).enumerate() {
        for (o, dst) in image_outs.iter_mut().enumerate() {
            let mo = &m[o * 16 * nt..][..16 * nt];
            let add_bias = bias.map_or(0.0, |b| b[o]);
            for (ri, tile_row) in (b.r0..b.r1).enumerate() {
                let t0 = (j * tile_rows + ri) * tx;
                let mr = |a: usize, col: usize| &mo[(a * 4 + col) * nt + t0..][..tx];
                let (top, bottom) = r.split_at_mut(4 * tx);
                for col in 0..4 {
                    let (m0, m1, m2, m3) = (mr(0, col), mr(1, col), mr(2, col), mr(3, col));
                    let top = &mut top[col * tx..][..tx];
                    let bottom = &mut bottom[col * tx..][..tx];
                    for t in 0..tx {
                        top[t] = m0[t] + m1[t] + m2[t];
                        bottom[t] = m1[t] - m2[t] - m3[t];
                    }
                }
                let out_rows = (s.ho - 2 * tile_row).min(2);
                for a in 0..out_rows {
                    let ra = |col: usize| &r[(a * 4 + col) * tx..][..tx];
                    let (r0, r1, r2, r3) = (ra(0), ra(1), ra(2), ra(3));
                    let row = &mut dst[(2 * ri + a) * s.wo..][..s.wo];
                    for (t, pair) in row.chunks_exact_mut(2).enumerate() {
                        pair[0] = r0[t] + r1[t] + r2[t] + add_bias;
                        pair[1] = r1[t] - r2[t] - r3[t] + add_bias;
                    }
                    if s.wo % 2 == 1 {
                        let t = tx - 1;
                        row[s.wo - 1] = r0[t] + r1[t] + r2[t] + add_bias;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct sum `y[o, oy, ox] = b[o] + sum_{i, ky, kx} w[o, i, ky, kx] x[i, oy + ky - pt,
    /// ox + kx - pl]` in f64.
    fn direct(x: &[f32], w: &[f32], bias: Option<&[f32]>, s: &Sizes) -> Vec<f32> {
        let mut out = vec![0.0f32; s.n * s.c_out * s.ho * s.wo];
        for n in 0..s.n {
            for o in 0..s.c_out {
                for oy in 0..s.ho {
                    for ox in 0..s.wo {
                        let mut acc = bias.map_or(0.0, |b| b[o] as f64);
                        for i in 0..s.c_in {
                            for ky in 0..3 {
                                for kx in 0..3 {
                                    let iy = (oy + ky).checked_sub(s.pad[0]).filter(|&v| v < s.h);
                                    let ix = (ox + kx).checked_sub(s.pad[1]).filter(|&v| v < s.w);
                                    if let (Some(iy), Some(ix)) = (iy, ix) {
                                        let xv = x[((n * s.c_in + i) * s.h + iy) * s.w + ix];
                                        let wv = w[((o * s.c_in + i) * 3 + ky) * 3 + kx];
                                        acc += xv as f64 * wv as f64;
                                    }
                                }
                            }
                        }
                        out[((n * s.c_out + o) * s.ho + oy) * s.wo + ox] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter()
            .zip(b)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) as f32)
            .map(|v| v / (1 << 24) as f32 * 2.0 - 1.0)
            .collect()
    }

    /// Equal to the direct sum, within float rounding, for odd and even sizes, paddings 0 to 2
    /// (unequal on the two sides), one image or several per block, blocks of rows, and the input
    /// gradient's turned kernel.
    #[test]
    fn matches_the_direct_convolution() {
        // (n, c_in, c_out, h, w, pad, bottom/right padding, tiles per block)
        let cases = [
            (1, 3, 4, 7, 9, [1, 1], [1, 1], TILES),
            (3, 5, 2, 6, 5, [1, 1], [1, 1], 4),
            (2, 4, 3, 9, 8, [0, 2], [1, 0], 3),
            (1, 2, 5, 5, 6, [2, 0], [2, 2], 1),
            (5, 8, 6, 14, 14, [1, 1], [1, 1], 100),
        ];
        for (case, &(n, c_in, c_out, h, w, pad, far, tiles)) in cases.iter().enumerate() {
            let (ho, wo) = (h + pad[0] + far[0] - 2, w + pad[1] + far[1] - 2);
            let s = Sizes {
                n,
                c_in,
                h,
                w,
                c_out,
                pad,
                ho,
                wo,
            };
            let x = values(n * c_in * h * w, 1);
            let wt = values(c_out * c_in * 9, 2);
            let bias = values(c_out, 3);
            let expected = direct(&x, &wt, Some(&bias), &s);
            let got = conv(
                &x,
                &kernels(&wt, [c_out, c_in], false),
                Some(&bias),
                &s,
                tiles,
            );
            let d = max_diff(&got, &expected);
            assert!(d < 1e-5, "case {case}: differs by {d}");

            // The turned kernel: `flipped` reads `[c_in, c_out, 3, 3]` (here `wt` with the
            // channel counts swapped) turned by 180 degrees.
            let turned: Vec<f32> = (0..c_out * c_in * 9)
                .map(|e| {
                    let (o, i, t) = (e / (c_in * 9), e / 9 % c_in, e % 9);
                    wt[(i * c_out + o) * 9 + 8 - t]
                })
                .collect();
            let expected = direct(&x, &turned, None, &s);
            let got = conv(&x, &kernels(&wt, [c_out, c_in], true), None, &s, tiles);
            let d = max_diff(&got, &expected);
            assert!(d < 1e-5, "case {case} turned: differs by {d}");

            // The weight gradient for an output gradient `dy`, against the direct sum.
            let dy = values(n * c_out * ho * wo, 4);
            let mut expected = vec![0.0f64; c_out * c_in * 9];
            for (e, slot) in expected.iter_mut().enumerate() {
                let (o, i, ky, kx) = (e / (c_in * 9), e / 9 % c_in, e % 9 / 3, e % 3);
                for image in 0..n {
                    for oy in 0..ho {
                        for ox in 0..wo {
                            let iy = (oy + ky).checked_sub(pad[0]).filter(|&v| v < h);
                            let ix = (ox + kx).checked_sub(pad[1]).filter(|&v| v < w);
                            if let (Some(iy), Some(ix)) = (iy, ix) {
                                let g = dy[((image * c_out + o) * ho + oy) * wo + ox];
                                let xv = x[((image * c_in + i) * h + iy) * w + ix];
                                *slot += g as f64 * xv as f64;
                            }
                        }
                    }
                }
            }
            let got = weight_gradient(&x, &dy, &s, tiles);
            let d = got
                .iter()
                .zip(&expected)
                .map(|(&a, &e)| (a as f64 - e).abs())
                .fold(0.0f64, f64::max);
            assert!(d < 1e-4, "case {case} weight gradient: differs by {d}");
        }
    }
}
