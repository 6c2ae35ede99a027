"""The points where a caller touches the training loop (docs/style.md: Ray's Train examples;
detectron2's hooks): wrap the model, wrap the data loader, choose what happens at the end of
each epoch (evaluation, SPP, the figure: ``train/epoch_steps.py``), receive a report each epoch.

``fit(cfg, data, hooks=TrainHooks(...), resume=state)`` is the same function for a plain
process and for every Ray Train worker; only the hooks differ. The core never imports
Ray or MLflow: the orchestrator's hooks do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch


def _identity(x):
    return x


@dataclass(frozen=True)
class EpochReport:
    """What ``fit`` hands to ``TrainHooks.report`` at the end of every epoch.

    epoch        0-based index of the epoch just finished
    metrics      flat {key: float}: ``train/loss``, ``train/loss_skeleton``, ``train/spread_mm``,
                 ``val/mpjpe_mm``, ``val/mpjpe_flip_mm``, ..., ``time/epoch_s``, ``train/samples_per_s``
    state        everything needed to resume (see ``maskpose_core.train.checkpoint``): model,
                 optimiser and scheduler state dicts, epoch, RNG states, config dict. The
                 orchestrator adds its own keys (e.g. ``mlflow_run_id``) before saving.
    figure       optional (H, W, 3) uint8 figure of a few val samples (last epoch, rank 0 only)
    is_last      True for the final epoch
    """
    epoch: int
    metrics: dict[str, float]
    state: dict[str, Any]
    figure: Any = None
    is_last: bool = False


@dataclass(frozen=True)
class TrainHooks:
    """How a caller adapts ``fit``.

    wrap_model   nn.Module -> nn.Module (Ray: ``ray.train.torch.prepare_model``, i.e. DDP)
    wrap_loader  DataLoader -> DataLoader (Ray: ``prepare_data_loader``, a DistributedSampler)
    report       called once per epoch on every rank with an ``EpochReport``
    rank         this worker's rank; only rank 0 draws figures (every rank reports)
    world_size   number of workers (1 for a plain process)
    on_epoch_start  called with the epoch index before it starts (fault injection in tests)
    epoch_end    the steps run at the end of every epoch, in order (``train/epoch_steps.py``):
                 None = evaluation, SPP (last epoch) and the figure (rank 0); () = none
    """
    wrap_model: Callable[[torch.nn.Module], torch.nn.Module] = _identity
    wrap_loader: Callable[[torch.utils.data.DataLoader], torch.utils.data.DataLoader] = _identity
    report: Callable[[EpochReport], None] | None = None
    rank: int = 0
    world_size: int = 1
    on_epoch_start: Callable[[int], None] | None = None
    epoch_end: tuple[Callable[[Any], None], ...] | None = None
    extra: dict = field(default_factory=dict)
