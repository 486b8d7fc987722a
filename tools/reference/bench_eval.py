#!/usr/bin/env python3
"""Time pycocotools COCOeval (segm) on a synthetic COCO-sized case.

The case is generated on the fly with a splitmix64 generator that
crates/eval/examples/bench_eval.rs reproduces bit for bit, so both sides
evaluate identical data and must print identical stats.

Usage: python3 tools/reference/bench_eval.py [n_images=5000] [dets_per_image=100]
Compare: cargo run --release -p mrcnn-eval --example bench_eval -- 5000 100
"""

import contextlib
import io
import sys
import time

from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

MASK64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.s = seed & MASK64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * (1.0 / (1 << 53))


N_CATS = 10
GT_PER_IMAGE = 8


def diamond(x, y, w, h):
    cx, cy = x + w / 2, y + h / 2
    return [cx, y, x + w, cy, cx, y + h, x, cy]


def generate(n_images, dets_per_image, seed=2024):
    rng = SplitMix64(seed)
    images, anns, dets = [], [], []
    cats = [{"id": c + 1, "name": f"cat{c + 1}"} for c in range(N_CATS)]
    ann_id = 1
    for i in range(n_images):
        h = 300 + int(rng.uniform() * 200)
        w = 400 + int(rng.uniform() * 200)
        images.append({"id": i + 1, "height": h, "width": w})
        gts = []
        for _ in range(GT_PER_IMAGE):
            cat = 1 + int(rng.uniform() * N_CATS)
            bw = 8 + rng.uniform() * (w / 2)
            bh = 8 + rng.uniform() * (h / 2)
            x = rng.uniform() * (w - bw)
            y = rng.uniform() * (h - bh)
            crowd = 1 if ann_id % 20 == 0 else 0
            anns.append({"id": ann_id, "image_id": i + 1, "category_id": cat, "iscrowd": crowd,
                         "bbox": [x, y, bw, bh], "area": bw * bh / 2,
                         "segmentation": [diamond(x, y, bw, bh)]})
            gts.append((cat, x, y, bw, bh))
            ann_id += 1
        polys, metas = [], []
        for j in range(dets_per_image):
            cat, x, y, bw, bh = gts[j % GT_PER_IMAGE]
            if rng.uniform() < 0.7:
                x += (rng.uniform() - 0.5) * 0.2 * bw
                y += (rng.uniform() - 0.5) * 0.2 * bh
                bw *= 0.9 + 0.2 * rng.uniform()
                bh *= 0.9 + 0.2 * rng.uniform()
            else:
                bw = 8 + rng.uniform() * (w / 3)
                bh = 8 + rng.uniform() * (h / 3)
                x = rng.uniform() * (w - bw)
                y = rng.uniform() * (h - bh)
            if rng.uniform() < 0.1:
                cat = 1 + int(rng.uniform() * N_CATS)
            score = rng.uniform()
            polys.append(diamond(x, y, bw, bh))
            metas.append((cat, score, [x, y, bw, bh]))
        rles = mask_utils.frPyObjects(polys, h, w)
        for (cat, score, bb), r in zip(metas, rles):
            dets.append({"image_id": i + 1, "category_id": cat, "score": score, "bbox": bb,
                         "segmentation": {"size": r["size"], "counts": r["counts"].decode()}})
    return {"images": images, "categories": cats, "annotations": anns}, dets


def main():
    n_images = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    per_image = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    t0 = time.perf_counter()
    gt, dets = generate(n_images, per_image)
    print(f"generated {n_images} images, {len(dets)} detections in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        res = coco.loadRes(dets)
        e = COCOeval(coco, res, "segm")
        e.evaluate()
        e.accumulate()
        e.summarize()
    dt = time.perf_counter() - t0
    print("stats:", " ".join(f"{v:.6f}" for v in e.stats))
    print(f"pycocotools segm: loadRes+evaluate+accumulate+summarize {dt:.2f}s")


if __name__ == "__main__":
    main()
