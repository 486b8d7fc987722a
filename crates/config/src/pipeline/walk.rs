//! The walk over a parsed pipeline: typed reads of its fields, each marked as read, and the
//! notes for every field that is not.

use std::collections::HashSet;
use std::path::Path;

use super::{NoteKind, PipelineError, PipelineNote, join, show, src};
use crate::text_format::{Field, Message, Scalar, Value};

pub(super) type R<T> = Result<T, PipelineError>;

/// A message left out: its fields take their defaults.
pub(super) static EMPTY: Message = Message { fields: Vec::new() };

/// The translation's state: the fields read so far and the notes.
pub(super) struct Walk<'a> {
    pub(super) origin: &'a Path,
    pub(super) seen: HashSet<*const Field>,
    pub(super) notes: Vec<PipelineNote>,
}

impl<'a> Walk<'a> {
    pub(super) fn new(origin: &'a Path) -> Self {
        Self {
            origin,
            seen: HashSet::new(),
            notes: Vec::new(),
        }
    }

    pub(super) fn refuse<T>(
        &self,
        line: usize,
        path: &str,
        value: Option<String>,
        message: &str,
    ) -> R<T> {
        Err(PipelineError::Refused {
            origin: self.origin.to_path_buf(),
            line,
            path: path.to_string(),
            value,
            message: message.to_string(),
        })
    }

