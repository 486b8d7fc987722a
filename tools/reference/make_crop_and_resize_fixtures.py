#!/usr/bin/env python3
"""TensorFlow's `tf.image.crop_and_resize` (bilinear), forward and gradient with respect to the
image, on small random inputs: the reference for mrcnn-core's `crop_and_resize`, the region
pooling of the TensorFlow Object Detection API's Faster/Mask R-CNN (issue 12).

Uses tensorflow (pip install tensorflow-cpu; the committed file was made with 2.21.0) and numpy.
Writes crates/core/tests/fixtures/crop_and_resize.json (seeded, deterministic):
  {"cases": [{"name", "image": {"shape": [N, H, W, C], "values": [...]},
              "boxes": [[y1, x1, y2, x2], ...] (normalised), "box_indices": [...],
              "crop": [h, w], "extrapolation": v,
              "output": {"shape": [K, h, w, C], "values": [...]},
              "upstream": {"shape", "values"}, "grad_image": {"shape", "values"}}]}
NHWC as TensorFlow stores it; values row-major. Run from the repository root:
  python3 tools/reference/make_crop_and_resize_fixtures.py
"""

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

OUT = Path("crates/core/tests/fixtures/crop_and_resize.json")


def arr(a):
    a = np.asarray(a, dtype=np.float32)
    # 9 significant digits round-trip float32 exactly.
    return {"shape": list(a.shape), "values": [float(f"{v:.9g}") for v in a.reshape(-1)]}


def case(rng, name, n, h, w, c, boxes, box_indices, crop, extrapolation=0.0):
    image = rng.standard_normal((n, h, w, c)).astype(np.float32)
    boxes = np.asarray(boxes, dtype=np.float32)
    idx = np.asarray(box_indices, dtype=np.int32)
    img_t = tf.constant(image)
    with tf.GradientTape() as tape:
        tape.watch(img_t)
        out = tf.image.crop_and_resize(
            img_t, boxes, idx, crop, method="bilinear", extrapolation_value=extrapolation
        )
        upstream = tf.constant(rng.standard_normal(out.shape).astype(np.float32))
        loss = tf.reduce_sum(out * upstream)
    grad = tape.gradient(loss, img_t)
    return {
        "name": name,
        "image": arr(image),
        "boxes": boxes.tolist(),
        "box_indices": idx.tolist(),
        "crop": list(crop),
        "extrapolation": extrapolation,
        "output": arr(out.numpy()),
        "upstream": arr(upstream.numpy()),
        "grad_image": arr(grad.numpy()),
    }


def main():
    rng = np.random.default_rng(20261130)
    cases = [
        # Boxes inside, partly outside (extrapolated pixels), flipped (y2 < y1), a point box.
        case(rng, "mixed_14x14", 2, 7, 9, 3,
             [[0.1, 0.2, 0.8, 0.9], [-0.2, 0.5, 0.6, 1.3], [0.9, 0.7, 0.3, 0.1], [0.5, 0.5, 0.5, 0.5]],
             [0, 1, 1, 0], (14, 14)),
        # Crop of one row / one column: TensorFlow samples the box's centre there.
        case(rng, "one_pixel_sides", 1, 6, 5, 2,
             [[0.2, 0.1, 0.9, 0.8], [0.0, 0.0, 1.0, 1.0]], [0, 0], (1, 3)),
        # A non-zero extrapolation value.
        case(rng, "extrapolate_minus_one", 1, 5, 6, 2,
             [[-0.5, -0.5, 1.5, 1.5], [0.25, 0.0, 0.75, 1.0]], [0, 0], (4, 5), extrapolation=-1.0),
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"tensorflow": tf.__version__, "cases": cases}) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), tensorflow {tf.__version__}")


if __name__ == "__main__":
    main()
