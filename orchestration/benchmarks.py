"""Orchestration overheads, measured side by side in one run (``studies/benchmarks.py``):

- Ray Train with 1 worker vs the plain single-process ``fit``: training samples/s ratio
  (target ≥ 0.95 at the quick profile — Ray may only add per-epoch, not per-step, cost);
- 2 workers vs 1 on this machine, reported as is (2 cores: DDP halves the threads per worker);
- Tune overhead per trial: a 2-trial sweep's wall time per trial minus a standalone 1-worker fit.

Throughput is the ``train/samples_per_s`` the core reports per epoch (training loop only), the
median over epochs after the first (warm-up). Runs go to a temporary tracking store.
"""
from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from maskpose_core.config import profile_config
from orchestration import tracking
from orchestration.train import LaunchOptions, run_training

log = logging.getLogger(__name__)

BENCH_EPOCHS = 3           # epoch 0 is warm-up; the median of the others is reported
BENCH_STEPS = 20           # training steps per epoch (quick: 20 × 32 moments)
BENCH_VAL_SAMPLES = 32     # keep validation short: it is not what is measured


def _throughput(uri: str, run_id: str) -> float:
    history = tracking.client(uri).get_metric_history(run_id, "train/samples_per_s")
    values = [m.value for m in sorted(history, key=lambda m: m.step)]
    return statistics.median(values[1:] or values)


def _run(cfg, root: Path, *, workers: int, study: str, uri: str) -> tuple[float, float]:
    """(samples/s, wall seconds) of one training run."""
    t0 = time.perf_counter()
    out = run_training(cfg, LaunchOptions(workers=workers, study=study, tracking_uri=uri,
                                          storage_path=str(root / "store"), system_metrics=False))
    wall = time.perf_counter() - t0
    log.info("benchmark %s: %.1f samples/s, %.1f s wall", study, _throughput(uri, out.run_id), wall)
    return _throughput(uri, out.run_id), wall


def _tune_wall(cfg, root: Path, uri: str, trials: int) -> float:
    from orchestration.tune import SweepOptions, run_sweep

    t0 = time.perf_counter()
    out = run_sweep(cfg, SweepOptions(name="bench-sweep", trials=trials, concurrent=1, workers=1,
                                      storage_path=str(root / "store"), tracking_uri=uri))
    if out.finished_trials != trials:
        raise RuntimeError(f"benchmark sweep finished {out.finished_trials} of {trials} trials")
    return time.perf_counter() - t0


def bench_orchestration(profile: str = "quick") -> list[tuple[str, str]]:
    """Rows (measure, value) for the benchmarks report."""
    from orchestration.runtime import ensure_ray

    cores = os.cpu_count() or 1
    ensure_ray()
    base = {"train.epochs": BENCH_EPOCHS, "train.steps_per_epoch": BENCH_STEPS,
            "train.val_samples": BENCH_VAL_SAMPLES}
    one = profile_config(profile, **base, **{"train.num_threads": cores})
    two = profile_config(profile, **base, **{"train.num_threads": max(1, cores // 2)})
    with tempfile.TemporaryDirectory(prefix="maskpose-bench-") as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        plain, plain_wall = _run(one, root, workers=0, study="bench-plain", uri=uri)
        ray1, ray1_wall = _run(one, root, workers=1, study="bench-ray1", uri=uri)
        ray2, ray2_wall = _run(two, root, workers=2, study="bench-ray2", uri=uri)
        short = profile_config(profile, **{**base, "train.epochs": 1}, **{"train.num_threads": cores})
        _, fit_wall = _run(short, root, workers=1, study="bench-ray1-short", uri=uri)
        trials = 2
        per_trial = _tune_wall(short, root, uri, trials) / trials
    return [
        (f"plain fit, 1 process × {cores} threads (samples/s)", f"{plain:.1f}"),
        (f"Ray Train, 1 worker × {cores} threads (samples/s)", f"{ray1:.1f}"),
        ("Ray Train 1 worker / plain fit (target ≥ 0.95)", f"{ray1 / plain:.3f}"),
        (f"Ray Train, 2 workers × {max(1, cores // 2)} threads (samples/s, gloo DDP)", f"{ray2:.1f}"),
        ("2 workers / 1 worker (this machine)", f"{ray2 / ray1:.3f}"),
        (f"wall time of the whole run: plain / Ray 1 worker / Ray 2 workers ({BENCH_EPOCHS} epochs)",
         f"{plain_wall:.1f} s / {ray1_wall:.1f} s / {ray2_wall:.1f} s"),
        ("Tune overhead per trial (1-epoch trial in a sweep − the same standalone Ray fit)",
         f"{per_trial - fit_wall:.1f} s ({per_trial:.1f} s vs {fit_wall:.1f} s)"),
    ]
