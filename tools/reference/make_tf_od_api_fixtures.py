#!/usr/bin/env python3
"""Reference fixtures made by the TensorFlow Object Detection API's own code (TF1 / slim path):
the stages of "Mask R-CNN ResNet-101 atrous" (C4, samples/configs/mask_rcnn_resnet101_atrous_coco.config)
that mrcnn re-implements: image resizing, feature-extractor preprocessing, grid anchors, the
Faster R-CNN box coder, and the ResNet-v1 feature extractor (first and second stage) with a
TF1 `Saver` checkpoint holding its variables under their real OD API names.

Nothing here is a re-implementation: every tensor comes from calling the OD API functions
(object_detection.core.preprocessor.resize_to_range, GridAnchorGenerator, FasterRcnnBoxCoder,
FasterRCNNResnetV1FeatureExtractor) and research/slim's nets.resnet_v1 / nets.resnet_utils.

OD API source
-------------
tensorflow/models research/ (object_detection and slim) of the v2.8.0 release, TF1 slim code
path. The committed fixtures were made from the copy in the PyPI source package
tf-models-research-object-detection==2.8.0.post1 (a third-party repackaging of research/ of
tensorflow/models 2.8.0 whose object_detection/ and slim/ folders are laid out like
models/research/; sdist sha256 c701ea455646553a64c5f161641e8d5a94054b162b81961dcfff3dd619870004);
the tag is its version, not separately verified: compare the printed sha256s. Either of:

  git clone https://github.com/tensorflow/models && git -C models checkout v2.8.0
  python3 tools/reference/make_tf_od_api_fixtures.py --od-api models/research

  pip download --no-deps tf-models-research-object-detection==2.8.0.post1
  tar xzf tf_models_research_object_detection-2.8.0.post1.tar.gz
  python3 tools/reference/make_tf_od_api_fixtures.py \
      --od-api tf_models_research_object_detection-2.8.0.post1

(--od-api defaults to $OD_API_DIR.) The folder needs object_detection/ and slim/nets/; the
script puts it and its slim/ on sys.path. No protoc step is needed: the only modules in the
import chain that need compiled protos, object_detection.builders.box_predictor_builder and
.hyperparams_builder (imported by meta_architectures/faster_rcnn_meta_arch.py, used only inside
FasterRCNNMetaArch.__init__, never by the feature extractor; with TF 2.21 they would also fail on
Keras 3, which has no layers.experimental.SyncBatchNormalization), are replaced by empty
placeholder modules in sys.modules before the import. The script prints the sha256 of the key
OD API files it loaded, warns if they differ from the v2.8.0 ones listed in EXPECTED_SHA256
below, and records them in stages.json. (The file bodies used here were also checked against
the tensorflow/models copies in the code index: faster_rcnn_box_coder.py, grid_anchor_generator.py,
resize_to_range in core/preprocessor.py, slim/nets/resnet_v1.py and the feature extractor's
methods match.)

Python 3.11 packages:
  pip install tensorflow-cpu==2.21.0 tf-slim==1.1.0 numpy scipy
  pip install --no-deps tf-keras==2.21.0
scipy: object_detection/core/densepose_ops.py (imported by core/preprocessor.py) imports it.
tf-keras: tf_slim's batch_norm (with the OD API's default updates_collections) builds
tf.compat.v1.layers.BatchNormalization, which TF >= 2.16 takes from tf_keras; --no-deps because
tf-keras requires the `tensorflow` wheel, which would be installed over tensorflow-cpu. TF 2.21
looks for tf_keras.legacy_tf_layers.*, which tf-keras 2.21.0 ships as
tf_keras.src.legacy_tf_layers.*; the script aliases those modules (alias_tf_keras_legacy_layers).
Runs on CPU in a few seconds; TF_ENABLE_ONEDNN_OPTS=0, one thread, seeded numpy inputs, so
rerunning with the same versions regenerates identical files. TF1 graph mode
(tf.compat.v1.disable_eager_execution(), a tf.Graph + Session per stage), as the OD API's TF1
code expects. (Not disable_v2_behavior(): with it object_detection.utils.tf_version.is_tf1() is
true and core/target_assigner.py imports matchers/bipartite_matcher, which needs tf.contrib.)

Writes crates/model/tests/fixtures/tf_od_api/ (run from the repository root):
  backbone.ckpt.index, backbone.ckpt.data-00000-of-00001   TF1 Saver checkpoint (no .meta, no
      `checkpoint` file) of every variable of the narrow feature extractor below.
  stages.json:
  {"tensorflow", "tf_slim", "od_api": {"source", "files": {relative path: sha256}},
   "resize": [{"name", "image": HWC arr (float32 0..255), "min_dimension", "max_dimension",
               "resized": HWC arr, "resized_shape": [h, w, c],
               "preprocessed": HWC arr (only in the case that has it)}],
   "anchors": [{"name", "scales", "aspect_ratios", "base_anchor_size", "anchor_stride",
                "anchor_offset", "grid": [h, w], "anchors": [N, 4] arr}],
   "box_coder": [{"name", "scale_factors" (list or null), "anchors": [N,4] arr, "boxes": [N,4],
                  "encoded": [N,4] ([ty, tx, th, tw]), "rel_codes": [M,4] arr,
                  "decode_anchors": [M,4] arr, "decoded": [M,4] arr}],
   "backbone": {"architecture": "resnet_v1_101", "root": {...}, "blocks": [...],
                "second_stage_block4": {...}, "first_stage_features_stride": 8,
                "batch_norm_epsilon": 1e-5, "is_training": false, "checkpoint": "backbone.ckpt",
                "variables": [[name, shape], ...] (sorted by name),
                "images": [{"input": NHWC arr (preprocessed, batch 1), "block1", "block2",
                            "block3": NHWC arr (block3 = the rpn feature map)}],
                "crops": NHWC arr [3, 7, 7, 64], "block4": NHWC arr [3, 7, 7, 128]},
   "backbone_stride16": {"first_stage_features_stride": 16, "checkpoint": "backbone.ckpt",
                         "images": [{"block3": NHWC arr}]}}  (same weights, same inputs as
                         backbone.images[i].input; the checkpoint is restored, not re-drawn)
  arr = {"shape": [...], "values": [...]} row-major, float32 printed with 9 significant digits.
  Boxes and anchors are in the OD API's [ymin, xmin, ymax, xmax] order, absolute units.

The narrow backbone: FasterRCNNResnetV1FeatureExtractor('resnet_v1_101', narrow_resnet_v1_101,
is_training=False, first_stage_features_stride=8), where narrow_resnet_v1_101 has
resnet_v1_101's signature and calls research/slim's nets.resnet_v1.resnet_v1 (the module the OD
API itself imports; tf_slim.nets is not used) with nets.resnet_v1.resnet_v1_block blocks
block1(base_depth=4, 2 units, stride 2), block2(8, 2, 2), block3(16, 3, 2), block4(32, 2, 1)
(outputs 16/32/64/128 channels; the root conv1 stays 7x7/2 with 64 outputs, max pool 3x3/2
SAME) and scope 'resnet_v1_101', so variable names are the real ones
(FirstStageFeatureExtractor/resnet_v1_101/block1/unit_1/bottleneck_v1/conv1/weights, ...). Like
the real model, the first stage also builds (unused) block4 variables. DEVIATION: the OD API's
_extract_box_classifier_features hard-codes block4 as 3 units of depth 2048 / bottleneck 512;
the subclass NarrowFeatureExtractor overrides that one method with the same code (same scopes,
arg_scopes, resnet_utils.Block / stack_blocks_dense / resnet_v1.bottleneck) but 2 units of depth
128 / bottleneck 32, stride 1, so the fixtures stay small. Before saving, every variable is set
to seeded random values: conv weights ~ N(0, 1/fan_in) (fan_in = kh*kw*cin), BatchNorm gamma
U(0.5, 1.5), beta N(0, 0.1), moving_mean N(0, 0.1), moving_variance U(0.5, 2). is_training=False
means frozen batch norm (moving statistics, epsilon 1e-5), as the OD API runs this model.
"""

