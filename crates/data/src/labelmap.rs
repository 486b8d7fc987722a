//! Label maps: class id ↔ name, in the Object Detection API's `pbtxt` form or TOML.
//!
//! pbtxt (what TF OD API tools read):
//! ```text
//! item { id: 1 name: 'circle' }
//! item {
//!   id: 2
//!   name: "rectangle"
//!   display_name: "Rectangle"   # other fields are accepted and ignored
//! }
//! ```
//! TOML (same content, friendlier to edit):
//! ```toml
//! [[item]]
//! id = 1
//! name = "circle"
//! ```
//! Ids must be ≥ 1 (0 is background) and unique, names unique.

use std::path::Path;

use crate::error::DataError;
use crate::error::Invalid;
use crate::model::Category;

/// Read a label map, choosing the syntax by extension (`.toml` → TOML, else pbtxt).
pub fn read_label_map(path: &Path) -> Result<Vec<Category>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let cats = if is_toml(path) {
        parse_toml(&text)
    } else {
        parse_pbtxt(&text)
    };
    cats.map_err(|m| DataError::format(path, m.0))
}

/// Write a label map, choosing the syntax by extension (`.toml` → TOML, else pbtxt).
pub fn write_label_map(path: &Path, cats: &[Category]) -> Result<(), DataError> {
    let text = if is_toml(path) {
        to_toml(cats)
    } else {
        to_pbtxt(cats)
    };
    std::fs::write(path, text).map_err(|e| DataError::io(path, e))
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
}

/// Check ids and names, and sort by id.
pub fn validate(mut cats: Vec<Category>) -> Result<Vec<Category>, Invalid> {
    cats.sort_by_key(|c| c.id);
    for (i, c) in cats.iter().enumerate() {
        if c.id == 0 {
            return Err(format!("class '{}' has id 0, reserved for background", c.name).into());
        }
        if c.name.is_empty() {
            return Err(format!("class id {} has an empty name", c.id).into());
        }
        if i > 0 && cats[i - 1].id == c.id {
            return Err(format!("class id {} appears twice", c.id).into());
        }
        if cats[..i].iter().any(|o| o.name == c.name) {
            return Err(format!("class name '{}' appears twice", c.name).into());
        }
    }
    Ok(cats)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct TomlMap {
    #[serde(default)]
    item: Vec<Category>,
}

pub fn parse_toml(text: &str) -> Result<Vec<Category>, Invalid> {
    let m: TomlMap = toml::from_str(text).map_err(|e| format!("invalid label map TOML: {e}"))?;
    validate(m.item)
}

pub fn to_toml(cats: &[Category]) -> String {
    let m = TomlMap {
        item: cats.to_vec(),
    };
    toml::to_string(&m).unwrap_or_default()
}

pub fn to_pbtxt(cats: &[Category]) -> String {
    let mut s = String::new();
    for c in cats {
        let name = c.name.replace('\\', "\\\\").replace('\'', "\\'");
        s.push_str(&format!(
            "item {{\n  id: {}\n  name: '{}'\n}}\n",
            c.id, name
        ));
    }
    s
}

/// Parse `item { id: N name: 'x' ... }` messages (protobuf text format); other fields of an
/// item, nested ones too, are accepted and ignored.
pub fn parse_pbtxt(text: &str) -> Result<Vec<Category>, Invalid> {
    use mrcnn_config::text_format::{Scalar, Value, parse};
    let m = parse(text).map_err(|e| Invalid(e.to_string()))?;
    let mut cats = Vec::new();
    for f in &m.fields {
        let line = f.line;
        if f.name != "item" {
            return Err(format!("line {line}: expected 'item', found '{}'", f.name).into());
        }
        let Value::Message(item) = &f.value else {
            return Err(format!("line {line}: expected '{{' after 'item'").into());
        };
        let text_of = |k: &str| match item.get(k).map(|g| &g.value) {
            Some(Value::Scalar(Scalar::Str(s) | Scalar::Ident(s))) => Some(s.clone()),
            Some(Value::Scalar(Scalar::Num(n))) => Some(n.to_string()),
            _ => None,
        };
        let id = match item.get("id") {
            None => return Err(format!("line {line}: item without id").into()),
            Some(g) => match &g.value {
                Value::Scalar(Scalar::Num(n))
                    if n.fract() == 0.0 && *n >= 0.0 && *n <= f64::from(u32::MAX) =>
                {
                    *n as u32
                }
                other => {
                    let shown = match other {
                        Value::Scalar(Scalar::Num(n)) => n.to_string(),
                        Value::Scalar(Scalar::Str(s) | Scalar::Ident(s)) => s.clone(),
                        Value::Message(_) => "{ ... }".into(),
                    };
                    return Err(format!(
                        "line {}: id '{shown}' is not a non-negative integer",
                        g.line
                    )
                    .into());
                }
            },
        };
        // OD API tools fall back to display_name when name is absent.
        let name = text_of("name")
            .or_else(|| text_of("display_name"))
            .ok_or(format!("line {line}: item {id} without name"))?;
        cats.push(Category { id, name });
    }
    validate(cats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pbtxt_round_trip_and_oddities() {
        let text = "# comment\nitem { id: 2 name: \"b\" display_name: 'B' }\nitem {\n id: 1\n name: 'a\\'x'\n keypoints { id: 0 label: 'k' }\n}\n";
        let cats = parse_pbtxt(text).unwrap();
        assert_eq!(
            cats[0],
            Category {
                id: 1,
                name: "a'x".into()
            }
        );
        assert_eq!(cats[1].name, "b");
        assert_eq!(parse_pbtxt(&to_pbtxt(&cats)).unwrap(), cats);
        assert_eq!(parse_toml(&to_toml(&cats)).unwrap(), cats);
    }

    #[test]
    fn pbtxt_errors() {
        assert!(parse_pbtxt("item { id: 0 name: 'x' }").is_err());
        assert!(parse_pbtxt("item { id: 1 name: 'x' } item { id: 1 name: 'y' }").is_err());
        assert!(parse_pbtxt("item { id: 1 name: 'x' ").is_err());
        assert!(parse_pbtxt("item { id: x name: 'x' }").is_err());
        assert!(parse_pbtxt("item { name: 'x' }").is_err());
    }
}
