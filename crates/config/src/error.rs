//! [`ConfigError`]: every way loading an experiment can fail, each displayed as one line that
//! names the file (or the `--set` argument) and the dotted key.

use std::fmt;
use std::path::PathBuf;

/// Where a value came from: a TOML file (the experiment or one of its bases) or a `--set`
/// argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A TOML file, as its path was given or resolved (bases: relative to the including file).
    File(PathBuf),
    /// A `--set KEY=VALUE` argument, verbatim.
    Set(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => write!(f, "{}", p.display()),
            Origin::Set(arg) => write!(f, "--set {arg}"),
        }
    }
}

/// An experiment config that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file cannot be read; `base_of` is the file whose `base` names it.
    #[error("{}{}: cannot read: {source}", file.display(), included_by(base_of))]
    Io {
        file: PathBuf,
        base_of: Option<PathBuf>,
        source: std::io::Error,
    },
    /// Not valid TOML.
    #[error("{}:{line}:{column}: TOML syntax error: {message}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// `base` leads back to a file already in the chain; `chain` ends with the repeated file.
    #[error("{}: `base` cycle: {}", chain[chain.len() - 2].display(), arrow_chain(chain))]
    BaseCycle { chain: Vec<PathBuf> },
    /// A `--set` argument that is not `KEY=VALUE`.
    #[error("--set {arg}: {message}")]
    BadSet { arg: String, message: String },
    /// A key that the schema does not have; `suggestion` is the nearest valid key, if any is
    /// close.
    #[error("{origin}: unknown key `{key}`{}", suggest_key(key, suggestion))]
    UnknownKey {
        origin: Origin,
        key: String,
        suggestion: Option<String>,
    },
    /// A value of the wrong type (or out of its type's range, like `-1` for a count).
    #[error("{origin}: `{key}` must be {expected}, found {found}")]
    WrongType {
        origin: Origin,
        key: String,
        expected: String,
        found: String,
    },
    /// A string that is not one of an enumeration's values.
    #[error(
        "{origin}: `{key}` must be one of {}, found \"{found}\"{}",
        quoted(allowed),
        did_you_mean(suggestion)
    )]
    UnknownVariant {
        origin: Origin,
        key: String,
        found: String,
        allowed: Vec<String>,
        suggestion: Option<String>,
    },
    /// A required key that no file sets.
    #[error("{origin}: missing required key `{key}`{}", hint_suffix(hint))]
    MissingKey {
        origin: Origin,
        key: String,
        hint: String,
    },
    /// A value that has the right type but is not allowed; `message` names the key.
    #[error("{origin}: {message}")]
    Invalid {
        origin: Origin,
        key: String,
        message: String,
    },
}

/// A value that has the right type but cannot be meant: the key (dotted, in its own file's
/// terms, e.g. `rpn.nms_thresh`) and why. The loaders turn it into [`ConfigError::Invalid`] with
/// the file or `--set` that set the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{key}` {reason}")]
pub struct InvalidValue {
    pub key: String,
    /// Starts with the value, e.g. `= 0: it counts the background, so it must be at least 2`.
    pub reason: String,
}

impl InvalidValue {
    pub fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A name that is not one of an option's values (`--from cocoo`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} \"{found}\": use one of {}", quoted(allowed))]
pub struct UnknownName {
    pub what: &'static str,
    pub found: String,
    pub allowed: &'static [&'static str],
}

impl ConfigError {
    /// The dotted key the error is about (`solver.base_lr`), if it is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. }
            | ConfigError::WrongType { key, .. }
            | ConfigError::UnknownVariant { key, .. }
            | ConfigError::MissingKey { key, .. }
            | ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn included_by(base_of: &Option<PathBuf>) -> String {
    match base_of {
        Some(p) => format!(" (the `base` of {})", p.display()),
        None => String::new(),
    }
}

fn arrow_chain(chain: &[PathBuf]) -> String {
    let names: Vec<String> = chain.iter().map(|p| p.display().to_string()).collect();
    names.join(" -> ")
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

fn suggest_key(key: &str, suggestion: &Option<String>) -> String {
    let mut s = did_you_mean(suggestion);
    if let Some(top) = suggestion
        && !top.contains('.')
        && key.ends_with(&format!(".{top}"))
    {
        s.push_str(" (top-level keys go before the first [section] header)");
    }
    s
}

fn quoted<S: AsRef<str>>(allowed: &[S]) -> String {
    let q: Vec<String> = allowed
        .iter()
        .map(|a| format!("\"{}\"", a.as_ref()))
        .collect();
    q.join(", ")
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}
