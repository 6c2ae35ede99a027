"""What runs inside each training process: the Ray Train per-worker function and the hooks
that plug Ray and MLflow into the core ``fit`` (docs/style.md: Ray touches the loop at three
points — prepare the model, prepare the loader, report).

The per-worker function lives in the installed package on purpose (docs/stack.md: a train
function the workers cannot import leaks its placement group and hangs the next fit).
Its only argument is a plain dict (``WorkerSpec.to_dict``): the flattened config plus where
the data, the tracking server and the fault marker are.
"""
from __future__ import annotations

import logging
import os
import signal
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from maskpose_core.config import ExperimentConfig, profile_config, unflatten
from maskpose_core.train.hooks import EpochReport, TrainHooks
from orchestration import tracking

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"           # the core checkpoint inside a Ray checkpoint folder
FAULT_MARKER = "fault_injected"   # in the run's storage folder: the fault fires only once


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs, as plain values (travels in ``train_loop_config``)."""
    flat_config: dict[str, Any]
    tracking_uri: str
    run_id: str
    data_root: str = ""
    run_dir: str = ""             # absolute storage folder of this run (fault marker)
    system_metrics: bool = True
    init_checkpoint: str = ""     # two-stage recipe: the stage-1 checkpoint stage 2 starts from

    def config(self) -> ExperimentConfig:
        base = profile_config(str(self.flat_config.get("profile", "quick")))
        return unflatten(self.flat_config, base=base)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WorkerSpec":
        return cls(**d)


class FaultInjector:
    """Kills this worker process (SIGKILL) in the middle of epoch ``kill_epoch`` — once per run:
    a marker file in the run's storage folder records that it already happened.

    Test knob ``train.fault_kill_epoch`` (-1 = off). The victim is the last rank.
    """

    def __init__(self, kill_epoch: int, run_dir: str, *, armed: bool):
        self.kill_epoch, self.epoch = kill_epoch, -1
        self.marker = Path(run_dir) / FAULT_MARKER if run_dir else None
        self.armed = armed and kill_epoch >= 0 and self.marker is not None

    def on_epoch_start(self, epoch: int) -> None:
        self.epoch = epoch

    def on_batch(self, index: int) -> None:
        """Called before batch ``index`` is handed out; fires at the second batch (mid-epoch)."""
        if not self.armed or self.epoch != self.kill_epoch or index != 1:
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            self.armed = False
            return
        os.write(fd, f"killed pid {os.getpid()} in epoch {self.epoch}\n".encode())
        os.close(fd)
        log.warning("fault injection: killing worker pid %d in epoch %d", os.getpid(), self.epoch)
        os.kill(os.getpid(), signal.SIGKILL)


class EpochLoader:
    """Wraps a (prepared) DataLoader: sets the DistributedSampler's epoch so every epoch is
    shuffled differently, and lets the fault injector act between batches."""

    def __init__(self, loader, injector: FaultInjector):
        self._loader, self._injector = loader, injector

    def __len__(self) -> int:
        return len(self._loader)

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def __iter__(self):
        sampler = getattr(self._loader, "sampler", None)
        if hasattr(sampler, "set_epoch") and self._injector.epoch >= 0:
            sampler.set_epoch(self._injector.epoch)
        for i, batch in enumerate(self._loader):
            self._injector.on_batch(i)
            yield batch


def make_hooks(*, report: Callable[[EpochReport], None], rank: int, world_size: int,
               injector: FaultInjector, wrap_model=None, wrap_loader=None) -> TrainHooks:
    """TrainHooks for ``fit``: optional Ray wrappers, the epoch-aware loader, the reporter."""
    prep_loader = wrap_loader or (lambda loader: loader)
    kwargs = {"wrap_model": wrap_model} if wrap_model is not None else {}
    return TrainHooks(wrap_loader=lambda loader: EpochLoader(prep_loader(loader), injector),
                      report=report, rank=rank, world_size=world_size,
                      on_epoch_start=injector.on_epoch_start, **kwargs)


class MlflowReporter:
    """Rank 0's MLflow side of a report: the epoch's metrics once, the figure if any."""

    def __init__(self, logger: tracking.EpochLogger | None):
        self.logger = logger

    def __call__(self, rep: EpochReport) -> None:
        if self.logger is None:
            return
        self.logger.log_epoch(rep.epoch, rep.metrics)
        if rep.figure is not None:
            self.logger.log_figure(rep.figure, f"val_epoch{rep.epoch:03d}")


class RayReporter(MlflowReporter):
    """Every rank: MLflow (rank 0 only), then ``ray.train.report`` with rank 0's checkpoint
    (the core state plus the MLflow run id) — one report per epoch on every rank."""

    def __init__(self, logger, *, rank: int, run_id: str):
        super().__init__(logger)
        self.rank, self.run_id = rank, run_id

    def __call__(self, rep: EpochReport) -> None:
        import ray.train
        from maskpose_core.train.checkpoint import save_checkpoint

        super().__call__(rep)
        metrics = {**rep.metrics, "epoch": rep.epoch}
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if self.rank == 0:
                save_checkpoint(Path(tmp) / STATE_FILE, {**rep.state, "mlflow_run_id": self.run_id})
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(metrics, checkpoint=checkpoint,
                             checkpoint_dir_name=f"checkpoint_epoch{rep.epoch:04d}")


def _restored_state() -> dict | None:
    import ray.train
    from maskpose_core.train.checkpoint import load_checkpoint

    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        return load_checkpoint(Path(folder) / STATE_FILE)


def ray_train_loop(loop_config: dict[str, Any]) -> None:
    """The Ray Train per-worker function: rebuild the config, load the data the driver built,
    resume from Ray's checkpoint if there is one, and run the core ``fit`` with Ray hooks."""
    import ray.train
    import ray.train.torch
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import load_checkpoint
    from maskpose_core.train.fit import fit

    spec = WorkerSpec.from_dict(loop_config)
    cfg = spec.config()
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    data = load_data(cfg.data, root=spec.data_root or None, progress=False,
                     pseudo=cfg.recipe.trains_beside_pseudo)
    resume = _restored_state()
    init = load_checkpoint(spec.init_checkpoint) if spec.init_checkpoint and resume is None else None
    logger = tracking.EpochLogger(spec.tracking_uri, spec.run_id,
                                  system_metrics=spec.system_metrics).start() if rank == 0 else None
    injector = FaultInjector(cfg.train.fault_kill_epoch, spec.run_dir, armed=rank == world - 1)
    hooks = make_hooks(report=RayReporter(logger, rank=rank, run_id=spec.run_id), rank=rank,
                       world_size=world, injector=injector,
                       wrap_model=ray.train.torch.prepare_model,
                       wrap_loader=ray.train.torch.prepare_data_loader)
    try:
        final = fit(cfg, data, hooks=hooks, resume=resume, init=init)
        if rank == 0:
            tracking.write_json_artifact(spec.tracking_uri, spec.run_id,
                                         {k: float(v) for k, v in final.items()}, "final_metrics.json")
    finally:
        if logger is not None:
            logger.close()
