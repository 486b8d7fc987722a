#!/usr/bin/env python3
"""Timing baseline: torchvision Mask R-CNN with a ResNet-101-FPN backbone, on the CPU (default) or
CUDA (--device cuda, for tools/gpu/).

Inference: per-image latency (batch of 1) at each --size, 1 warm-up + median of
--repeats runs. --train: one SGD training step (forward with 3 target
instances, backward, SGD momentum 0.9 wd 1e-4) at each --size (default 512x512).

Random seeded weights, no downloads. Each measurement runs in a fresh
subprocess so that the reported peak RSS (resource.getrusage ru_maxrss) belongs
to that measurement alone. Prints one JSON line per measurement.

Examples:
  python3 tools/reference/bench_torchvision.py                       # 800x1216 and 512x512 inference
  python3 tools/reference/bench_torchvision.py --size 256x256 --threads 2
  python3 tools/reference/bench_torchvision.py --train --size 512x512
  python3 tools/reference/bench_torchvision.py --device cuda --size 800x1216 --box-score-thresh 0
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

DEFAULT_SIZES = "800x1216,512x512"


def size_limits(h, w):
    """min_size/max_size for which GeneralizedRCNNTransform does not resize an HxW image."""
    if (h, w) == (800, 1216) or (h, w) == (1216, 800):
        return 800, 1333
    return min(h, w), max(h, w)


def build_model(h, w, num_classes, box_score_thresh):
    import torch
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone

    backbone = resnet_fpn_backbone(backbone_name="resnet101", weights=None, trainable_layers=3)
    min_size, max_size = size_limits(h, w)
    model = MaskRCNN(
        backbone,
        num_classes=num_classes,
        min_size=min_size,
        max_size=max_size,
        box_score_thresh=box_score_thresh,
    )
    return model, min_size, max_size


def calibrate_frozen_bn(model, image):
    """Random weights + identity FrozenBatchNorm2d make ResNet-101 activations overflow to inf/NaN.
    Set every FrozenBatchNorm2d's running_mean/var to the per-channel statistics of its input on
    one forward pass (in order, so later layers see already-calibrated inputs). Timing is not
    affected by the values, but NaN/inf would make the detections (and the mask branch) empty."""
    import torch
    from torchvision.ops.misc import FrozenBatchNorm2d

    def hook(mod, inputs):
        x = inputs[0]
        mod.running_mean.copy_(x.mean(dim=(0, 2, 3)))
        mod.running_var.copy_(x.var(dim=(0, 2, 3), unbiased=False))

    handles = [m.register_forward_pre_hook(hook) for m in model.backbone.body.modules()
               if isinstance(m, FrozenBatchNorm2d)]
    with torch.no_grad():
        il, _ = model.transform([image])
        model.backbone.body(il.tensors)
    for h in handles:
        h.remove()


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def run_one(args, h, w):
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model, min_size, max_size = build_model(h, w, 91, args.box_score_thresh)
    g = torch.Generator().manual_seed(args.seed)
    image_cpu = torch.rand(3, h, w, generator=g)
    dev = torch.device(args.device)
    model.to(dev)
    image = image_cpu.to(dev)
    model.eval()
    calibrate_frozen_bn(model, image)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rec = {
        "impl": "torchvision",
        "model": "maskrcnn_resnet101_fpn",
        "mode": "train" if args.train else "inference",
        "size": f"{h}x{w}",
        "min_size": min_size,
        "max_size": max_size,
        "threads": args.threads,
        "device": args.device,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "repeats": args.repeats,
    }
    times = []
    if args.save_weights and not args.train:
        from safetensors.torch import save_file
        os.makedirs(args.save_weights, exist_ok=True)
        sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
              if not k.endswith("num_batches_tracked")}
        save_file(sd, os.path.join(args.save_weights, f"weights_{h}x{w}.safetensors"))
        save_file({"image": image_cpu.contiguous()}, os.path.join(args.save_weights, f"image_{h}x{w}.safetensors"))
    if not args.train:
        model.eval()
        with torch.inference_mode():
            out = None
            for i in range(1 + args.repeats):
                t0 = time.perf_counter()
                out = model([image])
                sync()
                dt = time.perf_counter() - t0
                if i > 0:
                    times.append(dt)
            # check the input really was not resized
            il, _ = model.transform([image])
            assert tuple(il.image_sizes[0]) == (h, w), il.image_sizes
        rec["detections"] = int(out[0]["boxes"].shape[0])
        if args.save_weights:
            from safetensors.torch import save_file
            o = out[0]
            save_file({k: o[k].detach().cpu().contiguous() for k in ("boxes", "labels", "scores", "masks")},
                      os.path.join(args.save_weights, f"dets_{h}x{w}.safetensors"))
        rec["box_score_thresh"] = args.box_score_thresh
    else:
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=1e-4)
        # 3 target instances: boxes, labels, masks
        boxes = torch.tensor(
            [[0.10 * w, 0.10 * h, 0.45 * w, 0.50 * h],
             [0.50 * w, 0.20 * h, 0.90 * w, 0.60 * h],
             [0.20 * w, 0.55 * h, 0.70 * w, 0.95 * h]],
            dtype=torch.float32,
        )
        masks = torch.zeros(3, h, w, dtype=torch.uint8)
        for k, b in enumerate(boxes.round().to(torch.int64).tolist()):
            masks[k, b[1]:b[3], b[0]:b[2]] = 1
        target = {"boxes": boxes.to(dev), "labels": torch.tensor([1, 2, 3], dtype=torch.int64, device=dev),
                  "masks": masks.to(dev)}
        for i in range(1 + args.repeats):
            t0 = time.perf_counter()
            losses = model([image], [target])
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync()
            dt = time.perf_counter() - t0
            if i > 0:
                times.append(dt)
        rec["loss"] = float(loss.item())
        rec["lr"] = args.lr
        rec["trainable_params"] = int(sum(p.numel() for p in params))
    rec["times_s"] = [round(t, 4) for t in times]
    rec["median_s"] = round(statistics.median(times), 4)
    rec["peak_rss_mb"] = round(peak_rss_mb(), 1)
    if dev.type == "cuda":
        rec["peak_gpu_allocated_mb"] = round(torch.cuda.max_memory_allocated(dev) / 2**20, 1)
        rec["peak_gpu_reserved_mb"] = round(torch.cuda.max_memory_reserved(dev) / 2**20, 1)
        rec["gpu"] = torch.cuda.get_device_name(dev)
    print(json.dumps(rec), flush=True)


def parse_size(s):
    h, w = s.lower().split("x")
    return int(h), int(w)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--size", default=None,
                    help=f"comma-separated HxW list (default {DEFAULT_SIZES}; 512x512 with --train)")
    ap.add_argument("--train", action="store_true", help="time one SGD training step instead of inference")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs after 1 warm-up (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--box-score-thresh", type=float, default=0.05,
                    help="roi_heads score threshold (torchvision default 0.05; with random weights few or no "
                         "detections pass it, so the mask branch does little work; use 0 to force 100)")
    ap.add_argument("--lr", type=float, default=1e-4,
                    help="SGD learning rate for --train (random weights without real BN statistics diverge to "
                         "NaN within 2 steps at 1e-2; the time does not depend on it)")
    ap.add_argument("--save-weights", default=None,
                    help="inference only: write the calibrated state_dict and the input image as "
                         "DIR/weights_HxW.safetensors and DIR/image_HxW.safetensors, so that "
                         "crates/model/examples/bench_inference.rs runs the very same model")
    ap.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    ap.add_argument("--in-process", action="store_true", help="do not spawn one subprocess per measurement")
    args = ap.parse_args()
    if args.size is None:
        args.size = "512x512" if args.train else DEFAULT_SIZES
    sizes = [parse_size(s) for s in args.size.split(",") if s]

    if args.in_process or len(sizes) == 1:
        for h, w in sizes:
            run_one(args, h, w)
        return
    for h, w in sizes:
        cmd = [sys.executable, os.path.abspath(__file__), "--in-process", "--size", f"{h}x{w}",
               "--threads", str(args.threads), "--repeats", str(args.repeats), "--seed", str(args.seed),
               "--box-score-thresh", str(args.box_score_thresh), "--lr", str(args.lr),
               "--device", args.device]
        if args.train:
            cmd.append("--train")
        if args.save_weights:
            cmd += ["--save-weights", args.save_weights]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
