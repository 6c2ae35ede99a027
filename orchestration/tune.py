"""``maskpose tune``: Ray Tune + Optuna (TPE) over λs, λp and σ², ASHA, MLflow parent/child.

The supported Ray 2.60 pattern (docs/stack.md): a Tune *function* trainable (``tune_trial``, in the
installed package) that fits one ``TorchTrainer`` per trial and forwards each epoch's report
with ``TuneReportCallback``. Each trial is an MLflow child run of the sweep's parent run; the
parent gets the best config, the trial table and ``best/<objective>``.

Resources are planned before anything starts: ``concurrent × (0.1 trial driver + workers ×
CPU-per-worker) ≤ cluster CPUs`` — otherwise Ray waits forever. An interrupted sweep (Ctrl-C /
SIGINT) resumes with ``Tuner.restore`` (``--resume``): finished trials are kept, unfinished
ones continue from their last checkpoint in the same MLflow run, the sampler state survives.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from maskpose_core.config import ExperimentConfig, apply_overrides, flatten, to_dict, unflatten
from orchestration import tracking
from orchestration.runtime import (TUNE_DRIVER_CPUS, ensure_ray, job_placement_groups, plan_resources,
                                   release_placement_groups)
from orchestration.train import LaunchOptions, preflight, run_training

log = logging.getLogger(__name__)

# (low, high), sampled log-uniformly. σ² in normalised crop units² (docs/findings-early.md: 2e-2 best,
# authors' code 3e-3); λ around the paper's 1.
DEFAULT_SPACE: dict[str, tuple[float, float]] = {
    "loss.lambda_s": (0.1, 10.0),
    "loss.lambda_p": (0.1, 10.0),
    "loss.sigma2": (3e-3, 3e-2),
}
# objective -> (mode, uses 3D labels)
OBJECTIVES: dict[str, tuple[str, bool]] = {
    "val/mask_iou": ("max", False),        # label-free: IoU of the rendered vs the given masks
    "val/loss_skeleton": ("min", False),   # label-free: the skeleton-mask loss on val
    "val/mpjpe_mm": ("min", True),         # label-using: reported as such (tag uses_labels)
}
SWEEP_RECORD = "maskpose_sweep.json"


def parse_space(items: list[str] | None) -> dict[str, tuple[float, float]]:
    """``["loss.lambda_s=0.1:10"]`` -> ``{"loss.lambda_s": (0.1, 10.0)}`` over the default space."""
    space = dict(DEFAULT_SPACE)
    for item in items or []:
        key, sep, rng = item.partition("=")
        low, sep2, high = rng.partition(":")
        if not sep or not sep2:
            raise ValueError(f"search-space entry {item!r} is not of the form key=low:high")
        try:
            space[key.strip()] = (float(low), float(high))
        except ValueError:
            raise ValueError(f"search-space entry {item!r}: low and high must be numbers") from None
    return space


def validate_space(space: dict[str, tuple[float, float]], cfg: ExperimentConfig) -> None:
    """Keys must be float fields of the config; ranges positive (log-uniform) and low < high."""
    flat = flatten(cfg)
    for key, (low, high) in space.items():
        if key not in flat:
            raise ValueError(f"unknown search-space key {key!r}; float config keys are "
                             f"{sorted(k for k, v in flat.items() if isinstance(v, float))}")
        if not isinstance(flat[key], float):
            raise ValueError(f"search-space key {key!r} is not a float field ({type(flat[key]).__name__})")
        if not (low > 0 and high > 0) or not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"search-space range of {key!r} must be positive (log-uniform), "
                             f"got {low}:{high}")
        if not low < high:
            raise ValueError(f"search-space range of {key!r} needs low < high, got {low}:{high}")


def trial_config(base_flat: dict[str, Any], sampled: dict[str, float]) -> ExperimentConfig:
    """The base config with the sampled values; σ²_start is raised to σ² when below it
    (coarse-to-fine needs σ²_start ≥ σ²)."""
    base = unflatten(base_flat, base=ExperimentConfig(profile=str(base_flat["profile"])))
    sampled = dict(sampled)
    if "loss.sigma2" in sampled and "loss.sigma2_start" not in sampled:
        sampled["loss.sigma2_start"] = max(base.loss.sigma2_start, sampled["loss.sigma2"])
    return apply_overrides(base, sampled)


@dataclass(frozen=True, kw_only=True)
class SweepOptions:
    """A sweep: how many trials, how wide, which objective, where."""
    name: str = ""                       # "" = tune-<profile>-<objective>-seed<seed>
    trials: int = 8
    concurrent: int = 1
    workers: int = 1                     # Ray Train workers per trial
    cpus_per_worker: float | None = None
    gpus_per_worker: float = 0.0
    objective: str = "val/mask_iou"
    search_seed: int = 0
    space: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_SPACE))
    grace_period: int = 1                # ASHA: epochs before a trial can be stopped
    storage_path: str = ""
    tracking_uri: str | None = None
    data_root: str = ""
    ray_address: str | None = None
    resume: bool = False
    interrupt_after: int = 0             # testing: act as Ctrl-C after this many finished trials

    def __post_init__(self):
        if self.trials < 1 or self.concurrent < 1 or self.workers < 1:
            raise ValueError(f"SweepOptions: trials, concurrent and workers must be >= 1, got "
                             f"{self.trials}, {self.concurrent}, {self.workers}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"SweepOptions.objective must be one of {sorted(OBJECTIVES)}, got {self.objective!r}")

    def sweep_name(self, cfg: ExperimentConfig) -> str:
        slug = self.objective.replace("/", "_")
        return self.name or f"tune-{cfg.profile}-{slug}-seed{self.search_seed}"


def tune_trial(config: dict[str, Any]) -> None:
    """The Tune function trainable: one ``TorchTrainer`` fit per trial, reported to Tune."""
    import ray.tune
    from ray.tune.integration.ray_train import TuneReportCallback

    sweep = json.loads(Path(config["sweep_file"]).read_text())
    sampled = {k: float(config[k]) for k in sweep["space_keys"]}
    cfg = trial_config(sweep["base_config"], sampled)
    trial_id = ray.tune.get_context().get_trial_id()
    opts = LaunchOptions(**sweep["launch"], variant=f"trial_{trial_id}",
                         extra_tags={"trial_id": trial_id, "sweep": sweep["name"]})
    run_training(cfg, opts, callbacks=[TuneReportCallback()], release_leaks=False)


class _InterruptAfter:
    """A Tune callback that sends SIGINT to this process after ``n`` finished trials."""

    def __new__(cls, n: int):
        from ray.tune import Callback

        class InterruptAfter(Callback):
            def __init__(self):
                self.done = 0

            def on_trial_complete(self, iteration, trials, trial, **info):
                self.done += 1
                if self.done == n:
                    log.warning("interrupting the sweep after %d finished trials (--interrupt-after)", n)
                    os.kill(os.getpid(), signal.SIGINT)
        return InterruptAfter()


def _open_parent(cfg, opts: SweepOptions, uri: str, sweep_dir: Path) -> str:
    """The sweep's parent MLflow run: reopened from the sweep record on resume, else created."""
    record = sweep_dir / SWEEP_RECORD
    if opts.resume:
        if not record.is_file():
            raise ValueError(f"--resume: no sweep to resume at {sweep_dir} (no {SWEEP_RECORD})")
        run_id = json.loads(record.read_text())["parent_run_id"]
        tracking.client(uri).update_run(run_id, status="RUNNING")
        return run_id
    if record.is_file():
        raise ValueError(f"sweep {sweep_dir.name!r} already exists at {sweep_dir}; pass --resume "
                         "to continue it or --name to start another")
    experiment_id = tracking.ensure_experiment(uri, sweep_dir.name)
    mode, uses_labels = OBJECTIVES[opts.objective]
    tags = tracking.run_tags(cfg, study=sweep_dir.name, variant="sweep", dataset_hash="",
                             extra={"sweep": sweep_dir.name, "objective": opts.objective,
                                    "objective_mode": mode, "objective_uses_labels": uses_labels})
    params = {**{f"search.{k}": f"{lo}:{hi}" for k, (lo, hi) in opts.space.items()},
              "search.trials": opts.trials, "search.concurrent": opts.concurrent,
              "search.seed": opts.search_seed, "search.objective": opts.objective}
    return tracking.create_run(uri, experiment_id, run_name=sweep_dir.name, tags=tags,
                               params=params, config=to_dict(cfg))


