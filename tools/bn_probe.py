"""How much of stage 2's effect is BatchNorm's running statistics? (val only; a diagnostic)

    python tools/bn_probe.py [--batches 40] [--profile quick] [key=value ...]

Loads (or trains and stores) the stage-1 checkpoint of the given recipe config (quick studies budget) and
evaluates it on the target's val split three ways, with no weight changed:
``stage 1`` (running statistics of the pseudo set, as trained), ``target stats`` (running
statistics re-estimated on target training images: AdaBN) and ``mixed stats`` (re-estimated on
alternating target and pseudo batches, momentum 0.1, target first: what stage 2's evaluation
sees). Images only are read from the target (no labels). Prints one JSON line per way.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from maskpose_core.config import apply_overrides, parse_overrides, profile_config
from maskpose_core.data.registry import load_data
from maskpose_core.train.fit import build_model
from maskpose_core.train.evaluate import evaluate
from maskpose_core.train.checkpoint import load_checkpoint
from maskpose_core.train.recipe import STORE_DIR, CheckpointStore, fit_stage, stages

STUDY_BUDGET = {"train.epochs": 3, "train.steps_per_epoch": 80, "train.val_samples": 200}
RECIPE = {"recipe.stages": "two_stage", "model.init_prior": "none", "loss.template_weight": 0.0}
SHOWN = ("mpjpe_flip_mm", "p_mpjpe_mm", "err2d_flip_pct", "mask_iou")


def _reestimate(net, loaders, batches: int, momentum: float | None) -> None:
    """The detector's running statistics from ``batches`` steps over ``loaders`` in turn (train-mode
    forward, no grad). ψ's are left as trained: ``predict_views`` does not run ψ."""
    bns = [m for m in net.detector.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = momentum
    net.train()
    its = [iter(ld) for ld in loaders]
    with torch.no_grad():
        for _ in range(batches):
            for it in its:
                b = next(it)
                net.predict_views(b)
    for m in bns:
        m.momentum = 0.1
    net.eval()


def main(argv: list[str]) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--profile", default="quick", choices=("smoke", "quick"))
    ap.add_argument("--store", default=f"checkpoints/{STORE_DIR}", help="the stage store (the studies' default)")
    ap.add_argument("--data-root", default=None, help="built data (default $MASKPOSE_DATA or <project>/data)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    budget = STUDY_BUDGET if args.profile == "quick" else {}
    cfg = apply_overrides(profile_config(args.profile), {**budget, **RECIPE, **parse_overrides(args.overrides)})
    root = Path(args.data_root) if args.data_root else None
    stage1 = stages(cfg)[0]
    path = CheckpointStore(args.store).ensure(stage1, lambda: fit_stage(stage1, None, root=root))
    state = load_checkpoint(path)
    data = load_data(cfg.data, root=root, progress=False, pseudo=True)
    g = lambda: torch.Generator().manual_seed(0)                                          # noqa: E731
    target = torch.utils.data.DataLoader(data.train, batch_size=cfg.optim.batch_size, shuffle=True, generator=g())
    pseudo = torch.utils.data.DataLoader(data.pseudo, batch_size=cfg.optim.batch_size, shuffle=True, generator=g())
    lines = []
    for way, loaders, momentum in (("stage 1", None, None), ("target stats", [target], None),
                                   ("mixed stats", [target, pseudo], 0.1)):
        net = build_model(cfg, data, init=state)
        if loaders is not None:
            _reestimate(net, loaders, args.batches, momentum)
        m = evaluate(net, data.val)                       # val only: the test split is not read
        lines.append({"way": way, "checkpoint": path.name, "val": {k: round(m[k], 2) for k in SHOWN},
                      "bn_mean_abs": round(float(_first_bn(net).running_mean.abs().mean()), 6)})
        print(json.dumps(lines[-1]), flush=True)
    return lines


def _first_bn(net) -> torch.nn.modules.batchnorm._BatchNorm:
    return next(m for m in net.detector.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)
