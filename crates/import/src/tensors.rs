//! Checkpoint tensors on the host: the name -> `f32` tensor map every importer produces, reading
//! it from torch files (through burn-store's safe `PytorchReader`), row edits for the
//! class-specific layers, and serialising it as safetensors for burn-store to apply.

use burn::store::pytorch_reader::{DType, PytorchError, PytorchReader};

use crate::error::{ImportError, Result};
use crate::ndarray::f16_to_f32;
use std::collections::BTreeMap;
use std::path::Path;

/// One tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Tensors by name, sorted (so reports and files come out in a stable order).
pub type TensorMap = BTreeMap<String, HostTensor>;

impl HostTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }

    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Self {
            shape,
            data: vec![0.0; n],
        }
    }

    /// Number of rows (first dimension; 1 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Elements per row.
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    pub fn row(&self, r: usize) -> &[f32] {
        let l = self.row_len();
        &self.data[r * l..(r + 1) * l]
    }

    /// A tensor made of the given rows of `self`, `None` giving a zero row.
    pub fn gather_rows(&self, rows: &[Option<usize>]) -> Self {
        let l = self.row_len();
        let mut data = Vec::with_capacity(rows.len() * l);
        for r in rows {
            match r {
                Some(r) => data.extend_from_slice(self.row(*r)),
                None => data.extend(std::iter::repeat_n(0.0, l)),
            }
        }
        let mut shape = self.shape.clone();
        if shape.is_empty() {
            shape.push(1);
        }
        shape[0] = rows.len();
        Self { shape, data }
    }
}

/// Reads a `torch.save` file (zip or legacy) into a tensor map. With `keys`, the first of them
/// that the file has at its root is descended into (`state_dict`, `model`); otherwise the root.
/// Floating tensors become f32; integer ones (`num_batches_tracked`, ...) are returned by name
/// in the second list, since no weight is an integer.
pub fn read_torch(path: &Path, keys: &[&str]) -> Result<(TensorMap, Vec<String>)> {
    let mut reader = None;
    for key in keys {
        match PytorchReader::with_top_level_key(path, key) {
            Ok(r) => {
                reader = Some(r);
                break;
            }
            Err(PytorchError::KeyNotFound(_)) => continue,
            Err(source) => {
                return Err(ImportError::Torch {
                    path: path.to_path_buf(),
                    what: "not a readable torch checkpoint".into(),
                    source,
                });
            }
        }
    }
    let reader = match reader {
        Some(r) => r,
        None => PytorchReader::new(path).map_err(|source| ImportError::Torch {
            path: path.to_path_buf(),
            what: "not a readable torch checkpoint".into(),
            source,
        })?,
    };
    let mut map = TensorMap::new();
    let mut non_float = Vec::new();
    for (name, t) in reader.into_tensors() {
        let bytes = t.read().map_err(|source| ImportError::TorchTensor {
            path: path.to_path_buf(),
            name: name.clone(),
            source,
        })?;
        let data: Vec<f32> = match t.dtype() {
            DType::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            DType::F64 => bytes
                .chunks_exact(8)
                .map(|c| f64::from_ne_bytes(c.try_into().expect("8-byte chunk")) as f32)
                .collect(),
            DType::F16 => bytes
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_ne_bytes([c[0], c[1]])))
                .collect(),
            DType::BF16 => bytes
                .chunks_exact(2)
                .map(|c| f32::from_bits(u32::from(u16::from_ne_bytes([c[0], c[1]])) << 16))
                .collect(),
            _ => {
                non_float.push(name);
                continue;
            }
        };
        map.insert(name, HostTensor::new(t.shape().to_vec(), data));
    }
    if map.is_empty() {
        return Err(ImportError::weights(
            path,
            "the checkpoint holds no floating-point tensors",
        ));
    }
    non_float.sort();
    Ok((map, non_float))
}

/// The map as a safetensors file image (f32, little-endian), for `SafetensorsStore::from_bytes`.
pub fn to_safetensors_bytes(map: &TensorMap) -> Result<Vec<u8>> {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes: Vec<(&String, Vec<u8>, &Vec<usize>)> = map
        .iter()
        .map(|(k, t)| {
            (
                k,
                t.data.iter().flat_map(|v| v.to_le_bytes()).collect(),
                &t.shape,
            )
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, b, s)| {
            TensorView::new(Dtype::F32, s.to_vec(), b)
                .map(|v| (k.as_str(), v))
                .map_err(|source| ImportError::Serialize {
                    name: k.to_string(),
                    source,
                })
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::tensor::serialize(views, &None).map_err(|source| ImportError::Serialize {
        name: "(the whole map)".into(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_rows_with_zero_rows() {
        let t = HostTensor::new(vec![3, 2], vec![1., 2., 3., 4., 5., 6.]);
        let g = t.gather_rows(&[Some(2), None, Some(0)]);
        assert_eq!(g.shape, vec![3, 2]);
        assert_eq!(g.data, vec![5., 6., 0., 0., 1., 2.]);
    }
}