import argparse
import hashlib
import importlib
import json
import os
import sys
import types
from pathlib import Path

os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # before TensorFlow is imported
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf1 = tf.compat.v1

OUT = Path("crates/model/tests/fixtures/tf_od_api")
CKPT = "backbone.ckpt"

# sha256 of the OD API / slim files (tensorflow/models v2.8.0) whose code makes these fixtures.
EXPECTED_SHA256 = {
    "object_detection/anchor_generators/grid_anchor_generator.py":
        "4d82ebf18e650b902c7f7966a30ae3046e2ff0c19f090707f8964e893801df42",
    "object_detection/box_coders/faster_rcnn_box_coder.py":
        "9de69d129aa066d6edbbb7ed53537da49993bf06cae0f5c41043df6cb562227b",
    "object_detection/core/anchor_generator.py":
        "4cabbf8e961a718bf2246c1f362c54a7daceb91d88eb6bbb75be9160e3054daf",
    "object_detection/core/box_coder.py":
        "58329da67bb721fb93557d03b6a330cc89597cc42f1a28e1100961ea68514626",
    "object_detection/core/box_list.py":
        "0572b21d90032ada630e22653be45cf48680a7ebd1590a6c799ce144033880a0",
    "object_detection/core/preprocessor.py":
        "1d4a0ae0202d75037aa63ae7f014d98dc5baeb0585e311f154e6fa3a35fbdc38",
    "object_detection/meta_architectures/faster_rcnn_meta_arch.py":
        "105dfcffefb9d7b14dad740cdbd19bcc9d481d03d1fcfa7e635fec1c54448569",
    "object_detection/models/faster_rcnn_resnet_v1_feature_extractor.py":
        "204b889ea7ce7cc2c1af7de46cc7e8c9c0f25dc580419250f73a5f88490f21a7",
    "object_detection/utils/ops.py":
        "f7b9c031fdc81c142b633347066fa76c559173005b258dc7b11e0d5b93d8af68",
    "object_detection/utils/shape_utils.py":
        "a48b899a5946ccc04c1499cd8d35f6c211c86459035164039e5b948f11e49e60",
    "slim/nets/resnet_utils.py":
        "c54349fc59d0d912b6dec565651e995d5fafcda148cf38c49294cd390cd21cd7",
    "slim/nets/resnet_v1.py":
        "e578332174fd5ba8b551ca1464b96c9d600d3382f69734334c86c7a350667c6b",
}

