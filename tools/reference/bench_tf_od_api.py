#!/usr/bin/env python3
"""CPU inference time of the TensorFlow Object Detection API's own full-size "Mask R-CNN
ResNet-101 atrous" (C4): FasterRCNNMetaArch built by object_detection.builders.model_builder.build
(is_training=False) in TF1 graph mode from the UNMODIFIED sample config
(research/object_detection/samples/configs/mask_rcnn_resnet101_atrous_coco.config, the copy in
crates/config/tests/fixtures/: 90 classes, keep_aspect_ratio_resizer 800/1365,
first_stage_max_proposals 300, second stage up to 100 per class / 300 in all, 33x33 masks) with
the OD API's real FasterRCNNResnet101FeatureExtractor (slim resnet_v1_101, output stride 8).

The OD API set-up (protos compiled at run time, TF1 behaviour, placeholder modules, tf_keras
aliasing, TF_USE_LEGACY_KERAS=1) is make_tf_od_api_model_fixtures.py's, imported from it
(load_od_api_full, parse_config, random_value; see its docstring), without its narrow feature
extractor. Differences from that script: threads and oneDNN are left as installed (the session
has TensorFlow's default intra/inter op thread counts, and TF_ENABLE_ONEDNN_OPTS is whatever the
caller's environment says, i.e. TensorFlow's default when unset; that script sets it to 0 for
bit-reproducible fixtures), and no calibration (weights do not change the time).

Graph: as the TF1 exporter's `image_tensor` input (exporter.export_inference_graph): a uint8
placeholder [1, None, None, 3] cast to float32, model.preprocess, model.predict, model.postprocess
(number_of_stages 3: the third stage crops the detections and runs block4 and the mask head again,
detection_masks = sigmoid of the class' 33x33 mask logits). The timed sess.run fetches the
exporter's outputs (detection_boxes / scores / classes / num_detections / detection_masks) and
num_proposals, batch 1.

Weights: every variable drawn from numpy default_rng(seed) with the fixture script's
random_value (conv/fc weights N(0, 1/fan_in), biases N(0, 0.1), BN gamma U(0.5, 1.5), beta
N(0, 0.1), moving_mean N(0, 0.1), moving_variance U(0.5, 2)). The raw draw makes the
activations of the deep random ResNet large, so the second-stage softmax saturates (every
class probability exactly 0 or 1) and the box codes push every box off the image: no
detection survives score > 0.0 and the zero-area pruning. So the two second-stage predictors
(SecondStageBoxPredictor/BoxEncodingPredictor and ClassPredictor) are then rescaled on the
image as make_tf_od_api_model_fixtures.calibrate() does (targets 1.0 and 1.5: weights times
target / std of the pre-bias output, biases shifted to centre each channel), from one run.
The script checks that the second stage got its first_stage_max_proposals (300) proposals,
that there are detections and that their masks are finite.

Image: 480x640 (h x w), the same values as mrcnn's ignored test full_size_atrous_preset_runs
(crates/model/tests/tf_od_api_model.rs): CHW element i = (i * 7919) % 255, on the 0..255 scale;
the resizer makes it 800x1067.

Timing: 1 warm-up run, then --repeats (3) timed runs of sess.run (perf_counter); median seconds.
Peak memory of the whole process (graph building and the weight draw included):
resource.getrusage ru_maxrss and /proc/self/status VmHWM. Progress goes to stderr; stdout gets one
JSON line.

  /work/venv/bin/python tools/reference/bench_tf_od_api.py --od-api /work/od_api/research
"""

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ONEDNN_ENV = os.environ.get("TF_ENABLE_ONEDNN_OPTS")  # as the caller set it (None: TF default)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["TF_USE_LEGACY_KERAS"] = "1"  # as make_tf_od_api_model_fixtures.py

import numpy as np  # noqa: E402
# TensorFlow first, with the caller's TF_ENABLE_ONEDNN_OPTS: the fixture modules imported below
# set it to "0" before their own (then no-op) `import tensorflow`; it is restored right after.
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_tf_od_api_model_fixtures as fx  # noqa: E402  (importing it runs nothing)

base = fx.base
if ONEDNN_ENV is None:
    os.environ.pop("TF_ENABLE_ONEDNN_OPTS", None)
else:
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = ONEDNN_ENV

tf1 = tf.compat.v1

