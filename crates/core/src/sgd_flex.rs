//! One SGD-with-momentum update of a parameter as a single parallel pass on the CPU backend
//! (flex): `g' = g + wd * p`, `v' = m * v + g'` (or `g'` on the first step), `p' = p - lr * v'`,
//! in the same operation order as Burn's `Sgd` so the results are bitwise equal.
//!
//! Why not Burn's ops: Burn's `Sgd` is six tensor ops per parameter (decay `mul_scalar` and `add`,
//! momentum `mul_scalar` twice and `add`, the step's `mul_scalar` and `sub`), each a fresh buffer
//! written on one thread by flex. Over the 55M trainable parameters of R101-FPN that was about a
//! fifth of the main thread of a training step while the other core waited (BENCHMARKS.md,
//! "Training step"). Here each parameter is read once and written once, split over rayon's
//! threads, in place in the gradient (which becomes the new velocity) and the parameter when
//! nothing else holds them.

use crate::flex_backend::{On, on};
use crate::par::SERIAL_BELOW;
use burn::backend::TensorMetadata;
use burn::prelude::*;
use burn::tensor::TensorData;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// Elements per parallel task.
const CHUNK: usize = 1 << 15;

/// Whether [`step`] takes these: plain f32 flex tensors of one shape.
pub(crate) fn applies<const D: usize>(
    param: &Tensor<D>,
    grad: &Tensor<D>,
    velocity: Option<&Tensor<D>>,
) -> bool {
    let same = |t: &Tensor<D>| on(t) == Some(On::Plain) && t.dims() == param.dims();
    on(param) == Some(On::Plain) && same(grad) && velocity.is_none_or(same)
}

/// The hyper-parameters of one update (`lr` already as the f32 Burn's `mul_scalar` uses).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Update {
    pub lr: f32,
    /// 0 = no momentum (no velocity is kept).
    pub momentum: f32,
    /// 0 = no weight decay.
    pub weight_decay: f32,
}

/// A contiguous buffer of `t` that this function may write: `t`'s own when nothing else holds
/// it, else a copy.
fn owned(mut t: FlexTensor) -> FlexTensor {
    let n = t.shape().num_elements();
    let whole = t.layout().contiguous_offsets() == Some((0, n));
    if whole && t.try_storage_mut::<f32>().is_some() {
        return t;
    }
    let t = t.to_contiguous();
    let values: &[f32] = t.as_slice().expect("contiguous");
    FlexTensor::from_data(TensorData::new(values[..n].to_vec(), t.shape()))
}

/// `(p', v')` for tensors that [`applies`] takes; `v'` is `None` without momentum.
pub(crate) fn step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    velocity: Option<Tensor<D>>,
    u: Update,
) -> (Tensor<D>, Option<Tensor<D>>) {
    let prim = |t: Tensor<D>| t.try_into_primitive::<Flex>().expect("see `applies`");
    let mut p = owned(prim(param));
    let mut g = owned(prim(grad));
    let v = velocity.map(|v| prim(v).to_contiguous());
    let n = p.shape().num_elements();
    let vs = v
        .as_ref()
        .map(|v| &v.as_slice::<f32>().expect("contiguous")[..n]);
    let ps = &mut p.try_storage_mut::<f32>().expect("owned")[..n];
    let gs = &mut g.try_storage_mut::<f32>().expect("owned")[..n];
    let update = |c: usize, p: &mut [f32], g: &mut [f32]| {
        let v = vs.map(|v| &v[c * CHUNK..][..p.len()]);
        for (i, (p, g)) in p.iter_mut().zip(g.iter_mut()).enumerate() {
            // Burn's order: `p * wd + g` (one sum, so `g + p * wd` is the same value), then
            // `g * (1 - 0) + v * m`, then `p - v' * lr`.
            let mut d = *g;
            if u.weight_decay > 0.0 {
                d += *p * u.weight_decay;
            }
            if u.momentum > 0.0
                && let Some(v) = v
            {
                d += v[i] * u.momentum;
            }
            *g = d;
            *p -= d * u.lr;
        }
    };
    if n < SERIAL_BELOW {
        ps.chunks_mut(CHUNK)
            .zip(gs.chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (p, g))| update(c, p, g));
    } else {
        ps.par_chunks_mut(CHUNK)
            .zip(gs.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (p, g))| update(c, p, g));
    }
    let velocity = (u.momentum > 0.0).then(|| Tensor::from_primitive::<Flex>(g));
    (Tensor::from_primitive::<Flex>(p), velocity)
}
