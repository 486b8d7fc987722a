//! Moving tensors to and from host memory.

use burn::prelude::*;
use burn::tensor::TensorData;

/// Reads a float tensor back as a flat `Vec<f32>` (row-major).
pub fn to_vec<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("a float tensor converts to f32")
}

/// Reads an int tensor back as `Vec<i64>`, whatever the backend's int type.
pub fn to_vec_i64<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data()
        .convert::<i64>()
        .try_into_vec::<i64>()
        .expect("an int tensor converts to i64")
}

/// Builds a float tensor of `shape` from host values.
pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Builds a 1-D int tensor of indices.
pub fn indices(values: &[usize], device: &Device) -> Tensor<1, Int> {
    let v: Vec<i64> = values.iter().map(|&i| i as i64).collect();
    let n = v.len();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

/// Most indices one `select` may take: see [`select`].
pub const MAX_SELECT_INDICES: usize = 65_535;

/// `t.select(dim, indices(idx))`, in pieces of at most [`MAX_SELECT_INDICES`] indices
/// concatenated along `dim` (one piece, the plain `select`, when `idx` is short enough).
///
/// Works around Burn 0.22.1's wgpu/cubecl `select_assign` with `IndexingUpdateOp::Add` (the
/// backward of `select`, a scatter-add into zeros): with 65,536 or more indices its result is
/// wrong (checked on lavapipe: 65,535 indices exact, 65,536 already off), while the forward
/// `select` is right. So any `select` of that many rows or columns that is differentiated
/// gives wrong gradients on wgpu (issue 3: the RoIAlign gather behind the box and mask poolers
/// handed wrong gradients to P2, and through the FPN to the backbone). The values are the
/// same; on flex the gradient is the same up to the order of the additions.
/// Regression test: `crates/core/tests/wgpu_grads.rs`.
pub fn select<const D: usize>(t: Tensor<D>, dim: usize, idx: &[usize]) -> Tensor<D> {
    let device = t.device();
    if idx.len() <= MAX_SELECT_INDICES {
        return t.select(dim, indices(idx, &device));
    }
    let parts = idx
        .chunks(MAX_SELECT_INDICES)
        .map(|c| t.clone().select(dim, indices(c, &device)))
        .collect();
    Tensor::cat(parts, dim)
}

/// Builds a `[n, 4]` float tensor from boxes.
pub fn boxes_tensor(boxes: &[[f32; 4]], device: &Device) -> Tensor<2> {
    let flat: Vec<f32> = boxes.iter().flatten().copied().collect();
    tensor(flat, [boxes.len(), 4], device)
}

/// Splits a flat `[n*4]` vector into boxes.
pub fn to_boxes(flat: &[f32]) -> Vec<[f32; 4]> {
    flat.chunks_exact(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect()
}
