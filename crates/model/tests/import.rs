//! Weight import: the small torchvision fixture model re-written by
//! tools/reference/make_import_fixtures.py in Detectron2's, MMDetection's and old torchvision's
//! layouts must import to exactly the torchvision tensors and outputs; malicious pickles are
//! refused without running anything; head surgery keeps the class-agnostic weights bit-exact.

mod common;

use burn::prelude::*;
use common::{assert_predicts_like_torchvision, fixture_dir};
use mrcnn_config::ModelConfig;
use mrcnn_config::WeightsFormat as WeightFormat;
use mrcnn_import::pickle::{self, Value};
use mrcnn_import::{ImportOptions, ImportReport};
use mrcnn_model::{MaskRcnn, WeightsError, load_torchvision_weights, save_safetensors};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const BOX_W: &str = "roi_heads.box_predictor.bbox_pred.weight";
const BOX_B: &str = "roi_heads.box_predictor.bbox_pred.bias";
const MASK_W: &str = "roi_heads.mask_predictor.mask_fcn_logits.weight";
const MASK_B: &str = "roi_heads.mask_predictor.mask_fcn_logits.bias";
const CLS_W: &str = "roi_heads.box_predictor.cls_score.weight";
const CLS_B: &str = "roi_heads.box_predictor.cls_score.bias";

type Tensors = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

fn import_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn config() -> ModelConfig {
    ModelConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/small_model.toml"))
        .unwrap()
}

fn read_safetensors(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| {
            let data = v
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (n, (v.shape().to_vec(), data))
        })
        .collect()
}

/// The model's weights in torchvision names and layout, through `save_safetensors`.
fn saved(model: &MaskRcnn, tag: &str) -> Tensors {
    let out = std::env::temp_dir().join(format!(
        "mrcnn_import_test_{}_{tag}.safetensors",
        std::process::id()
    ));
    save_safetensors(model, &out).unwrap();
    let t = read_safetensors(&out);
    // The saved file is what `mrcnn predict --weights` reads: it must load back.
    load_torchvision_weights(
        MaskRcnn::new(model.config.clone(), &model.device()).unwrap(),
        &out,
    )
    .unwrap();
    std::fs::remove_file(&out).ok();
    t
}

fn reference() -> Tensors {
    read_safetensors(&fixture_dir().join("weights.safetensors"))
}

/// The import of `path` with the default options.
fn import_weights(
    format: WeightFormat,
    path: &Path,
    cfg: &ModelConfig,
    device: &Device,
) -> Result<(MaskRcnn, ImportReport), WeightsError> {
    mrcnn_model::import_weights(format, path, cfg, device, &ImportOptions::default())
}

fn import(format: WeightFormat, file: &str, cfg: &ModelConfig) -> (MaskRcnn, ImportReport) {
    import_weights(format, &import_dir().join(file), cfg, &Device::flex())
        .unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Every tensor equals the reference bit for bit, except the background box rows and mask
/// channel of background-last formats, which must be zero (torchvision never reads them).
fn assert_same_tensors(what: &str, got: &Tensors, zero_background: bool) {
    let want = reference();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: tensor names"
    );
    for (k, (shape, w)) in &want {
        let (gshape, g) = &got[k];
        assert_eq!(gshape, shape, "{what}: shape of {k}");
        let bg = match k.as_str() {
            BOX_W | BOX_B => 4 * w.len() / shape[0],
            MASK_W | MASK_B => w.len() / shape[0],
            _ => 0,
        };
        if zero_background && bg > 0 {
            assert!(
                g[..bg].iter().all(|v| *v == 0.0),
                "{what}: background entries of {k} are not zero"
            );
            assert_eq!(&g[bg..], &w[bg..], "{what}: {k}");
        } else {
            assert!(g == w, "{what}: {k} differs");
        }
    }
}

#[test]
fn detectron2_pickles_import_exactly() {
    for file in ["small_d2_p2.pkl", "small_d2_p4.pkl"] {
        let (m, report) = import(WeightFormat::Detectron2, file, &config());
        assert!(report.surgery.is_identity(), "{file}: {report}");
        assert!(
            report.ignored.iter().any(|k| k == "pixel_mean"),
            "{file}: {report}"
        );
        assert_same_tensors(file, &saved(&m, "d2"), true);
        if file.contains("p2") {
            assert_predicts_like_torchvision(file, &m);
        }
    }
}

