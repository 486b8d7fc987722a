//! Test support shared by every crate's parity tests (a dev-dependency, never part of a library's
//! API): reading the torchvision fixtures (safetensors files written by `tools/reference/`),
//! comparing tensors and box sets, and the devices to test on, each GPU test under a time limit.

use burn::prelude::*;
use mrcnn_config::{DeviceSpec, WgpuAdapter};
use mrcnn_core::{BoxXyxy, host};
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

/// A `{"shape": [...], "values": [...]}` array of the TensorFlow fixtures (JSON, written by the
/// `tools/reference/make_tf_*` and `make_crop_and_resize_fixtures.py` scripts).
pub fn json_array(v: &serde_json::Value) -> (Vec<usize>, Vec<f32>) {
    let field = |k: &str| {
        v[k].as_array()
            .unwrap_or_else(|| panic!("fixture array without `{k}`: {v:.80}"))
    };
    let shape = field("shape")
        .iter()
        .map(|d| d.as_u64().expect("a dimension") as usize)
        .collect();
    let vals = field("values")
        .iter()
        .map(|x| x.as_f64().expect("a number") as f32)
        .collect();
    (shape, vals)
}

/// NHWC (TensorFlow) -> NCHW (here), as a flat vector.
pub fn nhwc_to_nchw(s: &[usize], v: &[f32]) -> Vec<f32> {
    let (n, h, w, c) = (s[0], s[1], s[2], s[3]);
    let mut out = vec![0.0; v.len()];
    for b in 0..n {
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    out[((b * c + ch) * h + y) * w + x] = v[((b * h + y) * w + x) * c + ch];
                }
            }
        }
    }
    out
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
                for (g, e) in got[j].0.iter().zip(eb) {
                    worst = worst.max((g - e).abs());
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

/// The devices to run on: flex always; wgpu when a supported adapter (Vulkan, Metal, DX12)
/// exists and answers, else one line saying why it is skipped. Set `MRCNN_TEST_WGPU=0` to skip
/// wgpu. Once wgpu is in the list, the calling test runs under [`gpu_time_limit`].
pub fn devices() -> Vec<(&'static str, Device)> {
    let mut v = vec![("flex", Device::flex())];
    match wgpu_device(WgpuAdapter::Default) {
        Ok(d) => v.push(("wgpu", d)),
        Err(why) => say_once(&format!("wgpu: skipped ({why})")),
    }
    v
}

/// Writes `line` to stderr once per test binary, past the test harness's capture (which takes
/// only the print macros), so that a skip is seen in a normal `cargo test` run.
pub fn say_once(line: &str) {
    use std::io::Write;
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
    if !said.iter().any(|s| s == line) {
        let _ = writeln!(std::io::stderr(), "{line}");
        said.push(line.to_string());
    }
}

/// The wgpu device of `adapter` when tests should use wgpu: not disabled, a supported adapter
/// found, and a small sum computed right on it. The calling test is put under
/// [`gpu_time_limit`] first, so a device that hangs fails the test instead of the run.
/// `MRCNN_TEST_WGPU=0` skips wgpu; `MRCNN_TEST_WGPU=1` requires it (the GPU check,
/// `tools/gpu/`): a missing or failing adapter then fails the test instead of skipping wgpu.
pub fn wgpu_device(adapter: WgpuAdapter) -> Result<Device, Skip> {
    let found = wgpu_device_if_enabled(adapter);
    match (found, std::env::var("MRCNN_TEST_WGPU").as_deref()) {
        (Err(why), Ok("1")) => panic!("MRCNN_TEST_WGPU=1 but wgpu is not usable: {why}"),
        (found, _) => found,
    }
}

fn wgpu_device_if_enabled(adapter: WgpuAdapter) -> Result<Device, Skip> {
    if std::env::var("MRCNN_TEST_WGPU").as_deref() == Ok("0") {
        return Err(Skip("MRCNN_TEST_WGPU=0".into()));
    }
    let d = mrcnn_core::device(DeviceSpec::Wgpu { adapter, api: None })
        .map_err(|e| match e {
            mrcnn_core::DeviceError::NoAdapter { apis, found, .. } => format!(
                "no wgpu adapter on {apis}{found}; install mesa-vulkan-drivers (lavapipe) to test \
             wgpu without a GPU"
            ),
            other => other.to_string(),
        })
        .map_err(Skip)?;
    gpu_time_limit();
    let probe = std::panic::catch_unwind(|| {
        let t = Tensor::<1>::from_floats([1.0, 2.0], &d);
        t.sum().into_scalar::<f32>()
    });
    match probe {
        Ok(3.0) => Ok(d),
        Ok(s) => Err(Skip(format!("the adapter computed 1 + 2 = {s}"))),
        Err(_) => Err(Skip("the adapter failed a first computation".into())),
    }
}

/// Why a test does not use wgpu.
#[derive(Debug, Clone)]
pub struct Skip(pub String);

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Seconds a test may run once it uses a GPU: `MRCNN_TEST_GPU_TIMEOUT`, default 600.
pub fn gpu_timeout_secs() -> u64 {
    std::env::var("MRCNN_TEST_GPU_TIMEOUT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600)
}

/// Puts the calling test (its thread) under a time limit: if it has not finished within
/// [`gpu_timeout_secs`], the test binary stops with a message naming the test, instead of
/// waiting forever on a GPU driver. Called again in the same test, it keeps the first limit.
pub fn gpu_time_limit() {
    use std::sync::mpsc;
    struct Armed(#[allow(dead_code)] mpsc::Sender<()>);
    thread_local! {
        static ARMED: std::cell::RefCell<Option<Armed>> = const { std::cell::RefCell::new(None) };
    }
    ARMED.with(|a| {
        let mut a = a.borrow_mut();
        if a.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel::<()>();
        let secs = gpu_timeout_secs();
        let test = std::thread::current()
            .name()
            .unwrap_or("a test")
            .to_string();
        std::thread::spawn(move || {
            // Disarmed when the test's thread ends and drops the sender.
            if let Err(mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(std::time::Duration::from_secs(secs))
            {
                eprintln!(
                    "{test}: still running after {secs} s on a GPU device (MRCNN_TEST_GPU_TIMEOUT); \
                     stopping the tests instead of waiting for a driver that may never answer"
                );
                std::process::exit(124);
            }
        });
        *a = Some(Armed(tx));
    });
}
