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
