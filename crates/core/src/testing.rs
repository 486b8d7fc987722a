//! Test support shared by every crate's parity tests: reading the torchvision fixtures
//! (safetensors files written by `tools/reference/`), comparing tensors and box sets, and the list
//! of devices to test on.

use crate::{BoxXyxy, host};
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::Path;

/// Tensors of a safetensors file as (shape, f64 values).
pub struct Fixture {
    pub tensors: HashMap<String, (Vec<usize>, Vec<f64>)>,
}

impl Fixture {
    pub fn load(path: &Path) -> Self {
        let bytes = std::fs::read(path).unwrap_or_else(|e| {
            panic!(
                "fixture {}: {e}; regenerate it with the scripts in tools/reference/",
                path.display()
            )
        });
        let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let vals: Vec<f64> = match view.dtype() {
                Dtype::F32 => data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                Dtype::F64 => data
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                Dtype::I64 => data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                Dtype::I32 => data
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64)
                    .collect(),
                Dtype::U8 | Dtype::BOOL => data.iter().map(|&b| b as f64).collect(),
                d => panic!("{name}: unsupported dtype {d:?}"),
            };
            tensors.insert(name.to_string(), (view.shape().to_vec(), vals));
        }
        Self { tensors }
    }

    pub fn get(&self, name: &str) -> &(Vec<usize>, Vec<f64>) {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture has no tensor '{name}'"))
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    pub fn f32(&self, name: &str) -> Vec<f32> {
        self.get(name).1.iter().map(|&v| v as f32).collect()
    }

    pub fn shape(&self, name: &str) -> Vec<usize> {
        self.get(name).0.clone()
    }

    pub fn tensor<const D: usize>(&self, name: &str, device: &Device) -> Tensor<D> {
        let (shape, _) = self.get(name);
        let shape: [usize; D] = shape
            .clone()
            .try_into()
            .unwrap_or_else(|_| panic!("{name}: rank != {D}"));
        host::tensor(self.f32(name), shape, device)
    }

    pub fn boxes(&self, name: &str) -> Vec<BoxXyxy> {
        host::to_boxes(&self.f32(name))
    }
}

/// Asserts `|a - b| <= tol * max(1, max|b|)` everywhere.
pub fn assert_close(what: &str, a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(
        a.len(),
        b.len(),
        "{what}: {} values vs {} expected",
        a.len(),
        b.len()
    );
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let (mut worst, mut at) = (0.0f32, 0);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        let d = (x - y).abs();
        if d > worst || d.is_nan() {
            worst = d;
            at = i;
        }
    }
    assert!(
        worst <= tol * scale,
        "{what}: max |diff| {worst} at {at} (got {}, expected {}) > {tol} x scale {scale}",
        a[at],
        b[at]
    );
    eprintln!("{what}: max |diff| {worst:.3e} (scale {scale:.3e})");
}

/// A box with its label and score, as the box-set comparisons take them.
pub type Scored = (BoxXyxy, usize, f32);

/// Matches each expected box to an unused found box with the same label, coordinates within
/// `tol` and score within 1e-4; returns (expected boxes not found, found boxes not expected,
/// largest coordinate difference of the matched pairs).
pub fn match_boxes(
    got: &[Scored],
    expected: &[Scored],
    tol: f32,
) -> (Vec<Scored>, Vec<Scored>, f32) {
    let mut used = vec![false; got.len()];
    let mut missing = Vec::new();
    let mut worst = 0.0f32;
    for e in expected {
        let (eb, el, es) = e;
        let found = got.iter().enumerate().position(|(j, (gb, gl, gs))| {
            !used[j]
                && gl == el
                && (gs - es).abs() <= 1e-4
                && (0..4).all(|k| (gb[k] - eb[k]).abs() <= tol)
        });
        match found {
            Some(j) => {
                used[j] = true;
                for k in 0..4 {
                    worst = worst.max((got[j].0[k] - eb[k]).abs());
                }
            }
            None => missing.push(*e),
        }
    }
    let extra = got
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(g, _)| *g)
        .collect();
    (missing, extra, worst)
}

/// Asserts two box sets are equal up to order (see [`match_boxes`]); on failure the unmatched
/// boxes of both sides are listed.
pub fn assert_same_boxes(what: &str, got: &[Scored], expected: &[Scored], tol: f32) {
    let (missing, extra, worst) = match_boxes(got, expected, tol);
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}: {} boxes vs {} expected; expected but not found: {missing:?}; found but not expected: {extra:?}",
        got.len(),
        expected.len()
    );
    eprintln!(
        "{what}: {} boxes match, max coordinate diff {worst:.3e}",
        expected.len()
    );
}

/// The devices to run on: flex always; wgpu when an adapter answers (else a printed skip).
pub fn devices() -> Vec<(&'static str, Device)> {
    let mut v = vec![("flex", Device::flex())];
    if std::env::var("MRCNN_TEST_WGPU").as_deref() == Ok("0") {
        eprintln!("wgpu: skipped (MRCNN_TEST_WGPU=0)");
        return v;
    }
    let probe = std::panic::catch_unwind(|| {
        let d = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice);
        let t = Tensor::<1>::from_floats([1.0, 2.0], &d);
        let s: f32 = t.sum().into_scalar();
        (d, s)
    });
    match probe {
        Ok((d, s)) if s == 3.0 => v.push(("wgpu", d)),
        _ => eprintln!("wgpu: skipped (no adapter; install mesa-vulkan-drivers for lavapipe)"),
    }
    v
}