def _write_record(cfg, opts: SweepOptions, *, sweep_dir: Path, parent_run_id: str, uri: str,
                  cpw: float) -> Path:
    """What every trial reads (shared storage): base config, sampled keys, launch options."""
    launch = {"workers": opts.workers, "cpus_per_worker": cpw, "gpus_per_worker": opts.gpus_per_worker,
              "storage_path": str(sweep_dir / "train"), "study": sweep_dir.name,
              "tracking_uri": uri, "parent_run_id": parent_run_id, "data_root": opts.data_root,
              "max_failures": 1}
    record = sweep_dir / SWEEP_RECORD
    sweep_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"name": sweep_dir.name, "parent_run_id": parent_run_id,
                                  "base_config": flatten(cfg), "space_keys": sorted(opts.space),
                                  "space": opts.space, "trials": opts.trials,
                                  "objective": opts.objective, "launch": launch}, indent=1))
    return record


def _recorded_options(opts: SweepOptions, sweep_dir: Path) -> SweepOptions:
    """On ``--resume`` the sweep keeps what it was started with (trials, objective, space)."""
    record = sweep_dir / SWEEP_RECORD
    if not record.is_file():
        raise ValueError(f"--resume: no sweep to resume at {sweep_dir} (no {SWEEP_RECORD})")
    rec = json.loads(record.read_text())
    return replace(opts, trials=rec["trials"], objective=rec["objective"],
                   space={k: tuple(v) for k, v in rec["space"].items()})


