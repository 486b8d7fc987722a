#!/usr/bin/env python3
"""Training parity fixtures for the SMALL torchvision Mask R-CNN (see make_fixtures.py).

Loads the small model's weights (crates/model/tests/fixtures/small/weights.safetensors),
freezes the stem and layer1 as torchvision's trainable_layers=3 does, puts the model in
training mode (FrozenBatchNorm2d stays frozen), keeps the best 1000 RPN proposals per level
before NMS and 300 per image after it (so the proposal sets are not at the mercy of float
rounding), makes both samplers take every anchor and
every proposal (batch_size_per_image huge, positive_fraction 1.0) so nothing is random, and
runs three SGD steps (momentum 0.9, dampening 0, weight decay 1e-4, linear warm-up) on two
synthetic images with three objects each, at one fixed size.

Writes into crates/model/tests/fixtures/train/:
  batch.safetensors     input.{i} [3,H,W] in [0,1], target.{i}.boxes/labels/masks (original pixels)
  expected.safetensors  step{s}.{loss name} for s = 0,1,2 (losses before each update),
                        grad.{torch name} (gradients of the first step, trainable params only),
                        param3.{torch name} (every trainable parameter after three steps)
  meta.json             hyper-parameters, learning rates, versions

Usage:  python3 tools/reference/make_train_fixtures.py [--out DIR]
"""

import argparse
import json
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torchvision
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (the colleague's small-model builder and synthetic shapes)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEIGHTS = os.path.join(ROOT, "crates", "model", "tests", "fixtures", "small", "weights.safetensors")
DEFAULT_OUT = os.path.join(ROOT, "crates", "model", "tests", "fixtures", "train")

IMAGE_SEED = 2024
SIZES = [(150, 200), (190, 130)]
NUM_OBJECTS = 3
STEPS = 3
BASE_LR = 0.02
WARMUP_ITERS = 4
WARMUP_FACTOR = 0.25
MOMENTUM = 0.9
WEIGHT_DECAY = 1e-4
ALL = 1_000_000  # batch_size_per_image: larger than any number of anchors or proposals
# Fewer RPN proposals than torchvision's 2000/2000: with 2000 the weakest proposals (thin boxes
# clipped at the image border) sit at NMS decisions that 1e-7 relative noise in the weights flips
# after one SGD step; with 1000/300 the proposal sets of all three steps survive 1e-6 noise.
PRE_NMS_TOP_N_TRAIN = 1000
POST_NMS_TOP_N_TRAIN = 300
LOSS_NAMES = ["loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg", "loss_mask"]
TRAINABLE_STAGES = ("layer2", "layer3", "layer4")  # trainable_layers = 3


def warmup_lr(i):
    """Detectron2 / torchvision-references linear warm-up, closed form (no recursion rounding)."""
    if i >= WARMUP_ITERS:
        return BASE_LR
    alpha = i / WARMUP_ITERS
    return BASE_LR * (WARMUP_FACTOR * (1 - alpha) + alpha)


def build():
    model = mf.build_model()
    sd = load_file(WEIGHTS)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected, unexpected
    # FrozenBatchNorm2d has no num_batches_tracked; anything else missing would be a bug.
    assert not missing, missing
    for name, p in model.backbone.body.named_parameters():
        if not name.startswith(TRAINABLE_STAGES):
            p.requires_grad_(False)
    model.train()
    model.rpn._pre_nms_top_n["training"] = PRE_NMS_TOP_N_TRAIN
    model.rpn._post_nms_top_n["training"] = POST_NMS_TOP_N_TRAIN
    for sampler in (model.rpn.fg_bg_sampler, model.roi_heads.fg_bg_sampler):
        sampler.batch_size_per_image = ALL
        sampler.positive_fraction = 1.0
    return model


def make_batch():
    rng = np.random.default_rng(IMAGE_SEED)
    images, targets = [], []
    for h, w in SIZES:
        img, t = mf.make_image(rng, h, w, n_obj=NUM_OBJECTS)
        assert len(t["labels"]) == NUM_OBJECTS, "an object was dropped; pick another IMAGE_SEED"
        images.append(img.contiguous())
        targets.append(t)
    return images, targets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    mf.seed_all(0)

    model = build()
    images, targets = make_batch()
    params = OrderedDict((n, p) for n, p in model.named_parameters() if p.requires_grad)
    opt = torch.optim.SGD(list(params.values()), lr=BASE_LR, momentum=MOMENTUM, dampening=0.0,
                          weight_decay=WEIGHT_DECAY)

    expected = OrderedDict()
    lrs = []
    for step in range(STEPS):
        lr = warmup_lr(step)
        lrs.append(lr)
        for g in opt.param_groups:
            g["lr"] = lr
        # torchvision's transform mutates targets in place; give it copies.
        losses = model([i.clone() for i in images], [{k: v.clone() for k, v in t.items()} for t in targets])
        assert set(losses) == set(LOSS_NAMES), losses.keys()
        for k in LOSS_NAMES:
            expected[f"step{step}.{k}"] = losses[k].detach().reshape(1)
        print(f"step {step} lr {lr:.5f} " + " ".join(f"{k}={losses[k].item():.6f}" for k in LOSS_NAMES))
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        if step == 0:
            for n, p in params.items():
                assert p.grad is not None, f"{n} got no gradient"
                expected[f"grad.{n}"] = p.grad.detach().clone()
        opt.step()
    for n, p in params.items():
        expected[f"param3.{n}"] = p.detach().clone()

    os.makedirs(args.out, exist_ok=True)
    batch = OrderedDict()
    for i, (img, t) in enumerate(zip(images, targets)):
        batch[f"input.{i}"] = img
        batch[f"target.{i}.boxes"] = t["boxes"].to(torch.float32).contiguous()
        batch[f"target.{i}.labels"] = t["labels"].to(torch.int64).contiguous()
        batch[f"target.{i}.masks"] = t["masks"].to(torch.uint8).contiguous()
    save_file(batch, os.path.join(args.out, "batch.safetensors"))
    save_file({k: v.to(torch.float32).contiguous() for k, v in expected.items()},
              os.path.join(args.out, "expected.safetensors"))

    meta = {
        "description": "training parity of the small torchvision Mask R-CNN (make_fixtures.py model)",
        "generator": "tools/reference/make_train_fixtures.py",
        "weights": "crates/model/tests/fixtures/small/weights.safetensors",
        "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__},
        "image_seed": IMAGE_SEED,
        "image_sizes": SIZES,
        "min_size": list(model.transform.min_size),
        "max_size": model.transform.max_size,
        "trainable_backbone_stages": list(TRAINABLE_STAGES),
        "samplers": {"batch_size_per_image": ALL, "positive_fraction": 1.0},
        "rpn": {"pre_nms_top_n_train": model.rpn._pre_nms_top_n["training"],
                "post_nms_top_n_train": model.rpn._post_nms_top_n["training"]},
        "sgd": {"momentum": MOMENTUM, "dampening": 0.0, "weight_decay": WEIGHT_DECAY},
        "schedule": {"base_lr": BASE_LR, "warmup_iters": WARMUP_ITERS, "warmup_factor": WARMUP_FACTOR,
                     "method": "linear", "lrs": lrs},
        "steps": STEPS,
        "trainable_params": list(params.keys()),
    }
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
