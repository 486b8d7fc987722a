#!/usr/bin/env python3
"""Per-op reference values from torchvision for the Rust unit tests.

Writes crates/core/tests/fixtures/ops.safetensors (tensors, named
``<case>.<tensor>``) and crates/core/tests/fixtures/ops.json (every scalar
parameter of every case, keyed by case name, plus the tensor names of each
case).

Usage:  python3 tools/reference/make_op_fixtures.py [--out DIR]
"""

import argparse
import json
import math
import os
from collections import OrderedDict

import torch
import torchvision
from safetensors.torch import save_file
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.models.detection.transform import GeneralizedRCNNTransform, resize_boxes
from torchvision.ops import MultiScaleRoIAlign, batched_nms, box_iou, clip_boxes_to_image, nms, remove_small_boxes
from torchvision.ops import roi_align

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_OUT = os.path.join(ROOT, "crates", "core", "tests", "fixtures")

T = OrderedDict()  # tensors
P = OrderedDict()  # params per case


def put(case, name, t):
    t = t.detach().clone().contiguous()
    t = t.to(torch.float32) if t.is_floating_point() else t.to(torch.int64)
    key = f"{case}.{name}"
    assert key not in T, key
    T[key] = t
    P.setdefault(case, OrderedDict()).setdefault("tensors", []).append(name)


def param(case, **kw):
    P.setdefault(case, OrderedDict()).update(kw)


def rand_boxes(g, n, lo, hi, min_wh, max_wh):
    x1 = lo[0] + torch.rand(n, generator=g) * (hi[0] - lo[0])
    y1 = lo[1] + torch.rand(n, generator=g) * (hi[1] - lo[1])
    w = min_wh + torch.rand(n, generator=g) * (max_wh - min_wh)
    h = min_wh + torch.rand(n, generator=g) * (max_wh - min_wh)
    return torch.stack([x1, y1, x1 + w, y1 + h], 1)


# ---------------------------------------------------------------- roi_align
def roi_align_cases(g):
    def case(name, inp, rois, output_size, spatial_scale, sampling_ratio, aligned, grad=False, inputs_from=None):
        x = inp.clone().requires_grad_(grad)
        out = roi_align(x, rois, output_size, spatial_scale, sampling_ratio, aligned)
        c = f"roi_align.{name}"
        if inputs_from is None:
            put(c, "input", inp)
            put(c, "rois", rois)
        else:
            param(c, inputs_from=f"roi_align.{inputs_from}",
                  note=f"input and rois are roi_align.{inputs_from}.input / .rois (not duplicated)")
        put(c, "output", out)
        param(c, output_size=list(output_size), spatial_scale=spatial_scale,
              sampling_ratio=sampling_ratio, aligned=aligned)
        if grad:
            go = torch.randn(out.shape, generator=g)
            out.backward(go)
            put(c, "grad_output", go)
            put(c, "grad_input", x.grad)

    # feature map 12x16 at scale 0.25 -> image 48x64
    inp = torch.randn(2, 3, 12, 16, generator=g)
    rois = torch.tensor([
        [0, -10.0, -8.0, 20.0, 18.0],    # partly outside (top-left)
        [1, 50.0, 30.0, 80.0, 70.0],     # partly outside (bottom-right)
        [0, -40.0, -40.0, -20.0, -10.0], # fully outside (negative)
        [1, 70.0, 60.0, 90.0, 80.0],     # fully outside (beyond map)
        [0, 10.0, 5.0, 40.0, 30.0],      # inside
        [1, -2.0, 40.0, 66.0, 50.0],     # wide, crosses both x borders
        [0, 62.0, -5.0, 64.5, 49.0],     # thin strip at right border
    ])
    case("partly_outside", inp, rois, (5, 5), 0.25, 2, False, grad=True)

    # tiny and zero-size boxes, scale 0.125 -> image 128x96 for a 16x12 map
    inp = torch.randn(2, 4, 16, 12, generator=g)
    rois = torch.tensor([
        [0, 30.0, 40.0, 30.0, 40.0],     # zero size
        [1, 50.0, 50.0, 50.5, 51.0],     # tiny
        [0, 10.0, 10.0, 12.0, 10.0],     # zero height
        [1, 0.0, 0.0, 3.0, 3.0],         # smaller than one cell
        [0, 90.0, 120.0, 91.0, 127.9],   # thin near bottom edge
        [1, 95.5, 127.5, 96.0, 128.0],   # tiny at the corner
    ])
    case("tiny_boxes", inp, rois, (3, 3), 0.125, 2, False)
    case("tiny_boxes_aligned", inp, rois, (3, 3), 0.125, 2, True, inputs_from="tiny_boxes")

    # aligned=True
    inp = torch.randn(2, 3, 10, 14, generator=g)
    rois = torch.cat([
        torch.tensor([[0.0], [1.0], [0.0], [1.0], [1.0]]),
        torch.tensor([
            [4.0, 4.0, 30.0, 22.0],
            [-6.0, 3.0, 12.0, 45.0],
            [20.0, 10.0, 21.0, 11.0],
            [0.0, 0.0, 56.0, 40.0],
            [40.0, 30.0, 70.0, 50.0],
        ]),
    ], 1)
    case("aligned", inp, rois, (4, 6), 0.25, 2, True, grad=True)

    # adaptive sampling ratio (0 -> ceil(roi_size / output_size) samples per bin)
    inp = torch.randn(2, 5, 20, 24, generator=g)
    boxes = torch.tensor([
        [2.0, 3.0, 6.0, 5.0],       # small: 1 sample per bin
        [10.0, 12.0, 70.0, 40.0],   # medium
        [0.0, 0.0, 95.0, 79.0],     # whole map
        [33.3, 21.7, 57.1, 77.9],   # fractional coords
        [-20.0, 50.0, 40.0, 100.0], # partly outside
        [5.0, 5.0, 5.5, 60.0],      # very thin
    ])
    idx = torch.tensor([[0.0], [1.0], [0.0], [1.0], [0.0], [1.0]])
    rois = torch.cat([idx, boxes], 1)
    case("adaptive", inp, rois, (7, 7), 0.25, 0, False)
    case("adaptive_aligned", inp, rois, (7, 7), 0.25, 0, True, inputs_from="adaptive")
    case("adaptive_minus1", inp, rois, (5, 3), 0.25, -1, False, inputs_from="adaptive")

    # larger, typical box-head use: 7x7, sampling 2, scale 0.125, plus a 14x14 mask-like case
    inp = torch.randn(2, 8, 40, 48, generator=g)
    b = rand_boxes(g, 24, (-20.0, -20.0), (360.0, 300.0), 2.0, 200.0)
    idx = (torch.arange(24) % 2).to(torch.float32)[:, None]
    rois = torch.cat([idx, b], 1)
    case("large", inp, rois, (7, 7), 0.125, 2, False)
    case("large_14", inp, rois, (14, 14), 0.125, 2, False, inputs_from="large")