def trial_dirname(trial) -> str:
    """Short trial folder names (the default spells out every config value)."""
    return f"trial_{trial.trial_id}"


def scheduler(epochs: int, grace_period: int):
    """ASHA whose rungs all lie before the last epoch. A trial at its last epoch has done all
    its work: stopping it there (ASHA has a rung at ``max_t`` when ``grace_period × 4^k`` equals
    it, e.g. 1 epoch, grace 1) left its MLflow run RUNNING, then KILLED, without its final
    checkpoint. ``stop_last_trials=False``: a trial that reaches its last epoch ends by itself,
    so its driver logs the final checkpoint and ends the run FINISHED. With no epoch before the
    last one to stop at (``grace_period >= epochs``): first in, first out."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if epochs - 1 < grace_period:
        return FIFOScheduler()
    return ASHAScheduler(max_t=epochs - 1, grace_period=grace_period, stop_last_trials=False)


def _tuner(cfg, opts: SweepOptions, *, sweep_dir: Path):
    """A new ``Tuner`` over the record's sweep, or ``Tuner.restore`` of an interrupted one."""
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    mode, _ = OBJECTIVES[opts.objective]
    trainable = tune.with_resources(tune_trial, {"CPU": TUNE_DRIVER_CPUS})
    if opts.resume:
        if not tune.Tuner.can_restore(str(sweep_dir)):
            raise ValueError(f"--resume: Tune has no state to restore at {sweep_dir}")
        return tune.Tuner.restore(str(sweep_dir), trainable=trainable, resume_unfinished=True)
    callbacks = [_InterruptAfter(opts.interrupt_after)] if opts.interrupt_after > 0 else []
    run_config = tune.RunConfig(name=sweep_dir.name, storage_path=str(sweep_dir.parent), callbacks=callbacks)
    param_space = {k: tune.loguniform(lo, hi) for k, (lo, hi) in opts.space.items()}
    param_space["sweep_file"] = str(sweep_dir / SWEEP_RECORD)
    tune_config = tune.TuneConfig(
        metric=opts.objective, mode=mode, num_samples=opts.trials,
        max_concurrent_trials=opts.concurrent, trial_dirname_creator=trial_dirname,
        search_alg=OptunaSearch(seed=opts.search_seed),
        scheduler=scheduler(cfg.train.epochs, opts.grace_period))
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)


@dataclass(frozen=True)
class SweepOutcome:
    name: str
    parent_run_id: str
    url: str
    finished_trials: int
    interrupted: bool
    best: dict[str, Any] | None        # {"objective": value, "config": {flat key: value}, "run": ...}