CONFIG = Path("crates/config/tests/fixtures/mask_rcnn_resnet101_atrous_coco.config")
SEED = 20261203
IMAGE_HW = (480, 640)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def onednn_enabled():
    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def peak_rss_mb():
    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    hwm = None
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1]) / 1024.0
    return ru, hwm


def make_image():
    """The 480x640 test image of full_size_atrous_preset_runs, NHWC uint8 (values 0..254)."""
    h, w = IMAGE_HW
    chw = ((np.arange(3 * h * w, dtype=np.int64) * 7919) % 255).reshape(3, h, w)
    return chw.transpose(1, 2, 0)[None].astype(np.uint8)


# (scope, target std) as in make_tf_od_api_model_fixtures.CALIBRATION.
CALIBRATE = [("SecondStageBoxPredictor/BoxEncodingPredictor", 1.0),
             ("SecondStageBoxPredictor/ClassPredictor", 1.5)]


def calibrate_heads(sess, graph, image, img, variables):
    """make_tf_od_api_model_fixtures.calibrate() for CALIBRATE, whose layers are parallel (both
    read the pooled block4 features), so one run measures both."""
    by_name = {v.op.name: v for v in variables}
    pre_bias = {}
    for scope, _ in CALIBRATE:
        bias_read = graph.get_tensor_by_name(f"{scope}/biases/read:0")
        ops = [op for op in graph.get_operations()
               if op.type == "BiasAdd" and op.inputs[1] is bias_read]
        # The box classifier runs once at inference (the third stage predicts masks only).
        assert len(ops) == 1, (scope, [op.name for op in ops])
        pre_bias[scope] = ops[0].inputs[0]
    values = sess.run(pre_bias, {image: img})
    factors = {}
    for scope, target in CALIBRATE:
        x = values[scope].reshape(-1, values[scope].shape[-1]).astype(np.float64)
        mean = x.mean(axis=0)
        std = float((x - mean).std())
        factor = target / std
        w, b = by_name[f"{scope}/weights"], by_name[f"{scope}/biases"]
        w.load((sess.run(w) * np.float32(factor)).astype(np.float32), sess)
        b.load((sess.run(b) - factor * mean).astype(np.float32), sess)
        factors[scope] = {"measured_centred_std": std, "weight_factor": factor}
    return factors