# ---------------------------------------------------------------- MultiScaleRoIAlign
def multiscale_cases(g):
    img_h, img_w = 256, 320  # padded batch size
    image_sizes = [(250, 320), (256, 300)]
    feats = OrderedDict()
    for i, s in enumerate([4, 8, 16, 32]):
        feats[str(i)] = torch.randn(2, 4, img_h // s, img_w // s, generator=g)
    # boxes of sizes spanning all levels (level = floor(4 + log2(sqrt(area)/224) + 1e-6), clamped to [2,5])
    b0 = torch.tensor([
        [10.0, 10.0, 20.0, 22.0],     # tiny -> level 2 (clamped)
        [30.0, 40.0, 140.0, 150.0],   # ~110 -> level 3
        [0.0, 0.0, 111.9, 112.0],     # just below 112 boundary
        [0.0, 0.0, 112.0, 112.0],     # exactly at 112 boundary
        [50.0, 20.0, 300.0, 240.0],   # ~234 -> level 4
        [-30.0, -30.0, 400.0, 300.0], # huge -> level 5
        [100.5, 60.25, 131.75, 200.0],
    ])
    b1 = torch.cat([rand_boxes(g, 9, (0.0, 0.0), (280.0, 230.0), 4.0, 300.0),
                    torch.tensor([[0.0, 0.0, 224.0, 224.0], [5.0, 5.0, 453.0, 453.0]])])
    for name, out_size in (("multiscale", 7), ("multiscale_14", 14)):
        pooler = MultiScaleRoIAlign(["0", "1", "2", "3"], output_size=out_size, sampling_ratio=2)
        out = pooler(feats, [b0, b1], image_sizes)
        if name == "multiscale":
            for k, v in feats.items():
                put(name, f"features.{k}", v)
            put(name, "boxes.0", b0)
            put(name, "boxes.1", b1)
        else:
            param(name, inputs_from="multiscale",
                  inputs_note="features.* and boxes.* are those of case multiscale (not duplicated)")
        put(name, "output", out)
        put(name, "levels", pooler.map_levels([b0, b1]).to(torch.int64))
        param(name, output_size=[out_size, out_size], sampling_ratio=2, image_sizes=[list(s) for s in image_sizes],
              featmap_names=["0", "1", "2", "3"], canonical_scale=224, canonical_level=4,
              inferred_scales=pooler.scales, k_min=pooler.map_levels.k_min, k_max=pooler.map_levels.k_max,
              level_eps=pooler.map_levels.eps,
              note="levels are 0-based indices into features (k - k_min); output rows follow the concatenated boxes order")


# ---------------------------------------------------------------- box coder
def box_coder_cases(g):
    for tag, weights in (("w1", (1.0, 1.0, 1.0, 1.0)), ("w10", (10.0, 10.0, 5.0, 5.0))):
        c = f"box_coder.{tag}"
        coder = BoxCoder(weights)
        ref = rand_boxes(g, 12, (0.0, 0.0), (200.0, 150.0), 4.0, 120.0)
        gt = rand_boxes(g, 12, (-10.0, -10.0), (210.0, 160.0), 1.0, 150.0)
        encoded = coder.encode_single(gt, ref)
        # deltas: random small, plus large dw/dh to hit the clamp at log(1000/16)
        deltas = torch.randn(12, 4, generator=g) * torch.tensor(weights) * 0.5
        deltas[0, 2:] = torch.tensor([50.0, 50.0])
        deltas[1, 2:] = torch.tensor([-30.0, 40.0])
        deltas[2, 2] = math.log(1000.0 / 16) * weights[2] + 0.5
        deltas[3, :] = torch.tensor([100.0, -100.0, 0.0, 0.0])
        decoded = coder.decode_single(deltas, ref)
        put(c, "reference_boxes", ref)
        put(c, "gt_boxes", gt)
        put(c, "encoded", encoded)
        put(c, "deltas", deltas)
        put(c, "decoded", decoded)
        # round trip of encoded gt
        put(c, "decoded_encoded", coder.decode_single(encoded, ref))
        param(c, weights=list(weights), bbox_xform_clip=coder.bbox_xform_clip,
              note="encoded = encode_single(gt_boxes, reference_boxes); decoded = decode_single(deltas, reference_boxes)")
    # class-specific deltas [N, 4*C] as used by the roi heads (decode() output [N, C, 4])
    c = "box_coder.w10_multiclass"
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    ref = rand_boxes(g, 6, (0.0, 0.0), (200.0, 150.0), 4.0, 120.0)
    deltas = torch.randn(6, 16, generator=g) * 2.0
    deltas[0, 6] = 60.0
    dec = coder.decode(deltas, [ref])
    put(c, "reference_boxes", ref)
    put(c, "deltas", deltas)
    put(c, "decoded", dec)
    param(c, weights=[10.0, 10.0, 5.0, 5.0], bbox_xform_clip=coder.bbox_xform_clip, num_classes=4)


# ---------------------------------------------------------------- anchors
def anchor_cases():
    c = "anchors"
    sizes = ((32,), (64,), (128,), (256,), (512,))
    ratios = ((0.5, 1.0, 2.0),) * 5
    ag = AnchorGenerator(sizes, ratios)
    H, W = 160, 224
    images = torch.zeros(2, 3, H, W)
    il = ImageList(images, [(150, 224), (160, 200)])
    fshapes = [(40, 56), (20, 28), (10, 14), (5, 7), (3, 4)]  # strides 4..32, pool level = ceil(5/2), ceil(7/2)
    feats = [torch.zeros(2, 8, h, w) for h, w in fshapes]
    out = ag(il, feats)
    assert torch.equal(out[0], out[1])
    put(c, "output", out[0])
    for i, ca in enumerate(ag.cell_anchors):
        put(c, f"cell.{i}", ca)
    strides = [[H // h, W // w] for h, w in fshapes]
    param(c, sizes=[list(s) for s in sizes], aspect_ratios=[list(r) for r in ratios], image_size=[H, W],
          feature_sizes=[list(s) for s in fshapes], strides=strides,
          note="stride = padded_size // feature_size (integer division; the pool level gets [53, 56] here, not 64); "
               "cell anchors are rounded; order: level, then y, then x, then anchor (ratio-major, size-minor)")


# ---------------------------------------------------------------- nms
def nms_cases(g):
    def case(name, boxes, scores, iou, idxs=None):
        c = f"nms.{name}" if idxs is None else f"batched_nms.{name}"
        put(c, "boxes", boxes)
        put(c, "scores", scores)
        if idxs is None:
            keep = nms(boxes, scores, iou)
        else:
            put(c, "idxs", idxs)
            keep = batched_nms(boxes, scores, idxs, iou)
        put(c, "keep", keep)
        param(c, iou_threshold=iou, num_boxes=int(boxes.shape[0]))

    # exact ties and identical boxes
    boxes = torch.tensor([
        [0.0, 0.0, 10.0, 10.0],
        [0.0, 0.0, 10.0, 10.0],   # identical to 0
        [1.0, 1.0, 11.0, 11.0],   # iou with 0 = 81/119 = 0.68
        [20.0, 20.0, 30.0, 30.0],
        [20.0, 20.0, 30.0, 30.0], # identical to 3, same score
        [50.0, 50.0, 60.0, 60.0],
        [0.0, 0.0, 10.0, 5.0],    # iou with 0 = 0.5 exactly
        [50.0, 50.0, 60.0, 60.0], # identical to 5, same score
    ])
    scores = torch.tensor([0.9, 0.8, 0.95, 0.7, 0.7, 0.6, 0.85, 0.6])
    for iou in (0.5, 0.7):
        case(f"ties_{int(iou * 100)}", boxes, scores, iou)
    # all scores equal
    case("all_equal_scores", boxes, torch.full((8,), 0.5), 0.5)
    # IoU exactly at the threshold is NOT suppressed (suppress only if iou > threshold)
    case("iou_equals_threshold", torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 5.0], [0.0, 0.0, 10.0, 4.0]]),
         torch.tensor([0.9, 0.8, 0.7]), 0.5)
    # empty
    case("empty", torch.zeros(0, 4), torch.zeros(0), 0.5)
    # random, many overlaps
    b = rand_boxes(g, 200, (0.0, 0.0), (100.0, 100.0), 5.0, 60.0)
    s = torch.rand(200, generator=g)
    for iou in (0.5, 0.7):
        case(f"random_{int(iou * 100)}", b, s, iou)
    # zero-area boxes (iou 0 with everything -> kept)
    case("degenerate", torch.tensor([[5.0, 5.0, 5.0, 5.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 10.0, 10.0]]),
         torch.tensor([0.9, 0.8, 0.7]), 0.5)

    # batched
    idxs = torch.tensor([0, 1, 0, 0, 1, 2, 2, 2])
    for iou in (0.5, 0.7):
        case(f"ties_{int(iou * 100)}", boxes, scores, iou, idxs)
    case("empty", torch.zeros(0, 4), torch.zeros(0), 0.5, torch.zeros(0, dtype=torch.int64))
    b = rand_boxes(g, 300, (0.0, 0.0), (100.0, 100.0), 5.0, 60.0)
    s = torch.rand(300, generator=g)
    i = torch.randint(0, 4, (300,), generator=g)
    for iou in (0.5, 0.7):
        case(f"random_{int(iou * 100)}", b, s, iou, i)  # <= 1000 boxes: coordinate-offset path
    # > 1000 boxes on CPU: torchvision switches to per-class ("vanilla") nms, result sorted by score
    b = rand_boxes(g, 1500, (0.0, 0.0), (400.0, 300.0), 5.0, 80.0)
    s = torch.rand(1500, generator=g)
    i = torch.randint(0, 5, (1500,), generator=g)
    case("large_70", b, s, 0.7, i)
    param("batched_nms.large_70", note="boxes.numel() > 4000 on CPU -> torchvision uses _batched_nms_vanilla")


