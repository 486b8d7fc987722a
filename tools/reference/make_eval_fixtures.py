#!/usr/bin/env python3
"""Reference fixtures for crates/eval, produced with pycocotools.

Writes, under crates/eval/tests/fixtures/:
  rle_cases.json      RLE unit cases: encode, polygons (frPyObjects+merge),
                      boxes (frBbox), uncompressed RLE, merge, iou, bbox iou.
  <case>_gt.json      a small COCO ground-truth file
  <case>_dt_bbox.json results with boxes only (bbox evaluation)
  <case>_dt_segm.json results with compressed masks (+ boxes: loadRes' bbox branch)
  <case>_dt_segm_only.json results with masks only (loadRes' segmentation branch)
  <case>_expected.json pycocotools' stats and per-category AP/AP50/AP75

Everything is seeded (numpy default_rng), so rerunning reproduces the files.
Usage: python3 tools/reference/make_eval_fixtures.py
"""

import contextlib
import copy
import io
import json
import os

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "eval", "tests", "fixtures")


def s(rle):
    """Compressed RLE dict -> JSON-friendly dict with str counts."""
    c = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": c.decode() if isinstance(c, bytes) else c}


def enc(mask):
    return mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))


def random_polygon(rng, h, w, n=None, spill=0.2):
    """A star-shaped random polygon, sometimes spilling outside the image."""
    n = n or int(rng.integers(3, 12))
    cx, cy = rng.uniform(-spill * w, (1 + spill) * w), rng.uniform(-spill * h, (1 + spill) * h)
    r = rng.uniform(1, max(h, w) * 0.5)
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.3, 1.0, n)
    pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    if rng.random() < 0.3:
        pts = np.round(pts * 2) / 2  # half-pixel coordinates hit rounding edges
    return [float(v) for v in pts.reshape(-1)]


def random_mask(rng, h, w):
    m = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        x1, y1 = rng.integers(x0, w + 1), rng.integers(y0, h + 1)
        m[y0:y1, x0:x1] = 1
    m ^= (rng.random((h, w)) < 0.05).astype(np.uint8)
    return m


def rle_cases(rng):
    cases = {"encode": [], "polygons": [], "bbox": [], "uncompressed": [],
             "merge": [], "iou": [], "bbox_iou": []}
    sizes = [(1, 1), (3, 4), (7, 5), (20, 13), (31, 64), (64, 31)]
    for h, w in sizes:
        for _ in range(3):
            m = random_mask(rng, h, w)
            r = enc(m)
            cases["encode"].append({
                "h": h, "w": w, "mask": "".join(map(str, m.reshape(-1).tolist())),
                "counts": s(r)["counts"], "area": int(mask_utils.area(r)),
                "bbox": [float(v) for v in mask_utils.toBbox(r)]})
    # Big counts exercise multi-char and negative deltas in the string format.
    m = np.zeros((600, 500), np.uint8)
    m[100:400, 50:450] = 1
    m[0, 0] = 1
    r = enc(m)
    cases["encode"].append({"h": 600, "w": 500, "mask": None, "counts": s(r)["counts"],
                            "area": int(mask_utils.area(r)),
                            "bbox": [float(v) for v in mask_utils.toBbox(r)]})

    for h, w in [(10, 10), (37, 23), (50, 80), (120, 90)]:
        for _ in range(8):
            polys = [random_polygon(rng, h, w) for _ in range(int(rng.integers(1, 4)))]
            r = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
            cases["polygons"].append({"h": h, "w": w, "polygons": polys,
                                      "counts": s(r)["counts"], "area": int(mask_utils.area(r)),
                                      "bbox": [float(v) for v in mask_utils.toBbox(r)]})
    # Hand-picked polygons: axis-aligned, integer and .5 corners, degenerate.
    special = [
        (10, 10, [[0, 0, 10, 0, 10, 10, 0, 10]]),
        (10, 10, [[2.5, 2.5, 7.5, 2.5, 7.5, 7.5, 2.5, 7.5]]),
        (10, 10, [[1, 1, 1, 1, 1, 1]]),
        (10, 10, [[-5, -5, 20, -5, 20, 20, -5, 20]]),
        (6, 9, [[0.2, 0.3, 8.7, 0.1, 4.4, 5.9, 0.1, 5.5, 2.0, 2.0]]),
        (12, 12, [[1, 1, 11, 1, 11, 11, 1, 11], [3, 3, 9, 3, 9, 9, 3, 9]]),
    ]
    for h, w, polys in special:
        polys = [[float(v) for v in p] for p in polys]
        r = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
        cases["polygons"].append({"h": h, "w": w, "polygons": polys,
                                  "counts": s(r)["counts"], "area": int(mask_utils.area(r)),
                                  "bbox": [float(v) for v in mask_utils.toBbox(r)]})

    for h, w in [(10, 10), (37, 23), (50, 80)]:
        for _ in range(6):
            bb = [float(rng.uniform(-5, w)), float(rng.uniform(-5, h)),
                  float(rng.uniform(0, w)), float(rng.uniform(0, h))]
            if rng.random() < 0.3:
                bb = [float(round(v)) for v in bb]
            r = mask_utils.frPyObjects(np.array([bb], dtype=np.double), h, w)[0]
            cases["bbox"].append({"h": h, "w": w, "bbox_in": bb, "counts": s(r)["counts"]})

    for h, w in [(5, 4), (20, 13)]:
        for _ in range(3):
            m = random_mask(rng, h, w)
            flat = m.reshape(-1, order="F")
            counts, prev, run = [], 0, 0
            for v in flat:
                if v != prev:
                    counts.append(run)
                    run, prev = 0, v
                run += 1
            counts.append(run)
            r = mask_utils.frPyObjects({"counts": counts, "size": [h, w]}, h, w)
            cases["uncompressed"].append({"h": h, "w": w, "counts_list": counts,
                                          "counts": s(r)["counts"]})

    for h, w in [(9, 7), (40, 30)]:
        for _ in range(4):
            rles = [enc(random_mask(rng, h, w)) for _ in range(int(rng.integers(2, 5)))]
            cases["merge"].append({
                "h": h, "w": w, "inputs": [s(r)["counts"] for r in rles],
                "union": s(mask_utils.merge(rles, intersect=0))["counts"],
                "intersection": s(mask_utils.merge(rles, intersect=1))["counts"]})

    for h, w in [(9, 7), (40, 30)]:
        for _ in range(3):
            dts = [enc(random_mask(rng, h, w)) for _ in range(int(rng.integers(1, 5)))]
            gts = [enc(random_mask(rng, h, w)) for _ in range(int(rng.integers(1, 5)))]
            crowd = [int(v) for v in rng.integers(0, 2, len(gts))]
            o = mask_utils.iou(dts, gts, crowd)
            cases["iou"].append({"h": h, "w": w, "dt": [s(r)["counts"] for r in dts],
                                 "gt": [s(r)["counts"] for r in gts], "iscrowd": crowd,
                                 "iou": np.asarray(o).tolist()})
    for _ in range(4):
        dts = rng.uniform(0, 20, (4, 4)).tolist()
        gts = rng.uniform(0, 20, (3, 4)).tolist()
        crowd = [int(v) for v in rng.integers(0, 2, 3)]
        o = mask_utils.iou(dts, gts, crowd)
        cases["bbox_iou"].append({"dt": dts, "gt": gts, "iscrowd": crowd,
                                  "iou": np.asarray(o).tolist()})
    return cases


def write_json(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    os.makedirs(OUT, exist_ok=True)
    write_json("rle_cases.json", rle_cases(np.random.default_rng(1234)))


if __name__ == "__main__":
    main()
