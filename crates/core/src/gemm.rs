//! Matrix products on f32 buffers with the CPU backend's own kernel (the `gemm` crate that flex
//! calls), for the CPU convolutions (`pointwise_flex`, `conv_flex`, `winograd_flex`): they write
//! each output once, in place in a larger buffer when asked, and read their operands through
//! strides (a transpose or a block of rows costs no copy).
//!
//! The only module with `unsafe` code: `gemm` takes raw pointers. The safe functions here check
//! every view against its buffer before the call, so a wrong size is a panic naming the operand,
//! never a read or write out of bounds.

/// Below this many multiply-adds a product runs on the calling thread (flex's threshold).
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// The narrowest block of output columns a large product is split into.
const MIN_COLUMNS: usize = 64;

/// A matrix in a buffer: element `(r, c)` at `data[offset + r * rs + c * cs]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub data: &'a [f32],
    pub offset: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> View<'a> {
    /// A contiguous row-major matrix starting at `offset`, `cols` wide.
    pub fn rows(data: &'a [f32], offset: usize, cols: usize) -> Self {
        Self {
            data,
            offset,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose of this view.
    pub fn t(self) -> Self {
        Self {
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// Panics unless the `rows x cols` matrix lies inside the buffer.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        let last = self.offset + (rows - 1) * self.rs + (cols - 1) * self.cs;
        assert!(
            last < self.data.len(),
            "gemm: {what} ({rows} x {cols}, offset {}, strides {} {}) overruns its {} elements",
            self.offset,
            self.rs,
            self.cs,
            self.data.len()
        );
    }
}

fn parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    }
}

/// `dst (m x n, rows dst_rs apart) = [dst +] lhs @ rhs` by the `gemm` kernel.
///
/// # Safety
/// `dst` must be valid for writes (and, when `accumulate`, reads) of the `m x n` block, not
/// aliased by anything else during the call; the views must lie in their buffers.
#[allow(unsafe_code)]
#[allow(clippy::too_many_arguments)]
unsafe fn call(
    dst: *mut f32,
    dst_rs: usize,
    [m, n, k]: [usize; 3],
    lhs: View,
    rhs: View,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.data.as_ptr().add(lhs.offset),
            lhs.cs as isize,
            lhs.rs as isize,
            rhs.data.as_ptr().add(rhs.offset),
            rhs.cs as isize,
            rhs.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// `dst[offset + r * dst_rs + c]` for the `m x n` product `lhs (m x k) @ rhs (k x n)`, added to
/// what is there when `accumulate`, written over it otherwise. Split across rayon's threads when
/// large and `parallel`; a product made inside an already parallel task (`winograd_flex`'s
/// blocks) passes `false` and runs on its thread.
#[allow(clippy::too_many_arguments)]
pub(crate) fn product_into(
    dst: &mut [f32],
    offset: usize,
    dst_rs: usize,
    [m, n, k]: [usize; 3],
    lhs: View,
    rhs: View,
    accumulate: bool,
    parallel: bool,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[offset + r * dst_rs..][..n].fill(0.0);
            }
        }
        return;
    }
    View::rows(dst, offset, dst_rs).check(m, n, "output");
    lhs.check(m, k, "left operand");
    rhs.check(k, n, "right operand");
    // Large products are split into blocks of output columns, one `gemm` per block and thread:
    // `gemm`'s own threading packs its operands on the calling thread first, which left the
    // other core idle (BENCHMARKS.md, "Training step").
    let threads = rayon::current_num_threads().max(1);
    let parts = if parallel && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_THRESHOLD {
        threads.min(n.div_ceil(MIN_COLUMNS)).max(1)
    } else {
        1
    };
    let width = n.div_ceil(parts);
    let base = SendPtr(dst.as_mut_ptr());
    let block = |i: usize| {
        let c0 = i * width;
        let cols = width.min(n - c0);
        #[allow(unsafe_code)]
        // SAFETY: the three views were checked to lie in their buffers above, so do their
        // column blocks; the blocks of `dst` (columns `c0..c0 + cols` of every row) are disjoint
        // between tasks, and `dst` is borrowed mutably for the whole call, so nothing else
        // aliases it.
        unsafe {
            call(
                base.get().add(offset + c0),
                dst_rs,
                [m, cols, k],
                lhs,
                View {
                    offset: rhs.offset + c0 * rhs.cs,
                    ..rhs
                },
                accumulate,
                gemm::Parallelism::None,
            )
        }
    };
    if parts == 1 {
        block(0);
    } else {
        use rayon::prelude::*;
        (0..parts).into_par_iter().for_each(block);
    }
}