# ---------------------------------------------------------------- paste masks
def paste_cases(g):
    c = "paste_masks"
    masks = torch.rand(5, 1, 28, 28, generator=g)
    masks[0, 0, :, :14] = 0.0  # some structure
    boxes = torch.tensor([
        [10.3, 12.7, 60.9, 50.2],     # inside
        [-15.6, -8.2, 30.4, 25.9],    # partly outside top-left (negative coords truncate toward 0)
        [70.2, 40.8, 130.0, 95.5],    # partly outside bottom-right
        [40.0, 30.0, 40.4, 30.6],     # tiny
        [-5.0, 20.0, 105.0, 70.0],    # wider than the image
    ])
    img_hw = (80, 100)
    out = paste_masks_in_image(masks, boxes, img_hw, padding=1)
    put(c, "masks", masks)
    put(c, "boxes", boxes)
    put(c, "output", out)
    param(c, image_size=list(img_hw), padding=1,
          note="boxes are expanded by (28+2)/28 around the centre then cast with .to(int64) (truncation toward zero)")


# ---------------------------------------------------------------- transform
def transform_cases(g):
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
    tr = GeneralizedRCNNTransform(160, 256, mean, std)
    tr.eval()
    for name, (h, w) in (("resize", (150, 200)), ("resize_maxside", (40, 300))):
        c = f"transform.{name}"
        img = torch.rand(3, h, w, generator=g)
        out, _ = tr.resize(img, None)
        put(c, "input", img)
        put(c, "output", out)
        scale = min(160 / min(h, w), 256 / max(h, w))
        param(c, min_size=160, max_size=256, scale_factor=scale, input_hw=[h, w], output_hw=list(out.shape[-2:]),
              note="F.interpolate(bilinear, scale_factor=scale, recompute_scale_factor=True, align_corners=False); "
                   "output size = floor(in * scale)")
    # full transform: normalize + resize + batch (size_divisible 32); tiny sizes to keep the file small
    c = "transform.full"
    tr = GeneralizedRCNNTransform(32, 64, mean, std)
    tr.eval()
    imgs = [torch.rand(3, 30, 40, generator=g), torch.rand(3, 45, 25, generator=g)]
    il, _ = tr(imgs, None)
    put(c, "input.0", imgs[0])
    put(c, "input.1", imgs[1])
    put(c, "images", il.tensors)
    put(c, "image_sizes", torch.tensor(il.image_sizes, dtype=torch.int64))
    param(c, min_size=32, max_size=64, image_mean=mean, image_std=std, size_divisible=32)
    # postprocess box resize (resized -> original coordinates)
    c = "transform.resize_boxes"
    boxes = rand_boxes(g, 6, (0.0, 0.0), (200.0, 150.0), 2.0, 60.0)
    out = resize_boxes(boxes, (160, 213), (150, 200))
    put(c, "boxes", boxes)
    put(c, "output", out)
    param(c, original_size=[160, 213], new_size=[150, 200],
          note="resize_boxes(boxes, from=(160,213), to=(150,200)); ratio = float32(to)/float32(from)")


