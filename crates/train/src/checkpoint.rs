//! Checkpoints through burn-train's checkpointer: the model, the optimiser state (momentum
//! buffers) and the schedule position, one burnpack file each per saved iteration.
//!
//! burn-train's `FileCheckpointer` writes in place, so a crash mid-write leaves a truncated file
//! that looks like a checkpoint. [`AtomicFileCheckpointer`] writes each record to a temporary
//! file in the same folder and renames it into place, so a file that exists is complete; a
//! checkpoint counts only when all three of its files exist ([`latest_complete`]). With each
//! record goes its checksum (`<record>-<iteration>.bpk.crc32c`: size and CRC-32C of the bytes),
//! written atomically before the record is renamed into place; `--resume` [`verify`]s a
//! checkpoint before loading it, so a file damaged on disk later (a flipped byte, a truncated
//! copy) is found, set aside and the previous checkpoint used instead.

use burn_train::checkpoint::{
    Checkpoint, Checkpointer, CheckpointerError, CheckpointingAction, CheckpointingStrategy,
};
use burn_train::metric::store::EventStoreClient;
use std::path::{Path, PathBuf};

/// The three records of a checkpoint, by file-name prefix.
pub const RECORDS: [&str; 3] = ["model", "optim", "scheduler"];

/// Saves records as `<dir>/<name>-<iteration>.bpk`, atomically.
pub struct AtomicFileCheckpointer {
    dir: PathBuf,
    name: String,
}

impl AtomicFileCheckpointer {
    pub fn new(dir: &Path, name: &str) -> Self {
        Self {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }
    }

    pub fn path(dir: &Path, name: &str, iteration: usize) -> PathBuf {
        dir.join(format!("{name}-{iteration}.bpk"))
    }
}

impl<R: Checkpoint> Checkpointer<R> for AtomicFileCheckpointer {
    fn save(&self, iteration: usize, record: R) -> Result<(), CheckpointerError> {
        let dst = Self::path(&self.dir, &self.name, iteration);
        mrcnn_coco::files::write_atomic_with(&dst, |tmp| {
            record
                .save(tmp.to_path_buf())
                .map_err(std::io::Error::other)?;
            // The checksum of exactly these bytes, in place before the record is.
            let sum = FileSum::of(tmp)?;
            let text = serde_json::to_string(&sum).expect("a checksum serialises");
            mrcnn_coco::files::write_atomic(&sum_path(&dst), text.as_bytes())
        })
        .map_err(CheckpointerError::IOError)
    }

    fn delete(&self, iteration: usize) -> Result<(), CheckpointerError> {
        let record = Self::path(&self.dir, &self.name, iteration);
        for p in [sum_path(&record), record] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(CheckpointerError::IOError(e)),
            }
        }
        Ok(())
    }

    fn restore(&self, iteration: usize) -> Result<R, CheckpointerError> {
        R::load(Self::path(&self.dir, &self.name, iteration))
    }
}

/// Keeps the last `keep` saved iterations; older ones are deleted after a newer one is saved.
pub struct KeepLast {
    keep: usize,
    saved: Vec<usize>,
}

impl KeepLast {
    /// `existing`: iterations already on disk (a resumed run keeps managing them).
    pub fn new(keep: usize, existing: Vec<usize>) -> Self {
        Self {
            keep: keep.max(1),
            saved: existing,
        }
    }
}

impl CheckpointingStrategy for KeepLast {
    fn checkpointing(
        &mut self,
        iteration: usize,
        _: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        let mut actions = vec![CheckpointingAction::Save];
        self.saved.retain(|&i| i != iteration);
        self.saved.push(iteration);
        self.saved.sort_unstable();
        while self.saved.len() > self.keep {
            actions.push(CheckpointingAction::Delete(self.saved.remove(0)));
        }
        actions
    }
}

/// Iterations for which every record file exists in `dir`, ascending.
pub fn complete_checkpoints(dir: &Path) -> Vec<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut iters: Vec<usize> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix("model-")?.strip_suffix(".bpk")?;
            rest.parse().ok()
        })
        .filter(|&i| {
            RECORDS
                .iter()
                .all(|r| AtomicFileCheckpointer::path(dir, r, i).is_file())
        })
        .collect();
    iters.sort_unstable();
    iters
}

/// The newest complete checkpoint in `dir`.
pub fn latest_complete(dir: &Path) -> Option<usize> {
    complete_checkpoints(dir).pop()
}

/// The checksum file of a record file: `model-4.bpk` -> `model-4.bpk.crc32c`.
pub fn sum_path(record: &Path) -> PathBuf {
    let mut name = record.file_name().unwrap_or_default().to_os_string();
    name.push(".crc32c");
    record.with_file_name(name)
}

/// Size and CRC-32C of a record file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct FileSum {
    bytes: u64,
    crc32c: u32,
}

impl FileSum {
    /// Of the file at `path`, read in pieces.
    fn of(path: &Path) -> std::io::Result<FileSum> {
        use std::io::Read;
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 20];
        let (mut bytes, mut crc) = (0u64, 0u32);
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                return Ok(FileSum { bytes, crc32c: crc });
            }
            crc = crc32c::crc32c_append(crc, &buf[..k]);
            bytes += k as u64;
        }
    }
}

