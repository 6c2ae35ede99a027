"""One training run, driven from here: checks first, then a plain process or Ray Train DDP.

``run_training(cfg, LaunchOptions(workers=N))``:
1. bad input fails before any work — storage not writable, tracking URI unreachable, workers ×
   CPUs larger than the cluster (with the arithmetic);
2. the driver builds (or finds) the data set once, creates the MLflow experiment and run;
3. ``workers == 0``: the core ``fit`` in this process; ``workers ≥ 1``: a ``TorchTrainer``
   (gloo on CPU, NCCL on GPU) with a checkpoint per epoch and ``FailureConfig(max_failures)``;
4. the driver logs the final checkpoint and ends the run FINISHED / FAILED / KILLED.

Run names are deterministic (``<variant>/seed=<seed>`` in experiment ``<study>``). The
storage folder of a run is ``<storage>/<study>_<variant>_seed<seed>_<config hash>``; launching the same run again
resumes it from its last checkpoint (same MLflow run) unless it had finished, in which case
the old folder is kept aside and a new run starts.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from maskpose_core.config import ExperimentConfig, flatten, to_dict
from orchestration import tracking
from orchestration.runtime import (ResourcePlan, check_storage_path, ensure_ray, job_placement_groups,
                                   plan_resources, release_placement_groups)
from orchestration.worker import STATE_FILE, WorkerSpec, ray_train_loop

if TYPE_CHECKING:
    from maskpose_core.train.recipe import Stage

log = logging.getLogger(__name__)

RUN_RECORD = "maskpose_run.json"     # in a run's storage folder: its MLflow run id
PLAIN_CHECKPOINT = Path("plain") / STATE_FILE  # the plain-process checkpoint, replaced each epoch
STAGE1_EXPERIMENT = "stage1"      # every study's stage-1 runs, shared
PROGRESS_KEYS = ("train/loss", "val/mask_iou", "val/mpjpe_mm", "train/samples_per_s", "time/epoch_s")


def progress_text(metrics: dict[str, float]) -> str:
    """The epoch's progress line: the :data:`PROGRESS_KEYS` it has, as ``key=value``."""
    return " ".join(f"{k}={metrics[k]:.4g}" for k in PROGRESS_KEYS if k in metrics)


@dataclass(frozen=True, kw_only=True)
class LaunchOptions:
    """How and where to run (not what: that is the ``ExperimentConfig``)."""
    workers: int = 0                     # 0 = plain process; N ≥ 1 = Ray Train DDP over N workers
    gpus_per_worker: float = 0.0
    cpus_per_worker: float | None = None  # None = derived from the cluster
    max_failures: int = 2                # worker-group restarts from the last checkpoint
    storage_path: str = ""               # "" = $MASKPOSE_STORAGE or <project>/checkpoints
    study: str = "train"                 # MLflow experiment
    variant: str = ""                    # "" = the config hash
    tracking_uri: str | None = None      # None = $MLFLOW_TRACKING_URI or <project>/mlflow.db
    parent_run_id: str | None = None     # a study or sweep run
    data_root: str = ""                  # "" = the registry's default
    ray_address: str | None = None       # None = $RAY_ADDRESS, else a local instance
    system_metrics: bool = True
    extra_tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.workers < 0:
            raise ValueError(f"LaunchOptions.workers must be >= 0, got {self.workers}")
        if self.max_failures < -1:
            raise ValueError(f"LaunchOptions.max_failures must be >= -1, got {self.max_failures}")
        if self.gpus_per_worker > 0 and self.workers == 0:
            raise ValueError("LaunchOptions.gpus_per_worker needs workers >= 1 (Ray Train)")


@dataclass(frozen=True)
class TrainOutcome:
    metrics: dict[str, float]
    run_id: str
    experiment_id: str
    url: str
    checkpoint: str | None


def run_names(cfg: ExperimentConfig, opts: LaunchOptions) -> tuple[str, str]:
    """(MLflow run name, storage folder name), both deterministic."""
    variant = opts.variant or cfg.hash
    run_name = f"{variant}/seed={cfg.seed}"      # the experiment is the study: no prefix
    folder = re.sub(r"[^A-Za-z0-9_.=-]+", "-", f"{opts.study}_{variant}_seed{cfg.seed}_{cfg.hash}")
    return run_name, folder


