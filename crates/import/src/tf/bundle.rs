//! TensorBundle, TensorFlow's checkpoint format since 1.0 (`tensor_bundle.proto`,
//! `tensor_bundle.cc`): `<prefix>.index` is a sorted table whose entry "" is a
//! `BundleHeaderProto` (shard count, endianness) and every other entry a `BundleEntryProto`
//! (dtype, shape, shard, byte offset and size, masked CRC-32C of the bytes) keyed by the
//! variable's name; the bytes are in `<prefix>.data-SSSSS-of-NNNNN`.
//!
//! Everything is checked: the index blocks' checksums, every tensor's checksum, sizes against
//! shapes, and that the shards the header counts exist; each failure names the file.

use std::path::{Path, PathBuf};

use prost::Message;

use crate::error::{ImportError, Result};

/// `BundleHeaderProto`: what matters of it.
#[derive(Clone, PartialEq, Message)]
struct Header {
    #[prost(int32, tag = "1")]
    num_shards: i32,
    /// 0 little-endian, 1 big-endian.
    #[prost(int32, tag = "2")]
    endianness: i32,
}

#[derive(Clone, PartialEq, Message)]
struct Dim {
    #[prost(int64, tag = "1")]
    size: i64,
}

/// `TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ShapeProto {
    #[prost(message, repeated, tag = "2")]
    dim: Vec<Dim>,
    #[prost(bool, tag = "3")]
    unknown_rank: bool,
}

/// `BundleEntryProto` (the `slices` of a partitioned variable are only counted).
#[derive(Clone, PartialEq, Message)]
struct Entry {
    #[prost(int32, tag = "1")]
    dtype: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<ShapeProto>,
    #[prost(int32, tag = "3")]
    shard_id: i32,
    #[prost(int64, tag = "4")]
    offset: i64,
    #[prost(int64, tag = "5")]
    size: i64,
    #[prost(fixed32, tag = "6")]
    crc32c: u32,
    #[prost(bytes = "vec", repeated, tag = "7")]
    slices: Vec<Vec<u8>>,
}

/// The element types a checkpoint of weights holds (`types.proto`'s `DataType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TfDtype {
    F32,
    F64,
    I32,
    I64,
    U8,
    I8,
    I16,
    U16,
    Bool,
    F16,
    BF16,
}

