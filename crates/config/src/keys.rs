//! Dotted key paths (`solver.steps[1]`) and short descriptions of TOML values, shared by the
//! layered loader and its diagnostics.

use toml::Value;

/// One segment of a key path: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// `solver.steps[1]`.
pub(crate) fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// `devices[1]` -> `[Key("devices"), Index(1)]`.
pub(crate) fn parse_key(key: &str) -> Vec<Seg> {
    let mut segs = Vec::new();
    for part in key.split('.') {
        let (name, rest) = part.split_once('[').unwrap_or((part, ""));
        segs.push(Seg::Key(name.to_string()));
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                segs.push(Seg::Index(i));
            }
        }
    }
    segs
}

/// Table keys of `path` up to its first array index.
pub(crate) fn table_keys(path: &[Seg]) -> Vec<String> {
    path.iter()
        .map_while(|s| match s {
            Seg::Key(k) => Some(k.clone()),
            Seg::Index(_) => None,
        })
        .collect()
}

/// `a string ("abc")`, `an integer (-1)`, `an array ([1, 2])`, `a table`.
pub(crate) fn describe(v: &Value) -> String {
    let shown = || {
        let s = v.to_string();
        if s.chars().count() > 40 {
            let cut: String = s.chars().take(37).collect();
            format!("{cut}...")
        } else {
            s
        }
    };
    match v {
        Value::String(_) => format!("a string ({})", shown()),
        Value::Integer(_) => format!("an integer ({})", shown()),
        Value::Float(_) => format!("a float ({})", shown()),
        Value::Boolean(_) => format!("a boolean ({})", shown()),
        Value::Datetime(_) => format!("a date-time ({})", shown()),
        Value::Array(_) => format!("an array ({})", shown()),
        Value::Table(_) => "a table".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_with_indices() {
        assert_eq!(
            parse_key("devices[1]"),
            vec![Seg::Key("devices".into()), Seg::Index(1)]
        );
        assert_eq!(
            parse_key("solver.steps"),
            vec![Seg::Key("solver".into()), Seg::Key("steps".into())]
        );
        assert_eq!(dotted(&parse_key("solver.steps[1]")), "solver.steps[1]");
    }
}
