#!/usr/bin/env python3
"""The GPU check's table (tools/gpu/run.sh) from its results.jsonl: parity, then per
measurement torchvision vs mrcnn time, ratio and peak memory, as Markdown."""

import json
import sys


def fmt(v, unit=""):
    return "-" if v is None else f"{v:.3f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def memory(r):
    """Peak GPU memory nvidia-smi saw (MB above the idle baseline); on the CPU, peak RSS."""
    if r.get("peak_gpu_mb_smi") is not None:
        return f"{r['peak_gpu_mb_smi']} MB GPU"
    if r.get("peak_rss_mb") is not None:
        return f"{r['peak_rss_mb']:.0f} MB RSS"
    return "-"


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    out = []
    for r in rows:
        if r.get("what") == "parity":
            ok = "passed" if r["exit"] == 0 else f"FAILED (exit {r['exit']})"
            out.append(f"Parity tests on wgpu (wgpu required): {ok}; {r['summary']} ({r['seconds']} s)")
    gpu = next((r["gpu"] for r in rows if r.get("gpu")), None)
    if gpu:
        out.append(f"GPU: {gpu}")
    out.append("")
    out.append("| measurement | torchvision (s) | mrcnn wgpu (s) | ratio mrcnn / torch | peak memory torch | peak memory mrcnn | detections vs torchvision |")
    out.append("|---|---|---|---|---|---|---|")
    by = {r.get("what"): r for r in rows}
    for mode in ("inference", "train step"):
        torch = next((r for w, r in by.items() if w and w.startswith(f"torchvision {mode}")), None)
        ours = next((r for w, r in by.items() if w and w.startswith(f"mrcnn {mode}")), None)
        if not torch and not ours:
            continue
        size = (torch or ours).get("size") or (torch or ours)["what"].split()[-1]
        t = torch.get("median_s") if torch else None
        m = ours.get("median_s") if ours else None
        ratio = f"{m / t:.2f}" if t and m else "-"
        agree = "-"
        if ours and isinstance(ours.get("vs_torchvision"), dict):
            a = ours["vs_torchvision"]
            agree = (f"{a['matched']}/{a['of']} (boxes within {a['max_box_diff_px']:.1e} px, "
                     f"masks {a['max_mask_prob_diff']:.1e})")
        out.append(f"| {mode} {size} | {fmt(t)} | {fmt(m)} | {ratio} | "
                   f"{memory(torch) if torch else '-'} | {memory(ours) if ours else '-'} | {agree} |")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1])
