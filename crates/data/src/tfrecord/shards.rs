//! Shard names: `name-00000-of-00004` files, `name@4` shorthand and globs.

use std::path::{Path, PathBuf};

use crate::error::DataError;

/// File names for `n` shards of `prefix` (`prefix` itself when `n == 1`).
pub fn shard_paths(prefix: &Path, n: usize) -> Vec<PathBuf> {
    if n <= 1 {
        return vec![prefix.to_path_buf()];
    }
    (0..n)
        .map(|i| PathBuf::from(format!("{}-{i:05}-of-{n:05}", prefix.display())))
        .collect()
}

/// Expand one input spec into files, in order:
/// `prefix@N` → the N shard names; a spec with `*?[` → sorted glob matches;
/// anything else → that file. Missing files are errors naming them.
pub fn expand_input(spec: &str) -> Result<Vec<PathBuf>, DataError> {
    let files = if let Some((prefix, n)) = spec
        .rsplit_once('@')
        .and_then(|(p, n)| Some((p, n.parse::<usize>().ok()?)))
    {
        if n == 0 {
            return Err(DataError::Options(format!(
                "{spec}: shard count must be ≥ 1"
            )));
        }
        shard_paths(Path::new(prefix), n)
    } else if spec.contains(['*', '?', '[']) {
        let paths =
            glob::glob(spec).map_err(|e| DataError::Options(format!("{spec}: bad glob: {e}")))?;
        let mut v = Vec::new();
        for p in paths {
            v.push(p.map_err(|e| {
                DataError::io(e.path().to_path_buf(), std::io::Error::other(e.to_string()))
            })?);
        }
        v.sort();
        if v.is_empty() {
            return Err(DataError::io(
                spec,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no file matches"),
            ));
        }
        v
    } else {
        vec![PathBuf::from(spec)]
    };
    for f in &files {
        if !f.is_file() {
            return Err(DataError::io(
                f,
                std::io::Error::new(std::io::ErrorKind::NotFound, "TFRecord file not found"),
            ));
        }
    }
    Ok(files)
}

/// A split name for a spec: the file name without shard suffix, `@N` or extension.
pub fn split_name(spec: &str) -> String {
    let base = spec.rsplit(['/', '\\']).next().unwrap_or(spec);
    let base = base.split('@').next().unwrap_or(base);
    // Cut at the shard suffix or the first glob character, whichever comes first.
    let cut = [base.find("-0000"), base.find(['*', '?', '['])]
        .into_iter()
        .flatten()
        .min();
    let base = cut.map_or(base, |i| &base[..i]);
    let base = base.trim_end_matches(['-', '_', '.']);
    let stem = base
        .strip_suffix(".tfrecord")
        .or_else(|| base.strip_suffix(".record"))
        .or_else(|| base.strip_suffix(".tfrecords"))
        .unwrap_or(base);
    if stem.is_empty() {
        "data".to_string()
    } else {
        stem.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            shard_paths(Path::new("d/train.tfrecord"), 2),
            vec![
                PathBuf::from("d/train.tfrecord-00000-of-00002"),
                PathBuf::from("d/train.tfrecord-00001-of-00002")
            ]
        );
        assert_eq!(split_name("d/train.tfrecord-?????-of-00004"), "train");
        assert_eq!(split_name("d/val.record@3"), "val");
        assert_eq!(split_name("x/test.tfrecord"), "test");
    }
}
