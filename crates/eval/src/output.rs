//! Writing report files: atomically (a temporary file in the same folder, then a rename, so a
//! reader never sees a half-written file), parent folders created, failures as [`ReportError`].

use std::io::Write;
use std::path::{Path, PathBuf};

use image::RgbImage;
use thiserror::Error;

/// A report file could not be written (or a training log could not be read).
#[derive(Debug, Error)]
pub enum ReportError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode PNG {path}: {source}")]
    Png {
        path: String,
        #[source]
        source: image::ImageError,
    },
    #[error("{what}: {msg}")]
    Invalid { what: String, msg: String },
}

fn write_err(path: &Path, source: std::io::Error) -> ReportError {
    ReportError::Write {
        path: path.display().to_string(),
        source,
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` through `.NAME.PID.tmp` in the same folder and a rename; creates the
/// parent folders. On failure the temporary file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    if path.file_name().is_none() {
        return Err(ReportError::Invalid {
            what: path.display().to_string(),
            msg: "not a file path".into(),
        });
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| write_err(parent, e))?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| write_err(&tmp, e))?;
        f.write_all(bytes).map_err(|e| write_err(&tmp, e))?;
        f.sync_all().map_err(|e| write_err(&tmp, e))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| write_err(path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Encodes `img` as PNG and writes it with [`write_atomic`].
pub fn write_png(path: &Path, img: &RgbImage) -> Result<(), ReportError> {
    let mut buf = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut buf), image::ImageFormat::Png)
        .map_err(|source| ReportError::Png {
            path: path.display().to_string(),
            source,
        })?;
    write_atomic(path, &buf)
}