def _close_children(uri: str, experiment_id: str, parent_run_id: str) -> None:
    """Trials that ASHA stopped or an interrupt cut short leave their run RUNNING: mark them KILLED."""
    runs = tracking.client(uri).search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING'")
    for run in runs:
        tracking.client(uri).set_tag(run.info.run_id, "stopped", "early_or_interrupted")
        tracking.end_run(uri, run.info.run_id, "KILLED")


def _summarise(grid, opts: SweepOptions, uri: str, parent_run_id: str) -> dict[str, Any] | None:
    """Trial table and best config as artifacts of the parent run; ``best/<objective>`` metric."""
    mode, uses_labels = OBJECTIVES[opts.objective]
    df = grid.get_dataframe(filter_metric=opts.objective, filter_mode=mode)
    keep = [c for c in df.columns if c.startswith(("trial_id", "config/loss.", "training_iteration"))
            or c in (opts.objective, "val/mpjpe_mm", "val/mask_iou", "val/loss_skeleton")]
    tracking.client(uri).log_text(parent_run_id, df[keep].to_csv(index=False), "trials.csv")
    try:
        best = grid.get_best_result(metric=opts.objective, mode=mode, scope="last")
    except RuntimeError:   # no trial reported the objective
        return None
    sampled = {k: best.config[k] for k in opts.space}
    base = json.loads(Path(best.config["sweep_file"]).read_text())["base_config"]
    cfg = trial_config(base, sampled)
    summary = {"objective": opts.objective, "mode": mode, "uses_labels": uses_labels,
               "value": best.metrics[opts.objective], "sampled": sampled, "config": flatten(cfg)}
    tracking.write_json_artifact(uri, parent_run_id, summary, "best_config.json")
    tracking.log_metrics_once(uri, parent_run_id, {0: {f"best/{opts.objective}": summary["value"]}})
    return summary


def run_sweep(cfg: ExperimentConfig, opts: SweepOptions) -> SweepOutcome:
    """Run (or with ``opts.resume`` continue) a sweep; every bad input fails before work."""
    from maskpose_core.data.registry import load_data

    validate_space(opts.space, cfg)
    name = opts.sweep_name(cfg)
    storage, uri, _ = preflight(cfg, LaunchOptions(workers=0, storage_path=opts.storage_path,
                                                   tracking_uri=opts.tracking_uri, data_root=opts.data_root))
    sweep_dir = storage / name
    if opts.resume:
        opts = _recorded_options(opts, sweep_dir)
    cluster = ensure_ray(opts.ray_address)
    plan = plan_resources(workers=opts.workers, cluster=cluster, cpus_per_worker=opts.cpus_per_worker,
                          gpus_per_worker=opts.gpus_per_worker, driver_cpus=TUNE_DRIVER_CPUS,
                          concurrent=opts.concurrent)
    log.info("sweep %s: %s", name, plan.describe())
    data = load_data(cfg.data, root=opts.data_root or None, progress=False)   # built once, before fan-out
    opts = replace(opts, data_root=str(Path(data.folder).parent))
    parent_run_id = _open_parent(cfg, opts, uri, sweep_dir)
    if not opts.resume:
        _write_record(cfg, opts, sweep_dir=sweep_dir, parent_run_id=parent_run_id, uri=uri,
                      cpw=plan.cpus_per_worker)
    experiment_id = tracking.client(uri).get_run(parent_run_id).info.experiment_id
    before = job_placement_groups()
    try:
        grid = _tuner(cfg, opts, sweep_dir=sweep_dir).fit()
    except BaseException:
        tracking.end_run(uri, parent_run_id, "FAILED")
        raise
    finally:
        if release_placement_groups(before):
            log.info("released the placement groups of trials cut short")
    _close_children(uri, experiment_id, parent_run_id)
    done = grid.num_terminated + grid.num_errors
    interrupted = done < opts.trials
    best = None if interrupted else _summarise(grid, opts, uri, parent_run_id)
    tracking.end_run(uri, parent_run_id, "KILLED" if interrupted else "FINISHED")
    return SweepOutcome(name, parent_run_id, tracking.run_url(uri, experiment_id, parent_run_id),
                        done, interrupted, best)
