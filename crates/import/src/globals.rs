//! The globals a numpy weight pickle may name, and their emulation in Rust.
//!
//! Python's unpickler imports and calls them; here each allowed one is a variant of [`Global`]
//! whose effect (rebuilding a dtype or an array, turning latin-1 text into bytes, making an
//! `OrderedDict`) is re-implemented, so no Python code, and no code named by the file, ever runs.

use crate::error::Refusal;
use crate::ndarray::{NdArray, NpDtype};
use crate::value::{Global, Pairs, Value};
use std::cell::RefCell;
use std::rc::Rc;

type Res<T> = std::result::Result<T, Refusal>;

/// Emulates calling one of the allowed globals (REDUCE).
pub fn call(func: &Value, args: &Value) -> Res<Value> {
    let Value::Global(g) = func else {
        return Err(format!(
            "REDUCE on a {}: only allowed globals can be called",
            func.type_name()
        )
        .into());
    };
    let args = args.items().ok_or("REDUCE arguments are not a tuple")?;
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("{g:?} expects at least {} arguments", i + 1))
    };
    match g {
        Global::Reconstruct => {
            if !matches!(arg(0)?, Value::Global(Global::NdarrayType)) {
                return Err("_reconstruct is only allowed for numpy.ndarray".into());
            }
            Ok(Value::Array(Rc::new(RefCell::new(None))))
        }
        Global::DtypeType => {
            let spec = arg(0)?;
            let spec = spec.as_str().ok_or("numpy.dtype expects a type string")?;
            Ok(Value::Dtype(Rc::new(RefCell::new(NpDtype::parse(spec)))))
        }
        Global::CodecsEncode => {
            let text = arg(0)?;
            let text = text.as_str().ok_or("_codecs.encode expects a string")?;
            let enc = args
                .get(1)
                .and_then(Value::as_str)
                .unwrap_or("utf-8")
                .to_ascii_lowercase();
            if enc != "latin1" && enc != "latin-1" {
                return Err(
                    format!("_codecs.encode with encoding '{enc}' is not supported").into(),
                );
            }
            let bytes = text
                .chars()
                .map(|c| {
                    u8::try_from(u32::from(c))
                        .map_err(|_| Refusal::from("latin1 text holds a character above 255"))
                })
                .collect::<Res<Vec<u8>>>()?;
            Ok(Value::Bytes(Rc::new(bytes)))
        }
        Global::OrderedDict => {
            let mut entries = Vec::new();
            if let Some(items) = args.first().and_then(Value::items) {
                for pair in items {
                    let kv = pair
                        .items()
                        .filter(|kv| kv.len() == 2)
                        .ok_or("OrderedDict items must be pairs")?;
                    entries.push((kv[0].clone(), kv[1].clone()));
                }
            }
            Ok(Value::Dict(Rc::new(RefCell::new(Pairs(entries)))))
        }
        Global::Scalar => {
            let Value::Dtype(dt) = arg(0)? else {
                return Err("scalar expects a dtype".into());
            };
            let Value::Bytes(b) = arg(1)? else {
                return Err("scalar expects its raw bytes".into());
            };
            let dt = dt.borrow().clone();
            scalar(&dt, &b)
        }
        Global::FromBuffer => {
            let Value::Bytes(b) = arg(0)? else {
                return Err("_frombuffer expects a buffer".into());
            };
            let Value::Dtype(dt) = arg(1)? else {
                return Err("_frombuffer expects a dtype".into());
            };
            let shape = shape_of(&arg(2)?)?;
            let order = arg(3)
                .ok()
                .and_then(|o| o.as_str().map(str::to_string))
                .unwrap_or_else(|| "C".into());
            let a = NdArray::new(dt.borrow().clone(), shape, order == "F", b)?;
            Ok(Value::Array(Rc::new(RefCell::new(Some(a)))))
        }
        Global::NdarrayType => Err("numpy.ndarray cannot be called directly".into()),
    }
}

/// Emulates `__setstate__` (BUILD) of a dtype or an array.
pub fn build(target: &Value, state: &Value) -> Res<()> {
    let st = state.items().ok_or("BUILD state is not a tuple")?;
    match target {
        Value::Dtype(d) => {
            // (version, byteorder, subarray, names, fields, elsize, alignment, flags)
            if let Some(order) = st.get(1).and_then(Value::as_str) {
                d.borrow_mut().set_byte_order(order)?;
            }
            Ok(())
        }
        Value::Array(a) => {
            // (version, shape, dtype, is_fortran, data), or without the version (old numpy).
            let st = if st.len() == 5 { &st[1..] } else { &st[..] };
            if st.len() != 4 {
                return Err(
                    format!("ndarray state has {} fields, expected 4 or 5", st.len()).into(),
                );
            }
            let shape = shape_of(&st[0])?;
            let Value::Dtype(dt) = &st[1] else {
                return Err("ndarray state without a dtype".into());
            };
            let fortran = matches!(st[2], Value::Bool(true) | Value::Int(1));
            let data = match &st[3] {
                Value::Bytes(b) => b.clone(),
                Value::Str(s) => Rc::new(s.as_bytes().to_vec()),
                v => {
                    return Err(format!(
                        "ndarray data is a {} (object arrays are refused)",
                        v.type_name()
                    )
                    .into());
                }
            };
            *a.borrow_mut() = Some(NdArray::new(dt.borrow().clone(), shape, fortran, data)?);
            Ok(())
        }
        v => Err(format!(
            "BUILD on a {}: refused (only numpy dtypes and arrays are rebuilt)",
            v.type_name()
        )
        .into()),
    }
}

fn shape_of(v: &Value) -> Res<Vec<usize>> {
    v.items()
        .ok_or("array shape is not a tuple")?
        .iter()
        .map(|d| match d {
            Value::Int(n) if *n >= 0 => Ok(*n as usize),
            _ => Err(Refusal::from("array shape holds a non-integer")),
        })
        .collect()
}

/// A numpy scalar (`numpy.core.multiarray.scalar(dtype, bytes)`) as a plain value.
fn scalar(dt: &NpDtype, b: &[u8]) -> Result<Value, Refusal> {
    if !dt.is_supported() || b.len() != dt.size {
        return Err(format!(
            "numpy scalar of dtype '{}' with {} bytes is not supported",
            dt.spec,
            b.len()
        )
        .into());
    }
    let v = dt.element(b);
    Ok(match dt.kind {
        'f' => Value::Float(v),
        'b' => Value::Bool(v != 0.0),
        _ => Value::Int(v as i64),
    })
}