/// How a checkpoint compares with its checksums.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// Every record file has the size and checksum written with it.
    Yes,
    /// No checksums: written by an mrcnn older than checksums; the files exist but are
    /// unchecked.
    Unchecked,
}

/// Why a checkpoint is not used.
#[derive(Debug, thiserror::Error)]
pub enum Damage {
    #[error("{} is missing", file.display())]
    Missing { file: PathBuf },
    #[error("{} has {got} bytes, its checksum says {want}", file.display())]
    Size { file: PathBuf, want: u64, got: u64 },
    #[error("{} does not match its checksum (CRC-32C {got:08x}, written {want:08x})", file.display())]
    Checksum { file: PathBuf, want: u32, got: u32 },
    #[error("{} cannot be read: {source}", file.display())]
    Unreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a checksum file: {reason}", file.display())]
    BadSum { file: PathBuf, reason: String },
}

/// Checks checkpoint `iteration` in `dir` against the checksums written with its records.
pub fn verify(dir: &Path, iteration: usize) -> Result<Verified, Damage> {
    // Sums are written before their records, so a record without one means either an older
    // mrcnn (no record has one) or a lost file (some have one).
    let have_sums = RECORDS
        .iter()
        .filter(|r| sum_path(&AtomicFileCheckpointer::path(dir, r, iteration)).exists())
        .count();
    for r in RECORDS {
        let file = AtomicFileCheckpointer::path(dir, r, iteration);
        if !file.is_file() {
            return Err(Damage::Missing { file });
        }
        let sum_file = sum_path(&file);
        let text = match std::fs::read_to_string(&sum_file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if have_sums == 0 {
                    continue;
                }
                return Err(Damage::Missing { file: sum_file });
            }
            Err(source) => {
                return Err(Damage::Unreadable {
                    file: sum_file,
                    source,
                });
            }
        };
        let want: FileSum = serde_json::from_str(&text).map_err(|e| Damage::BadSum {
            file: sum_file.clone(),
            reason: e.to_string(),
        })?;
        let got = FileSum::of(&file).map_err(|source| Damage::Unreadable {
            file: file.clone(),
            source,
        })?;
        if got.bytes != want.bytes {
            return Err(Damage::Size {
                file,
                want: want.bytes,
                got: got.bytes,
            });
        }
        if got.crc32c != want.crc32c {
            return Err(Damage::Checksum {
                file,
                want: want.crc32c,
                got: got.crc32c,
            });
        }
    }
    Ok(if have_sums == 0 {
        Verified::Unchecked
    } else {
        Verified::Yes
    })
}

/// Moves the files of a damaged checkpoint into `<dir>/damaged-<iteration>/` (kept for the
/// user, out of the way of the run); returns that folder.
pub fn set_aside(dir: &Path, iteration: usize) -> std::io::Result<PathBuf> {
    let aside = dir.join(format!("damaged-{iteration}"));
    std::fs::create_dir_all(&aside)?;
    for r in RECORDS {
        let record = AtomicFileCheckpointer::path(dir, r, iteration);
        for f in [sum_path(&record), record] {
            if let Some(name) = f.file_name()
                && f.exists()
            {
                std::fs::rename(&f, aside.join(name))?;
            }
        }
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(dir: &Path, k: usize) {
        // As `AtomicFileCheckpointer::save` leaves them: each record with its sum.
        for (i, r) in RECORDS.iter().enumerate() {
            let record = AtomicFileCheckpointer::path(dir, r, k);
            std::fs::write(&record, vec![i as u8 + 1; 3000]).unwrap();
            let sum = serde_json::to_string(&FileSum::of(&record).unwrap()).unwrap();
            std::fs::write(sum_path(&record), sum).unwrap();
        }
    }

    #[test]
    fn damaged_checkpoints_are_found() {
        let dir = std::env::temp_dir().join(format!("mrcnn-ckpt-verify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        checkpoint(&dir, 2);
        assert_eq!(verify(&dir, 2).unwrap(), Verified::Yes);
        let model = AtomicFileCheckpointer::path(&dir, "model", 2);
        let mut bytes = std::fs::read(&model).unwrap();
        bytes[1234] ^= 0x10;
        std::fs::write(&model, &bytes).unwrap();
        assert!(matches!(verify(&dir, 2), Err(Damage::Checksum { .. })));
        std::fs::write(&model, &bytes[..100]).unwrap();
        assert!(matches!(verify(&dir, 2), Err(Damage::Size { .. })));
        std::fs::write(&model, b"").unwrap();
        let e = verify(&dir, 2).unwrap_err().to_string();
        assert!(e.contains("model-2.bpk") && e.contains("0 bytes"), "{e}");
        std::fs::write(&model, vec![1u8; 3000]).unwrap();
        assert_eq!(verify(&dir, 2).unwrap(), Verified::Yes);
        std::fs::remove_file(sum_path(&model)).unwrap();
        let e = verify(&dir, 2).unwrap_err().to_string();
        assert!(e.contains("model-2.bpk.crc32c is missing"), "{e}");
        for r in ["optim", "scheduler"] {
            std::fs::remove_file(sum_path(&AtomicFileCheckpointer::path(&dir, r, 2))).unwrap();
        }
        assert_eq!(verify(&dir, 2).unwrap(), Verified::Unchecked);
        let aside = set_aside(&dir, 2).unwrap();
        assert!(aside.join("model-2.bpk").is_file() && !model.exists());
        assert!(complete_checkpoints(&dir).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