def build(m, cfg):
    """model_builder.build + the TF1 exporter's image_tensor path."""
    model = m.model_builder.build(cfg.model, is_training=False)
    image = tf1.placeholder(tf.uint8, [1, None, None, 3], name="image_tensor")
    inputs = tf.cast(image, tf.float32)
    preprocessed, true_shapes = model.preprocess(inputs)
    pred = model.predict(preprocessed, true_shapes)
    det = model.postprocess(pred, true_shapes)
    f = m.fields.DetectionResultFields
    fetch = {k: det[getattr(f, k)] for k in ("detection_boxes", "detection_scores",
                                               "detection_classes", "num_detections",
                                               "detection_masks")}
    fetch["num_proposals"] = pred["num_proposals"]
    fetch["true_image_shape"] = true_shapes
    return model, image, fetch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--od-api", default=os.environ.get("OD_API_DIR"),
                        help="models/research of tensorflow/models v2.8.0 (default $OD_API_DIR)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    if not args.od_api:
        parser.error("--od-api (or OD_API_DIR) is required")

    tf1.disable_v2_behavior()
    base.alias_tf_keras_legacy_layers()
    gen = Path(tempfile.mkdtemp(prefix="od_api_protos_"))
    try:
        with contextlib.redirect_stdout(sys.stderr):  # it prints progress: stdout is the JSON
            m, _files, _ = fx.load_od_api_full(args.od_api, gen)
        from object_detection.utils import tf_version
        assert tf_version.is_tf1(), "model_builder must take its TF1 (slim) branch"
        cmap = m.model_builder.FASTER_RCNN_FEATURE_EXTRACTOR_CLASS_MAP
        assert cmap["faster_rcnn_resnet101"] is m.fe.FasterRCNNResnet101FeatureExtractor
        text = CONFIG.read_text()
        config_is_sample = text == fx.SAMPLE_CONFIG
        cfg = fx.parse_config(m, text)
        fr = cfg.model.faster_rcnn
        log(f"config {CONFIG} (== sample: {config_is_sample}): {fr.num_classes} classes, "
            f"resizer {fr.image_resizer.keep_aspect_ratio_resizer.min_dimension}/"
            f"{fr.image_resizer.keep_aspect_ratio_resizer.max_dimension}, "
            f"{fr.first_stage_max_proposals} proposals, extractor {fr.feature_extractor.type}")

        img = make_image()
        with tf.Graph().as_default():
            t0 = time.perf_counter()
            _, image, fetch = build(m, cfg)
            variables = sorted(tf1.global_variables(), key=lambda v: v.op.name)
            n_params = int(sum(np.prod(v.shape.as_list()) for v in variables))
            log(f"graph built in {time.perf_counter() - t0:.1f} s: {len(variables)} variables, "
                f"{n_params / 1e6:.1f} M parameters, oneDNN enabled: {onednn_enabled()} "
                f"(TF_ENABLE_ONEDNN_OPTS={ONEDNN_ENV})")
            rng = np.random.default_rng(SEED)
            with tf1.Session() as sess:  # default ConfigProto: TF's own thread counts
                t0 = time.perf_counter()
                sess.run(tf1.global_variables_initializer())
                for v in variables:
                    v.load(fx.random_value(rng, v.op.name, v.shape.as_list())
                           .astype(np.float32), sess)
                log(f"weights drawn in {time.perf_counter() - t0:.1f} s")
                t0 = time.perf_counter()
                factors = calibrate_heads(sess, tf1.get_default_graph(), image, img, variables)
                log(f"second-stage predictors calibrated in {time.perf_counter() - t0:.1f} s: "
                    f"{factors}")
                warm = []
                for _ in range(args.warmup):
                    t0 = time.perf_counter()
                    out = sess.run(fetch, {image: img})
                    warm.append(time.perf_counter() - t0)
                    log(f"warm-up: {warm[-1]:.2f} s")
                times = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    out = sess.run(fetch, {image: img})
                    times.append(time.perf_counter() - t0)
                    log(f"run: {times[-1]:.2f} s")
    finally:
        shutil.rmtree(gen, ignore_errors=True)

    n_prop = int(out["num_proposals"][0])
    n_det = int(out["num_detections"][0])
    masks = out["detection_masks"][0]
    scores = out["detection_scores"][0][:n_det]
    problems = []
    if n_prop != fr.first_stage_max_proposals:
        problems.append(f"{n_prop} proposals, not {fr.first_stage_max_proposals}")
    if n_det == 0:
        problems.append("no detections")
    if not np.all(np.isfinite(masks[:n_det])) or not np.all(np.isfinite(scores)):
        problems.append("non-finite masks or scores")
    ru, hwm = peak_rss_mb()
    import importlib.metadata as md
    result = {
        "bench": "tf_od_api mask_rcnn_resnet101_atrous_coco inference (predict+postprocess, "
                 "incl. masks), CPU, batch 1",
        "config": str(CONFIG), "config_is_sample": config_is_sample,
        "feature_extractor": f"{m.fe.FasterRCNNResnet101FeatureExtractor.__module__}."
                             "FasterRCNNResnet101FeatureExtractor",
        "parameters": n_params,
        "image_hw": list(IMAGE_HW),
        "resized_hw": [int(v) for v in out["true_image_shape"][0][:2]],
        "num_proposals": n_prop, "num_detections": n_det,
        "detection_masks_shape": list(masks.shape),
        "max_score": float(scores.max()) if n_det else None,
        "warmup_s": [round(t, 3) for t in warm],
        "times_s": [round(t, 3) for t in times],
        "median_s": round(statistics.median(times), 3),
        "peak_rss_mb": round(ru, 1), "vmhwm_mb": round(hwm, 1) if hwm else None,
        "threads": "TF default (ConfigProto intra/inter_op_parallelism_threads 0)",
        "nproc": os.cpu_count(),
        "onednn_enabled": onednn_enabled(),
        "TF_ENABLE_ONEDNN_OPTS": ONEDNN_ENV,
        "versions": {d: md.version(d) for d in ("tensorflow-cpu", "tf-slim", "tf-keras",
                                                "numpy", "protobuf")},
        "python": platform.python_version(),
        "seed": SEED,
        "calibration": factors,
        "problems": problems,
    }
    print(json.dumps(result), flush=True)
    if problems:
        sys.exit("degenerate run: " + "; ".join(problems))


if __name__ == "__main__":
    main()