#[test]
fn mmdet_checkpoint_imports_exactly() {
    let (m, report) = import(WeightFormat::Mmdet, "small_mmdet.pth", &config());
    assert!(report.surgery.is_identity(), "{report}");
    assert!(
        report
            .ignored
            .iter()
            .any(|k| k.ends_with("num_batches_tracked")),
        "{report}"
    );
    assert!(
        report.notes.iter().any(|n| n.contains("meta")),
        "class names come from meta: {report}"
    );
    assert_same_tensors("mmdet", &saved(&m, "mmdet"), true);
    assert_predicts_like_torchvision("mmdet", &m);
}

#[test]
fn torchvision_old_and_current_names_import_exactly() {
    let (m, report) = import(WeightFormat::Torchvision, "small_tv_old.pth", &config());
    assert!(
        report.notes.iter().any(|n| n.contains("renamed")),
        "{report}"
    );
    assert_same_tensors("torchvision old names", &saved(&m, "tv_old"), false);
    assert_predicts_like_torchvision("torchvision old names", &m);
    let current = import_weights(
        WeightFormat::Torchvision,
        &fixture_dir().join("weights.safetensors"),
        &config(),
        &Device::flex(),
    );
    assert_same_tensors(
        "torchvision current names",
        &saved(&current.unwrap().0, "tv"),
        false,
    );
}

#[test]
fn malicious_pickles_are_refused_and_never_run() {
    let marker = Path::new("/tmp/mrcnn_evil_pickle_ran");
    std::fs::remove_file(marker).ok();
    for (file, global) in [
        ("evil_os_system.pkl", "os.system"),
        ("evil_eval.pkl", "builtins.eval"),
    ] {
        let path = import_dir().join(file);
        let err = import_weights(WeightFormat::Detectron2, &path, &config(), &Device::flex())
            .err()
            .unwrap_or_else(|| panic!("{file} was accepted"))
            .to_string();
        assert!(
            err.contains(global) && err.contains(file) && err.contains("refusing"),
            "{err}"
        );
        // The raw reader refuses it too, before anything is built.
        let e = pickle::load(&std::fs::read(&path).unwrap()).unwrap_err();
        assert!(e.message.contains(global), "{e}");
    }
    assert!(!marker.exists(), "a pickle ran code");
}

#[test]
fn reader_handles_protocol_5_dtypes_orders_and_scalars() {
    let root = pickle::load(&std::fs::read(import_dir().join("arrays_p5.pkl")).unwrap()).unwrap();
    let array = |k: &str| match root.get(k) {
        Some(Value::Array(a)) => a.borrow().clone().unwrap(),
        v => panic!("{k}: {v:?}"),
    };
    assert_eq!(array("f16").to_f32(), vec![1.0, -2.0, 0.5, 65504.0]);
    let f = array("f64_fortran");
    assert_eq!(
        (f.shape.clone(), f.to_f32()),
        (vec![2, 3], vec![0., 1., 2., 3., 4., 5.])
    );
    assert_eq!(array("i64").to_f32(), vec![3.0, -4.0]);
    assert_eq!(array("f32_big_endian").to_f32(), vec![1.5, -0.25]);
    assert!(matches!(root.get("scalar"), Some(Value::Float(v)) if v == 2.5));
}

fn class_agnostic_equal(what: &str, got: &Tensors) {
    let want = reference();
    for (k, (shape, w)) in &want {
        if [CLS_W, CLS_B, BOX_W, BOX_B, MASK_W, MASK_B].contains(&k.as_str()) {
            continue;
        }
        assert_eq!(&got[k].0, shape, "{what}: {k}");
        assert!(&got[k].1 == w, "{what}: class-agnostic {k} changed");
    }
}

