//! The layered loader of every config file (experiments and model configs): reading a file and
//! its `base` chain, deep-merging them, applying `--set`, overlaying the experiment's
//! `[model.overrides]` on a model config, and remembering which file (or `--set`) each key came
//! from and under which name the user wrote it, so that errors can name both.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use toml::{Table, Value};

use crate::error::{ConfigError, Origin};
use crate::keys::{Seg, describe, dotted, table_keys};

/// Where a key came from: the layer's origin and, for keys overlaid from elsewhere, the name
/// the user wrote (`model.overrides.rpn.nms_thresh` for the model key `rpn.nms_thresh`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Source {
    pub origin: Origin,
    /// `(prefix here, prefix as written)`: a key `here ++ rest` was written `written ++ rest`.
    pub written_as: Option<(Vec<String>, Vec<String>)>,
}

impl Source {
    fn plain(origin: Origin) -> Self {
        Self {
            origin,
            written_as: None,
        }
    }

    /// `path` as the user wrote it.
    pub fn shown(&self, path: &[Seg]) -> String {
        if let Some((here, written)) = &self.written_as {
            let keys = table_keys(path);
            if keys.starts_with(here) {
                let mut p: Vec<Seg> = written.iter().cloned().map(Seg::Key).collect();
                p.extend_from_slice(&path[here.len()..]);
                return dotted(&p);
            }
        }
        dotted(path)
    }
}

/// The merged TOML of a config file with the source of every key.
pub(crate) struct Layers {
    /// The file itself (the end of the `base` chain).
    pub top: PathBuf,
    /// Base files first, then the file, then `--set` or overlays, merged.
    pub table: Table,
    /// For every table key path that some layer wrote, the last layer that wrote it.
    origins: BTreeMap<Vec<String>, Source>,
}

