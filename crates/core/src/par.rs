//! When the CPU ops of this crate go parallel: only above a size where rayon pays. A parallel
//! iterator called from the main thread hands its work to rayon's pool and sleeps until it is
//! done; for a small tensor that handing over (two thread wake-ups) costs more than the work.
//! The quickstart's tiny model showed it: with every op parallel its run took 9 min instead of
//! 5 min 23 s, with 8 million context switches.

use rayon::prelude::*;

/// Elements (or multiply-adds, for products) below which an op runs on the calling thread.
pub(crate) const SERIAL_BELOW: usize = 1 << 16;

/// A new buffer of `len` values `f(0), f(1), ...`, written in parallel when large:
/// `vec![0.0; len]` would zero it on the calling thread (or fault its pages in there) while the
/// other cores wait.
pub(crate) fn par_vec(len: usize, f: impl Fn(usize) -> f32 + Sync + Send) -> Vec<f32> {
    if len < SERIAL_BELOW {
        return (0..len).map(f).collect();
    }
    let mut out = Vec::with_capacity(len);
    (0..len).into_par_iter().map(f).collect_into_vec(&mut out);
    out
}

/// A new buffer of `len` values written `row` at a time: `f(i, r)` fills the `i`-th `row`-long
/// piece `r` (the last may be shorter), in parallel when large. For values with a per-row
/// pattern (a bias per plane, a transposed row): an index computed per element (`i / plane %
/// channels`) costs two integer divisions per value, several times the write itself.
pub(crate) fn par_rows(
    len: usize,
    row: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    let mut out = par_vec(len, |_| 0.0);
    for_chunks(&mut out, row, len, f);
    out
}

/// `f(i, chunk)` for every `chunk`-long piece of `dst` (the last may be shorter), in parallel
/// when `work` (the whole job's size, in elements touched) is large.
pub(crate) fn for_chunks(
    dst: &mut [f32],
    chunk: usize,
    work: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let chunk = chunk.max(1);
    if work < SERIAL_BELOW {
        dst.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
    } else {
        dst.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serial and parallel paths give the same buffers.
    #[test]
    fn serial_and_parallel_agree() {
        for len in [0, 5, SERIAL_BELOW - 1, SERIAL_BELOW, 3 * SERIAL_BELOW + 7] {
            let v = par_vec(len, |i| (i % 97) as f32);
            assert_eq!(v.len(), len);
            assert!(v.iter().enumerate().all(|(i, &x)| x == (i % 97) as f32));
            let mut w = vec![0.0f32; len];
            for_chunks(&mut w, 10, len, |c, d| {
                for (j, x) in d.iter_mut().enumerate() {
                    *x = (c * 10 + j) as f32;
                }
            });
            assert!(w.iter().enumerate().all(|(i, &x)| x == i as f32));
            let r = par_rows(len, 10, |c, d| d.iter_mut().for_each(|x| *x = c as f32));
            assert!(r.iter().enumerate().all(|(i, &x)| x == (i / 10) as f32));
        }
    }
}
