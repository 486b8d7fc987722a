//! TensorFlow checkpoints (TensorBundle) against checkpoints TensorFlow itself wrote
//! (`tools/reference/make_tf_bundle_fixtures.py`, values read back with TensorFlow's reader):
//! every variable's dtype, shape and values, one and two shards; then a damaged copy of each
//! kind gives one error naming the file.

use std::path::{Path, PathBuf};

use mrcnn_import::tf::{TfDtype, read_bundle, read_frozen_graph};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tf_bundle")
}

fn check_against_tensorflow(prefix: &str) {
    check_tensors(prefix, &read_bundle(&fixtures().join(prefix)).unwrap());
}

/// `got` equals what TensorFlow read from the fixture `key` (names, dtypes, shapes, bits).
fn check_tensors(prefix: &str, got: &[mrcnn_import::tf::BundleTensor]) {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    let want = expected[prefix].as_object().unwrap();
    let names: Vec<&str> = got.iter().map(|t| t.name.as_str()).collect();
    let mut want_names: Vec<&str> = want.keys().map(String::as_str).collect();
    want_names.sort();
    assert_eq!(names, want_names, "{prefix}: variables");
    for t in got {
        let w = &want[&t.name];
        let dtype = match t.dtype {
            TfDtype::F32 => "float32",
            TfDtype::F64 => "float64",
            TfDtype::I32 => "int32",
            TfDtype::I64 => "int64",
            TfDtype::F16 => "float16",
            TfDtype::Bool => "bool",
            other => panic!("unexpected dtype {other:?}"),
        };
        assert_eq!(dtype, w["dtype"], "{}", t.name);
        let shape: Vec<usize> = w["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(t.shape, shape, "{}", t.name);
        let values = w["values"].as_array().unwrap();
        match t.dtype {
            TfDtype::I64 | TfDtype::I32 => {
                let v: Vec<i64> = values.iter().map(|x| x.as_i64().unwrap()).collect();
                assert_eq!(t.to_i64().unwrap(), v, "{}", t.name);
            }
            TfDtype::Bool => {
                let v: Vec<f32> = values
                    .iter()
                    .map(|x| x.as_bool().unwrap() as u8 as f32)
                    .collect();
                assert_eq!(t.to_f32(), v, "{}", t.name);
            }
            TfDtype::F64 => {
                let bits: Vec<u64> = t
                    .bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                let v: Vec<u64> = values
                    .iter()
                    .map(|x| x.as_f64().unwrap().to_bits())
                    .collect();
                assert_eq!(bits, v, "{}", t.name);
            }
            _ => {
                // float32 values are written as the shortest decimal that round-trips through
                // f32, float16 ones exactly: equal bits after the cast.
                let v: Vec<u32> = values
                    .iter()
                    .map(|x| (x.as_f64().unwrap() as f32).to_bits())
                    .collect();
                let g: Vec<u32> = t.to_f32().iter().map(|x| x.to_bits()).collect();
                assert_eq!(g, v, "{}", t.name);
            }
        }
    }
}

#[test]
fn one_shard_equals_tensorflows_reading() {
    check_against_tensorflow("model.ckpt");
}

#[test]
fn two_shards_equal_tensorflows_reading() {
    check_against_tensorflow("sharded.ckpt");
}

#[test]
fn the_prefix_the_index_a_data_file_or_the_folder_name_the_same_checkpoint() {
    let a = read_bundle(&fixtures().join("model.ckpt")).unwrap();
    for p in ["model.ckpt.index", "model.ckpt.data-00000-of-00001"] {
        assert_eq!(read_bundle(&fixtures().join(p)).unwrap(), a, "{p}");
    }
    // The fixture folder holds two checkpoints: naming the folder is ambiguous.
    let e = read_bundle(&fixtures()).unwrap_err().to_string();
    assert!(e.contains("2 checkpoints here"), "{e}");
}

/// A copy of `model.ckpt` in a temporary folder, damaged by `damage`.
fn damaged(damage: impl Fn(&Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    for f in ["model.ckpt.index", "model.ckpt.data-00000-of-00001"] {
        std::fs::copy(fixtures().join(f), dir.path().join(f)).unwrap();
    }
    damage(dir.path());
    read_bundle(&dir.path().join("model.ckpt"))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_truncated_shard_is_named() {
    let e = damaged(|d| {
        let p = d.join("model.ckpt.data-00000-of-00001");
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() - 100]).unwrap();
    });
    assert!(
        e.contains("model.ckpt.data-00000-of-00001") && e.contains("truncated"),
        "{e}"
    );
}

#[test]
fn a_flipped_byte_fails_the_checksum() {
    let e = damaged(|d| {
        let p = d.join("model.ckpt.data-00000-of-00001");
        let mut b = std::fs::read(&p).unwrap();
        b[1000] ^= 0x10;
        std::fs::write(&p, &b).unwrap();
    });
    assert!(
        e.contains("model.ckpt.data-00000-of-00001") && e.contains("checksum"),
        "{e}"
    );
    let e = damaged(|d| {
        let p = d.join("model.ckpt.index");
        let mut b = std::fs::read(&p).unwrap();
        b[100] ^= 0x01;
        std::fs::write(&p, &b).unwrap();
    });
    assert!(
        e.contains("model.ckpt.index") && e.contains("checksum"),
        "{e}"
    );
}

#[test]
fn a_missing_shard_is_named() {
    let e = damaged(|d| std::fs::remove_file(d.join("model.ckpt.data-00000-of-00001")).unwrap());
    assert!(
        e.contains("model.ckpt.data-00000-of-00001 is missing") && e.contains("1 data shard"),
        "{e}"
    );
}

#[test]
fn a_file_that_is_no_index_is_refused() {
    let e = damaged(|d| {
        std::fs::write(
            d.join("model.ckpt.index"),
            b"{\"not\": \"a table\"}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        )
        .unwrap()
    });
    assert!(e.contains("magic number"), "{e}");
}

#[test]
fn a_frozen_graph_gives_its_constants_as_tensorflow_reads_them() {
    let got = read_frozen_graph(&fixtures().join("frozen_inference_graph.pb")).unwrap();
    check_tensors("frozen_inference_graph.pb", &got);
}

#[test]
fn a_file_that_is_no_graph_is_refused() {
    let e = read_frozen_graph(&fixtures().join("model.ckpt.index"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.ckpt.index") && e.contains("GraphDef"),
        "{e}"
    );
}
