//! Writing result files atomically: the bytes go to a temporary file in the destination's
//! folder, which is then renamed over the destination, so a reader (or a crash) never sees a
//! half-written file. Every file the project writes for a user (results, metrics, reports,
//! checkpoints, configs, weights) goes through here. The temporary file is removed on failure.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Writes `bytes` to `path` atomically, creating the parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

/// Runs `write` on a temporary path next to `path` (with the same extension, since some
/// writers add one when it is missing) and renames the result to `path`. Parent folders are
/// created; on failure nothing is left behind. A writer with its own error type returns it as
/// `std::io::Error::other(e)`, which keeps it as the cause.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a file path", path.display()),
        ));
    };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let name = Path::new(name);
    let stem = name.file_stem().unwrap_or_default().to_string_lossy();
    let suffix = match name.extension() {
        Some(ext) => format!(".{}", ext.to_string_lossy()),
        None => String::new(),
    };
    // Unique per process and call, so that two writers of one file never share a temporary.
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.unwrap_or(Path::new("")).join(format!(
        ".{stem}.{}.{n}.partial{suffix}",
        std::process::id()
    ));
    let result = write(&tmp).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("mrcnn-coco-files-{}", std::process::id()));
        let p = dir.join("sub/out.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_nothing() {
        let dir = std::env::temp_dir().join(format!("mrcnn-coco-fail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("w.safetensors");
        let r = write_atomic_with(&p, |tmp| {
            assert!(tmp.to_string_lossy().ends_with(".safetensors"));
            std::fs::write(tmp, b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        assert!(write_atomic(&dir, b"x").is_err(), "a folder is not a file");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
