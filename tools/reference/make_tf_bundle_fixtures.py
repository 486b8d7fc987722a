#!/usr/bin/env python3
"""TensorFlow TF1 checkpoint (TensorBundle) fixtures for crates/import.

Uses the real `tensorflow` (pip install tensorflow-cpu). The committed files
were made with TensorFlow 2.21.0 (tensorflow-cpu wheel, Python 3.11, numpy 2.4).

Writes (deleting and recreating the folder first), all committed, < 250 KB:
  crates/import/tests/fixtures/tf_bundle/
    model.ckpt.index                    single-shard checkpoint, written exactly
    model.ckpt.data-00000-of-00001      the way the Object Detection API's TF1
                                        checkpoints are: tf.compat.v1.train.Saver
                                        in graph mode, saver.save(sess, prefix,
                                        write_meta_graph=False)
    sharded.ckpt.index                  Saver(sharded=True), variables placed on
    sharded.ckpt.data-00000-of-00002    /cpu:0 and /cpu:1 (session config
    sharded.ckpt.data-00001-of-00002    device_count={'CPU': 2}) -> 2 data shards
    frozen_inference_graph.pb           a frozen TF1 GraphDef the way the OD API
                                        ships it, see "Frozen graph" below
    expected.json                       what a reader must return, see below

Variable names imitate the OD API's Faster/Mask R-CNN ResNet-101 checkpoints
(FirstStageFeatureExtractor/resnet_v1_101/..., SecondStageBoxPredictor/...,
a `.../weights/Momentum` slot made by tf.compat.v1.train.MomentumOptimizer,
int64 `global_step` = 1234) plus one variable of each other dtype
(float64, int32, float16, bool) and one larger float32 variable. Shapes are
small; values are seeded (numpy default_rng), so reruns with the same TF
version give byte-identical files (the script does not write the `checkpoint`
state file: save(..., write_state=False), since it would hold absolute paths).

expected.json:
  { "<prefix>": { "<variable name>": { "dtype": "float32"|"float64"|"int32"|
                                                "int64"|"float16"|"bool",
                                       "shape": [..],
                                       "values": [flat, row-major] }, .. }, .. }
  with <prefix> = "model.ckpt" and "sharded.ckpt" (relative to the folder),
  variable names sorted (bytewise, the order of the index table).
  The values are read back with TensorFlow's own reader
  (tf.train.load_checkpoint) and asserted bit-identical to what was assigned.
  Number format:
    float32  shortest decimal that round-trips through float32, i.e. parse the
             JSON number as f64 and cast to f32 (`x as f32`) to get the exact
             stored bits (asserted for every value by this script);
    float64, float16  exact (the JSON number as f64 is the stored value;
             float16 -> f64 is exact);
    int32/int64  integers;  bool  true/false.
  Per-tensor (shard_id, offset, size) are NOT included: TensorFlow's Python
  CheckpointReader exposes only names, dtypes, shapes and values.

Shard placement in sharded.ckpt (Saver groups variables by device, devices
sorted by name, so /device:CPU:0 -> shard 0, /device:CPU:1 -> shard 1):
  /cpu:0: FirstStageFeatureExtractor/* (incl. the Momentum slot, colocated
          with its variable) and global_step
  /cpu:1: everything else.

Frozen graph (frozen_inference_graph.pb):
  In the session that wrote model.ckpt (after the save, so the checkpoint is
  unchanged) a small inference graph is built on the variables, OD API style:
    image_tensor (Placeholder uint8 [?,?,?,3]) -> ToFloat (Cast)
    -> .../conv1/Conv2D (conv1/weights, 7x7 stride 2 SAME)
    -> .../conv1/BatchNorm/FusedBatchNorm (gamma, beta, moving_mean,
       moving_variance; FusedBatchNorm v1, is_training=False) -> Relu
    -> .../block1/unit_1/bottleneck_v1/conv1/Conv2D (1x1) -> Relu
       -> SecondStagePostprocessor/Mean over H,W -> Softmax
       -> Identity `detection_scores`
    (conv1 Relu) -> Mean and Max over H,W -> ConcatV2 [N,8]
       -> SecondStageBoxPredictor/BoxEncodingPredictor/MatMul (weights)
       -> BiasAdd (biases) -> Reshape [-1,3,4] -> Identity `detection_boxes`
  plus Const nodes under FixtureConsts/ made with tf.constant, i.e. encoded
  the way TensorFlow's Python make_tensor_proto encodes them:
    scalar_float  float32 []     0.5       float_val (1 value)
    splat         float32 [2,3]  all 7.0   float_val (1 value, repeated)
    big           float32 [40,10] seeded   tensor_content
    bool_vec      bool [3]                 bool_val (3 values)
    half_content  float16 [4]              tensor_content
    half_splat    float16 [3]   all 1.5    half_val (1 value = bit pattern)
    int64_content int64 [3]                tensor_content
  and three whose TensorProto is written by hand in the typed repeated field,
  the layout TensorFlow's C++ Tensor::AsProtoField writes (e.g. constants
  folded by Grappler) -- Python's make_tensor_proto would use tensor_content
  for these dtypes:
    half_vec      float16 [4]   half_val (4 values, fp16 bits in int32s)
    int64_vec     int64 [3]     int64_val (3 values, one negative)
    int32_repeat  int32 [5]     int_val (3 values; the last one fills the rest)
  tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph_def,
  ["detection_boxes", "detection_scores", <the FixtureConsts>]) turns the
  variables those outputs use into Const nodes (tensor_content); the Momentum
  slot, global_step, ClassPredictor and FixtureExtras are not used and so are
  not in the file. The three hand-written nodes are appended to the frozen
  GraphDef. Serialized with deterministic=True (map fields sorted); no node has
  a device. Checked: the frozen graph, imported into a fresh graph, computes
  the same detection_boxes/detection_scores as the original session; every
  Const evaluated by TensorFlow's C++ runtime equals tf.make_ndarray of its
  proto; the weight Consts equal the checkpoint's values bit for bit.

expected.json also holds, for the frozen graph:
  "frozen_inference_graph.pb": { "<Const node name>": {"dtype", "shape",
      "values"} } for every Const node (same conventions as above; values from
      tf.make_ndarray of the node's "value" attr after parsing the .pb back),
  "frozen_inference_graph.pb#encodings": { "<Const node name>": {"field":
      "tensor_content"|"float_val"|"half_val"|"int_val"|"int64_val"|
      "bool_val"|.., "count": values held in that field (for tensor_content
      bytes / itemsize), "elements": elements of the shape} }
  The Variable-derived Consts keep their checkpoint names, each followed by a
  `<name>/read` Identity, as in the OD API's frozen graphs.

Run from the repository root (a few seconds, CPU only):
  python3 tools/reference/make_tf_bundle_fixtures.py
"""

