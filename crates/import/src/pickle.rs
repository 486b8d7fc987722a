//! A small, safe reader for the Python pickles that hold numpy weights (Detectron2's `.pkl`
//! checkpoints).
//!
//! Python's own unpickler imports and calls whatever global a file names, so loading an
//! untrusted `.pkl` with it can run arbitrary code. This reader never does: it knows a fixed
//! list of globals (the numpy array and dtype reconstructors, `_codecs.encode`, which protocol 2
//! uses for bytes, and `collections.OrderedDict`) and *emulates* them in Rust. Any other global,
//! `os.system` or `builtins.eval` included, stops loading with an error naming it. Opcodes that
//! build arbitrary objects (`INST`, `OBJ`, `NEWOBJ`), persistent ids and extension codes are
//! refused the same way.
//!
//! Protocols 2 to 5 are read (in-band buffers only), and the binary opcodes of 0 and 1; quoted
//! protocol 0 strings are not. Every length a file declares is checked against the bytes that
//! are left before anything is allocated.

pub use crate::error::PickleError;
use crate::error::Refusal;
use crate::globals::{build, call};
use crate::value::Global;
pub use crate::value::{Pairs, Seq, Shared, Value};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

type Res<T> = std::result::Result<T, Refusal>;

/// Parses a whole pickle and returns its root value. Never executes code.
pub fn load(bytes: &[u8]) -> Result<Value, PickleError> {
    let mut m = Machine {
        input: bytes,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let at = m.pos;
        match m.step() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(Refusal(message)) => {
                return Err(PickleError {
                    offset: at,
                    message,
                });
            }
        }
    }
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    stack: Vec<Value>,
    /// Stack heights at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
}

