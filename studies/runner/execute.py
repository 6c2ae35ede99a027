"""Run what a study's plan lacks: trainings, evaluations on another data set, the baseline.

Trainings go through ``orchestration.train.run_training`` (a plain process with ``workers=0``,
Ray Train DDP with ``workers ≥ 1``); ``parallel = K > 1`` submits them as Ray tasks, K at once
(resources planned first; a tracking *server* is required: SQLite takes one writer). A run
interrupted half way resumes from its checkpoint in the same MLflow run (``run_training``).
Evaluations and the mean-pose baseline are MLflow runs of their own (tag ``kind``), so every
number in a table has a run id; an eval run carries ``source_run_id`` = the training run.
They log ``val/…`` metrics (the evaluation set's ``val`` split), whatever ``Study.split`` reads.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from typing import Any

from maskpose_core.config import flatten, profile_config, unflatten
from maskpose_core.data.configs import DataConfig
from orchestration import tracking
from orchestration.train import LaunchOptions, dataset_hash, dataset_refs, run_training
from studies.runner.plan import Planned, Study, training_runs

log = logging.getLogger(__name__)

CHECKPOINT_ARTIFACT = "checkpoint/state.pt"   # where run_training logs the final checkpoint


@dataclass(frozen=True, kw_only=True)
class ExecOptions:
    """Where and how a study runs (the ``studies/*.py`` command line fills it)."""
    tracking_uri: str
    storage_path: str = ""
    data_root: str = ""
    workers: int = 0                  # per training: 0 plain process, N Ray Train DDP workers
    parallel: int = 1                 # trainings at once (Ray tasks); > 1 needs a tracking server
    gpus_per_worker: float = 0.0
    ray_address: str | None = None

    def __post_init__(self):
        if self.workers < 0 or self.parallel < 1:
            raise ValueError(f"--workers must be >= 0 and --parallel >= 1, got {self.workers}, {self.parallel}")
        if self.parallel > 1 and self.workers > 0:
            raise ValueError("--parallel K > 1 runs K plain trainings as Ray tasks; use it with --workers 0 "
                             "(or --workers N alone for DDP per training)")
        if self.parallel > 1 and self.tracking_uri.startswith("sqlite:"):
            raise ValueError(f"--parallel {self.parallel} needs an MLflow tracking server (--tracking-uri "
                             f"http://...): SQLite ({self.tracking_uri}) takes one writer at a time")


def launch_options(study: Study, p: Planned, opts: ExecOptions, *, workers: int) -> LaunchOptions:
    return LaunchOptions(workers=workers, gpus_per_worker=opts.gpus_per_worker if workers else 0.0,
                         storage_path=opts.storage_path, study=study.name, variant=p.row.slug,
                         tracking_uri=opts.tracking_uri, data_root=opts.data_root,
                         ray_address=opts.ray_address,
                         extra_tags={"kind": "train", "row": p.row.name, "runner": "study",
                                     "mlflow.source.name": study_source(study)})


def study_source(study: Study) -> str:
    """MLflow's "Source" of every run a study makes: its script, as a user runs it."""
    return f"studies/{study.name}.py"


def train_task(flat_config: dict[str, Any], launch: dict[str, Any]) -> str:
    """A Ray task (``--parallel``): one plain training; returns its MLflow run id."""
    cfg = unflatten(flat_config, base=profile_config(str(flat_config["profile"])))
    return run_training(cfg, LaunchOptions(**launch)).run_id


def run_trainings(study: Study, todo: list[Planned], opts: ExecOptions) -> dict[str, str]:
    """Train every planned config; returns {training hash: error text} of those that failed.
    A failure is logged and the next run goes on; Ctrl-C stops at once."""
    failed: dict[str, str] = {}
    if opts.parallel > 1:
        return _run_parallel(study, todo, opts)
    for i, p in enumerate(todo, 1):
        log.info("run %d/%d: %s seed=%d (config %s)", i, len(todo), p.row.name, p.seed, p.cfg.hash)
        try:
            out = run_training(p.cfg, launch_options(study, p, opts, workers=opts.workers))
            log.info("finished %s seed=%d: run %s", p.row.name, p.seed, out.run_id)
        except Exception as err:  # one bad run must not stop the study; it shows in the table
            log.error("FAILED %s seed=%d: %s: %s", p.row.name, p.seed, type(err).__name__, err)
            failed[p.cfg.hash] = f"{type(err).__name__}: {err}"
    return failed


def _run_parallel(study: Study, todo: list[Planned], opts: ExecOptions) -> dict[str, str]:
    import ray

    from maskpose_core.data.registry import load_data
    from orchestration.runtime import ensure_ray, plan_resources

    cluster = ensure_ray(opts.ray_address)
    plan = plan_resources(workers=1, cluster=cluster, gpus_per_worker=opts.gpus_per_worker,
                          concurrent=opts.parallel)
    log.info("parallel trainings: %s", plan.describe())
    for data in {p.cfg.data for p in todo}:            # build each data set once, before fan-out
        load_data(data, root=opts.data_root or None, progress=False)
    tracking.ensure_experiment(opts.tracking_uri, study.name)   # on the driver (docs/stack.md), not in K tasks
    task = ray.remote(num_cpus=plan.cpus_per_worker, num_gpus=plan.gpus_per_worker, max_retries=0)(train_task)
    pending = {task.remote(flatten(p.cfg), asdict(launch_options(study, p, opts, workers=0))): p for p in todo}
    failed: dict[str, str] = {}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        p = pending.pop(done[0])
        try:
            log.info("finished %s seed=%d: run %s", p.row.name, p.seed, ray.get(done[0]))
        except Exception as err:  # the task's exception, re-raised by ray.get
            log.error("FAILED %s seed=%d: %s", p.row.name, p.seed, err)
            failed[p.cfg.hash] = str(err).splitlines()[0] if str(err) else type(err).__name__
    return failed


# ---------------------------------------------------------------- runs without training

def _open_run(study: Study, p: Planned, uri: str, *, kind: str, dataset: str, extra: dict,
              params: dict, data) -> str:
    """A run without training (an evaluation or a baseline) with the tags, params and dataset
    inputs of a training run of the same study; ``data`` is the bundle its numbers come from."""
    experiment_id = tracking.ensure_experiment(uri, study.name)
    tags = tracking.run_tags(p.cfg, study=study.name, variant=p.row.slug, dataset_hash=dataset_hash(data),
                             extra={"kind": kind, "row": p.row.name, "runner": "study",
                                    "config_hash": p.hash, "dataset": dataset,
                                    "mlflow.source.name": study_source(study), **extra})
    params = {**common_params(p), **params}
    return tracking.create_run(uri, experiment_id, run_name=f"{p.row.slug}/seed={p.seed}/{kind}",
                               tags=tags, params=params, config={"row": p.row.name, "kind": kind, **params})


def common_params(p: Planned) -> dict:
    """The param keys every run of a study shares, trained or not (compare views line up on
    them): the data the row learns from (``data.*``), ``seed`` and ``profile``; the data it is
    evaluated on under ``eval.data.*`` when that is another data set."""
    out = {**{f"data.{k}": v for k, v in flatten(p.cfg.data).items()}, "seed": p.seed, "profile": p.cfg.profile}
    if p.eval_data is not None and p.eval_data != p.cfg.data:
        out.update({f"eval.data.{k}": v for k, v in flatten(p.eval_data).items()})
    return out


def _finish(uri: str, run_id: str, metrics: dict[str, float]) -> None:
    """Log the metrics (step 0) and ``metrics.json`` (so artifact views of a run without a
    checkpoint or figure are never empty), then end the run."""
    tracking.log_metrics_once(uri, run_id, {0: metrics})
    tracking.write_json_artifact(uri, run_id, metrics, "metrics.json")
    tracking.end_run(uri, run_id, "FINISHED")


def evaluate_run(study: Study, p: Planned, train_run_id: str, opts: ExecOptions) -> str:
    """Evaluate the final checkpoint of ``train_run_id`` on ``p.eval_data``: its own run."""
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import load_checkpoint
    from maskpose_core.train.checkpoint_eval import evaluate_checkpoint

    uri = opts.tracking_uri
    with tempfile.TemporaryDirectory() as tmp:
        local = tracking.client(uri).download_artifacts(train_run_id, CHECKPOINT_ARTIFACT, tmp)
        state = load_checkpoint(local)
    bundle = load_data(p.eval_data, root=opts.data_root or None, progress=False)
    params = {"source_run_id": train_run_id, "source_config_hash": p.train_hash}
    run_id = _open_run(study, p, uri, kind="eval", dataset=p.eval_data.dataset, params=params,
                       extra={"source_run_id": train_run_id, "source_config_hash": p.train_hash}, data=bundle)
    tracking.log_datasets(uri, run_id, dataset_refs(p.eval_data.dataset, p.cfg.profile, bundle, trained_on=False))
    try:
        metrics = evaluate_checkpoint(state, bundle)     # val/…, test/… (the reported split), *_spp/…
    except BaseException:
        tracking.end_run(uri, run_id, "FAILED")
        raise
    _finish(uri, run_id, metrics)
    return run_id


def baseline_run(study: Study, p: Planned, opts: ExecOptions) -> str:
    """The mean-pose baseline (mean training pose at the GT root) as a run: no training."""
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.evaluate import mean_pose_metrics

    train = load_data(p.cfg.data, root=opts.data_root or None, progress=False)
    val = train if p.eval_data == p.cfg.data else load_data(p.eval_data, root=opts.data_root or None,
                                                            progress=False)
    metrics = {f"val/{k}": v for k, v in mean_pose_metrics(train.train, val.val).items()}
    if val.test is not None:     # the split reported numbers come from
        metrics.update({f"test/{k}": v for k, v in mean_pose_metrics(train.train, val.test).items()})
    run_id = _open_run(study, p, opts.tracking_uri, kind="baseline", dataset=p.eval_data.dataset,
                       params={}, extra={}, data=train)
    refs = dataset_refs(p.cfg.data.dataset, p.cfg.profile, train, trained_on=True)
    if val is not train:
        refs = refs[:1] + dataset_refs(p.eval_data.dataset, p.cfg.profile, val, trained_on=False)
    tracking.log_datasets(opts.tracking_uri, run_id, refs)
    _finish(opts.tracking_uri, run_id, metrics)
    return run_id


# ---------------------------------------------------------------- the whole plan

def execute(study: Study, plan: list[Planned], found: dict[str, Any], opts: ExecOptions,
            lookup) -> dict[str, str]:
    """Run every planned run absent from ``found`` ({hash: finished run id}); ``lookup()``
    re-reads MLflow after the trainings. Returns {hash: error} of the runs that failed."""
    todo = [p for h, p in training_runs(plan) if h not in found]
    failed = run_trainings(study, todo, opts) if todo else {}
    found = lookup() if todo else found
    for p in plan:
        if p.hash in found or p.action in ("train", "unavailable"):
            continue
        try:
            if p.action == "eval":
                source = found.get(p.train_hash)
                if source is None:
                    failed[p.hash] = f"training run {p.train_hash} did not finish"
                    continue
                run_id = evaluate_run(study, p, source, opts)
            else:
                run_id = baseline_run(study, p, opts)
            found[p.hash] = run_id
            log.info("finished %s %s seed=%d: run %s", p.action, p.row.name, p.seed, run_id)
        except Exception as err:  # one bad evaluation must not stop the study; it shows in the table
            log.error("FAILED %s %s seed=%d: %s: %s", p.action, p.row.name, p.seed, type(err).__name__, err)
            failed[p.hash] = f"{type(err).__name__}: {err}"
    return failed


def data_for_build(plan: list[Planned]) -> set[DataConfig]:
    """Every data set the plan reads (the CLI checks they can be found before training)."""
    out = {p.cfg.data for p in plan if p.cfg is not None}
    return out | {p.eval_data for p in plan if p.eval_data is not None}
