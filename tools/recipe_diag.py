"""One training of the quick studies budget through the core alone (no MLflow), val numbers only.

    python tools/recipe_diag.py NAME [key=value ...]      # appends a JSON line to recipe_diag.jsonl

Every config runs its recipe's stages (``maskpose_core/train/recipe.py``), stage 1 stored in
``checkpoints/stages`` (the studies' store). Only ``val/…`` metrics are printed:
this tool is for choices, which are made on val (reported numbers come from the studies, on test).
"""
from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

from maskpose_core.config import apply_overrides, parse_overrides, profile_config
from maskpose_core.train.recipe import STORE_DIR, fit_recipe

STUDY_BUDGET = {"train.epochs": 3, "train.steps_per_epoch": 80, "train.val_samples": 200}
SHOWN = ("mpjpe_mm", "mpjpe_flip_mm", "p_mpjpe_mm", "err2d_flip_pct", "mask_iou", "oracle_mpjpe_mm")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    name, over = argv[0], parse_overrides(argv[1:])
    cfg = apply_overrides(profile_config("quick"), {**STUDY_BUDGET, **over})
    t0 = time.perf_counter()
    metrics = fit_recipe(cfg, store=Path("checkpoints") / STORE_DIR)
    line = {"name": name, "over": over, "hash": cfg.hash, "minutes": round((time.perf_counter() - t0) / 60, 1),
            "val": {k: round(metrics[f"val/{k}"], 2) for k in SHOWN if f"val/{k}" in metrics}}
    print(json.dumps(line), flush=True)
    with open("recipe_diag.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
