"""What ``fit`` does at the end of every epoch, after the last step: hooks of the loop.

Each step is a callable ``step(end: EpochEnd) -> None`` that reads the network and adds to
``end.metrics`` (or sets ``end.spp_state``, ``end.figure``). ``TrainHooks.epoch_end`` chooses
the steps (``None`` = :data:`DEFAULT_STEPS`, in this order):

* :func:`evaluate_step` — ``val/…`` on ``train.val_samples`` moments (the whole val split in the
  last epoch) and, in the last epoch, ``test/…`` where the data has a test split;
* :func:`spp_step` — in the last epoch with ``train.spp_labelled > 0``, the SPP mapping θ and
  its ``val_spp/…`` / ``test_spp/…`` metrics (``train/spp_stage.py``);
* :func:`figure_step` — on rank 0, the per-run figure of a few val samples (``train/visual.py``).

A caller that needs less (a probe that trains without evaluating) or more (a learning curve
that also evaluates the pseudo val split) passes its own tuple.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from maskpose_core.config import ExperimentConfig
from maskpose_core.data.packed import DataBundle
from maskpose_core.train.evaluate import evaluate
from maskpose_core.train.spp_stage import fit_spp_stage
from maskpose_core.train.visual import val_figure


@dataclass
class EpochEnd:
    """The end of one epoch, as the steps see it (``net`` is the bare network, not DDP's wrapper)."""
    net: Any
    cfg: ExperimentConfig
    data: DataBundle
    epoch: int
    is_last: bool
    rank: int
    metrics: dict[str, float] = field(default_factory=dict)
    spp_state: dict | None = None
    figure: Any = None


def evaluate_step(end: EpochEnd) -> None:
    samples = 0 if end.is_last else end.cfg.train.val_samples
    end.metrics.update({f"val/{k}": v for k, v in evaluate(end.net, end.data.val, max_samples=samples).items()})
    if end.is_last and end.data.test is not None:
        end.metrics.update({f"test/{k}": v for k, v in evaluate(end.net, end.data.test).items()})


def spp_step(end: EpochEnd) -> None:
    if end.is_last and end.cfg.train.spp_labelled > 0:
        mapping, metrics = fit_spp_stage(end.net, end.cfg, end.data)
        end.spp_state = mapping.state_dict()
        end.metrics.update(metrics)


def figure_step(end: EpochEnd) -> None:
    """Every epoch, so a run can be watched in MLflow (figures/val_epochNNN.png); rank 0 only."""
    if end.rank == 0:
        end.figure = val_figure(end.net, end.data.val, end.cfg)


DEFAULT_STEPS = (evaluate_step, spp_step, figure_step)
