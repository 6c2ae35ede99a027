"""One-shot device check that needs only the core (torch, numpy, scipy): no ray, mlflow,
optuna, scikit-fmm (G falls back to the scipy graph method) or tqdm.

    python -m maskpose_core.device_check --device cuda                 # a GPU machine: ≈ 8 min
    python -m maskpose_core.device_check --device cpu --profile smoke --paper-steps 1 --paper-size 64

Phases, each printed as one JSON line as it ends (and all of them in ``--out``):

1. ``build``  — a small data set of the main profile, rendered with every core
   (``--frames`` train moments; val and test 1/8 of that);
2. ``fit``    — the core's ``fit`` at the main profile's studies budget (3 epochs × 80
   steps at quick): training images/s, peak device memory, the final val metrics;
3. ``paper``  — ``--paper-steps`` steps of the paper profile (ResNet-50, 256 px, batch 32
   unless ``--paper-size`` / ``--paper-batch`` say otherwise) on a small build of its own:
   images/s and peak memory. Precision: fp32 (the precision switch is issue 15's).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from maskpose_core.config import apply_overrides, profile_config
from maskpose_core.data.geodesic import default_method
from maskpose_core.data.registry import load_data
from maskpose_core.train.fit import fit
from maskpose_core.train.hooks import TrainHooks

STUDY_BUDGET = {"train.epochs": 3, "train.steps_per_epoch": 80, "train.val_samples": 200}
SHOWN = ("val/mpjpe_mm", "val/mpjpe_flip_mm", "val/p_mpjpe_mm", "val/err2d_pct", "val/mask_iou")


def _peak_mb(device: str) -> float | None:
    return round(torch.cuda.max_memory_allocated() / 2 ** 20, 1) if device == "cuda" else None


def _reset_peak(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def _emit(phase: str, record: dict, results: list) -> None:
    line = {"phase": phase, **record}
    results.append(line)
    print(json.dumps(line), flush=True)


def _build(cfg, root: Path, results: list, phase: str):
    t0 = time.perf_counter()
    data = load_data(cfg.data, root=root, workers=os.cpu_count(), progress=False)
    _emit(phase, {"seconds": round(time.perf_counter() - t0, 1), "folder": data.folder.name,
                  "moments": {"train": len(data.train), "val": len(data.val)}, "geodesic": default_method()},
          results)
    return data


def _timed_fit(cfg, data, device: str) -> tuple[dict, float, float]:
    """(final metrics, training images/s over the run, wall seconds)."""
    seen = {"images": 0, "seconds": 0.0}

    def report(rep):
        seen["seconds"] += rep.metrics["time/epoch_s"]
        seen["images"] += rep.metrics["train/samples_per_s"] * rep.metrics["time/epoch_s"] * data.num_views

    _reset_peak(device)
    t0 = time.perf_counter()
    metrics = fit(cfg, data, hooks=TrainHooks(report=report))
    return metrics, seen["images"] / max(seen["seconds"], 1e-9), time.perf_counter() - t0


def run(args: argparse.Namespace) -> list[dict]:
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("device_check: --device cuda but torch sees no CUDA device")
    root, results = Path(args.root), []
    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    _emit("device", {"device": device_name, "torch": torch.__version__, "threads": torch.get_num_threads()}, results)

    small = max(args.frames // 8, 8)
    frames = {"data.train_frames": args.frames, "data.val_frames": small, "data.test_frames": small}
    cfg = apply_overrides(profile_config(args.profile), {**STUDY_BUDGET, **frames, "train.device": args.device})
    if args.profile == "smoke":
        cfg = apply_overrides(cfg, {"train.epochs": 2, "train.steps_per_epoch": 4, "train.val_samples": 16})
    data = _build(cfg, root, results, "build")
    metrics, images_s, wall = _timed_fit(cfg, data, args.device)
    _emit("fit", {"profile": args.profile, "steps": cfg.train.epochs * cfg.train.steps_per_epoch,
                  "images_per_s": round(images_s, 1), "wall_s": round(wall, 1), "peak_mb": _peak_mb(args.device),
                  **{k: round(metrics[k], 2) for k in SHOWN if k in metrics}}, results)

    if args.paper_steps > 0:
        paper = apply_overrides(profile_config("paper"), {
            "data.image_size": args.paper_size, "data.train_frames": args.paper_frames,
            "data.val_frames": 8, "data.test_frames": 8, "optim.batch_size": args.paper_batch,
            "train.epochs": 1, "train.steps_per_epoch": args.paper_steps, "train.val_samples": 8,
            "train.device": args.device,
            "model.heatmap_size": args.paper_size // 4, "loss.render_size": args.paper_size // 4})
        pdata = _build(paper, root, results, "paper_build")
        _, images_s, wall = _timed_fit(paper, pdata, args.device)
        _emit("paper", {"image_size": args.paper_size, "batch": args.paper_batch, "steps": args.paper_steps,
                        "precision": "fp32", "images_per_s": round(images_s, 1), "wall_s": round(wall, 1),
                        "peak_mb": _peak_mb(args.device)}, results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m maskpose_core.device_check", description=__doc__.split("\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    p.add_argument("--profile", choices=("smoke", "quick"), default="quick")
    p.add_argument("--frames", type=int, default=2000, help="train moments of the main build (default 2000)")
    p.add_argument("--root", default="data-device-check", help="where the builds go (default ./data-device-check)")
    p.add_argument("--paper-steps", type=int, default=200, help="steps of the paper profile (0 = skip)")
    p.add_argument("--paper-size", type=int, default=256, help="paper-phase crop side, px (default 256)")
    p.add_argument("--paper-batch", type=int, default=32)
    p.add_argument("--paper-frames", type=int, default=256, help="train moments of the paper build")
    p.add_argument("--out", default="", help="also write every phase's record to this JSON file")
    args = p.parse_args(argv)
    for name in ("frames", "paper_batch", "paper_frames"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.paper_steps < 0 or args.paper_size < 32 or args.paper_size % 32:
        p.error("--paper-steps must be >= 0 and --paper-size a multiple of 32")
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
