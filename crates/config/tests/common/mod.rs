//! Helpers shared by the integration tests: a temp folder for experiment files.
#![allow(dead_code, clippy::result_large_err)]

use std::path::{Path, PathBuf};

use mrcnn_config::{ConfigError, Experiment, load_experiment};

/// The architecture the experiments below name: the repository's R50-FPN (tests run in the
/// crate folder, and model paths are relative to the current directory).
pub const MODEL_FILE: &str = "../../model_configs/mask_rcnn_R_50_FPN.toml";

/// A minimal `[model]` section.
pub const MODEL: &str = "[model]\nconfig = \"../../model_configs/mask_rcnn_R_50_FPN.toml\"\n";

/// A temp folder to write experiment files into.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

pub fn sets(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

pub fn load(p: &Path, args: &[&str]) -> Result<Experiment, ConfigError> {
    load_experiment(p, &sets(args))
}

pub fn err(p: &Path, args: &[&str]) -> ConfigError {
    match load(p, args) {
        Ok(e) => panic!("expected an error, loaded {e:?}"),
        Err(e) => {
            let line = e.to_string();
            assert!(!line.contains('\n'), "not one line: {line}");
            e
        }
    }
}
