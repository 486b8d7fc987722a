//! A frozen TensorFlow graph (`frozen_inference_graph.pb`, a `GraphDef` whose variables were
//! turned into `Const` nodes), the OD API's second way of shipping weights: every `Const`
//! node's `value` tensor, by node name.
//!
//! A `TensorProto` holds its values either as raw little-endian `tensor_content` or in the
//! typed `*_val` list; a list shorter than the shape is padded with its last value (how
//! TensorFlow stores a constant filled with one value), an empty one means zeros.

use std::collections::HashMap;
use std::path::Path;

use prost::Message;

use super::bundle::{BundleTensor, TfDtype, dims};
use crate::error::{ImportError, Result};

#[derive(Clone, PartialEq, Message)]
struct GraphDef {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeDef>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeDef {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    op: String,
    #[prost(map = "string, message", tag = "5")]
    attr: HashMap<String, AttrValue>,
}

/// `AttrValue`: only its `tensor` case is read (the others are skipped on the wire).
#[derive(Clone, PartialEq, Message)]
struct AttrValue {
    #[prost(message, optional, tag = "8")]
    tensor: Option<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    tensor_shape: Option<super::bundle::ShapeProto>,
    #[prost(bytes = "vec", tag = "4")]
    tensor_content: Vec<u8>,
    #[prost(float, repeated, tag = "5")]
    float_val: Vec<f32>,
    #[prost(double, repeated, tag = "6")]
    double_val: Vec<f64>,
    /// int32, int16, int8, uint8, uint16 values.
    #[prost(int32, repeated, tag = "7")]
    int_val: Vec<i32>,
    #[prost(int64, repeated, tag = "10")]
    int64_val: Vec<i64>,
    #[prost(bool, repeated, tag = "11")]
    bool_val: Vec<bool>,
    /// float16 and bfloat16 bit patterns.
    #[prost(int32, repeated, tag = "13")]
    half_val: Vec<i32>,
}

/// `vals` as `numel` little-endian elements: TensorFlow's padding rule (the last value
/// repeated; zeros when the list is empty).
fn fill<T: Copy + Default>(vals: &[T], numel: usize, le: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
    let last = vals.last().copied().unwrap_or_default();
    (0..numel)
        .flat_map(|i| le(vals.get(i).copied().unwrap_or(last)))
        .collect()
}

fn tensor(name: &str, t: &TensorProto) -> std::result::Result<BundleTensor, String> {
    let dtype = TfDtype::from_proto(t.dtype)
        .ok_or_else(|| format!("'{name}' has TensorFlow dtype {}", t.dtype))?;
    let shape = dims(name, t.tensor_shape.clone().unwrap_or_default())?;
    let numel: usize = shape.iter().product();
    let bytes = if !t.tensor_content.is_empty() {
        t.tensor_content.clone()
    } else {
        match dtype {
            TfDtype::F32 => fill(&t.float_val, numel, |v| v.to_le_bytes().to_vec()),
            TfDtype::F64 => fill(&t.double_val, numel, |v| v.to_le_bytes().to_vec()),
            TfDtype::I64 => fill(&t.int64_val, numel, |v| v.to_le_bytes().to_vec()),
            TfDtype::I32 => fill(&t.int_val, numel, |v| v.to_le_bytes().to_vec()),
            TfDtype::I16 | TfDtype::U16 => {
                fill(&t.int_val, numel, |v| (v as u16).to_le_bytes().to_vec())
            }
            TfDtype::I8 | TfDtype::U8 => fill(&t.int_val, numel, |v| vec![v as u8]),
            TfDtype::Bool => fill(&t.bool_val, numel, |v| vec![u8::from(v)]),
            TfDtype::F16 | TfDtype::BF16 => {
                fill(&t.half_val, numel, |v| (v as u16).to_le_bytes().to_vec())
            }
        }
    };
    if bytes.len() != numel * dtype.size() {
        return Err(format!(
            "'{name}' holds {} bytes, but its shape {shape:?} of {dtype:?} needs {}",
            bytes.len(),
            numel * dtype.size()
        ));
    }
    Ok(BundleTensor {
        name: name.to_string(),
        dtype,
        shape,
        bytes,
    })
}

/// Every `Const` node's value in the frozen graph at `path`, in name order.
pub fn read_frozen_graph(path: &Path) -> Result<Vec<BundleTensor>> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let graph = GraphDef::decode(bytes.as_slice()).map_err(|e| {
        ImportError::weights(
            path,
            format!("not a TensorFlow GraphDef (a frozen_inference_graph.pb): {e}"),
        )
    })?;
    let mut out = Vec::new();
    for node in graph.node.iter().filter(|n| n.op == "Const") {
        let Some(t) = node.attr.get("value").and_then(|a| a.tensor.as_ref()) else {
            continue;
        };
        // Strings (e.g. the label names some graphs embed) are not weights.
        if t.dtype == 7 {
            continue;
        }
        out.push(tensor(&node.name, t).map_err(|m| ImportError::weights(path, m))?);
    }
    if out.is_empty() {
        return Err(ImportError::weights(
            path,
            "a GraphDef without any constant tensor: not a frozen graph (its weights are still \
             variables; use the checkpoint, model.ckpt, instead)",
        ));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