    /// The last occurrence of `name` (protobuf's rule); earlier ones are noted.
    pub(super) fn last(&mut self, m: &'a Message, at: &str, name: &str) -> Option<&'a Field> {
        let all: Vec<&'a Field> = m.fields.iter().filter(|f| f.name == name).collect();
        let (last, earlier) = all.split_last()?;
        let why = format!("set again on line {}, the last value counts", last.line);
        for f in earlier {
            self.leaves(f, at, NoteKind::Ignored, &why);
        }
        Some(last)
    }

    pub(super) fn scalar(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
    ) -> R<Option<(&'a Scalar, usize)>> {
        let Some(f) = self.last(m, at, name) else {
            return Ok(None);
        };
        self.seen.insert(f);
        match &f.value {
            Value::Scalar(s) => Ok(Some((s, f.line))),
            Value::Message(_) => self.refuse(f.line, &join(at, name), None, "expected a value"),
        }
    }

    pub(super) fn num(&mut self, m: &'a Message, at: &str, name: &str) -> R<Option<(f64, usize)>> {
        match self.scalar(m, at, name)? {
            None => Ok(None),
            Some((Scalar::Num(n), l)) if n.is_finite() => Ok(Some((*n, l))),
            Some((s, l)) => {
                let v = Some(show(&Value::Scalar(s.clone())));
                self.refuse(l, &join(at, name), v, "expected a finite number")
            }
        }
    }

    /// A number with the OD API's default; its comment.
    pub(super) fn num_or(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
        default: f64,
    ) -> R<(f64, String)> {
        let v = self.num(m, at, name)?;
        Ok((v.map_or(default, |v| v.0), src(name, v.map(|v| v.1))))
    }

    /// A non-negative integer with the OD API's default (`None`: required).
    pub(super) fn count(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
        default: Option<usize>,
        line: usize,
    ) -> R<(usize, String)> {
        match self.num(m, at, name)? {
            Some((n, l)) if n >= 0.0 && n.fract() == 0.0 => Ok((n as usize, src(name, Some(l)))),
            Some((n, l)) => {
                let v = Some(show(&Value::Scalar(Scalar::Num(n))));
                self.refuse(l, &join(at, name), v, "expected a non-negative integer")
            }
            None => match default {
                Some(d) => Ok((d, src(name, None))),
                None => self.refuse(line, at, None, &format!("`{name}` is required")),
            },
        }
    }

    pub(super) fn flag(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
    ) -> R<Option<(bool, usize)>> {
        match self.scalar(m, at, name)? {
            None => Ok(None),
            Some((Scalar::Ident(s), l)) if matches!(s.as_str(), "true" | "True" | "t") => {
                Ok(Some((true, l)))
            }
            Some((Scalar::Ident(s), l)) if matches!(s.as_str(), "false" | "False" | "f") => {
                Ok(Some((false, l)))
            }
            Some((Scalar::Num(n), l)) if *n == 0.0 || *n == 1.0 => Ok(Some((*n == 1.0, l))),
            Some((s, l)) => {
                let v = Some(show(&Value::Scalar(s.clone())));
                self.refuse(l, &join(at, name), v, "expected true or false")
            }
        }
    }

    pub(super) fn text(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
    ) -> R<Option<(String, usize)>> {
        match self.scalar(m, at, name)? {
            None => Ok(None),
            Some((Scalar::Str(s) | Scalar::Ident(s), l)) => Ok(Some((s.clone(), l))),
            Some((s, l)) => {
                let v = Some(show(&Value::Scalar(s.clone())));
                self.refuse(l, &join(at, name), v, "expected a string")
            }
        }
    }

    /// Every occurrence of a repeated scalar field.
    pub(super) fn all_scalars(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
    ) -> R<Vec<(&'a Scalar, usize)>> {
        let mut out = Vec::new();
        for f in m.fields.iter().filter(|f| f.name == name) {
            self.seen.insert(f);
            match &f.value {
                Value::Scalar(s) => out.push((s, f.line)),
                Value::Message(_) => {
                    return self.refuse(f.line, &join(at, name), None, "expected a value");
                }
            }
        }
        Ok(out)
    }

    pub(super) fn nums(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
    ) -> R<(Vec<f64>, Option<usize>)> {
        let mut out = Vec::new();
        let all = self.all_scalars(m, at, name)?;
        for &(s, l) in &all {
            match s {
                Scalar::Num(n) if n.is_finite() => out.push(*n),
                s => {
                    let v = Some(show(&Value::Scalar(s.clone())));
                    return self.refuse(l, &join(at, name), v, "expected a finite number");
                }
            }
        }
        Ok((out, all.first().map(|a| a.1)))
    }

    /// The message field `name`, not marked as read (its fields are).
    pub(super) fn sub(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
    ) -> R<Option<(&'a Message, usize)>> {
        match self.last(m, at, name) {
            None => Ok(None),
            Some(f) => match &f.value {
                Value::Message(sub) => Ok(Some((sub, f.line))),
                v => self.refuse(f.line, &join(at, name), Some(show(v)), "expected { ... }"),
            },
        }
    }

    /// The one message a `oneof` wrapper holds, which must be `want`.
    pub(super) fn oneof(
        &mut self,
        m: &'a Message,
        at: &str,
        line: usize,
        want: &str,
        why: &str,
    ) -> R<(&'a Message, usize)> {
        if let Some(f) = m.fields.iter().find(|f| f.name != want) {
            let v = Some(show(&f.value));
            return self.refuse(f.line, &join(at, &f.name), v, why);
        }
        match self.sub(m, at, want)? {
            Some(s) => Ok(s),
            None => self.refuse(line, at, None, &format!("`{want}` is required: {why}")),
        }
    }

    pub(super) fn note(
        &mut self,
        line: usize,
        path: String,
        value: String,
        kind: NoteKind,
        reason: &str,
    ) {
        let reason = reason.to_string();
        self.notes.push(PipelineNote {
            line,
            path,
            value,
            kind,
            reason,
        });
    }

    /// Notes every leaf of `f` not read yet, and marks them read.
    pub(super) fn leaves(&mut self, f: &'a Field, at: &str, kind: NoteKind, reason: &str) {
        if !self.seen.insert(f) {
            return;
        }
        let path = join(at, &f.name);
        match &f.value {
            Value::Message(m) if !m.fields.is_empty() => self.rest(m, &path, kind, reason),
            v => self.note(f.line, path, show(v), kind, reason),
        }
    }

    /// [`Walk::leaves`] of every field of `m`.
    pub(super) fn rest(&mut self, m: &'a Message, at: &str, kind: NoteKind, reason: &str) {
        for f in &m.fields {
            self.leaves(f, at, kind, reason);
        }
    }

    /// [`Walk::leaves`] of the fields called `name`.
    pub(super) fn named(
        &mut self,
        m: &'a Message,
        at: &str,
        names: &[&str],
        kind: NoteKind,
        why: &str,
    ) {
        for f in m.fields.iter().filter(|f| names.contains(&f.name.as_str())) {
            self.leaves(f, at, kind, why);
        }
    }

    /// A boolean whose only supported value is `ok` (read without a note); the other is refused.
    pub(super) fn only(
        &mut self,
        m: &'a Message,
        at: &str,
        name: &str,
        ok: bool,
        why: &str,
    ) -> R<()> {
        match self.flag(m, at, name)? {
            Some((v, l)) if v != ok => self.refuse(l, &join(at, name), Some(v.to_string()), why),
            _ => Ok(()),
        }
    }
}