# Placeholders for the two proto-dependent builder modules (see the docstring).
STUBBED_MODULES = (
    "object_detection.builders.box_predictor_builder",
    "object_detection.builders.hyperparams_builder",
)

NARROW_BLOCKS = [  # (scope, base_depth, num_units, stride) for nets.resnet_v1.resnet_v1_block
    ("block1", 4, 2, 2),
    ("block2", 8, 2, 2),
    ("block3", 16, 3, 2),
    ("block4", 32, 2, 1),
]
BLOCK4_SECOND_STAGE = {"depth": 128, "depth_bottleneck": 32, "stride": 1, "num_units": 2}
CHANNEL_MEANS = [123.68, 116.779, 103.939]


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    # 9 significant digits round-trip float32 exactly.
    return {"shape": list(a.shape), "values": [float(f"{v:.9g}") for v in a.reshape(-1)]}


def session():
    config = tf1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    return tf1.Session(config=config)


def alias_tf_keras_legacy_layers():
    """TF 2.21's tf.compat.v1.layers (used by tf_slim's batch_norm) lazily imports
    tf_keras.legacy_tf_layers.*, which tf-keras 2.21.0 ships as tf_keras.src.legacy_tf_layers.*."""
    try:
        importlib.import_module("tf_keras.legacy_tf_layers.normalization")
        return
    except ModuleNotFoundError:
        pass
    for sub in ("", ".base", ".convolutional", ".core", ".normalization", ".pooling"):
        sys.modules["tf_keras.legacy_tf_layers" + sub] = importlib.import_module(
            "tf_keras.src.legacy_tf_layers" + sub)


