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

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Colon,
    Open,
    Close,
}

/// Tokenise protobuf text format: identifiers/numbers, quoted strings, `:{}`, `#` comments.
fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, Invalid> {
    let mut toks = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() || c == ',' || c == ';' => {
                chars.next();
            }
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            ':' => {
                toks.push((Tok::Colon, line));
                chars.next();
            }
            '{' | '<' => {
                toks.push((Tok::Open, line));
                chars.next();
            }
            '}' | '>' => {
                toks.push((Tok::Close, line));
                chars.next();
            }
            '\'' | '"' => {
                let q = c;
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("line {line}: unterminated string").into()),
                        Some(c) if c == q => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(c) => s.push(c),
                            None => return Err(format!("line {line}: unterminated string").into()),
                        },
                        Some(c) => s.push(c),
                    }
                }
                toks.push((Tok::Str(s), line));
            }
            c if c.is_alphanumeric() || c == '_' || c == '-' || c == '.' || c == '+' => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_alphanumeric() || "_-.+".contains(c) {
                        s.push(c);
                        chars.next();
                    } else {
                        break;
                    }
                }
                toks.push((Tok::Ident(s), line));
            }
            c => return Err(format!("line {line}: unexpected character {c:?}").into()),
        }
    }
    Ok(toks)
}

/// Parse `item { id: N name: 'x' ... }` blocks; unknown fields (also nested) are skipped.
pub fn parse_pbtxt(text: &str) -> Result<Vec<Category>, Invalid> {
    let toks = tokenize(text)?;
    let mut cats = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let (tok, line) = &toks[i];
        match tok {
            Tok::Ident(k) if k == "item" => {
                i += 1;
                if toks.get(i).is_some_and(|t| t.0 == Tok::Colon) {
                    i += 1;
                }
                if toks.get(i).is_none_or(|t| t.0 != Tok::Open) {
                    return Err(format!("line {line}: expected '{{' after 'item'").into());
                }
                i += 1;
                let (mut id, mut name, mut display) = (None, None, None);
                loop {
                    let Some((t, l)) = toks.get(i) else {
                        return Err(format!("line {line}: unterminated item").into());
                    };
                    match t {
                        Tok::Close => {
                            i += 1;
                            break;
                        }
                        Tok::Ident(field) => {
                            i += 1;
                            let mut colon = false;
                            if toks.get(i).is_some_and(|t| t.0 == Tok::Colon) {
                                i += 1;
                                colon = true;
                            }
                            match toks.get(i).map(|t| &t.0) {
                                Some(Tok::Open) => i = skip_block(&toks, i)?,
                                Some(Tok::Ident(v)) | Some(Tok::Str(v)) if colon => {
                                    match field.as_str() {
                                        "id" => id = Some(v.parse::<u32>().map_err(|_| {
                                            format!(
                                                "line {l}: id '{v}' is not a non-negative integer"
                                            )
                                        })?),
                                        "name" => name = Some(v.clone()),
                                        "display_name" => display = Some(v.clone()),
                                        _ => {}
                                    }
                                    i += 1;
                                }
                                _ => {
                                    return Err(format!(
                                        "line {l}: expected a value for '{field}'"
                                    )
                                    .into());
                                }
                            }
                        }
                        _ => return Err(format!("line {l}: expected a field name").into()),
                    }
                }
                let id = id.ok_or(format!("line {line}: item without id"))?;
                // OD API tools fall back to display_name when name is absent.
                let name = name
                    .or(display)
                    .ok_or(format!("line {line}: item {id} without name"))?;
                cats.push(Category { id, name });
            }
            _ => return Err(format!("line {line}: expected 'item'").into()),
        }
    }
    validate(cats)
}

/// Index just past the block opened at `toks[open]`.
fn skip_block(toks: &[(Tok, usize)], open: usize) -> Result<usize, Invalid> {
    let mut depth = 0usize;
    for (j, (t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j + 1);
                }
            }
            _ => {}
        }
    }
    Err(format!("line {}: unterminated block", toks[open].1).into())
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