impl Layers {
    /// Parses `text` as the file `path` (no `base` allowed: there is no folder to resolve it in).
    pub fn from_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let mut layers = Layers {
            top: path.to_path_buf(),
            table: Table::new(),
            origins: BTreeMap::new(),
        };
        let table = parse(text, path)?;
        layers.merge(table, &Source::plain(Origin::File(path.to_path_buf())));
        Ok(layers)
    }

    /// Reads `path` and, recursively, its `base` files.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut layers = Layers {
            top: path.to_path_buf(),
            table: Table::new(),
            origins: BTreeMap::new(),
        };
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        layers.load_file(path, None, &mut chain, &mut seen)?;
        Ok(layers)
    }

    fn load_file(
        &mut self,
        path: &Path,
        base_of: Option<&Path>,
        chain: &mut Vec<PathBuf>,
        seen: &mut HashSet<PathBuf>,
    ) -> Result<(), ConfigError> {
        let io_err = |source| ConfigError::Io {
            file: path.to_path_buf(),
            base_of: base_of.map(Path::to_path_buf),
            source,
        };
        let canonical = path.canonicalize().map_err(io_err)?;
        chain.push(path.to_path_buf());
        if !seen.insert(canonical) {
            return Err(ConfigError::BaseCycle {
                chain: chain.clone(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io_err)?;
        let mut table = parse(&text, path)?;
        if let Some(base) = table.remove("base") {
            let Value::String(base) = base else {
                return Err(ConfigError::WrongType {
                    origin: Origin::File(path.to_path_buf()),
                    key: "base".into(),
                    expected: "a string (the base file, relative to this file)".into(),
                    found: describe(&base),
                });
            };
            let dir = path.parent().unwrap_or(Path::new(""));
            let base_path = normalize(&dir.join(base));
            self.load_file(&base_path, Some(path), chain, seen)?;
        }
        self.merge(table, &Source::plain(Origin::File(path.to_path_buf())));
        chain.pop();
        Ok(())
    }

    /// Applies one `--set KEY=VALUE`: VALUE as a TOML value if it parses as one (`0.01`,
    /// `[640, 800]`, `true`, `"x"`), else as a bare string (`wgpu:0`, `runs/x`).
    pub fn apply_set(&mut self, arg: &str) -> Result<(), ConfigError> {
        let bad = |message: &str| ConfigError::BadSet {
            arg: arg.to_string(),
            message: message.to_string(),
        };
        let Some((key, raw)) = arg.split_once('=') else {
            return Err(bad(
                "expected KEY=VALUE with a dotted key, e.g. --set solver.base_lr=0.01",
            ));
        };
        let segs: Vec<String> = key
            .trim()
            .split('.')
            .map(|s| s.trim().to_string())
            .collect();
        if segs.iter().any(String::is_empty) {
            return Err(bad(
                "the key before `=` must be dotted names without empty parts, e.g. solver.base_lr",
            ));
        }
        let mut value = parse_set_value(raw);
        for seg in segs.iter().rev() {
            let mut t = Table::new();
            t.insert(seg.clone(), value);
            value = Value::Table(t);
        }
        let Value::Table(t) = value else {
            unreachable!("wrapped in at least one table")
        };
        self.merge(t, &Source::plain(Origin::Set(arg.to_string())));
        Ok(())
    }

    /// Overlays `value` at key path `at`, written by the user in `origin` under another name:
    /// keys starting with `mount.0` were written with `mount.1` in their place. This is how an
    /// experiment's `[model.overrides]` (`([], ["model", "overrides"])`) and `input.min_sizes`
    /// (`(["input", "min_size"], ["input", "min_sizes"])`) reach the model config.
    pub fn overlay(
        &mut self,
        at: &[String],
        value: Value,
        origin: Origin,
        mount: (&[&str], &[&str]),
    ) {
        let strings = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let source = Source {
            origin,
            written_as: Some((strings(mount.0), strings(mount.1))),
        };
        let mut v = value;
        for k in at.iter().rev() {
            let mut t = Table::new();
            t.insert(k.clone(), v);
            v = Value::Table(t);
        }
        if let Value::Table(t) = v {
            self.merge(t, &source);
        }
    }

    /// Deep merge: tables merge key by key, anything else (arrays included) replaces.
    fn merge(&mut self, src: Table, source: &Source) {
        merge_into(&mut self.table, src, &[], source, &mut self.origins);
    }

    /// The layer that wrote `path` (or its nearest written ancestor; inside an array, the
    /// layer that wrote the array); this file when no layer wrote any of it.
    pub fn source_of(&self, path: &[Seg]) -> Source {
        let mut keys = table_keys(path);
        loop {
            if let Some(o) = self.origins.get(&keys) {
                return o.clone();
            }
            if keys.pop().is_none() {
                return Source::plain(Origin::File(self.top.clone()));
            }
        }
    }

    /// The file or `--set` that wrote `path`.
    pub fn origin_of(&self, path: &[Seg]) -> Origin {
        self.source_of(path).origin
    }

    /// Where `path` came from and its name as the user wrote it there.
    pub fn locate(&self, path: &[Seg]) -> (Origin, String) {
        let s = self.source_of(path);
        let shown = s.shown(path);
        (s.origin, shown)
    }

    /// The merged value at `path`, if any.
    pub fn value_at(&self, path: &[Seg]) -> Option<&Value> {
        let mut v: Option<&Value> = None;
        for seg in path {
            v = match (v, seg) {
                (None, Seg::Key(k)) => self.table.get(k),
                (Some(Value::Table(t)), Seg::Key(k)) => t.get(k),
                (Some(Value::Array(a)), Seg::Index(i)) => a.get(*i),
                _ => None,
            };
            v?;
        }
        v
    }
}

fn merge_into(
    dst: &mut Table,
    src: Table,
    prefix: &[String],
    origin: &Source,
    origins: &mut BTreeMap<Vec<String>, Source>,
) {
    for (k, v) in src {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        origins.insert(path.clone(), origin.clone());
        match (dst.get_mut(&k), v) {
            (Some(Value::Table(d)), Value::Table(s)) => merge_into(d, s, &path, origin, origins),
            (_, v) => {
                // Whatever was below this key is gone; what is below now comes from `origin`.
                origins.retain(|p, _| !(p.len() > path.len() && p.starts_with(&path)));
                record(&path, &v, origin, origins);
                dst.insert(k, v);
            }
        }
    }
}

fn record(
    path: &[String],
    v: &Value,
    origin: &Source,
    origins: &mut BTreeMap<Vec<String>, Source>,
) {
    if let Value::Table(t) = v {
        for (k, sub) in t {
            let mut p = path.to_vec();
            p.push(k.clone());
            origins.insert(p.clone(), origin.clone());
            record(&p, sub, origin, origins);
        }
    }
}

/// Parses a whole file; a syntax error gives line and column.
fn parse(text: &str, path: &Path) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => {
                let before = &text[..span.start.min(text.len())];
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                (
                    before.matches('\n').count() + 1,
                    before[line_start..].chars().count() + 1,
                )
            }
            None => (0, 0),
        };
        ConfigError::Syntax {
            file: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().replace('\n', " "),
        }
    })
}

/// A `--set` value: TOML if it parses as exactly one TOML value, else the text itself.
fn parse_set_value(raw: &str) -> Value {
    if let Ok(mut t) = format!("v = {raw}").parse::<Table>()
        && t.len() == 1
        && let Some(v) = t.remove("v")
    {
        return v;
    }
    Value::String(raw.trim().to_string())
}

/// `configs/../base.toml` -> `base.toml` without touching the file system (so that error
/// messages show the path as the user would write it).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(
            normalize(Path::new("configs/../base.toml")),
            Path::new("base.toml")
        );
        assert_eq!(normalize(Path::new("./a/./b.toml")), Path::new("a/b.toml"));
        assert_eq!(
            normalize(Path::new("../x/../y.toml")),
            Path::new("../y.toml")
        );
        assert_eq!(normalize(Path::new("/a/../b")), Path::new("/b"));
    }

    #[test]
    fn set_values() {
        assert_eq!(parse_set_value("0.01"), Value::Float(0.01));
        assert_eq!(parse_set_value("wgpu:1"), Value::String("wgpu:1".into()));
        assert_eq!(parse_set_value("\"x\""), Value::String("x".into()));
        assert_eq!(
            parse_set_value("1\nother = 2"),
            Value::String("1\nother = 2".into())
        );
    }
}
