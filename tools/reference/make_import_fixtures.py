#!/usr/bin/env python3
"""Weight-import fixtures: the small torchvision Mask R-CNN of make_fixtures.py, re-written in
the layouts of the three frameworks `mrcnn import-weights` reads.

Input:  crates/model/tests/fixtures/small/weights.safetensors (torchvision names, background first)
Output: crates/model/tests/fixtures/import/
  small_d2_p2.pkl      Detectron2 names and class order (background LAST in cls_score, 4K box rows,
                       K mask channels), numpy arrays in {"model": ..., "__author__": ...}, pickle
                       protocol 2 with numpy 1.x global names (numpy.core.multiarray) and bytes
                       written through _codecs.encode, as Python 3 does at protocol 2
  small_d2_p4.pkl      the same at protocol 4 with numpy 2 names (numpy._core), one array Fortran-ordered
  small_mmdet.pth      MMDetection 3.x names and class order, torch.save({'state_dict', 'meta'}),
                       BN num_batches_tracked counters, class names in meta.dataset_meta.classes
  small_tv_old.pth     torchvision's pre-0.13 key names (fpn/rpn convs without `.0`, mask_fcn1..4),
                       legacy (non-zip) torch.save format like the 2019 COCO file
  arrays_p5.pkl        protocol 5 numpy arrays of several dtypes/orders (reader unit test)
  evil_os_system.pkl   a Detectron2-shaped pickle that calls os.system (must be refused)
  evil_eval.pkl        a protocol 4 pickle that calls builtins.eval (must be refused)
  meta.json            what is where

The Rust tests (crates/model/tests/import.rs) check that every import gives back exactly the
torchvision tensors (the background box rows / mask channel, which Detectron2 and MMDetection do
not have and torchvision never reads, come back as zeros).

Usage: python3 tools/reference/make_import_fixtures.py
"""

import json
import os
import pickle
from collections import OrderedDict

import numpy as np
import torch
from safetensors.torch import load_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.path.join(ROOT, "crates", "model", "tests", "fixtures", "small", "weights.safetensors")
OUT = os.path.join(ROOT, "crates", "model", "tests", "fixtures", "import")
CLASS_NAMES = ("rectangle", "ellipse", "triangle")  # labels 1..3 of make_fixtures.py's shapes
MARKER = "/tmp/mrcnn_evil_pickle_ran"


def bg_last(sd, cls, box, mask):
    """torchvision class layout -> Detectron2/MMDetection (background last, no background box/mask)."""
    out = {}
    for f in ("weight", "bias"):
        w = sd[f"roi_heads.box_predictor.cls_score.{f}"]
        out[f"{cls}.{f}"] = torch.cat([w[1:], w[:1]])
        out[f"{box}.{f}"] = sd[f"roi_heads.box_predictor.bbox_pred.{f}"][4:]
        out[f"{mask}.{f}"] = sd[f"roi_heads.mask_predictor.mask_fcn_logits.{f}"][1:]
    return out


def detectron2_names(sd):
    out = {}
    for k, v in sd.items():
        p = k.split(".")
        if k.startswith("backbone.body."):
            rest = p[2:]
            if rest[0] == "conv1":
                n = "backbone.bottom_up.stem.conv1.weight"
            elif rest[0] == "bn1":
                n = f"backbone.bottom_up.stem.conv1.norm.{rest[1]}"
            else:
                res = f"res{int(rest[0][5:]) + 1}"
                b, layer = rest[1], rest[2]
                if layer == "downsample":
                    n = f"backbone.bottom_up.{res}.{b}.shortcut." + ("weight" if rest[3] == "0" else f"norm.{rest[4]}")
                elif layer.startswith("conv"):
                    n = f"backbone.bottom_up.{res}.{b}.{layer}.weight"
                else:
                    n = f"backbone.bottom_up.{res}.{b}.conv{layer[2]}.norm.{rest[3]}"
        elif k.startswith("backbone.fpn."):
            kind = "fpn_lateral" if p[2] == "inner_blocks" else "fpn_output"
            n = f"backbone.{kind}{int(p[3]) + 2}.{p[-1]}"
        elif k.startswith("rpn.head."):
            n = "proposal_generator.rpn_head." + {"conv": "conv", "cls_logits": "objectness_logits", "bbox_pred": "anchor_deltas"}[p[2]] + f".{p[-1]}"
        elif k.startswith("roi_heads.box_head."):
            n = "roi_heads.box_head." + {"fc6": "fc1", "fc7": "fc2"}[p[2]] + f".{p[-1]}"
        elif k.startswith("roi_heads.mask_head."):
            n = f"roi_heads.mask_head.mask_fcn{int(p[2]) + 1}.{p[-1]}"
        elif k.startswith("roi_heads.mask_predictor.conv5_mask."):
            n = f"roi_heads.mask_head.deconv.{p[-1]}"
        else:
            continue  # class-specific: below
        out[n] = v
    out.update(bg_last(sd, "roi_heads.box_predictor.cls_score", "roi_heads.box_predictor.bbox_pred", "roi_heads.mask_head.predictor"))
    return out