def load_od_api(od_api):
    root = Path(od_api).resolve()
    if not (root / "object_detection").is_dir() or not (root / "slim" / "nets").is_dir():
        sys.exit(f"--od-api {root}: expected object_detection/ and slim/nets/ there "
                 "(models/research of tensorflow/models v2.8.0)")
    sys.path[:0] = [str(root), str(root / "slim")]
    import object_detection.builders  # noqa: F401  (the real, empty package)
    for name in STUBBED_MODULES:
        stub = types.ModuleType(name, "placeholder: needs compiled protos, unused here")
        sys.modules[name] = stub
        setattr(sys.modules["object_detection.builders"], name.rsplit(".", 1)[1], stub)

    from object_detection.anchor_generators import grid_anchor_generator
    from object_detection.box_coders import faster_rcnn_box_coder
    from object_detection.core import box_list, preprocessor
    from object_detection.models import faster_rcnn_resnet_v1_feature_extractor as fe
    from nets import resnet_utils, resnet_v1

    files = {}
    for rel, expected in sorted(EXPECTED_SHA256.items()):
        digest = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        files[rel] = digest
        note = "" if digest == expected else "   <-- WARNING: differs from tensorflow/models v2.8.0"
        print(f"  {digest}  {rel}{note}")
    mods = types.SimpleNamespace(
        grid_anchor_generator=grid_anchor_generator, faster_rcnn_box_coder=faster_rcnn_box_coder,
        box_list=box_list, preprocessor=preprocessor, fe=fe, resnet_utils=resnet_utils,
        resnet_v1=resnet_v1)
    return mods, files


def make_narrow_extractor(m):
    """The OD API's ResNet-v1 extractor with only block4 of the second stage narrowed.

    Returns (NarrowFeatureExtractor, narrow_resnet_v1_101); m needs .fe (the OD API's
    models.faster_rcnn_resnet_v1_feature_extractor), .resnet_utils and .resnet_v1 (slim nets).
    Also used by make_tf_od_api_model_fixtures.py."""
    import tf_slim as slim  # the module the OD API files import as `slim`

    resnet_utils, resnet_v1 = m.resnet_utils, m.resnet_v1

    class NarrowFeatureExtractor(m.fe.FasterRCNNResnetV1FeatureExtractor):
        def _extract_box_classifier_features(self, proposal_feature_maps, scope):
            # Same code as FasterRCNNResnetV1FeatureExtractor._extract_box_classifier_features
            # (tensorflow/models v2.8.0) except block4's width and unit count.
            with tf1.variable_scope(self._architecture, reuse=self._reuse_weights):
                with slim.arg_scope(
                        resnet_utils.resnet_arg_scope(
                            batch_norm_epsilon=1e-5,
                            batch_norm_scale=True,
                            activation_fn=self._activation_fn,
                            weight_decay=self._weight_decay)):
                    with slim.arg_scope([slim.batch_norm], is_training=self._train_batch_norm):
                        blocks = [
                            resnet_utils.Block('block4', resnet_v1.bottleneck, [{
                                'depth': BLOCK4_SECOND_STAGE["depth"],
                                'depth_bottleneck': BLOCK4_SECOND_STAGE["depth_bottleneck"],
                                'stride': BLOCK4_SECOND_STAGE["stride"],
                            }] * BLOCK4_SECOND_STAGE["num_units"])
                        ]
                        proposal_classifier_features = resnet_utils.stack_blocks_dense(
                            proposal_feature_maps, blocks)
            return proposal_classifier_features

    def narrow_resnet_v1_101(inputs, num_classes=None, is_training=True, global_pool=True,
                             output_stride=None, spatial_squeeze=True,
                             store_non_strided_activations=False, min_base_depth=8,
                             depth_multiplier=1, reuse=None, scope='resnet_v1_101'):
        """nets.resnet_v1.resnet_v1_101's signature and body, with narrow blocks."""
        del min_base_depth, depth_multiplier
        blocks = [resnet_v1.resnet_v1_block(s, base_depth=d, num_units=n, stride=st)
                  for s, d, n, st in NARROW_BLOCKS]
        return resnet_v1.resnet_v1(inputs, blocks, num_classes, is_training,
                                   global_pool=global_pool, output_stride=output_stride,
                                   include_root_block=True, spatial_squeeze=spatial_squeeze,
                                   store_non_strided_activations=store_non_strided_activations,
                                   reuse=reuse, scope=scope)

    return NarrowFeatureExtractor, narrow_resnet_v1_101