def check_model(cfg: ExperimentConfig) -> None:
    """Build the network of ``cfg`` on the meta device (no memory, no arithmetic), so that its
    shape errors (``model.heatmap_size`` against the backbone's output, ``data.image_size``
    against its stride, a ``model.weights`` or ``model.init`` file that does not fit) are raised before any
    MLflow run or folder exists, not in the first step of a started run."""
    import warnings

    import torch
    from maskpose_core.model.net import MaskPoseNet

    from maskpose_core.train.init_weights import check_fits

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")     # loading model.weights into meta tensors is a no-op
        net = MaskPoseNet(cfg.model, cfg.loss, image_size=cfg.data.image_size,
                          discriminator_weight=cfg.recipe.discriminator_weight)
    if cfg.model.init:                      # names and shapes only: the meta network has no storage
        from maskpose_core.train.zoo import resolve_init
        check_fits(net, resolve_init(cfg.model.init))


def preflight(cfg: ExperimentConfig, opts: LaunchOptions, *, cluster: dict | None = None,
              driver_cpus: float = 0.0) -> tuple[Path, str, ResourcePlan | None]:
    """Every check that can fail before work starts: (storage folder, tracking URI, plan).
    The checks that create nothing (model shapes, data roots) come before the ones that do
    (the storage folder, the tracking store)."""
    from maskpose_core.data.registry import check_pseudo_source, check_roots

    if cfg.train.fault_kill_epoch >= 0 and opts.workers == 0:
        raise ValueError("train.fault_kill_epoch needs Ray Train (--workers >= 1): a plain "
                         "process cannot restart itself")
    if cfg.train.device == "cuda" and opts.workers > 0 and opts.gpus_per_worker <= 0:
        raise ValueError("train.device=cuda with Ray Train needs --gpus-per-worker > 0")
    check_model(cfg)
    check_roots(cfg.data, root=Path(opts.data_root) if opts.data_root else None)
    if cfg.recipe.has_stage1:              # the pseudo set's poses file, before anything is built
        check_pseudo_source(cfg.data)
    storage = check_storage_path(opts.storage_path)
    uri = tracking.resolve_tracking_uri(opts.tracking_uri)
    tracking.check_tracking(uri)
    plan = None
    if opts.workers > 0:
        cluster = cluster if cluster is not None else ensure_ray(opts.ray_address)
        plan = plan_resources(workers=opts.workers, cluster=cluster, cpus_per_worker=opts.cpus_per_worker,
                              gpus_per_worker=opts.gpus_per_worker, driver_cpus=driver_cpus)
    return storage, uri, plan


def run_params(cfg: ExperimentConfig) -> dict:
    """The flattened config; a two-stage run adds its stage-1 (pseudo-image) data set under
    ``stage1.data.*``, the same keys in every row of the recipe."""
    params = flatten(cfg)
    if cfg.recipe.has_stage1:
        from maskpose_core.data.registry import pseudo_data_config
        params.update({f"stage1.data.{k}": v for k, v in flatten(pseudo_data_config(cfg.data)).items()})
    return params


def dataset_refs(name: str, profile: str, data, *, trained_on: bool = True) -> list[tracking.DatasetRef]:
    """What a run read (MLflow's "Datasets"): the train split of data set ``name`` when the run
    learned from it (``trained_on``), the split choices are made on (val) and the one numbers
    are reported on (test); the pseudo images of a two-stage run."""
    common = {"profile": profile, "views": data.num_views, "image_px": data.val.image_size}
    splits = [("training", "train", data.train)] if trained_on else []
    splits += [("evaluation", "val", data.val)] + ([("evaluation", "test", data.test)] if data.test is not None else [])
    refs = [tracking.DatasetRef(name=name, digest=dataset_hash(data)[:12], source=str(data.folder),
                                context=ctx, split=split_name, profile={**common, "moments": len(split)})
            for ctx, split_name, split in splits]
    if data.pseudo is not None:
        meta = getattr(data.pseudo, "meta", {}) or {}
        refs.append(tracking.DatasetRef(name="pseudo", digest=str(meta.get("hash", ""))[:12],
                                        source=str(getattr(data.pseudo, "folder", "")), context="training",
                                        split="train", profile={**common, "moments": len(data.pseudo)}))
    return refs