/// A new buffer holding `count` consecutive `m x n` products, the `i`-th `parts(i).0 @
/// parts(i).1` (each `m x k` by `k x n`). No element is filled before its product writes it.
pub(crate) fn products_new<'a>(
    count: usize,
    [m, n, k]: [usize; 3],
    parts: impl Fn(usize) -> (View<'a>, View<'a>),
) -> Vec<f32> {
    let len = count * m * n;
    if k == 0 || len == 0 {
        return vec![0.0; len];
    }
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let spare = out.spare_capacity_mut();
    for i in 0..count {
        let (lhs, rhs) = parts(i);
        lhs.check(m, k, "left operand");
        rhs.check(k, n, "right operand");
        let block = &mut spare[i * m * n..(i + 1) * m * n];
        #[allow(unsafe_code)]
        // SAFETY: the operands were checked above; `block` is `m * n` elements of `out`'s spare
        // capacity, written (not read: `read_dst` is false) as an `m x n` row-major matrix.
        unsafe {
            call(
                block.as_mut_ptr().cast::<f32>(),
                n,
                [m, n, k],
                lhs,
                rhs,
                false,
                parallelism(m, n, k),
            )
        }
    }
    #[allow(unsafe_code)]
    // SAFETY: the `count` products wrote every one of the `len` elements.
    unsafe {
        out.set_len(len)
    };
    out
}

/// A block of columns of the output in [`tiles_into`]: `n` columns starting at `offset` in
/// each of the `m` rows (row `r` at `offset + r * dst_rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tile {
    pub offset: usize,
    pub n: usize,
}

/// For every tile in parallel: `rhs(t, scratch)` fills `scratch` with the tile's right operand,
/// a contiguous `k x tile.n` matrix, and the tile's block of `dst` (`m x tile.n`, rows
/// `dst_rs` apart) gets `lhs (m x k) @ rhs`, added to what is there when `accumulate`. Each
/// product runs on one thread: the parallelism is across tiles, and a tile's operand stays in
/// that thread's cache.
///
/// `dst` holds `images` stacked `m x dst_rs` matrices; a tile lies in one of them, and the tiles
/// of one matrix do not share columns (checked: a panic otherwise, never a race).
#[allow(clippy::too_many_arguments)]
pub(crate) fn tiles_into(
    dst: &mut [f32],
    dst_rs: usize,
    [m, k]: [usize; 2],
    tiles: &[Tile],
    lhs: View,
    rhs: impl Fn(usize, &mut Vec<f32>) + Sync,
    accumulate: bool,
) {
    use rayon::prelude::*;
    if m == 0 || tiles.is_empty() {
        return;
    }
    assert!(k > 0, "tiles_into: an empty product");
    lhs.check(m, k, "left operand");
    let image = m * dst_rs;
    let mut spans: Vec<(usize, usize, usize)> = tiles
        .iter()
        .map(|t| (t.offset / image, t.offset % image, t.n))
        .collect();
    spans.sort_unstable();
    for (i, &(img, col, n)) in spans.iter().enumerate() {
        assert!(
            n > 0 && col + n <= dst_rs && (img + 1) * image <= dst.len(),
            "tiles_into: tile at column {col} of matrix {img}, {n} wide, outside the output"
        );
        if let Some(&(next_img, next_col, _)) = spans.get(i + 1) {
            assert!(
                next_img > img || next_col >= col + n,
                "tiles_into: tiles overlap at column {next_col} of matrix {img}"
            );
        }
    }
    let base = SendPtr(dst.as_mut_ptr());
    let run = |scratch: &mut Vec<f32>, (t, tile): (usize, &Tile)| {
        rhs(t, scratch);
        let operand = View::rows(scratch, 0, tile.n);
        operand.check(k, tile.n, "right operand");
        #[allow(unsafe_code)]
        // SAFETY: the tile's block lies in `dst` and no other tile writes it (checked
        // above); `dst` is borrowed mutably for the whole call; `lhs` and `scratch` are
        // separate buffers checked against their sizes.
        unsafe {
            call(
                base.get().add(tile.offset),
                dst_rs,
                [m, tile.n, k],
                lhs,
                operand,
                accumulate,
                gemm::Parallelism::None,
            )
        }
    };
    let work = m * k * tiles.iter().map(|t| t.n).sum::<usize>();
    if tiles.len() == 1 || work < PARALLEL_THRESHOLD {
        let mut scratch = Vec::new();
        tiles
            .iter()
            .enumerate()
            .for_each(|tile| run(&mut scratch, tile));
    } else {
        tiles.par_iter().enumerate().for_each_init(Vec::new, run);
    }
}