import hashlib
import json
import os
import shutil
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import attr_value_pb2, graph_pb2, node_def_pb2, tensor_pb2, types_pb2  # noqa: E402

tf.compat.v1.disable_v2_behavior()  # TF1 graph mode, ref variables, like the OD API's TF1 code

FIX = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "crates", "import", "tests", "fixtures", "tf_bundle")
)

FE = "FirstStageFeatureExtractor/resnet_v1_101"
CONV1_W = FE + "/conv1/weights"


def variable_specs(large_shape):
    """(name, numpy dtype, shape, group) in creation order. group 0 -> /cpu:0, 1 -> /cpu:1 in the sharded file."""
    return [
        (CONV1_W, np.float32, [7, 7, 3, 4], 0),  # HWIO
        (FE + "/conv1/BatchNorm/gamma", np.float32, [4], 0),
        (FE + "/conv1/BatchNorm/beta", np.float32, [4], 0),
        (FE + "/conv1/BatchNorm/moving_mean", np.float32, [4], 0),
        (FE + "/conv1/BatchNorm/moving_variance", np.float32, [4], 0),
        (FE + "/block1/unit_1/bottleneck_v1/conv1/weights", np.float32, [1, 1, 4, 2], 0),
        ("SecondStageBoxPredictor/BoxEncodingPredictor/weights", np.float32, [8, 12], 1),
        ("SecondStageBoxPredictor/BoxEncodingPredictor/biases", np.float32, [12], 1),
        ("SecondStageBoxPredictor/ClassPredictor/weights", np.float32, large_shape, 1),  # the larger one
        ("FixtureExtras/float64_vector", np.float64, [3], 1),
        ("FixtureExtras/int32_matrix", np.int32, [2, 2], 1),
        ("FixtureExtras/float16_vector", np.float16, [5], 1),
        ("FixtureExtras/bool_vector", np.bool_, [3], 1),
    ]


