//! Protocol-buffer text format, the syntax of the TensorFlow Object Detection API's
//! `pipeline.config` and `label_map.pbtxt` (read by `mrcnn-data`'s label maps): `name: value` scalars, `name { ... }` (or `name: { ... }`, `name < ... >`)
//! messages, repeated fields by repetition or `name: [a, b]`, `#` comments, quoted strings with
//! C escapes, numbers with an optional `f` suffix, `inf`/`nan`, enum identifiers.
//!
//! It is parsed without the schema into a tree of fields that keep their line, so that a
//! translation can read what it knows and name, by line, every field it does not. Written here
//! because the Rust text-format parsers need the message schema compiled in (prost-reflect's
//! descriptors, protobuf's generated code); the OD API's `pipeline.proto` and its 30 imports
//! are not something to vendor for a reader of one file.

use std::fmt;

/// A scalar as written: the translation decides its type.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// A quoted string, escapes resolved.
    Str(String),
    /// A number (`1`, `-0.5`, `1e-4`, `0.2f`, `inf`, `-nan`, `0x1F`), as f64.
    Num(f64),
    /// An enum value or `true`/`false`.
    Ident(String),
}

/// A field's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Message(Message),
}

/// One field occurrence, with the line it starts on (1-based).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: String,
    pub line: usize,
    pub value: Value,
}

/// A message: its fields in file order (a repeated field occurs several times).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub fields: Vec<Field>,
}

impl Message {
    /// Every occurrence of `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| f.name == name)
    }

    /// The last occurrence of `name` (protobuf's rule for a non-repeated field set twice).
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().rev().find(|f| f.name == name)
    }

    /// The message field `name`, if present and a message.
    pub fn message(&self, name: &str) -> Option<&Message> {
        match self.get(name).map(|f| &f.value) {
            Some(Value::Message(m)) => Some(m),
            _ => None,
        }
    }
}

/// Why a text-format file does not parse, with its line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TextFormatError {
    pub line: usize,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Punct(char),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "'{s}'"),
            Tok::Str(s) => write!(f, "the string \"{s}\""),
            Tok::Num(n) => write!(f, "the number {n}"),
            Tok::Punct(c) => write!(f, "'{c}'"),
        }
    }
}

fn err<T>(line: usize, message: impl Into<String>) -> Result<T, TextFormatError> {
    Err(TextFormatError {
        line,
        message: message.into(),
    })
}