/// The output's address, shared by the tasks of [`tiles_into`], which write disjoint blocks.
#[derive(Clone, Copy)]
struct SendPtr(*mut f32);

// SAFETY: only used by `tiles_into`, whose tasks write disjoint blocks of one buffer.
#[allow(unsafe_code)]
unsafe impl Send for SendPtr {}
#[allow(unsafe_code)]
unsafe impl Sync for SendPtr {}

impl SendPtr {
    fn get(self) -> *mut f32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for r in 0..m {
            for c in 0..n {
                out[r * n + c] = (0..k).map(|i| a[r * k + i] * b[i * n + c]).sum();
            }
        }
        out
    }

    /// Products, transposed views, accumulation and writing into a block of a larger buffer
    /// equal the textbook loop; a view past its buffer panics instead of reading outside it.
    #[test]
    fn products_match_the_definition() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| v as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v as f32).sin()).collect();
        let expected = naive(&a, &b, m, n, k);
        let new = products_new(2, [m, n, k], |_| {
            (View::rows(&a, 0, k), View::rows(&b, 0, n))
        });
        let same = |got: &[f32]| got.iter().zip(&expected).all(|(g, e)| (g - e).abs() < 1e-5);
        assert!(
            same(&new[..m * n]) && same(&new[m * n..]),
            "{new:?} vs {expected:?}"
        );
        // a^T stored, read transposed.
        let at: Vec<f32> = (0..k * m).map(|i| a[(i % m) * k + i / m]).collect();
        let mut dst = vec![1.0; 2 + m * (n + 1)];
        product_into(
            &mut dst,
            2,
            n + 1,
            [m, n, k],
            View::rows(&at, 0, m).t(),
            View::rows(&b, 0, n),
            true,
            true,
        );
        for r in 0..m {
            for c in 0..n {
                let got = dst[2 + r * (n + 1) + c];
                assert!((got - (expected[r * n + c] + 1.0)).abs() < 1e-5);
            }
            assert_eq!(
                dst[2 + r * (n + 1) + n],
                1.0,
                "the gap between rows is untouched"
            );
        }
        // Two tiles of columns 0..3 and 3..7, the right operand built per tile.
        let mut tiled = vec![0.0; m * n];
        let tiles = [Tile { offset: 0, n: 3 }, Tile { offset: 3, n: 4 }];
        tiles_into(
            &mut tiled,
            n,
            [m, k],
            &tiles,
            View::rows(&a, 0, k),
            |t, scratch| {
                let (c0, width) = (tiles[t].offset, tiles[t].n);
                scratch.clear();
                for r in 0..k {
                    scratch.extend_from_slice(&b[r * n + c0..r * n + c0 + width]);
                }
            },
            false,
        );
        let same = |got: &[f32]| got.iter().zip(&expected).all(|(g, e)| (g - e).abs() < 1e-5);
        assert!(same(&tiled), "{tiled:?} vs {expected:?}");
        let overlapping = [Tile { offset: 0, n: 4 }, Tile { offset: 3, n: 4 }];
        let a2 = a.clone();
        let overlap = std::panic::catch_unwind(move || {
            let mut out = vec![0.0; m * n];
            tiles_into(
                &mut out,
                n,
                [m, k],
                &overlapping,
                View::rows(&a2, 0, k),
                |_, s| s.resize(k * 4, 0.0),
                false,
            )
        });
        assert!(overlap.is_err(), "overlapping tiles are refused");
        let short = &b[..k * n - 1];
        let overrun = std::panic::catch_unwind(|| {
            products_new(1, [m, n, k], |_| {
                (View::rows(&a, 0, k), View::rows(short, 0, n))
            })
        });
        assert!(overrun.is_err());
    }
}