# ---------------------------------------------------------------- box ops
def box_op_cases(g):
    a = rand_boxes(g, 7, (-10.0, -10.0), (80.0, 80.0), 0.0, 50.0)
    a[0] = torch.tensor([5.0, 5.0, 5.0, 5.0])  # zero area
    b = rand_boxes(g, 5, (-10.0, -10.0), (80.0, 80.0), 1.0, 50.0)
    b[0] = a[1]
    put("box_iou", "boxes1", a)
    put("box_iou", "boxes2", b)
    put("box_iou", "output", box_iou(a, b))
    param("box_iou", note="zero-area vs zero-area would give nan (0/0); not included")

    boxes = rand_boxes(g, 8, (-30.0, -30.0), (120.0, 90.0), 0.0, 60.0)
    put("clip_boxes_to_image", "boxes", boxes)
    put("clip_boxes_to_image", "output", clip_boxes_to_image(boxes, (75, 100)))
    param("clip_boxes_to_image", size=[75, 100], note="size is (h, w); x clamped to [0, w], y to [0, h]")

    boxes = torch.tensor([
        [0.0, 0.0, 10.0, 10.0],
        [0.0, 0.0, 0.001, 10.0],
        [0.0, 0.0, 0.0009, 10.0],
        [5.0, 5.0, 5.0, 5.0],
        [1.0, 1.0, 1.01, 1.01],
        [1.0, 1.0, 1.0099, 2.0],
        [3.0, 3.0, 2.0, 8.0],
    ])
    for name, ms in (("remove_small_boxes.1e-3", 1e-3), ("remove_small_boxes.1e-2", 1e-2)):
        put(name, "boxes", boxes)
        put(name, "keep", remove_small_boxes(boxes, ms))
        param(name, min_size=ms, note="keep = (w >= min_size) & (h >= min_size), float32 arithmetic")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(20240601)

    roi_align_cases(g)
    multiscale_cases(g)
    box_coder_cases(g)
    anchor_cases()
    nms_cases(g)
    paste_cases(g)
    transform_cases(g)
    box_op_cases(g)

    os.makedirs(args.out, exist_ok=True)
    save_file(T, os.path.join(args.out, "ops.safetensors"))
    meta = OrderedDict()
    meta["_generator"] = "tools/reference/make_op_fixtures.py"
    meta["_versions"] = {"torch": torch.__version__, "torchvision": torchvision.__version__}
    for case, p in P.items():
        p["shapes"] = {n: list(T[f"{case}.{n}"].shape) for n in p["tensors"]}
        meta[case] = p
    with open(os.path.join(args.out, "ops.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    size = os.path.getsize(os.path.join(args.out, "ops.safetensors"))
    print(f"wrote {len(T)} tensors in {len(P)} cases to {args.out} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