def make_extractor_class(m):
    NarrowFeatureExtractor, narrow_resnet_v1_101 = make_narrow_extractor(m)

    def build(stride):
        return NarrowFeatureExtractor('resnet_v1_101', narrow_resnet_v1_101, is_training=False,
                                      first_stage_features_stride=stride)

    return build


# ---------------------------------------------------------------------------------------------
def resize_cases(rng, m, build_extractor):
    specs = [
        # name, image shape, min_dimension, max_dimension
        ("landscape_min_side", (37, 53, 3), 48, 80),   # 48 x round(53*48/37 = 68.76) = 69
        ("portrait_max_caps", (61, 29, 3), 48, 80),    # 61*48/29 > 80: the long side is capped
        ("square", (50, 50, 3), 40, 64),               # portrait branch; + "preprocessed"
        ("round_half_even", (32, 43, 3), 48, 80),      # 43 * 1.5 = 64.5 -> tf.round -> 64
    ]
    cases = []
    for i, (name, shape, mn, mx) in enumerate(specs):
        image = rng.uniform(0.0, 255.0, size=shape).astype(np.float32)
        with tf.Graph().as_default():
            resized, resized_shape = m.preprocessor.resize_to_range(
                tf1.constant(image), min_dimension=mn, max_dimension=mx)
            fetches = {"resized": resized, "resized_shape": resized_shape}
            if name == "square":  # the smallest output keeps the file small
                extractor = build_extractor(8)
                fetches["preprocessed"] = extractor.preprocess(tf1.expand_dims(resized, 0))[0]
            with session() as sess:
                out = sess.run(fetches)
        case = {
            "name": name,
            "image": arr(image),
            "min_dimension": mn,
            "max_dimension": mx,
            "resized": arr(out["resized"]),
            "resized_shape": [int(v) for v in out["resized_shape"]],
        }
        if "preprocessed" in out:
            case["preprocessed"] = arr(out["preprocessed"])
        cases.append(case)
    return cases


def anchor_cases(m):
    default = dict(scales=[0.25, 0.5, 1.0, 2.0], aspect_ratios=[0.5, 1.0, 2.0],
                   base_anchor_size=[256, 256], anchor_stride=[8, 8], anchor_offset=[0, 0])
    other = dict(scales=[0.25, 0.5, 1.0, 2.0], aspect_ratios=[0.5, 1.0, 2.0],
                 base_anchor_size=[128, 96], anchor_stride=[16, 12], anchor_offset=[4, 6])
    specs = [("atrous_config_3x4", default, (3, 4)),
             ("atrous_config_5x2", default, (5, 2)),
             ("atrous_config_1x1", default, (1, 1)),
             ("base128x96_stride16x12_offset4x6_3x4", other, (3, 4))]
    cases = []
    for name, params, grid in specs:
        with tf.Graph().as_default():
            generator = m.grid_anchor_generator.GridAnchorGenerator(**params)
            boxes = generator.generate([grid])[0].get()
            with session() as sess:
                anchors = sess.run(boxes)
        cases.append(dict(name=name, **params, grid=list(grid), anchors=arr(anchors)))
    return cases


def random_boxes(rng, n):
    y = rng.uniform(0.0, 200.0, n)
    x = rng.uniform(0.0, 300.0, n)
    h = rng.uniform(4.0, 120.0, n)
    w = rng.uniform(4.0, 120.0, n)
    return np.stack([y, x, y + h, x + w], axis=1).astype(np.float32)