#[test]
fn surgery_carries_classes_by_name() {
    let mut cfg = config();
    cfg.num_classes = 3;
    cfg.class_names = vec!["triangle".into(), "Rectangle".into()];
    let (m, report) = import(WeightFormat::Mmdet, "small_mmdet.pth", &cfg);
    let got = saved(&m, "surgery_names");
    class_agnostic_equal("by name", &got);
    let want = reference();
    // Target rows [background, triangle, rectangle] = source rows [0, 3, 1].
    for (k, per) in [
        (CLS_W, 1),
        (CLS_B, 1),
        (BOX_W, 4),
        (BOX_B, 4),
        (MASK_W, 1),
        (MASK_B, 1),
    ] {
        let (shape, w) = &want[k];
        let row = w.len() / shape[0] * per;
        let (gshape, g) = &got[k];
        assert_eq!(gshape[0], 3 * per, "{k}");
        for (t, s) in [(1, 3), (2, 1)] {
            assert_eq!(
                &g[t * row..(t + 1) * row],
                &w[s * row..(s + 1) * row],
                "{k} row {t}"
            );
        }
    }
    assert!(report.surgery.reinitialised.is_empty(), "{report}");
    assert_eq!(report.surgery.method, "by name");
    eprintln!("{report}");
}

#[test]
fn surgery_to_unknown_classes_reinitialises_the_heads() {
    let mut cfg = config();
    cfg.num_classes = 6;
    let (m, report) = import(WeightFormat::Detectron2, "small_d2_p4.pkl", &cfg);
    let got = saved(&m, "surgery_new");
    class_agnostic_equal("re-initialised", &got);
    assert_eq!(got[CLS_W].0, vec![6, 64]);
    assert_eq!(got[BOX_W].0, vec![24, 64]);
    assert_eq!(got[MASK_W].0, vec![6, 32, 1, 1]);
    for b in [CLS_B, BOX_B, MASK_B] {
        assert!(got[b].1.iter().all(|v| *v == 0.0), "{b} bias is zero");
    }
    for (k, std) in [(CLS_W, 0.01f32), (BOX_W, 0.001), (MASK_W, 0.001)] {
        let v = &got[k].1;
        let s = (v.iter().map(|x| x * x).sum::<f32>() / v.len() as f32).sqrt();
        assert!((s / std - 1.0).abs() < 0.25, "{k}: std {s}, expected {std}");
    }
    assert_eq!(report.surgery.reinitialised.len(), 6, "{report}");
}

#[test]
fn checkpoint_that_does_not_fit_the_config_names_file_and_keys() {
    let mut cfg = config();
    cfg.backbone.blocks = Some([2, 1, 1, 1]);
    let path = import_dir().join("small_d2_p2.pkl");
    let err = import_weights(WeightFormat::Detectron2, &path, &cfg, &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("small_d2_p2.pkl") && err.contains("layer1.1"),
        "{err}"
    );
}

#[test]
fn presets_state_their_framework_semantics() {
    use mrcnn_import::semantics::hints;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../model_configs");
    for (file, format) in [
        (
            "mask_rcnn_R_101_FPN_detectron2.toml",
            WeightFormat::Detectron2,
        ),
        ("mask_rcnn_R_101_FPN_mmdet.toml", WeightFormat::Mmdet),
    ] {
        let cfg = ModelConfig::load(&dir.join(file)).unwrap();
        assert_eq!((cfg.num_classes, cfg.backbone.depth), (81, 101), "{file}");
        assert_eq!(hints(format, &cfg), Vec::<String>::new(), "{file}");
    }
}

#[test]
fn hostile_nesting_and_corrupt_pickles_fail_cleanly() {
    // A million nested tuples (3 bytes each way round) must load and free without recursion.
    let mut deep = vec![0x80, 2, b']'];
    deep.extend(std::iter::repeat_n(0x85u8, 1_000_000));
    deep.push(b'.');
    assert!(pickle::load(&deep).is_ok());
    let path = std::env::temp_dir().join(format!("mrcnn_deep_{}.pkl", std::process::id()));
    std::fs::write(&path, &deep).unwrap();
    let err = import_weights(WeightFormat::Detectron2, &path, &config(), &Device::flex())
        .err()
        .unwrap()
        .to_string();
    std::fs::remove_file(&path).ok();
    assert!(err.contains("expected a dict"), "{err}");
    // Truncated and bit-flipped files give errors (or, rarely, a value), never a panic.
    let good = std::fs::read(import_dir().join("small_d2_p4.pkl")).unwrap();
    for cut in (0..good.len()).step_by(997) {
        assert!(pickle::load(&good[..cut]).is_err(), "truncated at {cut}");
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        let mut bad = good[..4096].to_vec();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % bad.len() as u64) as usize;
            bad[i] ^= (state >> 32) as u8 | 1;
        }
        let _ = pickle::load(&bad);
    }
}