def random_value(rng, name, dtype, shape):
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if dtype == np.int32:
        return rng.integers(-(2**31), 2**31, size=shape, dtype=np.int64).astype(np.int32)
    v = rng.standard_normal(size=shape)
    if name.endswith("moving_variance"):
        v = np.abs(v) + 0.5
    return v.astype(dtype)


def write_checkpoint(prefix, large_shape, seed, sharded, after_save=None):
    rng = np.random.default_rng(seed)
    specs = variable_specs(large_shape)
    values = {}  # name -> numpy value assigned
    devices = {}  # name -> device string of the variable op
    graph = tf.Graph()
    with graph.as_default():
        variables = {}
        for name, dtype, shape, group in specs:
            dev = ("/cpu:%d" % group) if sharded else None
            with tf.device(dev):
                variables[name] = tf.compat.v1.get_variable(
                    name, shape=shape, dtype=tf.as_dtype(dtype), initializer=tf.compat.v1.zeros_initializer()
                )
            values[name] = random_value(rng, name, dtype, shape)
        with tf.device("/cpu:0" if sharded else None):
            gstep = tf.compat.v1.train.get_or_create_global_step()  # int64 scalar "global_step"
        # The Momentum slot, made the way the OD API's TF1 training makes it.
        w = variables[CONV1_W]
        loss = tf.reduce_sum(tf.square(w))
        opt = tf.compat.v1.train.MomentumOptimizer(learning_rate=0.01, momentum=0.9)
        opt.minimize(loss, var_list=[w], global_step=gstep)
        slot = opt.get_slot(w, "momentum")  # slot key; the variable is named <var>/Momentum
        assert slot.op.name == CONV1_W + "/Momentum", slot.op.name
        variables[slot.op.name] = slot
        values[slot.op.name] = random_value(rng, slot.op.name, np.float32, [7, 7, 3, 4])
        variables["global_step"] = gstep
        values["global_step"] = np.array(1234, dtype=np.int64)

        assigns = [tf.compat.v1.assign(variables[n], values[n]) for n in sorted(values)]
        for n, v in variables.items():
            devices[n] = v.device
        saver = tf.compat.v1.train.Saver(sharded=sharded)  # default write_version = V2 (TensorBundle)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2} if sharded else {"CPU": 1})
        with tf.compat.v1.Session(graph=graph, config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            sess.run(assigns)
            saved = saver.save(sess, prefix, write_meta_graph=False, write_state=False)
            if after_save is not None:
                after_save(sess, graph, variables)
    assert saved == prefix, (saved, prefix)
    return values, devices


def f32_shortest(x):
    s = str(np.float32(x))  # numpy's shortest repr that round-trips through float32
    f = float(s)
    # What a Rust reader does: parse as f64, then `as f32`.
    assert np.float32(f).tobytes() == np.float32(x).tobytes(), (x, s)
    return f


def json_values(arr, dtype_name):
    flat = arr.reshape(-1)
    if dtype_name == "float32":
        return [f32_shortest(x) for x in flat]
    if dtype_name in ("float64", "float16"):
        out = [float(x) for x in flat]
        assert np.array(out, dtype=arr.dtype).tobytes() == flat.tobytes()
        return out
    if dtype_name == "bool":
        return [bool(x) for x in flat]
    return [int(x) for x in flat]


def read_back(prefix, written):
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    assert set(shapes) == set(written), sorted(set(shapes) ^ set(written))
    out = {}
    for name in sorted(shapes):
        t = reader.get_tensor(name)
        t = np.asarray(t)
        want = written[name]
        dname = dtypes[name].as_numpy_dtype.__name__
        dname = {"bool_": "bool"}.get(dname, dname)
        assert dname == np.dtype(want.dtype).name, (name, dname, want.dtype)
        assert list(shapes[name]) == list(want.shape), (name, shapes[name], want.shape)
        assert t.dtype == want.dtype and t.shape == want.shape, (name, t.dtype, t.shape)
        assert t.tobytes() == want.tobytes(), name  # bit-identical
        out[name] = {"dtype": dname, "shape": list(t.shape), "values": json_values(t, dname)}
    return out


FROZEN = "frozen_inference_graph.pb"
BFE = FE + "/block1/unit_1/bottleneck_v1"
BOX = "SecondStageBoxPredictor/BoxEncodingPredictor"
# TensorProto fields that can hold a tensor's data.
DATA_FIELDS = [
    f.name
    for f in tensor_pb2.TensorProto.DESCRIPTOR.fields
    if f.name not in ("dtype", "tensor_shape", "version_number")
]


def build_inference_graph(rng, variables):
    """OD-API-like ops on the checkpoint's variables plus FixtureConsts (tf.constant). Returns output node names."""
    image = tf.compat.v1.placeholder(tf.uint8, [None, None, None, 3], name="image_tensor")
    x = tf.cast(image, tf.float32, name="ToFloat")
    with tf.compat.v1.name_scope(FE + "/conv1/"):
        x = tf.nn.conv2d(x, variables[CONV1_W], strides=[1, 2, 2, 1], padding="SAME", name="Conv2D")
        bn = FE + "/conv1/BatchNorm/"
        with tf.compat.v1.name_scope("BatchNorm"):
            x = tf.raw_ops.FusedBatchNorm(
                x=x,
                scale=variables[bn + "gamma"],
                offset=variables[bn + "beta"],
                mean=variables[bn + "moving_mean"],
                variance=variables[bn + "moving_variance"],
                epsilon=1e-5,
                is_training=False,
                name="FusedBatchNorm",
            ).y
        conv1 = tf.nn.relu(x, name="Relu")
    with tf.compat.v1.name_scope(BFE + "/conv1/"):
        y = tf.nn.conv2d(conv1, variables[BFE + "/conv1/weights"], strides=[1, 1, 1, 1], padding="SAME", name="Conv2D")
        y = tf.nn.relu(y, name="Relu")
    with tf.compat.v1.name_scope("SecondStageBoxPredictor/"):
        pooled = tf.concat(
            [tf.reduce_mean(conv1, axis=[1, 2], name="AvgPool"), tf.reduce_max(conv1, axis=[1, 2], name="MaxPool")],
            axis=1,
            name="concat",
        )
        with tf.compat.v1.name_scope(BOX + "/"):
            z = tf.matmul(pooled, variables[BOX + "/weights"], name="MatMul")
            z = tf.nn.bias_add(z, variables[BOX + "/biases"], name="BiasAdd")
        z = tf.reshape(z, [-1, 3, 4], name="Reshape")
    boxes = tf.identity(z, name="detection_boxes")
    with tf.compat.v1.name_scope("SecondStagePostprocessor/"):
        y = tf.nn.softmax(tf.reduce_mean(y, axis=[1, 2], name="Mean"), name="Softmax")
    scores = tf.identity(y, name="detection_scores")

    with tf.compat.v1.name_scope("FixtureConsts/"):
        consts = [
            tf.constant(np.float32(0.5), name="scalar_float"),
            tf.constant(7.0, dtype=tf.float32, shape=[2, 3], name="splat"),
            tf.constant(rng.standard_normal(size=[40, 10]).astype(np.float32), name="big"),
            tf.constant(np.array([True, False, True]), name="bool_vec"),
            tf.constant(np.array([0.5, -2.0, 65504.0, 1e-3], dtype=np.float16), name="half_content"),
            tf.constant(np.float16(1.5), shape=[3], name="half_splat"),
            tf.constant(np.array([-(2**40), 0, 2**62 + 7], dtype=np.int64), name="int64_content"),
        ]
    return [boxes.op.name, scores.op.name] + [c.op.name for c in consts]


def hand_encoded_consts():
    """Const NodeDefs whose data sits in the typed repeated field (TF C++ Tensor::AsProtoField layout)."""

    def node(name, dtype, shape, **fields):
        tp = tensor_pb2.TensorProto(dtype=dtype)
        for d in shape:
            tp.tensor_shape.dim.add(size=d)
        for k, v in fields.items():
            getattr(tp, k).extend(v)
        n = node_def_pb2.NodeDef(name=name, op="Const")
        n.attr["dtype"].CopyFrom(attr_value_pb2.AttrValue(type=dtype))
        n.attr["value"].CopyFrom(attr_value_pb2.AttrValue(tensor=tp))
        return n

    half = np.array([1.0, -0.333, 6.1e-5, -65504.0], dtype=np.float16)  # 6.1e-5 rounds to a subnormal
    return [
        node("FixtureConsts/half_vec", types_pb2.DT_HALF, [4], half_val=[int(b) for b in half.view(np.uint16)]),
        node("FixtureConsts/int64_vec", types_pb2.DT_INT64, [3], int64_val=[-5, 1 << 40, 9_000_000_000_000_000_001]),
        node("FixtureConsts/int32_repeat", types_pb2.DT_INT32, [5], int_val=[3, -1, 9]),
    ]


def freeze(sess, graph, variables, rng, out):
    """Build the inference ops in the checkpoint's session and freeze them; fills out["graph_def"], out["check"]."""
    with graph.as_default():
        outputs = build_inference_graph(rng, variables)
        image = rng.integers(0, 256, size=[2, 9, 11, 3]).astype(np.uint8)
        want = sess.run(["detection_boxes:0", "detection_scores:0"], {"image_tensor:0": image})
        gd = tf.compat.v1.graph_util.convert_variables_to_constants(sess, graph.as_graph_def(), outputs)
    gd.node.extend(hand_encoded_consts())
    out["graph_def"] = gd
    out["check"] = (image, want)


def tensor_encoding(tp):
    fields = [f.name for f, _ in tp.ListFields() if f.name in DATA_FIELDS]
    assert len(fields) == 1, fields
    field = fields[0]
    if field == "tensor_content":
        count = len(tp.tensor_content) // tf.as_dtype(tp.dtype).size
    else:
        count = len(getattr(tp, field))
    return field, count


def write_frozen(path, graph_def, check, ckpt_values):
    data = graph_def.SerializeToString(deterministic=True)
    with open(path, "wb") as f:
        f.write(data)

    # Read it back the way a user would.
    gd = graph_pb2.GraphDef()
    with open(path, "rb") as f:
        gd.ParseFromString(f.read())
    assert gd.SerializeToString(deterministic=True) == data
    assert all(n.device == "" for n in gd.node), [n.device for n in gd.node]
    consts = sorted((n for n in gd.node if n.op == "Const"), key=lambda n: n.name)
    assert not any(n.op.startswith("Variable") for n in gd.node)

    # TensorFlow's C++ runtime: same outputs as the unfrozen session, and each Const as make_ndarray reads it.
    g = tf.Graph()
    with g.as_default():
        tf.graph_util.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=g) as sess:
        image, want = check
        got = sess.run(["detection_boxes:0", "detection_scores:0"], {"image_tensor:0": image})
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        evaluated = sess.run([n.name + ":0" for n in consts])

    values, encodings = {}, {}
    for n, ev in zip(consts, evaluated):
        tp = n.attr["value"].tensor
        arr = tf.make_ndarray(tp)
        assert ev.dtype == arr.dtype and ev.shape == arr.shape and ev.tobytes() == arr.tobytes(), n.name
        if n.name in ckpt_values:
            assert arr.dtype == ckpt_values[n.name].dtype and arr.tobytes() == ckpt_values[n.name].tobytes(), n.name
        dname = {"bool_": "bool"}.get(arr.dtype.name, arr.dtype.name)
        values[n.name] = {"dtype": dname, "shape": list(arr.shape), "values": json_values(arr, dname)}
        field, count = tensor_encoding(tp)
        encodings[n.name] = {"field": field, "count": count, "elements": int(arr.size)}
    ops = [(n.name, n.op) for n in gd.node if n.op != "Const"]
    return values, encodings, ops