def open_run(cfg: ExperimentConfig, opts: LaunchOptions, *, uri: str, run_dir: Path,
             dataset_hash: str) -> tuple[str, str, bool]:
    """(experiment id, run id, resumed): reuse the unfinished run recorded in ``run_dir``, else
    create a new run (moving a finished run's folder aside)."""
    run_name, _ = run_names(cfg, opts)
    experiment_id = tracking.ensure_experiment(uri, opts.study)
    params = run_params(cfg)
    record = run_dir / RUN_RECORD
    if record.is_file():
        old = json.loads(record.read_text())
        status = _run_status(uri, old.get("run_id", ""))
        if status is not None and status != "FINISHED":
            tracking.reopen_run(uri, old["run_id"], params)
            log.info("resuming MLflow run %s (%s) from %s", old["run_id"], status, run_dir)
            return experiment_id, old["run_id"], True
        aside = run_dir.with_name(f"{run_dir.name}.{old.get('run_id', 'old')[:8]}")
        run_dir.rename(aside)
        log.info("run %s had finished; its folder moved to %s", run_name, aside)
    tags = tracking.run_tags(cfg, study=opts.study, variant=opts.variant or cfg.hash,
                             dataset_hash=dataset_hash,
                             extra={"workers": opts.workers, **opts.extra_tags})
    run_id = tracking.create_run(uri, experiment_id, run_name=run_name, tags=tags, params=params,
                                 parent_run_id=opts.parent_run_id, config=to_dict(cfg))
    run_dir.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"run_id": run_id, "experiment_id": experiment_id,
                                  "tracking_uri": uri, "run_name": run_name}))
    return experiment_id, run_id, False


def _run_status(uri: str, run_id: str) -> str | None:
    try:
        return tracking.client(uri).get_run(run_id).info.status
    except Exception:  # the run was deleted or the record belongs to another tracking store
        return None


def dataset_hash(data) -> str:
    """The built data set's hash (its folder name when its meta has none)."""
    meta = getattr(data.train, "meta", {}) or {}
    return str(meta.get("hash") or Path(data.folder).name)


def fit_plain(cfg: ExperimentConfig, spec: WorkerSpec, data, run_dir: Path) -> tuple[dict, Path]:
    """``--workers 0``: the core ``fit`` in this process, logging through the same tracking
    code as rank 0; checkpoint each epoch to ``run_dir/plain/state.pt`` (resumed if present)."""
    from maskpose_core.train.checkpoint import load_checkpoint, save_checkpoint
    from maskpose_core.train.fit import fit
    from orchestration.worker import FaultInjector, MlflowReporter, make_hooks

    path = run_dir / PLAIN_CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    resume = load_checkpoint(path) if path.is_file() else None
    init = load_checkpoint(spec.init_checkpoint) if spec.init_checkpoint and resume is None else None
    logger = tracking.EpochLogger(spec.tracking_uri, spec.run_id, system_metrics=spec.system_metrics).start()
    mlflow_report = MlflowReporter(logger)

    def report(rep):
        mlflow_report(rep)
        log.info("epoch %d/%d %s", rep.epoch + 1, cfg.train.epochs, progress_text(rep.metrics))
        tmp = path.with_suffix(".tmp")
        save_checkpoint(tmp, {**rep.state, "mlflow_run_id": spec.run_id})
        os.replace(tmp, path)

    hooks = make_hooks(report=report, rank=0, world_size=1,
                       injector=FaultInjector(-1, "", armed=False))
    try:
        final = fit(cfg, data, hooks=hooks, resume=resume, init=init)
    finally:
        logger.close()
    return {k: float(v) for k, v in final.items()}, path


