//! A minimal protobuf reader/writer for `tf.train.Example`.
//!
//! Hand-written instead of pulling in prost + codegen because the schema is
//! tiny and frozen (example.proto / feature.proto):
//! `Example{1: Features}`, `Features{1: map<string, Feature>}`,
//! `Feature{oneof 1: BytesList, 2: FloatList, 3: Int64List}`, each list
//! `{1: repeated value}`. Packed and unpacked numeric lists are both accepted
//! (TensorFlow writes packed); unknown fields are skipped.

use crate::error::Invalid;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Feature {
    Bytes(Vec<Vec<u8>>),
    Float(Vec<f32>),
    Int64(Vec<i64>),
}

/// Feature name → value, i.e. `Example.features.feature`.
pub type Example = BTreeMap<String, Feature>;

struct Buf<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Buf<'a> {
    fn done(&self) -> bool {
        self.p >= self.b.len()
    }
    fn varint(&mut self) -> Result<u64, Invalid> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some(&byte) = self.b.get(self.p) else {
                return Err("truncated varint".into());
            };
            self.p += 1;
            v |= ((byte & 0x7f) as u64) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Invalid> {
        let end = self.p.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err("field runs past the end of the message".into());
        };
        let s = &self.b[self.p..end];
        self.p = end;
        Ok(s)
    }
    fn len_delimited(&mut self) -> Result<&'a [u8], Invalid> {
        let n = self.varint()?;
        self.take(usize::try_from(n).map_err(|_| "length too large")?)
    }
    /// (field number, wire type)
    fn key(&mut self) -> Result<(u64, u8), Invalid> {
        let k = self.varint()?;
        Ok((k >> 3, (k & 7) as u8))
    }
    fn skip(&mut self, wire: u8) -> Result<(), Invalid> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.take(8).map(|_| ()),
            2 => self.len_delimited().map(|_| ()),
            5 => self.take(4).map(|_| ()),
            w => Err(format!("unsupported wire type {w}").into()),
        }
    }
}

/// Parse a serialized `tf.train.Example`.
pub fn decode_example(data: &[u8]) -> Result<Example, Invalid> {
    let mut out = Example::new();
    let mut b = Buf { b: data, p: 0 };
    while !b.done() {
        let (field, wire) = b.key()?;
        if field == 1 && wire == 2 {
            decode_features(b.len_delimited()?, &mut out)?;
        } else {
            b.skip(wire)?;
        }
    }
    Ok(out)
}

fn decode_features(data: &[u8], out: &mut Example) -> Result<(), Invalid> {
    let mut b = Buf { b: data, p: 0 };
    while !b.done() {
        let (field, wire) = b.key()?;
        if field != 1 || wire != 2 {
            b.skip(wire)?;
            continue;
        }
        let mut e = Buf {
            b: b.len_delimited()?,
            p: 0,
        };
        let (mut key, mut value) = (String::new(), None);
        while !e.done() {
            let (f, w) = e.key()?;
            match (f, w) {
                (1, 2) => {
                    key = String::from_utf8(e.len_delimited()?.to_vec())
                        .map_err(|_| "feature name is not UTF-8")?
                }
                (2, 2) => value = Some(decode_feature(e.len_delimited()?)?),
                _ => e.skip(w)?,
            }
        }
        // A map entry without a value is an empty (unset) Feature: skip it.
        if let Some(v) = value {
            out.insert(key, v);
        }
    }
    Ok(())
}

fn decode_feature(data: &[u8]) -> Result<Feature, Invalid> {
    let mut b = Buf { b: data, p: 0 };
    let mut feat = Feature::Bytes(Vec::new());
    while !b.done() {
        let (kind, wire) = b.key()?;
        if wire != 2 || !(1..=3).contains(&kind) {
            b.skip(wire)?;
            continue;
        }
        let mut l = Buf {
            b: b.len_delimited()?,
            p: 0,
        };
        feat = match kind {
            1 => {
                let mut v = Vec::new();
                while !l.done() {
                    let (f, w) = l.key()?;
                    if (f, w) == (1, 2) {
                        v.push(l.len_delimited()?.to_vec());
                    } else {
                        l.skip(w)?;
                    }
                }
                Feature::Bytes(v)
            }
            2 => {
                let mut v = Vec::new();
                while !l.done() {
                    let (f, w) = l.key()?;
                    match (f, w) {
                        (1, 2) => {
                            let packed = l.len_delimited()?;
                            if packed.len() % 4 != 0 {
                                return Err(
                                    "packed float list length is not a multiple of 4".into()
                                );
                            }
                            v.extend(
                                packed
                                    .chunks_exact(4)
                                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                            );
                        }
                        (1, 5) => {
                            let c = l.take(4)?;
                            v.push(f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                        }
                        _ => l.skip(w)?,
                    }
                }
                Feature::Float(v)
            }
            _ => {
                let mut v = Vec::new();
                while !l.done() {
                    let (f, w) = l.key()?;
                    match (f, w) {
                        (1, 2) => {
                            let mut p = Buf {
                                b: l.len_delimited()?,
                                p: 0,
                            };
                            while !p.done() {
                                v.push(p.varint()? as i64);
                            }
                        }
                        (1, 0) => v.push(l.varint()? as i64),
                        _ => l.skip(w)?,
                    }
                }
                Feature::Int64(v)
            }
        };
    }
    Ok(feat)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_ld(out: &mut Vec<u8>, field: u64, data: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Serialize an Example (numeric lists packed, as TensorFlow does).
pub fn encode_example(ex: &Example) -> Vec<u8> {
    let mut features = Vec::new();
    for (k, v) in ex {
        let mut list = Vec::new();
        let kind = match v {
            Feature::Bytes(vals) => {
                for x in vals {
                    put_ld(&mut list, 1, x);
                }
                1
            }
            Feature::Float(vals) => {
                if !vals.is_empty() {
                    let packed: Vec<u8> = vals.iter().flat_map(|f| f.to_le_bytes()).collect();
                    put_ld(&mut list, 1, &packed);
                }
                2
            }
            Feature::Int64(vals) => {
                if !vals.is_empty() {
                    let mut packed = Vec::new();
                    for &x in vals {
                        put_varint(&mut packed, x as u64);
                    }
                    put_ld(&mut list, 1, &packed);
                }
                3
            }
        };
        let mut feat = Vec::new();
        put_ld(&mut feat, kind, &list);
        let mut entry = Vec::new();
        put_ld(&mut entry, 1, k.as_bytes());
        put_ld(&mut entry, 2, &feat);
        put_ld(&mut features, 1, &entry);
    }
    let mut out = Vec::new();
    put_ld(&mut out, 1, &features);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut ex = Example::new();
        ex.insert("a".into(), Feature::Bytes(vec![b"x".to_vec(), vec![]]));
        ex.insert("b".into(), Feature::Float(vec![0.5, -1.25]));
        ex.insert("c".into(), Feature::Int64(vec![1, -3, 1 << 40]));
        ex.insert("d".into(), Feature::Int64(vec![]));
        assert_eq!(decode_example(&encode_example(&ex)).unwrap(), ex);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let data = encode_example(&Example::from([(
            "k".to_string(),
            Feature::Float(vec![1.0]),
        )]));
        for cut in 0..data.len() {
            let _ = decode_example(&data[..cut]);
        }
        assert!(decode_example(&[0x0a, 0xff]).is_err());
        assert!(decode_example(&[0xff; 12]).is_err());
    }
}