impl TfDtype {
    pub(crate) fn from_proto(v: i32) -> Option<TfDtype> {
        Some(match v {
            1 => TfDtype::F32,
            2 => TfDtype::F64,
            3 => TfDtype::I32,
            4 => TfDtype::U8,
            5 => TfDtype::I16,
            6 => TfDtype::I8,
            9 => TfDtype::I64,
            10 => TfDtype::Bool,
            14 => TfDtype::BF16,
            17 => TfDtype::U16,
            19 => TfDtype::F16,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            TfDtype::U8 | TfDtype::I8 | TfDtype::Bool => 1,
            TfDtype::I16 | TfDtype::U16 | TfDtype::F16 | TfDtype::BF16 => 2,
            TfDtype::F32 | TfDtype::I32 => 4,
            TfDtype::F64 | TfDtype::I64 => 8,
        }
    }
}

/// One variable of a checkpoint: its little-endian bytes, row-major as TensorFlow stores them.
#[derive(Clone, Debug, PartialEq)]
pub struct BundleTensor {
    pub name: String,
    pub dtype: TfDtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl BundleTensor {
    /// The values as f32 (integers and booleans converted; f64 rounded).
    pub fn to_f32(&self) -> Vec<f32> {
        let b = &self.bytes;
        let n = self.dtype.size();
        let chunks = b.chunks_exact(n);
        match self.dtype {
            TfDtype::F32 => chunks
                .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                .collect(),
            TfDtype::F64 => chunks
                .map(|c| f64::from_le_bytes(c.try_into().expect("8")) as f32)
                .collect(),
            TfDtype::I32 => chunks
                .map(|c| i32::from_le_bytes(c.try_into().expect("4")) as f32)
                .collect(),
            TfDtype::I64 => chunks
                .map(|c| i64::from_le_bytes(c.try_into().expect("8")) as f32)
                .collect(),
            TfDtype::I16 => chunks
                .map(|c| f32::from(i16::from_le_bytes(c.try_into().expect("2"))))
                .collect(),
            TfDtype::U16 => chunks
                .map(|c| f32::from(u16::from_le_bytes(c.try_into().expect("2"))))
                .collect(),
            TfDtype::U8 | TfDtype::Bool => b.iter().map(|&v| f32::from(v)).collect(),
            TfDtype::I8 => b.iter().map(|&v| f32::from(v as i8)).collect(),
            TfDtype::F16 => chunks
                .map(|c| half::f16::from_le_bytes(c.try_into().expect("2")).to_f32())
                .collect(),
            TfDtype::BF16 => chunks
                .map(|c| half::bf16::from_le_bytes(c.try_into().expect("2")).to_f32())
                .collect(),
        }
    }

    /// Integer values (for `global_step` and the like); `None` for floating types.
    pub fn to_i64(&self) -> Option<Vec<i64>> {
        let b = &self.bytes;
        let n = self.dtype.size();
        let chunks = b.chunks_exact(n);
        Some(match self.dtype {
            TfDtype::I64 => chunks
                .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
                .collect(),
            TfDtype::I32 => chunks
                .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4"))))
                .collect(),
            TfDtype::I16 => chunks
                .map(|c| i64::from(i16::from_le_bytes(c.try_into().expect("2"))))
                .collect(),
            TfDtype::U16 => chunks
                .map(|c| i64::from(u16::from_le_bytes(c.try_into().expect("2"))))
                .collect(),
            TfDtype::U8 | TfDtype::Bool => b.iter().map(|&v| i64::from(v)).collect(),
            TfDtype::I8 => b.iter().map(|&v| i64::from(v as i8)).collect(),
            _ => return None,
        })
    }
}

/// The checkpoint prefix a user's path means: `model.ckpt`, `model.ckpt.index`,
/// `model.ckpt.data-00000-of-00001`, or a folder holding one `.index` (the OD API's download).
pub fn checkpoint_prefix(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let rd = std::fs::read_dir(path).map_err(|e| ImportError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let mut idx: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "index"))
            .collect();
        idx.sort();
        return match idx.as_slice() {
            [one] => Ok(one.with_extension("")),
            [] => Err(ImportError::weights(
                path,
                "no TensorFlow checkpoint here (no `.index` file); give the checkpoint prefix, \
                 e.g. pretrained_model/model.ckpt",
            )),
            many => Err(ImportError::weights(
                path,
                format!(
                    "{} checkpoints here ({}); give one prefix",
                    many.len(),
                    many.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        };
    }
    let s = path.to_string_lossy();
    if let Some(p) = s.strip_suffix(".index") {
        return Ok(PathBuf::from(p));
    }
    if let Some(i) = s.rfind(".data-") {
        return Ok(PathBuf::from(&s[..i]));
    }
    Ok(path.to_path_buf())
}

/// The dimensions of a shape proto; an unknown or overflowing shape is an error.
pub(crate) fn dims(name: &str, shape: ShapeProto) -> std::result::Result<Vec<usize>, String> {
    if shape.unknown_rank || shape.dim.iter().any(|d| d.size < 0) {
        return Err(format!("'{name}' has an unknown shape"));
    }
    let dims: Vec<usize> = shape.dim.iter().map(|d| d.size as usize).collect();
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .and_then(|n| n.checked_mul(8))
        .ok_or_else(|| format!("'{name}': shape {dims:?} is too large"))?;
    Ok(dims)
}

fn shard_path(prefix: &Path, shard: usize, shards: usize) -> PathBuf {
    PathBuf::from(format!(
        "{}.data-{shard:05}-of-{shards:05}",
        prefix.display()
    ))
}

/// Reads every variable of the checkpoint at `path` (see [`checkpoint_prefix`]), in name order.
pub fn read_bundle(path: &Path) -> Result<Vec<BundleTensor>> {
    let prefix = checkpoint_prefix(path)?;
    let index_path = PathBuf::from(format!("{}.index", prefix.display()));
    let index = std::fs::read(&index_path).map_err(|e| ImportError::Io {
        path: index_path.clone(),
        source: e,
    })?;
    let bad = |m: String| ImportError::weights(&index_path, m);
    let table = crate::tf::table::read_table(&index).map_err(bad)?;
    let Some((_, header)) = table.iter().find(|(k, _)| k.is_empty()) else {
        return Err(bad(
            "no bundle header (the entry named \"\"): not a TensorBundle checkpoint index".into(),
        ));
    };
    let header = Header::decode(header.as_slice())
        .map_err(|e| bad(format!("the bundle header does not parse: {e}")))?;
    if header.endianness != 0 {
        return Err(bad(
            "a big-endian checkpoint; only little-endian ones (every x86 and ARM machine's) are \
             read"
                .into(),
        ));
    }
    let shards = usize::try_from(header.num_shards)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| bad(format!("the header says {} data shards", header.num_shards)))?;
    let mut data = Vec::with_capacity(shards);
    for s in 0..shards {
        let p = shard_path(&prefix, s, shards);
        let bytes = std::fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                bad(format!(
                    "the index names {shards} data shard(s) and {} is missing: copy every \
                     `.data-*-of-{shards:05}` file of the checkpoint beside its `.index`",
                    p.display()
                ))
            } else {
                ImportError::Io {
                    path: p.clone(),
                    source: e,
                }
            }
        })?;
        data.push((p, bytes));
    }
    let mut out = Vec::new();
    let mut partitioned = Vec::new();
    for (key, value) in table.iter().filter(|(k, _)| !k.is_empty()) {
        let name = String::from_utf8_lossy(key).into_owned();
        let entry = Entry::decode(value.as_slice())
            .map_err(|e| bad(format!("the entry of '{name}' does not parse: {e}")))?;
        if !entry.slices.is_empty() {
            partitioned.push(name);
            continue;
        }
        let dtype = TfDtype::from_proto(entry.dtype).ok_or_else(|| {
            bad(format!(
                "'{name}' has TensorFlow dtype {} (strings, resources and complex numbers are \
                 not weights this reader takes)",
                entry.dtype
            ))
        })?;
        let shape = dims(&name, entry.shape.unwrap_or_default()).map_err(bad)?;
        let numel: usize = shape.iter().product();
        let (Ok(off), Ok(size), Ok(shard)) = (
            usize::try_from(entry.offset),
            usize::try_from(entry.size),
            usize::try_from(entry.shard_id),
        ) else {
            return Err(bad(format!(
                "'{name}' has a negative offset, size or shard"
            )));
        };
        if numel.checked_mul(dtype.size()) != Some(size) {
            return Err(bad(format!(
                "'{name}' is {size} bytes, but its shape {shape:?} of {dtype:?} needs {}",
                numel.saturating_mul(dtype.size())
            )));
        }
        let (file, bytes) = data.get(shard).ok_or_else(|| {
            bad(format!(
                "'{name}' is in shard {shard}, but the header counts {shards}"
            ))
        })?;
        let end = off
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| {
                ImportError::weights(
                    file,
                    format!(
                        "'{name}' lies at bytes {off}..{} but the file has {} bytes: it is \
                     truncated (copy it again)",
                        off.saturating_add(size),
                        bytes.len()
                    ),
                )
            })?;
        let slice = &bytes[off..end];
        if !crate::tf::masked_crc_matches(slice, entry.crc32c) {
            return Err(ImportError::weights(
                file,
                format!(
                    "'{name}' (bytes {off}..{end}) does not match its checksum in {}: the file \
                     is damaged (copy it again)",
                    index_path.display()
                ),
            ));
        }
        out.push(BundleTensor {
            name,
            dtype,
            shape,
            bytes: slice.to_vec(),
        });
    }
    if !partitioned.is_empty() {
        return Err(bad(format!(
            "partitioned variables (saved in slices) are not read: {}",
            partitioned.join(", ")
        )));
    }
    Ok(out)
}
