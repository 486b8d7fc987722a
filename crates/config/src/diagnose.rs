//! Turns serde's errors on the merged table into [`ConfigError`]s that name the dotted key, the
//! file it came from, and the nearest valid key.
//!
//! serde reports an unknown field as "unknown field `x`, expected one of `a`, `b`" and a wrong
//! type as "invalid type: string \"abc\", expected f64"; `serde_path_to_error` adds the path.
//! Both messages are serde's own (`serde::de::Error::unknown_field`, `invalid_type`), which the
//! TOML deserialiser passes through unchanged.

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::Value;

use crate::error::ConfigError;
use crate::keys::{Seg, describe, dotted};
use crate::layers::Layers;

/// A config type the layered loader can read: its keys (for suggestions) come from a value with
/// every `Option` set.
pub(crate) trait Schema: DeserializeOwned + Serialize {
    /// A value whose serialisation lists every key.
    fn fully_populated() -> Self;
    /// Sub-tables whose keys are not this schema's own (they are checked elsewhere).
    const OPAQUE: &'static [&'static str] = &[];
}

/// Deserialises the merged table, explaining any failure.
pub(crate) fn deserialize<T: Schema>(layers: &Layers) -> Result<T, ConfigError> {
    let value = Value::Table(layers.table.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = segments(e.path());
        explain::<T>(layers, path, e.inner().message())
    })
}

fn segments(path: &serde_path_to_error::Path) -> Vec<Seg> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|s| match s {
            Segment::Map { key } => Some(Seg::Key(key.clone())),
            Segment::Seq { index } => Some(Seg::Index(*index)),
            Segment::Enum { variant } => Some(Seg::Key(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

fn explain<T: Schema>(layers: &Layers, mut path: Vec<Seg>, message: &str) -> ConfigError {
    let message = message.trim().replace('\n', " ");
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = backticked(rest);
        let Some((typed, valid)) = names.split_first() else {
            return fallback(layers, &path, &message);
        };
        // The path may or may not end with the unknown key itself.
        if path.last() != Some(&Seg::Key(typed.clone())) {
            path.push(Seg::Key(typed.clone()));
        }
        let parent = dotted(&path[..path.len() - 1]);
        let source = layers.source_of(&path);
        let suggestion = suggest_key(typed, valid, &parent, &key_catalog::<T>())
            .map(|k| source.shown(&crate::keys::parse_key(&k)));
        return ConfigError::UnknownKey {
            key: source.shown(&path),
            origin: source.origin,
            suggestion,
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let names = backticked(rest);
        let Some((found, allowed)) = names.split_first() else {
            return fallback(layers, &path, &message);
        };
        let (origin, key) = layers.locate(&path);
        return ConfigError::UnknownVariant {
            origin,
            key,
            found: found.clone(),
            allowed: allowed.to_vec(),
            suggestion: nearest(found, allowed).cloned(),
        };
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let field = backticked(rest).into_iter().next().unwrap_or_default();
        path.push(Seg::Key(field));
        let source = layers.source_of(&path[..path.len() - 1]);
        return ConfigError::MissingKey {
            key: source.shown(&path),
            origin: source.origin,
            hint: String::new(),
        };
    }
    let mismatch = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "));
    if let Some(rest) = mismatch
        && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
    {
        let found = match layers.value_at(&path) {
            Some(v) => describe(v),
            None => unexpected.to_string(),
        };
        let (origin, key) = layers.locate(&path);
        return ConfigError::WrongType {
            origin,
            key,
            expected: expected_in_words(expected),
            found,
        };
    }
    fallback(layers, &path, &message)
}

fn fallback(layers: &Layers, path: &[Seg], message: &str) -> ConfigError {
    let (origin, key) = layers.locate(path);
    ConfigError::Invalid {
        origin,
        message: format!("`{key}`: {message}"),
        key,
    }
}

/// The names between backticks, in order.
fn backticked(s: &str) -> Vec<String> {
    s.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// serde's `expected` text (Rust type names) in TOML words.
fn expected_in_words(expected: &str) -> String {
    match expected {
        "f32" | "f64" => "a float".into(),
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer".into(),
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer".into(),
        "a string" | "string" | "string only" | "a borrowed string" => "a string".into(),
        "path string" => "a string (a path)".into(),
        "a boolean" => "a boolean (true or false)".into(),
        "a sequence" => "an array".into(),
        "a map" => "a table".into(),
        e if e.starts_with("struct ") => "a table".into(),
        e if e.starts_with("enum ") || e.starts_with("variant identifier") => "a string".into(),
        e => e.to_string(),
    }
}

/// The candidate closest to `typed` by edit distance (transpositions count once), if it is
/// close: at most a third of the typed length, and at least 1.
fn nearest<'a>(typed: &str, candidates: &'a [String]) -> Option<&'a String> {
    let limit = (typed.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::osa_distance(typed, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// The nearest key valid at this level; failing that, the top-level key of that name (a
/// top-level key written after a `[section]` header lands in that section), or the one key of
/// that name elsewhere in the schema (`solver.hflip_prob` -> `input.hflip_prob`).
fn suggest_key(typed: &str, valid: &[String], parent: &str, catalog: &[String]) -> Option<String> {
    let join = |k: &str| {
        if parent.is_empty() {
            k.to_string()
        } else {
            format!("{parent}.{k}")
        }
    };
    if let Some(k) = nearest(typed, valid) {
        return Some(join(k));
    }
    if !parent.is_empty() && catalog.iter().any(|k| k == typed) {
        return Some(typed.to_string());
    }
    let elsewhere: Vec<&String> = catalog
        .iter()
        .filter(|k| k.rsplit('.').next() == Some(typed) && **k != join(typed))
        .collect();
    match elsewhere.as_slice() {
        [only] => Some((*only).clone()),
        _ => None,
    }
}

/// Every dotted key of the schema (tables and values; not inside arrays or opaque tables).
pub(crate) fn key_catalog<T: Schema>() -> Vec<String> {
    let table = toml::Table::try_from(T::fully_populated()).expect("the schema serialises to TOML");
    let mut keys = Vec::new();
    collect(&table, "", T::OPAQUE, &mut keys);
    keys
}

fn collect(t: &toml::Table, prefix: &str, opaque: &[&str], out: &mut Vec<String>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Value::Table(sub) = v
            && !opaque.contains(&key.as_str())
        {
            collect(sub, &key, opaque, out);
        }
        out.push(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_by_edit_distance() {
        let c: Vec<String> = ["base_lr", "momentum", "gamma"].map(String::from).to_vec();
        assert_eq!(nearest("base_rl", &c).map(String::as_str), Some("base_lr"));
        assert_eq!(
            nearest("momentun", &c).map(String::as_str),
            Some("momentum")
        );
        assert_eq!(nearest("zzz", &c), None);
    }

    #[test]
    fn catalog_has_nested_and_optional_keys() {
        let keys = key_catalog::<crate::Experiment>();
        for k in [
            "seed",
            "solver.base_lr",
            "solver.max_iter",
            "solver.epochs",
            "dataset.synth.width",
            "input.color_jitter.brightness",
            "dataset.mask_folder.val_fraction",
            "model.overrides",
        ] {
            assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
        }
    }
}
