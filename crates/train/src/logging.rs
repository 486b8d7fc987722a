//! `tracing` output: the console (stderr, `info` unless `RUST_LOG` says otherwise) and the current
//! run's `log.txt`. The subscriber is process-wide, so the log file is a swappable slot that each
//! run points at its own folder.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);
static INIT: OnceLock<()> = OnceLock::new();

/// Writes to the current run's log file, if any.
#[derive(Clone, Copy)]
struct RunLog;

impl Write for RunLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = LOG_FILE.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            f.write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(f) = LOG_FILE.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            f.flush()?;
        }
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for RunLog {
    type Writer = RunLog;
    fn make_writer(&'a self) -> RunLog {
        RunLog
    }
}

/// Installs the subscriber once (later calls do nothing; an already installed global subscriber
/// from elsewhere is left alone).
pub fn init() {
    INIT.get_or_init(|| {
        let console = fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .with_filter(
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
            );
        let file = fmt::layer()
            .with_writer(RunLog)
            .with_ansi(false)
            .with_target(false)
            .with_filter(EnvFilter::new("info"));
        let _ = tracing_subscriber::registry()
            .with(console)
            .with(file)
            .try_init();
    });
}

/// Sends the log to `path` (appending), or nowhere.
pub fn set_log_file(path: Option<&Path>) -> std::io::Result<()> {
    let f = match path {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    *LOG_FILE.lock().unwrap_or_else(|p| p.into_inner()) = f;
    Ok(())
}

/// Appends `line` to the current run's log file only (the console gets it another way, e.g. as
/// the command's one-line error).
pub fn file_only(line: &str) {
    if let Some(f) = LOG_FILE.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        let _ = writeln!(f, "ERROR {line}");
    }
}
