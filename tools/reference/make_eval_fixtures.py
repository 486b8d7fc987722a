#!/usr/bin/env python3
"""Reference fixtures for crates/coco (RLE) and crates/eval (COCOeval), produced with pycocotools.

Writes rle_cases.json under crates/coco/tests/fixtures/ and the rest under crates/eval/tests/fixtures/:
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
RLE_OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "coco", "tests", "fixtures")


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



def mask_from_polys(polys, h, w):
    return mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, h, w)))


def make_case(rng, n_images, cat_ids, max_gt, crowd_p, extra_dets_img=None):
    """Random COCO ground truth and results covering the COCOeval edge cases."""
    sizes = [(int(rng.integers(24, 160)), int(rng.integers(24, 160))) for _ in range(n_images)]
    images = [{"id": 10 + 3 * i, "height": h, "width": w, "file_name": f"img{i}.jpg"}
              for i, (h, w) in enumerate(sizes)]
    cats = [{"id": c, "name": f"cat{c}"} for c in cat_ids]
    # cat_ids[-1]: no gt and no dets at all; cat_ids[-2]: gt but no detections.
    gt_cats, det_cats = cat_ids[:-1], cat_ids[:-2]
    anns, dets = [], []
    ann_id = 1
    for idx, img in enumerate(images):
        h, w = img["height"], img["width"]
        n_gt = 0 if idx in (0, 1) else int(rng.integers(1, max_gt + 1))
        for _ in range(n_gt):
            cat = int(rng.choice(gt_cats))
            crowd = int(rng.random() < crowd_p)
            polys = [random_polygon(rng, h, w, spill=0.05)]
            if rng.random() < 0.2:
                polys.append(random_polygon(rng, h, w, spill=0.05))
            m = mask_from_polys(polys, h, w)
            rle = enc(m)
            kind = rng.random()
            if crowd or kind < 0.15:
                flat = m.reshape(-1, order="F")
                counts, prev, run = [], 0, 0
                for v in flat:
                    if v != prev:
                        counts.append(run)
                        run, prev = 0, v
                    run += 1
                counts.append(run)
                segm = {"size": [h, w], "counts": counts}
            elif kind < 0.3:
                segm = s(rle)
            else:
                segm = polys
            area = float(mask_utils.area(rle))
            if rng.random() < 0.1:
                area = float(rng.choice([1024.0, 9216.0, 1023.5, 32.0 * 32 + 0.5]))
            bbox = [float(v) for v in mask_utils.toBbox(rle)]
            anns.append({"id": ann_id, "image_id": img["id"], "category_id": cat,
                         "segmentation": segm, "area": area, "bbox": bbox, "iscrowd": crowd})
            ann_id += 1
            if cat not in det_cats:
                continue
            for _ in range(int(rng.choice([0, 1, 1, 1, 2, 3]))):  # misses and duplicates
                dx, dy = rng.normal(0, 0.025 * w), rng.normal(0, 0.025 * h)
                jp = [[v + (dx if j % 2 == 0 else dy) for j, v in enumerate(p)] for p in polys]
                dm = mask_from_polys(jp, h, w)
                dets.append(det(rng, img["id"], cat, dm, h, w))
        # false positives, some of unknown category 99
        for _ in range(int(rng.integers(0, 4))):
            cat = int(rng.choice(det_cats + [99]))
            dm = mask_from_polys([random_polygon(rng, h, w, spill=0.0)], h, w)
            dets.append(det(rng, img["id"], cat, dm, h, w))
    if extra_dets_img is not None:
        # > 100 detections on one image and category: maxDets truncation
        img = images[extra_dets_img]
        h, w = img["height"], img["width"]
        for _ in range(130):
            dm = mask_from_polys([random_polygon(rng, h, w, spill=0.0)], h, w)
            dets.append(det(rng, img["id"], det_cats[0], dm, h, w))
    perm = rng.permutation(len(dets))
    dets = [dets[i] for i in perm]
    gt = {"images": images, "categories": cats, "annotations": anns}
    return gt, dets


def det(rng, image_id, cat, m, h, w):
    rle = enc(m)
    bbox = [float(v) for v in mask_utils.toBbox(rle)]
    bbox = [bbox[0] + float(rng.normal(0, 1)), bbox[1] + float(rng.normal(0, 1)), bbox[2], bbox[3]]
    # rounded scores create ties: the stable-sort rules matter
    score = float(np.round(rng.random(), 1)) if rng.random() < 0.5 else float(rng.random())
    return {"image_id": image_id, "category_id": cat, "score": score, "bbox": bbox,
            "segmentation": s(rle)}


def run_eval(gt, dets, iou_type):
    coco = COCO()
    coco.dataset = copy.deepcopy(gt)
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        res = coco.loadRes(copy.deepcopy(dets))
        e = COCOeval(coco, res, iou_type)
        e.evaluate()
        e.accumulate()
        e.summarize()
    prec = e.eval["precision"]
    per_cat = []
    for k, cid in enumerate(e.params.catIds):
        def m(x):
            x = x[x > -1]
            return float(np.mean(x)) if x.size else -1.0
        per_cat.append({"category_id": int(cid), "ap": m(prec[:, :, k, 0, 2]),
                        "ap50": m(prec[0, :, k, 0, 2]), "ap75": m(prec[5, :, k, 0, 2])})
    return {"stats": [float(v) for v in e.stats], "per_category": per_cat,
            "precision_t0_all_100": prec[0, :, :, 0, 2].tolist(),
            "recall_all_100": e.eval["recall"][:, :, 0, 2].tolist()}


def eval_case(name, rng, **kw):
    gt, dets = make_case(rng, **kw)
    dt_bbox = [{k: v for k, v in d.items() if k != "segmentation"} for d in dets]
    dt_segm_only = [{k: v for k, v in d.items() if k != "bbox"} for d in dets]
    write_json(f"{name}_gt.json", gt)
    write_json(f"{name}_dt_segm.json", dets)
    write_json(f"{name}_dt_bbox.json", dt_bbox)
    write_json(f"{name}_dt_segm_only.json", dt_segm_only)
    expected = {
        "bbox/dt_bbox": run_eval(gt, dt_bbox, "bbox"),
        "segm/dt_segm": run_eval(gt, dets, "segm"),
        "segm/dt_segm_only": run_eval(gt, dt_segm_only, "segm"),
        "bbox/dt_segm_only": run_eval(gt, dt_segm_only, "bbox"),
        "segm/dt_bbox": run_eval(gt, dt_bbox, "segm"),
    }
    write_json(f"{name}_expected.json", expected)


def write_json(name, obj, out=OUT):
    path = os.path.join(out, name)
    with open(path, "w") as f:
        json.dump(obj, f, separators=(",", ":"))
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(RLE_OUT, exist_ok=True)
    write_json("rle_cases.json", rle_cases(np.random.default_rng(1234)), RLE_OUT)
    eval_case("small", np.random.default_rng(7), n_images=8, cat_ids=[1, 2, 3, 5, 7],
              max_gt=6, crowd_p=0.1, extra_dets_img=2)
    eval_case("crowded", np.random.default_rng(8), n_images=14, cat_ids=[2, 4, 6, 8],
              max_gt=10, crowd_p=0.3)


if __name__ == "__main__":
    main()