def fit_ray(spec: WorkerSpec, plan: ResourcePlan, *, name: str, storage: Path, max_failures: int,
            callbacks: list | None = None, release_leaks: bool = True):
    """A ``TorchTrainer`` over ``plan.workers`` workers; returns Ray's ``Result``. With
    ``release_leaks`` (not inside a Tune trial: other trials share the job) a failed fit's
    placement groups are removed so that the next fit in this process does not hang."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    use_gpu = plan.gpus_per_worker > 0
    resources = {"CPU": plan.cpus_per_worker, **({"GPU": plan.gpus_per_worker} if use_gpu else {})}
    trainer = TorchTrainer(
        ray_train_loop,
        train_loop_config=spec.to_dict(),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=plan.workers, use_gpu=use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=name, storage_path=str(storage),
                             failure_config=FailureConfig(max_failures=max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2),
                             callbacks=callbacks or []),
    )
    before = job_placement_groups() if release_leaks else set()
    try:
        return trainer.fit()
    except BaseException:
        if release_leaks:
            release_placement_groups(before)
        raise


def run_training(cfg: ExperimentConfig, opts: LaunchOptions, *, callbacks: list | None = None,
                 cluster: dict | None = None, driver_cpus: float = 0.0,
                 release_leaks: bool = True) -> TrainOutcome:
    """Run one training (see the module docstring); raises before any work on bad input. A
    two-stage or pseudo-only config runs its stages (``maskpose_core/train/recipe.py``): stage 1
    as its own tracked run in experiment ``stage1``, stored in ``<storage>/stages`` and shared by
    every row with the same stage key; the outcome is the final stage's."""
    from maskpose_core.train.recipe import CheckpointStore, run_stages

    storage, uri, plan = preflight(cfg, opts, cluster=cluster, driver_cpus=driver_cpus)

    def run_one(stage: Stage, init: Path | None) -> TrainOutcome:
        return run_stage(stage, init, opts, storage=storage, uri=uri, plan=plan, callbacks=callbacks,
                         release_leaks=release_leaks)
    return run_stages(cfg, run_one, CheckpointStore(stage_store(storage)))


def stage_store(storage: Path) -> Path:
    """The folder of the shared stages' checkpoints (stage 1) under a storage folder."""
    from maskpose_core.train.recipe import STORE_DIR
    return Path(storage) / STORE_DIR


def run_stage(stage: Stage, init: Path | None, opts: LaunchOptions, *, storage: Path, uri: str,
              plan: ResourcePlan | None, callbacks: list | None = None, release_leaks: bool = True) -> TrainOutcome:
    """One stage as one tracked run: a shared stage (stage 1) in experiment ``stage1``, tagged
    ``stage=1``; a stage that starts from another is tagged with that checkpoint
    (``stage1_checkpoint``); an evaluation-only stage logs its metrics without a training step."""
    from maskpose_core.data.registry import load_data

    cfg = stage.cfg
    if stage.shared:
        opts = dataclasses.replace(opts, study=STAGE1_EXPERIMENT, variant=stage.name, parent_run_id=None,
                                   extra_tags={"stage": "1"})
    data = load_data(cfg.data, root=opts.data_root or None, progress=False, pseudo=cfg.recipe.trains_beside_pseudo)
    _, folder = run_names(cfg, opts)
    run_dir = storage / folder
    extra = ({"zoo_entry": stage.zoo_entry} if stage.zoo_entry else
             {"stage1_checkpoint": str(init)} if init is not None else {})
    experiment_id, run_id, _ = open_run(cfg, dataclasses.replace(opts, extra_tags={**opts.extra_tags, **extra}),
                                        uri=uri, run_dir=run_dir, dataset_hash=dataset_hash(data))
    tracking.log_datasets(uri, run_id, dataset_refs(cfg.data.dataset, cfg.profile, data))
    spec = WorkerSpec(flat_config=flatten(cfg), tracking_uri=uri, run_id=run_id,
                      data_root=str(Path(data.folder).parent), run_dir=str(run_dir),
                      system_metrics=opts.system_metrics, init_checkpoint=str(init) if init else "")
    try:
        if not stage.trains:
            from maskpose_core.train.recipe import evaluate_stage
            metrics, checkpoint = evaluate_stage(stage, init, data, root=Path(data.folder).parent), None
            tracking.log_metrics_once(uri, run_id, {0: metrics})
            tracking.write_json_artifact(uri, run_id, metrics, "final_metrics.json")
        elif plan is None:
            metrics, checkpoint = fit_plain(cfg, spec, data, run_dir)
        else:
            result = fit_ray(spec, plan, name=folder, storage=storage,
                             max_failures=opts.max_failures, callbacks=callbacks,
                             release_leaks=release_leaks)
            metrics = {k: float(v) for k, v in (result.metrics or {}).items() if k != "epoch"}
            checkpoint = Path(result.checkpoint.path) / STATE_FILE if result.checkpoint else None
        if checkpoint is not None:
            tracking.client(uri).log_artifact(run_id, str(checkpoint), "checkpoint")
    except KeyboardInterrupt:
        tracking.end_run(uri, run_id, "KILLED")
        raise
    except BaseException:
        tracking.end_run(uri, run_id, "FAILED")
        raise
    tracking.end_run(uri, run_id, "FINISHED")
    return TrainOutcome(metrics, run_id, experiment_id, tracking.run_url(uri, experiment_id, run_id),
                        str(checkpoint) if checkpoint else None)