impl<'a> Machine<'a> {
    fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| {
                format!(
                    "truncated pickle: {n} bytes declared, {} left",
                    self.input.len() - self.pos
                )
            })?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Res<u64> {
        Ok(self
            .take(n)?
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
    }

    /// A length prefix of `n` bytes, checked against what is left.
    fn len(&mut self, n: usize) -> Res<usize> {
        let l = self.le(n)?;
        usize::try_from(l)
            .ok()
            .filter(|&l| l <= self.input.len() - self.pos)
            .ok_or_else(|| {
                Refusal(format!(
                    "length {l} exceeds the {} bytes left in the file",
                    self.input.len() - self.pos
                ))
            })
    }

    /// A newline-terminated text argument (protocol 0 opcodes and GLOBAL).
    fn line(&mut self) -> Res<&'a str> {
        let rest = &self.input[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated text argument")?;
        self.pos += n + 1;
        std::str::from_utf8(&rest[..n]).map_err(|_| "text argument is not UTF-8".into())
    }

    fn pop(&mut self) -> Res<Value> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return Err("stack underflow (popped past a MARK)".into());
        }
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn top(&self) -> Res<&Value> {
        self.stack.last().ok_or_else(|| "stack underflow".into())
    }

    fn pop_mark(&mut self) -> Res<Vec<Value>> {
        let m = self.marks.pop().ok_or("no MARK on the stack")?;
        Ok(self.stack.split_off(m))
    }

    fn memo_get(&self, k: u64) -> Res<Value> {
        self.memo
            .get(&k)
            .cloned()
            .ok_or_else(|| Refusal(format!("memo key {k} was never stored")))
    }

    fn memo_put(&mut self, k: u64) -> Res<()> {
        let v = self.top()?.clone();
        self.memo.insert(k, v);
        Ok(())
    }

    fn push_str(&mut self, b: &[u8]) -> Res<()> {
        let s = std::str::from_utf8(b).map_err(|_| "string is not valid UTF-8".to_string())?;
        self.stack.push(Value::Str(s.into()));
        Ok(())
    }

    fn push_bytes(&mut self, b: &[u8]) {
        self.stack.push(Value::Bytes(Rc::new(b.to_vec())));
    }

    /// Executes one opcode; returns the root value at STOP.
    fn step(&mut self) -> Res<Option<Value>> {
        let op = self.u8()?;
        match op {
            0x80 => {
                let p = self.u8()?;
                if p > 5 {
                    return Err(format!("pickle protocol {p} is newer than 5").into());
                }
            }
            0x95 => {
                self.le(8)?; // FRAME: a size hint only
            }
            b'.' => {
                let v = self.pop()?;
                return Ok(Some(v));
            }
            b'(' => self.marks.push(self.stack.len()),
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.stack.push(v);
            }
            b'N' => self.stack.push(Value::None),
            0x88 => self.stack.push(Value::Bool(true)),
            0x89 => self.stack.push(Value::Bool(false)),
            b'I' => {
                let v = match self.line()? {
                    "01" => Value::Bool(true),
                    "00" => Value::Bool(false),
                    t => Value::Int(t.parse().map_err(|_| format!("bad INT '{t}'"))?),
                };
                self.stack.push(v);
            }
            b'L' => {
                let t = self.line()?.trim_end_matches('L');
                self.stack.push(Value::Int(
                    t.parse()
                        .map_err(|_| format!("LONG '{t}' does not fit 64 bits"))?,
                ));
            }
            b'J' => {
                let v = self.le(4)? as u32 as i32;
                self.stack.push(Value::Int(i64::from(v)));
            }
            b'K' => {
                let v = self.u8()?;
                self.stack.push(Value::Int(i64::from(v)));
            }
            b'M' => {
                let v = self.le(2)?;
                self.stack.push(Value::Int(v as i64));
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    usize::from(self.u8()?)
                } else {
                    self.len(4)?
                };
                let b = self.take(n)?;
                self.stack.push(Value::Int(long_from_le(b)?));
            }
            b'G' => {
                let b: [u8; 8] = self.take(8)?.try_into().expect("8 bytes");
                self.stack.push(Value::Float(f64::from_be_bytes(b)));
            }
            b'F' => {
                let t = self.line()?;
                self.stack.push(Value::Float(
                    t.parse().map_err(|_| format!("bad FLOAT '{t}'"))?,
                ));
            }
            // Text and bytes. Python 2 `str` (BINSTRING) is raw bytes: numpy wrote array data that way.
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => self.len(4)?,
                    0x8c => usize::from(self.u8()?),
                    _ => self.len(8)?,
                };
                let b = self.take(n)?;
                self.push_str(b)?;
            }
            b'T' | b'U' | b'B' | b'C' | 0x8e | 0x96 => {
                let n = match op {
                    b'T' | b'B' => self.len(4)?,
                    b'U' | b'C' => usize::from(self.u8()?),
                    _ => self.len(8)?,
                };
                let b = self.take(n)?;
                self.push_bytes(b);
            }
            b')' => self.stack.push(Value::Tuple(Rc::new(Seq(Vec::new())))),
            b't' => {
                let items = self.pop_mark()?;
                self.stack.push(Value::Tuple(Rc::new(Seq(items))));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if self.stack.len() < n + self.marks.last().copied().unwrap_or(0) {
                    return Err("stack underflow in TUPLE".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.stack.push(Value::Tuple(Rc::new(Seq(items))));
            }
            b']' => self
                .stack
                .push(Value::List(Rc::new(RefCell::new(Seq(Vec::new()))))),
            b'l' => {
                let items = self.pop_mark()?;
                self.stack
                    .push(Value::List(Rc::new(RefCell::new(Seq(items)))));
            }
            b'a' => {
                let v = self.pop()?;
                self.append(vec![v])?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.append(items)?;
            }
            b'}' => self
                .stack
                .push(Value::Dict(Rc::new(RefCell::new(Pairs(Vec::new()))))),
            b'd' => {
                let items = self.pop_mark()?;
                let d = Value::Dict(Rc::new(RefCell::new(Pairs(Vec::new()))));
                self.stack.push(d);
                self.set_items(items)?;
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![k, v])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)?;
            }
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                self.push_global(&module, &name)?;
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module.as_str(), name.as_str()) {
                    (Some(m), Some(n)) => self.push_global(m, n)?,
                    _ => return Err("STACK_GLOBAL needs two strings".into()),
                }
            }
            b'R' => {
                let args = self.pop()?;
                let func = self.pop()?;
                let v = call(&func, &args)?;
                self.stack.push(v);
            }
            b'b' => {
                let state = self.pop()?;
                build(self.top()?, &state)?;
            }
            b'p' => {
                let k = self
                    .line()?
                    .parse()
                    .map_err(|_| "bad PUT index".to_string())?;
                self.memo_put(k)?;
            }
            b'q' => {
                let k = u64::from(self.u8()?);
                self.memo_put(k)?;
            }
            b'r' => {
                let k = self.le(4)?;
                self.memo_put(k)?;
            }
            0x94 => {
                let k = self.memo.len() as u64;
                self.memo_put(k)?;
            }
            b'g' => {
                let k = self
                    .line()?
                    .parse()
                    .map_err(|_| "bad GET index".to_string())?;
                let v = self.memo_get(k)?;
                self.stack.push(v);
            }
            b'h' => {
                let k = u64::from(self.u8()?);
                let v = self.memo_get(k)?;
                self.stack.push(v);
            }
            b'j' => {
                let k = self.le(4)?;
                let v = self.memo_get(k)?;
                self.stack.push(v);
            }
            b'i' | b'o' | 0x81 | 0x92 => {
                return Err(format!(
                    "opcode {} builds an arbitrary Python object; refused (weight files only hold numpy arrays)",
                    opcode_name(op)
                ).into());
            }
            b'P' | b'Q' => return Err("persistent ids are not allowed in a weight pickle".into()),
            0x82..=0x84 => return Err("extension registry codes (EXT1/2/4) are refused".into()),
            0x97 | 0x98 => {
                return Err(
                    "out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported".into(),
                );
            }
            0x8f..=0x91 => return Err("sets are not supported in a weight pickle".into()),
            b'S' | b'V' => {
                return Err(
                    "protocol 0 quoted strings are not supported; re-save with protocol 2 or later"
                        .into(),
                );
            }
            other => return Err(format!("unknown opcode 0x{other:02x}").into()),
        }
        Ok(None)
    }

    fn push_global(&mut self, module: &str, name: &str) -> Res<()> {
        let g = Global::resolve(module, name).ok_or_else(|| {
            format!(
                "refusing global '{module}.{name}': a weight pickle may only name numpy array \
                 reconstructors, and loading never calls other code (this file may be malicious)"
            )
        })?;
        self.stack.push(Value::Global(g));
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Res<()> {
        match self.top()? {
            Value::List(l) => {
                l.borrow_mut().extend(items);
                Ok(())
            }
            v => Err(format!("APPEND to a {}", v.type_name()).into()),
        }
    }

    fn set_items(&mut self, items: Vec<Value>) -> Res<()> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of values".into());
        }
        let Value::Dict(d) = self.top()? else {
            return Err(format!("SETITEM on a {}", self.top()?.type_name()).into());
        };
        let mut d = d.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }
}

/// Two's-complement little-endian integer of LONG1/LONG4.
fn long_from_le(b: &[u8]) -> Res<i64> {
    if b.is_empty() {
        return Ok(0);
    }
    if b.len() > 8 {
        return Err(format!("a {}-byte integer does not fit 64 bits", b.len()).into());
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    let mut buf = [if neg { 0xff } else { 0 }; 8];
    buf[..b.len()].copy_from_slice(b);
    Ok(i64::from_le_bytes(buf))
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        _ => "NEWOBJ_EX",
    }
}