def box_coder_cases(rng, m):
    n = 8
    anchors = random_boxes(rng, n)
    boxes = random_boxes(rng, n)
    boxes[0] = anchors[0]                       # box equal to its anchor -> codes ~0
    boxes[1, 2] = boxes[1, 0]                   # zero-height box (log of EPSILON / ha)
    boxes[2, 3] = boxes[2, 1]                   # zero-width box
    boxes[3] = anchors[3] + np.float32(5.5)     # same size, shifted
    rel = rng.normal(0.0, 1.0, (n, 4)).astype(np.float32)
    rel[4, 2:] = [6.0, 6.0]                     # large th, tw
    rel[5, 2:] = [-6.0, 6.0]
    rel[6, :] = [6.0, -6.0, 0.0, 0.0]           # large ty, tx
    rel[7, :] = 0.0                             # decodes to the anchor
    cases = []
    for name, scale_factors in [("scale_10_10_5_5", [10.0, 10.0, 5.0, 5.0]),
                                ("no_scale_factors", None)]:
        with tf.Graph().as_default():
            coder = m.faster_rcnn_box_coder.FasterRcnnBoxCoder(scale_factors=scale_factors)
            anchor_list = m.box_list.BoxList(tf1.constant(anchors))
            encoded = coder.encode(m.box_list.BoxList(tf1.constant(boxes)), anchor_list)
            decoded = coder.decode(tf1.constant(rel), anchor_list).get()
            with session() as sess:
                enc, dec = sess.run([encoded, decoded])
        cases.append({
            "name": name,
            "scale_factors": scale_factors,
            "anchors": arr(anchors),
            "boxes": arr(boxes),
            "encoded": arr(enc),
            "rel_codes": arr(rel),
            "decode_anchors": arr(anchors),
            "decoded": arr(dec),
        })
    return cases


# ---------------------------------------------------------------------------------------------
def random_value(rng, name, shape):
    leaf = name.rsplit("/", 1)[1]
    if leaf == "weights":
        fan_in = int(np.prod(shape[:-1]))
        return rng.normal(0.0, np.sqrt(1.0 / fan_in), shape)
    if leaf == "gamma":
        return rng.uniform(0.5, 1.5, shape)
    if leaf == "beta":
        return rng.normal(0.0, 0.1, shape)
    if leaf == "moving_mean":
        return rng.normal(0.0, 0.1, shape)
    if leaf == "moving_variance":
        return rng.uniform(0.5, 2.0, shape)
    raise ValueError(f"unexpected variable {name}")


def build_backbone_graph(build_extractor, stride, crops_shape):
    extractor = build_extractor(stride)
    raw = tf1.placeholder(tf.float32, [1, None, None, 3], name="raw_image")
    preprocessed = extractor.preprocess(raw)
    rpn_features, activations = extractor.extract_proposal_features(
        preprocessed, scope="FirstStageFeatureExtractor")
    crops = tf1.placeholder(tf.float32, crops_shape, name="crops")
    block4 = extractor.extract_box_classifier_features(crops, scope="SecondStageFeatureExtractor")
    prefix = "FirstStageFeatureExtractor/resnet_v1_101/"
    fetch = {"input": preprocessed, "block3": rpn_features,
             "block1": activations[prefix + "block1"], "block2": activations[prefix + "block2"]}
    return raw, crops, fetch, block4


