//! `metrics.jsonl`: one JSON object per logged iteration or evaluation, appended as the run
//! goes, read back to resume (the records after the checkpoint are dropped) and to draw
//! `training.png`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use serde_json::Value;

/// Appends records to `metrics.jsonl`, one line each.
pub struct MetricsLog {
    file: File,
}

impl MetricsLog {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            file: OpenOptions::new().create(true).append(true).open(path)?,
        })
    }

    /// Writes one record (one write call, so that a concurrent reader sees whole lines).
    pub fn write(&mut self, v: &Value) -> std::io::Result<()> {
        self.file.write_all(format!("{v}\n").as_bytes())?;
        self.file.flush()
    }
}

/// The records of JSON-lines text, and the 1-based numbers of lines that are not JSON. Blank
/// lines are skipped; a malformed *last* line (a write cut short by a crash) is dropped
/// silently.
pub fn parse_jsonl(text: &str) -> (Vec<Value>, Vec<usize>) {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    let mut records = Vec::with_capacity(lines.len());
    let mut bad = Vec::new();
    for (i, &(n, l)) in lines.iter().enumerate() {
        match serde_json::from_str(l) {
            Ok(v) => records.push(v),
            Err(_) if i + 1 == lines.len() => {}
            Err(_) => bad.push(n + 1),
        }
    }
    (records, bad)
}

/// The records of `metrics.jsonl` up to iteration `up_to` (all without it); a missing file has
/// none. Lines that are not JSON are left out with a warning.
pub fn read_records(path: &Path, up_to: Option<usize>) -> std::io::Result<Vec<Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let (records, bad) = parse_jsonl(&text);
    if !bad.is_empty() {
        tracing::warn!(
            "{}: line(s) {bad:?} are not JSON records and are left out",
            path.display()
        );
    }
    Ok(records
        .into_iter()
        .filter(|v| match (up_to, v["iteration"].as_u64()) {
            (Some(m), Some(i)) => i as usize <= m,
            _ => true,
        })
        .collect())
}

/// Rewrites `metrics.jsonl` with only the records up to `iteration` (before resuming from it).
pub fn truncate(path: &Path, iteration: usize) -> std::io::Result<()> {
    if !path.exists() {
        return Ok(());
    }
    let mut text = String::new();
    for v in read_records(path, Some(iteration))? {
        text.push_str(&v.to_string());
        text.push('\n');
    }
    mrcnn_coco::files::write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_last_line_is_dropped_and_bad_lines_are_named() {
        let (v, bad) = parse_jsonl("{\"iter\": 1}\n\n{\"iter\": 2}\n{\"iter\": 3, \"lo");
        assert_eq!((v.len(), bad.len()), (2, 0));
        let (v, bad) = parse_jsonl("{\"iter\": 1}\n{oops\n{\"iter\": 2}\n");
        assert_eq!((v.len(), bad), (2, vec![2]));
    }

    #[test]
    fn append_read_truncate() {
        let dir = std::env::temp_dir().join(format!("mrcnn-metrics-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        let _ = std::fs::remove_file(&path);
        assert!(
            read_records(&path, None).unwrap().is_empty(),
            "missing = none"
        );
        let mut log = MetricsLog::open(&path).unwrap();
        for i in 1..=4 {
            log.write(&serde_json::json!({"iteration": i * 10}))
                .unwrap();
        }
        assert_eq!(read_records(&path, None).unwrap().len(), 4);
        assert_eq!(read_records(&path, Some(20)).unwrap().len(), 2);
        truncate(&path, 30).unwrap();
        assert_eq!(read_records(&path, None).unwrap().len(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