def dump_json(expected, path):
    # One line per variable keeps the file small and diffable.
    lines = ["{"]
    prefixes = list(expected)
    for i, p in enumerate(prefixes):
        lines.append("  %s: {" % json.dumps(p))
        names = list(expected[p])
        for j, n in enumerate(names):
            e = expected[p][n]
            if "values" in e:
                body = '{"dtype": %s, "shape": %s, "values": %s}' % (
                    json.dumps(e["dtype"]),
                    json.dumps(e["shape"]),
                    json.dumps(e["values"], separators=(",", ":"), allow_nan=False),
                )
            else:  # the frozen graph's encodings
                body = json.dumps(e)
            lines.append("    %s: %s%s" % (json.dumps(n), body, "," if j + 1 < len(names) else ""))
        lines.append("  }%s" % ("," if i + 1 < len(prefixes) else ""))
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == expected
    with open(path, "w") as f:
        f.write(text)


def main():
    if os.path.exists(FIX):
        shutil.rmtree(FIX)
    os.makedirs(FIX)
    expected = {}

    frozen = {}
    rng_frozen = np.random.default_rng(20240603)  # separate, so the checkpoints' values are untouched

    def after_save(sess, graph, variables):
        freeze(sess, graph, variables, rng_frozen, frozen)

    values, _ = write_checkpoint(
        os.path.join(FIX, "model.ckpt"), [64, 100], seed=20240601, sharded=False, after_save=after_save
    )
    expected["model.ckpt"] = read_back(os.path.join(FIX, "model.ckpt"), values)
    model_values = values

    values, devices = write_checkpoint(os.path.join(FIX, "sharded.ckpt"), [32, 100], seed=20240602, sharded=True)
    for suffix in ("data-00000-of-00002", "data-00001-of-00002"):
        assert os.path.exists(os.path.join(FIX, "sharded.ckpt." + suffix)), "TF did not write 2 shards"
    expected["sharded.ckpt"] = read_back(os.path.join(FIX, "sharded.ckpt"), values)

    fvalues, fencodings, fops = write_frozen(os.path.join(FIX, FROZEN), frozen["graph_def"], frozen["check"], model_values)
    expected[FROZEN] = fvalues
    expected[FROZEN + "#encodings"] = fencodings

    dump_json(expected, os.path.join(FIX, "expected.json"))

    print("TensorFlow", tf.__version__)
    for p, entries in expected.items():
        if p.startswith(FROZEN):
            continue
        print("\n%s" % p)
        for n, e in entries.items():
            dev = devices.get(n, "") if p == "sharded.ckpt" else ""
            print("  %-75s %-8s %-14s %s" % (n, e["dtype"], e["shape"], dev))
    print("\n%s: Const nodes" % FROZEN)
    for n, e in expected[FROZEN].items():
        enc = expected[FROZEN + "#encodings"][n]
        print("  %-75s %-8s %-9s %-15s %d/%d" % (n, e["dtype"], e["shape"], enc["field"], enc["count"], enc["elements"]))
    print("%s: other nodes" % FROZEN)
    for name, op in fops:
        print("  %-75s %s" % (name, op))
    total = 0
    print()
    for fn in sorted(os.listdir(FIX)):
        path = os.path.join(FIX, fn)
        size = os.path.getsize(path)
        total += size
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        print("  %-36s %8d  sha256:%s" % (fn, size, digest))
    print("  total %d bytes" % total)
    assert total < 250_000, total
    assert sorted(os.listdir(FIX)) == sorted(
        [
            "expected.json",
            FROZEN,
            "model.ckpt.index",
            "model.ckpt.data-00000-of-00001",
            "sharded.ckpt.index",
            "sharded.ckpt.data-00000-of-00002",
            "sharded.ckpt.data-00001-of-00002",
        ]
    ), os.listdir(FIX)


if __name__ == "__main__":
    sys.exit(main())