def backbone(rng, build_extractor):
    image_shapes = [(64, 48), (40, 72)]
    raw_images = [rng.uniform(0.0, 255.0, (1, h, w, 3)).astype(np.float32)
                  for h, w in image_shapes]
    c3 = NARROW_BLOCKS[2][1] * 4
    crops_shape = [3, 7, 7, c3]
    crops = rng.uniform(0.0, 4.0, crops_shape).astype(np.float32)
    ckpt_prefix = str(OUT / CKPT)

    # first_stage_features_stride 8 (the atrous config): draw the weights, save, run.
    with tf.Graph().as_default():
        raw, crops_t, fetch, block4 = build_backbone_graph(build_extractor, 8, crops_shape)
        variables = sorted(tf1.global_variables(), key=lambda v: v.op.name)
        saver = tf1.train.Saver(var_list=variables)
        with session() as sess:
            sess.run(tf1.global_variables_initializer())
            for v in variables:
                shape = v.shape.as_list()
                v.load(random_value(rng, v.op.name, shape).astype(np.float32), sess)
            saver.save(sess, ckpt_prefix, write_meta_graph=False, write_state=False)
            images = []
            for image in raw_images:
                out = sess.run(fetch, {raw: image})
                images.append({k: arr(out[k]) for k in ("input", "block1", "block2", "block3")})
            b4 = sess.run(block4, {crops_t: crops})
        var_list = [[v.op.name, v.shape.as_list()] for v in variables]

    # first_stage_features_stride 16: same checkpoint (restored), same inputs.
    with tf.Graph().as_default():
        raw, _, fetch, _ = build_backbone_graph(build_extractor, 16, crops_shape)
        variables16 = sorted(tf1.global_variables(), key=lambda v: v.op.name)
        assert [[v.op.name, v.shape.as_list()] for v in variables16] == var_list
        with session() as sess:
            tf1.train.Saver(var_list=variables16).restore(sess, ckpt_prefix)
            images16 = [{"block3": arr(sess.run(fetch["block3"], {raw: image}))}
                        for image in raw_images]

    for leftover in (OUT / "checkpoint", OUT / (CKPT + ".meta")):
        if leftover.exists():
            leftover.unlink()

    blocks = [{"scope": s, "base_depth": d, "depth": 4 * d, "depth_bottleneck": d,
               "num_units": n, "stride": st, "stride_on": "last unit"}
              for s, d, n, st in NARROW_BLOCKS]
    main = {
        "architecture": "resnet_v1_101",
        "root": {"conv1": "7x7 stride 2, 64 outputs, resnet_utils.conv2d_same (explicit pad 3/3, "
                          "VALID), BatchNorm, relu",
                 "pool1": "max_pool2d 3x3 stride 2 padding SAME"},
        "blocks": blocks,
        "second_stage_block4": dict(BLOCK4_SECOND_STAGE, scope="block4",
                                    note="narrowed override of the hard-coded 3 x (2048, 512)"),
        "first_stage_features_stride": 8,
        "batch_norm_epsilon": 1e-5,
        "is_training": False,
        "checkpoint": CKPT,
        "variables": var_list,
        "images": images,
        "crops": arr(crops),
        "block4": arr(b4),
    }
    stride16 = {"first_stage_features_stride": 16, "checkpoint": CKPT,
                "inputs": "backbone.images[i].input", "images": images16}
    return main, stride16


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--od-api", default=os.environ.get("OD_API_DIR"),
                        help="models/research of tensorflow/models v2.8.0 (default $OD_API_DIR)")
    args = parser.parse_args()
    if not args.od_api:
        parser.error("--od-api (or OD_API_DIR) is required")

    tf1.disable_eager_execution()
    alias_tf_keras_legacy_layers()
    print("OD API files:")
    m, files = load_od_api(args.od_api)
    import tf_slim
    build_extractor = make_extractor_class(m)

    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20261201)
    stages = {
        "tensorflow": tf.__version__,
        "tf_slim": getattr(tf_slim, "__version__", "1.1.0"),
        "od_api": {"source": "tensorflow/models v2.8.0 research/ (object_detection, slim/nets)",
                   "files": files},
        "resize": resize_cases(rng, m, build_extractor),
        "anchors": anchor_cases(m),
        "box_coder": box_coder_cases(rng, m),
    }
    stages["backbone"], stages["backbone_stride16"] = backbone(rng, build_extractor)

    path = OUT / "stages.json"
    path.write_text(json.dumps(stages) + "\n")
    for f in sorted(OUT.iterdir()):
        print(f"wrote {f} ({f.stat().st_size} bytes)")
    print(f"tensorflow {tf.__version__}")


if __name__ == "__main__":
    main()