/// Splits `text` into tokens with their lines.
fn lex(text: &str) -> Result<Vec<(Tok, usize)>, TextFormatError> {
    let c: Vec<char> = text.chars().collect();
    let (mut i, mut line) = (0, 1);
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        match ch {
            '\n' => {
                line += 1;
                i += 1;
            }
            _ if ch.is_whitespace() => i += 1,
            '#' => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '{' | '}' | '<' | '>' | ':' | '[' | ']' | ',' | ';' => {
                out.push((Tok::Punct(ch), line));
                i += 1;
            }
            '"' | '\'' => {
                let start = line;
                i += 1;
                let mut bytes: Vec<u8> = Vec::new();
                loop {
                    let Some(&d) = c.get(i) else {
                        return err(start, "a string is not closed");
                    };
                    i += 1;
                    if d == ch {
                        break;
                    }
                    if d == '\n' {
                        return err(start, "a string runs past the end of its line");
                    }
                    if d != '\\' {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(d.encode_utf8(&mut buf).as_bytes());
                        continue;
                    }
                    let Some(&e) = c.get(i) else {
                        return err(start, "a string ends in a backslash");
                    };
                    i += 1;
                    match e {
                        'n' => bytes.push(b'\n'),
                        't' => bytes.push(b'\t'),
                        'r' => bytes.push(b'\r'),
                        'a' => bytes.push(7),
                        'b' => bytes.push(8),
                        'f' => bytes.push(12),
                        'v' => bytes.push(11),
                        '\\' | '\'' | '"' | '?' => bytes.push(e as u8),
                        '0'..='7' => {
                            let mut v = e.to_digit(8).expect("octal");
                            for _ in 0..2 {
                                match c.get(i).and_then(|d| d.to_digit(8)) {
                                    Some(d) => {
                                        v = v * 8 + d;
                                        i += 1;
                                    }
                                    None => break,
                                }
                            }
                            bytes.push(v as u8);
                        }
                        'x' => {
                            let mut v = 0;
                            let mut n = 0;
                            while n < 2 {
                                match c.get(i).and_then(|d| d.to_digit(16)) {
                                    Some(d) => {
                                        v = v * 16 + d;
                                        i += 1;
                                        n += 1;
                                    }
                                    None => break,
                                }
                            }
                            if n == 0 {
                                return err(line, "\\x without hex digits in a string");
                            }
                            bytes.push(v as u8);
                        }
                        other => return err(line, format!("unknown escape \\{other} in a string")),
                    }
                }
                // Adjacent strings concatenate, as in C and in protobuf's text format.
                let s = String::from_utf8(bytes).map_err(|_| TextFormatError {
                    line: start,
                    message: "a string is not UTF-8 after its escapes".into(),
                })?;
                match out.last_mut() {
                    Some((Tok::Str(prev), _)) => prev.push_str(&s),
                    _ => out.push((Tok::Str(s), start)),
                }
            }
            _ if ch.is_ascii_digit() || ch == '-' || ch == '.' || ch == '+' => {
                let start = i;
                i += 1;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || matches!(c[i], '.' | '_'))
                    || (i < c.len()
                        && matches!(c[i], '-' | '+')
                        && matches!(c[i - 1], 'e' | 'E')
                        && !c[start..i].iter().any(|x| *x == 'x' || *x == 'X'))
                {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                out.push((Tok::Num(number(&word, line)?), line));
            }
            _ if ch.is_alphabetic() || ch == '_' => {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.') {
                    i += 1;
                }
                out.push((Tok::Ident(c[start..i].iter().collect()), line));
            }
            other => return err(line, format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

/// A number as text format writes it.
fn number(word: &str, line: usize) -> Result<f64, TextFormatError> {
    let (neg, body) = match word.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, word.strip_prefix('+').unwrap_or(word)),
    };
    let lower = body.to_ascii_lowercase();
    let v = if lower == "inf" || lower == "infinity" {
        Some(f64::INFINITY)
    } else if lower == "nan" {
        Some(f64::NAN)
    } else if let Some(hex) = lower.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok().map(|v| v as f64)
    } else {
        let t = lower.strip_suffix('f').unwrap_or(&lower);
        t.parse::<f64>().ok()
    };
    match v {
        Some(v) => Ok(if neg { -v } else { v }),
        None => err(line, format!("'{word}' is not a number")),
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    p: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.p).map(|t| &t.0)
    }
    fn line(&self) -> usize {
        self.toks
            .get(self.p)
            .or(self.toks.last())
            .map_or(1, |t| t.1)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.p).map(|t| t.0.clone());
        self.p += 1;
        t
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.p += 1;
            true
        } else {
            false
        }
    }

    /// Fields until `close` (or the end of the file when `close` is `None`).
    fn message(&mut self, close: Option<char>, opened: usize) -> Result<Message, TextFormatError> {
        let mut m = Message::default();
        loop {
            let line = self.line();
            match self.next() {
                None if close.is_none() => return Ok(m),
                None => {
                    return err(
                        opened,
                        format!(
                            "the message opened here is not closed with '{}'",
                            close.expect("some")
                        ),
                    );
                }
                Some(Tok::Punct(c)) if Some(c) == close => return Ok(m),
                Some(Tok::Ident(name)) => {
                    self.field(&mut m, name, line)?;
                    // Fields may be separated by ',' or ';'.
                    let _ = self.eat(',') || self.eat(';');
                }
                Some(t) => return err(line, format!("expected a field name, found {t}")),
            }
        }
    }

    fn field(&mut self, m: &mut Message, name: String, line: usize) -> Result<(), TextFormatError> {
        let colon = self.eat(':');
        if let Some(close) = self.open() {
            let sub = self.message(Some(close), line)?;
            m.fields.push(Field {
                name,
                line,
                value: Value::Message(sub),
            });
            return Ok(());
        }
        if !colon {
            let found = self
                .peek()
                .map_or("the end of the file".into(), |t| t.to_string());
            return err(
                line,
                format!("field '{name}': expected ':' or '{{' after it, found {found}"),
            );
        }
        if self.eat('[') {
            if self.eat(']') {
                return Ok(());
            }
            loop {
                let l = self.line();
                let value = match self.open() {
                    Some(close) => Value::Message(self.message(Some(close), l)?),
                    None => Value::Scalar(self.scalar(&name)?),
                };
                m.fields.push(Field {
                    name: name.clone(),
                    line: l,
                    value,
                });
                if self.eat(']') {
                    return Ok(());
                }
                if !self.eat(',') {
                    return err(
                        self.line(),
                        format!("field '{name}': expected ',' or ']' in its list"),
                    );
                }
            }
        }
        let value = Value::Scalar(self.scalar(&name)?);
        m.fields.push(Field { name, line, value });
        Ok(())
    }

    /// The closing bracket of a message opened here, if one is.
    fn open(&mut self) -> Option<char> {
        if self.eat('{') {
            Some('}')
        } else if self.eat('<') {
            Some('>')
        } else {
            None
        }
    }

    fn scalar(&mut self, name: &str) -> Result<Scalar, TextFormatError> {
        let line = self.line();
        match self.next() {
            Some(Tok::Str(s)) => Ok(Scalar::Str(s)),
            Some(Tok::Num(n)) => Ok(Scalar::Num(n)),
            Some(Tok::Ident(s)) => match s.to_ascii_lowercase().as_str() {
                "inf" | "infinity" => Ok(Scalar::Num(f64::INFINITY)),
                "nan" => Ok(Scalar::Num(f64::NAN)),
                _ => Ok(Scalar::Ident(s)),
            },
            Some(t) => err(line, format!("field '{name}': expected a value, found {t}")),
            None => err(
                line,
                format!("field '{name}': the file ends before its value"),
            ),
        }
    }
}

