#!/usr/bin/env python3
"""TFRecord / COCO interop fixtures for crates/data (mrcnn-data).

Uses the real `tensorflow` (pip install tensorflow-cpu) and pycocotools.

Writes (committed, a few KB):
  crates/data/tests/fixtures/tf_written.tfrecord        tf.io.TFRecordWriter, OD API schema
  crates/data/tests/fixtures/tf_written.expected.json   what the Rust reader must return
  crates/data/tests/fixtures/coco_input.json            polygons, uncompressed + compressed RLE, crowd
  crates/data/tests/fixtures/coco_input.expected.json   pycocotools' annToMask of each annotation
Checks (files the Rust test `rust_written_fixtures_are_current` wrote):
  rust_written.tfrecord    parsed by tf.data.TFRecordDataset (CRCs checked) + tf.io.parse_single_example
  rust_written_coco.json   loaded by pycocotools, masks compared pixel by pixel
  both against rust_written.expected.json.

Run from the repository root:
  python3 tools/reference/make_tfrecord_fixtures.py
  CARGO_TARGET_DIR=target-data cargo test --release -p mrcnn-data --test tfrecord_fixtures
"""

import json
import os
import sys

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402
from pycocotools import mask as mask_util  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "data", "tests", "fixtures")
FIX = os.path.normpath(FIX)


def b(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=v))


def f(v):
    return tf.train.Feature(float_list=tf.train.FloatList(value=v))


def i64(v):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=v))


def png(arr):
    return tf.io.encode_png(arr).numpy()


def make_tf_written():
    """Two images in the OD API schema, as create_coco_tf_record.py would write them."""
    rng = np.random.default_rng(0)
    classes = {1: "circle", 2: "square"}
    specs = [
        ("frame_a.png", "101", 16, 12, [(1, "circ", 0), (2, "sq", 1)]),
        ("frame_b.png", "102", 9, 7, [(2, "sq", 0)]),
        ("empty.png", "103", 5, 4, []),
    ]
    records, expected = [], []
    for fname, sid, w, h, objs in specs:
        img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        yy, xx = np.mgrid[0:h, 0:w]
        xmin, xmax, ymin, ymax, texts, labels, masks, crowd, exp_objs = [], [], [], [], [], [], [], [], []
        for k, (label, kind, is_crowd) in enumerate(objs):
            if kind == "circ":
                m = ((xx - 5) ** 2 + (yy - 5) ** 2 <= 10).astype(np.uint8)
            else:
                m = ((xx >= 2 + k) & (xx < w - 1) & (yy >= 3) & (yy < h)).astype(np.uint8)
            ys, xs = np.nonzero(m)
            x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
            xmin.append(x0 / w)
            xmax.append(x1 / w)
            ymin.append(y0 / h)
            ymax.append(y1 / h)
            texts.append(classes[label].encode())
            labels.append(label)
            masks.append(png(m[:, :, None]))
            crowd.append(is_crowd)
            exp_objs.append({
                "label": label, "text": classes[label], "is_crowd": is_crowd,
                "bbox_xyxy": [float(x0), float(y0), float(x1), float(y1)],
                "mask": m.reshape(-1).tolist(),
            })
        feat = {
            "image/encoded": b([png(img)]),
            "image/format": b([b"png"]),
            "image/height": i64([h]),
            "image/width": i64([w]),
            "image/filename": b([fname.encode()]),
            "image/source_id": b([sid.encode()]),
            "image/object/bbox/xmin": f(xmin),
            "image/object/bbox/xmax": f(xmax),
            "image/object/bbox/ymin": f(ymin),
            "image/object/bbox/ymax": f(ymax),
            "image/object/class/text": b(texts),
            "image/object/class/label": i64(labels),
            "image/object/mask": b(masks),
            "image/object/is_crowd": i64(crowd),
        }
        records.append(tf.train.Example(features=tf.train.Features(feature=feat)).SerializeToString())
        expected.append({"filename": fname, "source_id": sid, "width": w, "height": h,
                         "pixels": img.reshape(-1).tolist(), "objects": exp_objs})
    with tf.io.TFRecordWriter(os.path.join(FIX, "tf_written.tfrecord")) as wr:
        for r in records:
            wr.write(r)
    with open(os.path.join(FIX, "tf_written.expected.json"), "w") as fh:
        json.dump({"tensorflow": tf.__version__, "records": expected}, fh)
    print("wrote tf_written.tfrecord (%d records)" % len(records))


def make_coco_input():
    """One image, every segmentation form; expected masks from pycocotools."""
    h, w = 11, 13
    square = np.zeros((h, w), np.uint8)
    square[2:6, 3:9] = 1
    crowd = np.zeros((h, w), np.uint8)
    crowd[7:, :4] = 1
    crowd[8, 10:] = 1
    comp = mask_util.encode(np.asfortranarray(square))
    comp["counts"] = comp["counts"].decode()
    # Uncompressed RLE as COCO stores crowd regions: column-major runs.
    flat = crowd.flatten(order="F")
    counts, last, run = [], 0, 0
    for v in flat:
        if v != last:
            counts.append(run)
            run, last = 0, v
        run += 1
    counts.append(run)
    anns = [
        {"id": 1, "image_id": 1, "category_id": 4, "iscrowd": 0, "area": 20.5, "bbox": [1.2, 1.5, 7.3, 6.0],
         "segmentation": [[1.2, 1.5, 8.5, 2.0, 5.0, 7.5], [9.0, 6.0, 12.0, 6.0, 12.0, 10.0, 9.0, 10.0]]},
        {"id": 2, "image_id": 1, "category_id": 9, "iscrowd": 0, "area": 24.0, "bbox": [3, 2, 6, 4],
         "segmentation": comp},
        {"id": 3, "image_id": 1, "category_id": 4, "iscrowd": 1, "area": float(crowd.sum()), "bbox": [0, 7, 13, 4],
         "segmentation": {"size": [h, w], "counts": counts}},
    ]
    data = {"images": [{"id": 1, "file_name": "x.png", "width": w, "height": h}],
            "annotations": anns,
            "categories": [{"id": 9, "name": "square"}, {"id": 4, "name": "thing"}]}
    path = os.path.join(FIX, "coco_input.json")
    with open(path, "w") as fh:
        json.dump(data, fh)
    coco = COCO(path)
    exp = []
    for a in coco.loadAnns(coco.getAnnIds()):
        m = coco.annToMask(a)
        exp.append({"id": a["id"], "iscrowd": a["iscrowd"], "area_pixels": int(m.sum()),
                    "mask": m.reshape(-1).tolist()})
    with open(os.path.join(FIX, "coco_input.expected.json"), "w") as fh:
        json.dump({"annotations": exp}, fh)
    print("wrote coco_input.json (%d annotations)" % len(exp))