def mmdet_names(sd):
    out = OrderedDict()
    for k, v in sd.items():
        p = k.split(".")
        if k.startswith("backbone.body."):
            n = "backbone." + ".".join(p[2:])
        elif k.startswith("backbone.fpn."):
            kind = "lateral_convs" if p[2] == "inner_blocks" else "fpn_convs"
            n = f"neck.{kind}.{p[3]}.conv.{p[-1]}"
        elif k.startswith("rpn.head."):
            n = "rpn_head." + {"conv": "rpn_conv", "cls_logits": "rpn_cls", "bbox_pred": "rpn_reg"}[p[2]] + f".{p[-1]}"
        elif k.startswith("roi_heads.box_head."):
            n = "roi_head.bbox_head.shared_fcs." + {"fc6": "0", "fc7": "1"}[p[2]] + f".{p[-1]}"
        elif k.startswith("roi_heads.mask_head."):
            n = f"roi_head.mask_head.convs.{p[2]}.conv.{p[-1]}"
        elif k.startswith("roi_heads.mask_predictor.conv5_mask."):
            n = f"roi_head.mask_head.upsample.{p[-1]}"
        else:
            continue
        out[n] = v
        if n.endswith("running_var"):  # nn.BatchNorm2d's counter, as MMDetection saves it
            out[n.replace("running_var", "num_batches_tracked")] = torch.tensor(0, dtype=torch.int64)
    out.update(bg_last(sd, "roi_head.bbox_head.fc_cls", "roi_head.bbox_head.fc_reg", "roi_head.mask_head.conv_logits"))
    return out


def torchvision_old_names(sd):
    out = OrderedDict()
    for k, v in sd.items():
        p = k.split(".")
        if k.startswith("backbone.fpn."):
            n = f"backbone.fpn.{p[2]}.{p[3]}.{p[-1]}"
        elif k.startswith("rpn.head.conv."):
            n = f"rpn.head.conv.{p[-1]}"
        elif k.startswith("roi_heads.mask_head."):
            n = f"roi_heads.mask_head.mask_fcn{int(p[2]) + 1}.{p[-1]}"
        else:
            n = k
        out[n] = v
    return out


class Call:
    """Pickles as a call of `fn(*args)`; used to build the malicious fixtures."""

    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def main():
    os.makedirs(OUT, exist_ok=True)
    sd = load_file(SRC)
    files = {}

    d2 = {k: v.numpy() for k, v in detectron2_names(sd).items()}
    d2["pixel_mean"] = np.array([103.53, 116.28, 123.675], np.float32).reshape(3, 1, 1)
    d2["pixel_std"] = np.ones((3, 1, 1), np.float32)
    ck = {"model": d2, "__author__": "make_import_fixtures.py", "matching_heuristics": False}
    raw = pickle.dumps(ck, protocol=2)
    # numpy 1.x files name numpy.core; GLOBAL arguments are newline-terminated, so this is safe.
    raw = raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in raw and b"_codecs" in raw
    files["small_d2_p2.pkl"] = raw
    d2f = dict(d2)
    d2f["backbone.bottom_up.stem.conv1.weight"] = np.asfortranarray(d2["backbone.bottom_up.stem.conv1.weight"])
    files["small_d2_p4.pkl"] = pickle.dumps({"model": d2f, "__author__": "make_import_fixtures.py"}, protocol=4)

    buf = os.path.join(OUT, "small_mmdet.pth")
    meta = {"mmdet_version": "3.3.0", "epoch": 12, "iter": 7330, "dataset_meta": {"classes": CLASS_NAMES}}
    torch.save({"meta": meta, "state_dict": mmdet_names(sd)}, buf)

    torch.save(torchvision_old_names(sd), os.path.join(OUT, "small_tv_old.pth"), _use_new_zipfile_serialization=False)

    arrays = {
        "f16": np.array([[1.0, -2.0], [0.5, 65504.0]], np.float16),
        "f64_fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "i64": np.array([3, -4], np.int64),
        "f32_big_endian": np.array([1.5, -0.25], ">f4"),
        "scalar": np.float32(2.5),
    }
    files["arrays_p5.pkl"] = pickle.dumps(arrays, protocol=5)

    evil = {"model": {"backbone.bottom_up.stem.conv1.weight": np.zeros((1,), np.float32)},
            "__author__": Call(os.system, (f"touch {MARKER}",))}
    raw = pickle.dumps(evil, protocol=2)
    raw = raw.replace(b"cposix\nsystem\n", b"cos\nsystem\n")
    assert b"cos\nsystem\n" in raw
    files["evil_os_system.pkl"] = raw
    files["evil_eval.pkl"] = pickle.dumps({"model": Call(eval, (f"__import__('os').system('touch {MARKER}')",))}, protocol=4)

    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)

    meta = {
        "generator": "tools/reference/make_import_fixtures.py",
        "source": "crates/model/tests/fixtures/small/weights.safetensors",
        "class_names": CLASS_NAMES,
        "evil_marker": MARKER,
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "files": sorted(list(files) + ["small_mmdet.pth", "small_tv_old.pth"]),
    }
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    for n in meta["files"]:
        print(f"{n:22s} {os.path.getsize(os.path.join(OUT, n)):>9d} bytes")


if __name__ == "__main__":
    main()
