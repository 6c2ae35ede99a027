"""Stage 1 of the two-stage recipe as a tracked, cached run (maskpose_core/train/two_stage.py).

``ensure_stage1(cfg, opts, storage=...)`` returns the stage-1 checkpoint a ``two_stage`` or
``pseudo_only`` run starts from:

* cached: ``<storage>/stage1-cache/stage1-<stage-1 hash>.pt`` exists -> checked against
  ``cfg`` (``check_stage1`` names the keys that differ) and reused, with the log line
  ``stage 1: reusing <path>``;
* else stage 1 is trained now as its own MLflow run (experiment ``stage1``, run name
  ``stage1/<hash>/seed=<s>``) through the ``train`` it is handed (``run_training``), and its final
  checkpoint is copied into the cache. A lock file serialises concurrent rows that need the
  same stage 1 (``--parallel``): one trains, the others then find it.

``run_pseudo_only`` is a row of its own: stage 1 evaluated on the target's val and test
splits, logged as a finished run with the same params and tags as any training run.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Callable

from maskpose_core.config import ExperimentConfig
from maskpose_core.file_lock import file_lock
from maskpose_core.train.two_stage import check_stage1, stage1_config

log = logging.getLogger(__name__)

STAGE1_EXPERIMENT = "stage1"      # every study's stage-1 runs, shared
CACHE_DIR = "stage1-cache"


def cache_path(cfg: ExperimentConfig, storage: Path) -> Path:
    return Path(storage) / CACHE_DIR / f"stage1-{stage1_config(cfg).hash}.pt"


def _reuse(cfg: ExperimentConfig, path: Path) -> Path:
    from maskpose_core.train.checkpoint import load_checkpoint
    check_stage1(cfg, load_checkpoint(path), where=str(path))
    log.info("stage 1: reusing %s (stage-1 hash %s)", path, stage1_config(cfg).hash)
    return path


def ensure_stage1(cfg: ExperimentConfig, opts, *, storage: Path, train: Callable) -> Path:
    """The cached stage-1 checkpoint of ``cfg``, training (and caching) it first if needed with
    ``train(stage1_cfg, stage1_opts)`` (orchestration.train passes its own ``run_training``,
    so this module does not import it back)."""
    path = cache_path(cfg, storage)
    if path.is_file():
        return _reuse(cfg, path)
    with file_lock(path.with_name(f".{path.name}.lock")):
        if path.is_file():                       # another row trained it meanwhile
            return _reuse(cfg, path)
        s1 = stage1_config(cfg)
        log.info("stage 1: training on the pseudo set (hash %s, %d epochs); cached as %s", s1.hash,
                 s1.train.epochs, path)
        s1_opts = dataclasses.replace(opts, study=STAGE1_EXPERIMENT, variant="stage1", parent_run_id=None,
                                      extra_tags={"stage": "1"})
        outcome = train(s1, s1_opts)
        if outcome.checkpoint is None:
            raise RuntimeError(f"stage 1 run {outcome.run_id} finished without a checkpoint")
        tmp = path.with_name(f".{path.name}.tmp")
        shutil.copyfile(outcome.checkpoint, tmp)
        tmp.replace(path)
    return path


def run_pseudo_only(cfg: ExperimentConfig, data, stage1: Path) -> dict[str, float]:
    """Stage 1 on the target: ``val/…`` and ``test/…`` metrics (no training step)."""
    from maskpose_core.train.checkpoint import load_checkpoint
    from maskpose_core.train.fit import build_model
    from maskpose_core.train.two_stage import evaluate_on_target

    net = build_model(cfg, data, init=load_checkpoint(stage1))
    return evaluate_on_target(net, data)