def check_rust_written():
    exp_path = os.path.join(FIX, "rust_written.expected.json")
    if not os.path.exists(exp_path):
        print("rust_written.* missing: run the Rust test tfrecord_fixtures first")
        return False
    exp = json.load(open(exp_path))["images"]
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/format": tf.io.FixedLenFeature([], tf.string),
        "image/height": tf.io.FixedLenFeature([], tf.int64),
        "image/width": tf.io.FixedLenFeature([], tf.int64),
        "image/filename": tf.io.FixedLenFeature([], tf.string),
        "image/source_id": tf.io.FixedLenFeature([], tf.string),
        "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/xmax": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymin": tf.io.VarLenFeature(tf.float32),
        "image/object/bbox/ymax": tf.io.VarLenFeature(tf.float32),
        "image/object/class/text": tf.io.VarLenFeature(tf.string),
        "image/object/class/label": tf.io.VarLenFeature(tf.int64),
        "image/object/mask": tf.io.VarLenFeature(tf.string),
        "image/object/is_crowd": tf.io.VarLenFeature(tf.int64),
        "image/object/area": tf.io.VarLenFeature(tf.float32),
    }
    ok = True
    # TFRecordDataset verifies the masked CRC32C of every length and payload.
    ds = tf.data.TFRecordDataset(os.path.join(FIX, "rust_written.tfrecord"))
    got = [tf.io.parse_single_example(r, spec) for r in ds]
    if len(got) != len(exp):
        print("record count %d != %d" % (len(got), len(exp)))
        return False
    for g, e in zip(got, exp):
        d = lambda k: tf.sparse.to_dense(g[k]).numpy()  # noqa: E731
        w, h = int(g["image/width"]), int(g["image/height"])
        img = tf.io.decode_png(g["image/encoded"]).numpy()
        checks = [
            ("size", (w, h) == (e["width"], e["height"])),
            ("filename", g["image/filename"].numpy().decode() == e["file_name"]),
            ("source_id", g["image/source_id"].numpy().decode() == str(e["id"])),
            ("format", g["image/format"].numpy() == b"png"),
            ("pixels", img.reshape(-1).tolist() == e["pixels"]),
        ]
        objs = e["objects"]
        texts = [t.decode() for t in d("image/object/class/text")]
        checks.append(("texts", texts == [o["text"] for o in objs]))
        checks.append(("labels", d("image/object/class/label").tolist() == [o["label"] for o in objs]))
        checks.append(("crowd", d("image/object/is_crowd").tolist() == [o["is_crowd"] for o in objs]))
        for k, o in enumerate(objs):
            x0, y0, x1, y1 = o["bbox_xyxy"]
            box = [d("image/object/bbox/xmin")[k] * w, d("image/object/bbox/ymin")[k] * h,
                   d("image/object/bbox/xmax")[k] * w, d("image/object/bbox/ymax")[k] * h]
            checks.append(("box %d" % k, np.allclose(box, [x0, y0, x1, y1], atol=1e-4)))
            m = tf.io.decode_png(d("image/object/mask")[k]).numpy()[:, :, 0]
            checks.append(("mask %d" % k, m.reshape(-1).tolist() == o["mask"]))
        for name, good in checks:
            if not good:
                ok = False
                print("TF check failed: image %s: %s" % (e["id"], name))
    # pycocotools on our COCO JSON.
    coco = COCO(os.path.join(FIX, "rust_written_coco.json"))
    for e in exp:
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[e["id"]]))
        if len(anns) != len(e["objects"]):
            ok = False
            print("COCO: image %s has %d annotations, want %d" % (e["id"], len(anns), len(e["objects"])))
            continue
        for a, o in zip(anns, e["objects"]):
            cat = coco.loadCats([a["category_id"]])[0]["name"]
            m = coco.annToMask(a).reshape(-1).tolist()
            x, y, bw, bh = a["bbox"]
            if cat != o["text"] or m != o["mask"] or a["iscrowd"] != o["is_crowd"] or \
                    not np.allclose([x, y, x + bw, y + bh], o["bbox_xyxy"]):
                ok = False
                print("COCO check failed: annotation %s" % a["id"])
    print("rust_written.tfrecord + rust_written_coco.json: %s" % ("OK" if ok else "MISMATCH"))
    return ok


if __name__ == "__main__":
    os.makedirs(FIX, exist_ok=True)
    make_tf_written()
    make_coco_input()
    sys.exit(0 if check_rust_written() else 1)
