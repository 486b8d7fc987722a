//! Fixture location of the model parity tests; the helpers live in `mrcnn_core::testing`.
#![allow(dead_code)]

pub use mrcnn_core::testing::*;
use std::path::{Path, PathBuf};

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small")
}
