//! The Python values the pickle reader builds. Containers free their contents without
//! recursion: a hostile pickle can nest a million tuples in a few megabytes, and dropping that
//! recursively would overflow the stack and abort instead of returning an error.

use crate::ndarray::{NdArray, NpDtype};
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::rc::Rc;

/// The globals a numpy weight pickle may name; nothing else is ever resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    /// `numpy.core.multiarray._reconstruct` (`numpy._core` in numpy 2).
    Reconstruct,
    /// `numpy.ndarray`, only ever passed to `_reconstruct`.
    NdarrayType,
    /// `numpy.dtype`.
    DtypeType,
    /// `numpy.core.multiarray.scalar`: a numpy scalar from its dtype and raw bytes.
    Scalar,
    /// `numpy.core.numeric._frombuffer`: protocol 5 arrays.
    FromBuffer,
    /// `_codecs.encode(text, "latin1")`: how protocol 2 writes `bytes` from Python 3.
    CodecsEncode,
    /// `collections.OrderedDict`.
    OrderedDict,
}

impl Global {
    pub fn resolve(module: &str, name: &str) -> Option<Self> {
        let numpy_core = |m: &str, sub: &str| {
            m == format!("numpy.core.{sub}") || m == format!("numpy._core.{sub}")
        };
        Some(match (module, name) {
            (m, "_reconstruct") if numpy_core(m, "multiarray") => Global::Reconstruct,
            (m, "scalar") if numpy_core(m, "multiarray") => Global::Scalar,
            (m, "_frombuffer") if numpy_core(m, "numeric") => Global::FromBuffer,
            ("numpy", "ndarray") => Global::NdarrayType,
            ("numpy", "dtype") => Global::DtypeType,
            ("_codecs", "encode") => Global::CodecsEncode,
            ("collections", "OrderedDict") => Global::OrderedDict,
            _ => return None,
        })
    }
}

/// A mutable Python container, shared the way the pickle's memo shares it.
pub type Shared<T> = Rc<RefCell<T>>;

/// A Python value this reader can represent.
#[derive(Debug, Clone)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<Vec<u8>>),
    Tuple(Rc<Seq>),
    List(Shared<Seq>),
    Dict(Shared<Pairs>),
    /// One of the allowed globals, not yet called.
    Global(Global),
    Dtype(Shared<NpDtype>),
    /// A numpy array; `None` between `_reconstruct` and its `__setstate__` (BUILD).
    Array(Shared<Option<NdArray>>),
}

impl Value {
    /// Python type name for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Dtype(_) => "numpy.dtype",
            Value::Array(_) => "numpy.ndarray",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The entries of a dict (a snapshot), or `None`.
    pub fn dict_items(&self) -> Option<Vec<(Value, Value)>> {
        match self {
            Value::Dict(d) => Some(d.borrow().0.clone()),
            _ => None,
        }
    }

    /// The value under a string key of a dict.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.dict_items()?
            .into_iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Elements of a tuple or list.
    pub fn items(&self) -> Option<Vec<Value>> {
        match self {
            Value::Tuple(t) => Some(t.0.clone()),
            Value::List(l) => Some(l.borrow().0.clone()),
            _ => None,
        }
    }
}

/// The items of a tuple or list.
#[derive(Debug, Default)]
pub struct Seq(pub Vec<Value>);

/// The entries of a dict, in insertion order.
#[derive(Debug, Default)]
pub struct Pairs(pub Vec<(Value, Value)>);

impl Deref for Seq {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        &self.0
    }
}

impl DerefMut for Seq {
    fn deref_mut(&mut self) -> &mut Vec<Value> {
        &mut self.0
    }
}

impl Deref for Pairs {
    type Target = Vec<(Value, Value)>;
    fn deref(&self) -> &Vec<(Value, Value)> {
        &self.0
    }
}

impl DerefMut for Pairs {
    fn deref_mut(&mut self) -> &mut Vec<(Value, Value)> {
        &mut self.0
    }
}

impl Drop for Seq {
    fn drop(&mut self) {
        drop_iteratively(std::mem::take(&mut self.0));
    }
}

impl Drop for Pairs {
    fn drop(&mut self) {
        let work = std::mem::take(&mut self.0)
            .into_iter()
            .flat_map(|(k, v)| [k, v])
            .collect();
        drop_iteratively(work);
    }
}

/// Frees values with an explicit work list: a container we own the last reference to is
/// emptied onto the list before it is dropped, so no drop ever recurses.
fn drop_iteratively(mut work: Vec<Value>) {
    while let Some(v) = work.pop() {
        match v {
            Value::Tuple(rc) => {
                if let Ok(mut s) = Rc::try_unwrap(rc) {
                    work.append(&mut s.0);
                }
            }
            Value::List(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    work.append(&mut cell.into_inner().0);
                }
            }
            Value::Dict(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    let mut p = cell.into_inner();
                    for (k, v) in p.0.drain(..) {
                        work.push(k);
                        work.push(v);
                    }
                }
            }
            _ => {}
        }
    }
}
