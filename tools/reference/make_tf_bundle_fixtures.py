#!/usr/bin/env python3
"""TensorFlow TF1 checkpoint (TensorBundle) fixtures for crates/import.

Uses the real `tensorflow` (pip install tensorflow-cpu). The committed files
were made with TensorFlow 2.21.0 (tensorflow-cpu wheel, Python 3.11, numpy 2.4).

Writes (deleting and recreating the folder first), all committed, < 200 KB:
  crates/import/tests/fixtures/tf_bundle/
    model.ckpt.index                    single-shard checkpoint, written exactly
    model.ckpt.data-00000-of-00001      the way the Object Detection API's TF1
                                        checkpoints are: tf.compat.v1.train.Saver
                                        in graph mode, saver.save(sess, prefix,
                                        write_meta_graph=False)
    sharded.ckpt.index                  Saver(sharded=True), variables placed on
    sharded.ckpt.data-00000-of-00002    /cpu:0 and /cpu:1 (session config
    sharded.ckpt.data-00001-of-00002    device_count={'CPU': 2}) -> 2 data shards
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


def write_checkpoint(prefix, large_shape, seed, sharded):
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


def dump_json(expected, path):
    # One line per variable keeps the file small and diffable.
    lines = ["{"]
    prefixes = list(expected)
    for i, p in enumerate(prefixes):
        lines.append("  %s: {" % json.dumps(p))
        names = list(expected[p])
        for j, n in enumerate(names):
            e = expected[p][n]
            body = '{"dtype": %s, "shape": %s, "values": %s}' % (
                json.dumps(e["dtype"]),
                json.dumps(e["shape"]),
                json.dumps(e["values"], separators=(",", ":"), allow_nan=False),
            )
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

    values, _ = write_checkpoint(os.path.join(FIX, "model.ckpt"), [64, 100], seed=20240601, sharded=False)
    expected["model.ckpt"] = read_back(os.path.join(FIX, "model.ckpt"), values)

    values, devices = write_checkpoint(os.path.join(FIX, "sharded.ckpt"), [32, 100], seed=20240602, sharded=True)
    for suffix in ("data-00000-of-00002", "data-00001-of-00002"):
        assert os.path.exists(os.path.join(FIX, "sharded.ckpt." + suffix)), "TF did not write 2 shards"
    expected["sharded.ckpt"] = read_back(os.path.join(FIX, "sharded.ckpt"), values)

    dump_json(expected, os.path.join(FIX, "expected.json"))

    print("TensorFlow", tf.__version__)
    for p, entries in expected.items():
        print("\n%s" % p)
        for n, e in entries.items():
            dev = devices.get(n, "") if p == "sharded.ckpt" else ""
            print("  %-75s %-8s %-14s %s" % (n, e["dtype"], e["shape"], dev))
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
    assert total < 200_000, total
    assert sorted(os.listdir(FIX)) == sorted(
        [
            "expected.json",
            "model.ckpt.index",
            "model.ckpt.data-00000-of-00001",
            "sharded.ckpt.index",
            "sharded.ckpt.data-00000-of-00002",
            "sharded.ckpt.data-00001-of-00002",
        ]
    ), os.listdir(FIX)


if __name__ == "__main__":
    sys.exit(main())