/// Parses a text-format message (a whole `pipeline.config`).
pub fn parse(text: &str) -> Result<Message, TextFormatError> {
    let toks = lex(text)?;
    Parser { toks, p: 0 }.message(None, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
# A pipeline.config in the OD API's style (written for this test).
model {
  faster_rcnn {
    num_classes: 3  # three
    image_resizer { keep_aspect_ratio_resizer { min_dimension: 800 max_dimension: 1365 } }
    first_stage_anchor_generator {
      grid_anchor_generator {
        scales: [0.25, 0.5, 1.0, 2.0]
        aspect_ratios: 0.5
        aspect_ratios: 1.0
        aspect_ratios: 2.0f
        height_stride: 8
      }
    }
    first_stage_nms_iou_threshold: 0.7
    second_stage_post_processing {
      score_converter: SOFTMAX
    }
    predict_instance_masks: true
  }
}
train_config: {
  batch_size: 1
  optimizer { momentum_optimizer: < momentum_optimizer_value: 0.9 > use_moving_average: false }
  fine_tune_checkpoint: "pretrained_model/" 'model.ckpt'
  data_augmentation_options { random_horizontal_flip { } }
  gradient_clipping_by_norm: 10.0
}
eval_input_reader: { tf_record_input_reader { input_path: "a\"b\x41\101\n" } label_map_path: "x.pbtxt"; }
"#;

    #[test]
    fn a_pipeline_config_parses_into_fields_with_their_lines() {
        let m = parse(SAMPLE).unwrap();
        let frcnn = m.message("model").unwrap().message("faster_rcnn").unwrap();
        let f = frcnn.get("num_classes").unwrap();
        assert_eq!((f.line, &f.value), (5, &Value::Scalar(Scalar::Num(3.0))));
        let grid = frcnn
            .message("first_stage_anchor_generator")
            .unwrap()
            .message("grid_anchor_generator")
            .unwrap();
        let scales: Vec<&Value> = grid.all("scales").map(|f| &f.value).collect();
        assert_eq!(scales.len(), 4);
        assert_eq!(scales[0], &Value::Scalar(Scalar::Num(0.25)));
        let ratios: Vec<usize> = grid.all("aspect_ratios").map(|f| f.line).collect();
        assert_eq!(ratios, [10, 11, 12]);
        assert_eq!(
            grid.all("aspect_ratios").last().unwrap().value,
            Value::Scalar(Scalar::Num(2.0))
        );
        let post = frcnn.message("second_stage_post_processing").unwrap();
        assert_eq!(
            post.get("score_converter").unwrap().value,
            Value::Scalar(Scalar::Ident("SOFTMAX".into()))
        );
        let train = m.message("train_config").unwrap();
        let mom = train
            .message("optimizer")
            .unwrap()
            .message("momentum_optimizer")
            .unwrap();
        assert_eq!(
            mom.get("momentum_optimizer_value").unwrap().value,
            Value::Scalar(Scalar::Num(0.9))
        );
        assert_eq!(
            train.get("fine_tune_checkpoint").unwrap().value,
            Value::Scalar(Scalar::Str("pretrained_model/model.ckpt".into()))
        );
        let aug = train.message("data_augmentation_options").unwrap();
        assert_eq!(
            aug.message("random_horizontal_flip"),
            Some(&Message::default())
        );
        let eval = m.message("eval_input_reader").unwrap();
        let path = eval
            .message("tf_record_input_reader")
            .unwrap()
            .get("input_path")
            .unwrap();
        assert_eq!(path.value, Value::Scalar(Scalar::Str("a\"bAA\n".into())));
        assert_eq!(path.line, 30);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line, words) in [
            ("model {\n  faster_rcnn {\n", 2, "not closed"),
            ("a: 1\nb 2\n", 2, "expected ':'"),
            ("a: \"open\nb: 1", 1, "past the end of its line"),
            ("a: [1, 2\nb: 3", 2, "expected ',' or ']'"),
            ("a: 1.2.3", 1, "not a number"),
            ("a: 1\n}\n", 2, "expected a field name"),
            ("a: $", 1, "unexpected character"),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.message.contains(words), "{text:?}: {e}");
        }
    }

    #[test]
    fn numbers_as_text_format_writes_them() {
        let m = parse("a: -1e-4 b: 0x1F c: -inf d: 1.5f e: nan").unwrap();
        let n = |k: &str| match &m.get(k).unwrap().value {
            Value::Scalar(Scalar::Num(v)) => *v,
            other => panic!("{other:?}"),
        };
        assert_eq!(n("a"), -1e-4);
        assert_eq!(n("b"), 31.0);
        assert_eq!(n("c"), f64::NEG_INFINITY);
        assert_eq!(n("d"), 1.5);
        assert!(n("e").is_nan());
    }
}
