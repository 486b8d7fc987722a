//! Checkpoints through burn-train's checkpointer: the model, the optimiser state (momentum
//! buffers) and the schedule position, one burnpack file each per saved iteration.
//!
//! burn-train's `FileCheckpointer` writes in place, so a crash mid-write leaves a truncated file
//! that looks like a checkpoint. [`AtomicFileCheckpointer`] writes each record to a temporary
//! file in the same folder and renames it into place, so a file that exists is complete; a
//! checkpoint counts only when all three of its files exist ([`latest_complete`]).

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
                .map_err(std::io::Error::other)
        })
        .map_err(CheckpointerError::IOError)
    }

    fn delete(&self, iteration: usize) -> Result<(), CheckpointerError> {
        let p = Self::path(&self.dir, &self.name, iteration);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CheckpointerError::IOError(e)),
        }
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
