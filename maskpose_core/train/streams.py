"""The auxiliary data streams a training run learns from beside its own training split.

``streams(cfg, data)`` lists them, each a :class:`Stream`: a name (its loss is logged as
``train/loss_<name>``), a kind (what the network computes on it: ``model/net.py``
:class:`~maskpose_core.model.net.AuxBatch`), its weight, the data it draws from, its batch size
and its shuffling seed. ``fit`` draws one batch of every stream per step
(:func:`endless_batches`) and hands them to the network in this order. A new stream is one
entry here (and, if it is of a new kind, one branch in ``MaskPoseNet.forward``).

* ``extra`` — a second data set's training split as single mask-only views (``data.extra``,
  weight ``loss.extra_weight``): as many images per batch as a multi-view batch has.
* ``pseudo`` — the two-stage recipe's labelled pseudo images (stage 2 only, weight
  ``recipe.pseudo_weight``): multi-view batches of ``optim.batch_size`` moments.

Each stream is reshuffled (seeded by the run's seed, the epoch, the pass and the stream's own
offset) on every pass over its data, and never runs out.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from maskpose_core.config import ExperimentConfig
from maskpose_core.data.packed import DataBundle


@dataclass(frozen=True)
class Stream:
    name: str
    kind: str            # "mask" | "supervised" (model/net.py AUX_KINDS)
    weight: float
    split: Any           # a torch Dataset (SingleViews, PackedSplit)
    batch_size: int      # items per batch (single views for "extra", moments for "pseudo")
    seed_offset: int     # keeps the streams' shuffles apart (and the recorded runs' order)


def streams(cfg: ExperimentConfig, data: DataBundle) -> list[Stream]:
    """The auxiliary streams of ``cfg`` on ``data`` (refusing a stream too small for one batch)."""
    out: list[Stream] = []
    if data.extra is not None:
        size = cfg.optim.batch_size * data.num_views
        if len(data.extra) < size:
            raise ValueError(f"DataConfig.extra {cfg.data.extra!r} has {len(data.extra)} single views, fewer "
                             f"than one batch of {size} (optim.batch_size × {data.num_views} views)")
        out.append(Stream("extra", "mask", cfg.loss.extra_weight, data.extra, size, seed_offset=7))
    if cfg.recipe.trains_beside_pseudo:
        if data.pseudo is None:
            raise ValueError("recipe.stages='two_stage' trains beside the pseudo images; load the data with "
                             "load_data(cfg.data, pseudo=True)")
        if len(data.pseudo) < cfg.optim.batch_size:
            raise ValueError(f"the pseudo set has {len(data.pseudo)} moments, fewer than optim.batch_size "
                             f"{cfg.optim.batch_size} (data.pseudo_frames)")
        out.append(Stream("pseudo", "supervised", cfg.recipe.pseudo_weight, data.pseudo, cfg.optim.batch_size,
                          seed_offset=11))
    return out


def endless_batches(stream: Stream, seed: int, epoch: int, wrap_loader) -> Iterator[dict]:
    """Batches of ``stream`` for one epoch, reshuffled (seeded) on every pass over its data;
    ``wrap_loader`` is the run's ``TrainHooks.wrap_loader`` (a DistributedSampler under DDP)."""
    for rnd in itertools.count():
        g = torch.Generator().manual_seed(seed * 100_003 + epoch * 1_009 + rnd + stream.seed_offset)
        yield from wrap_loader(torch.utils.data.DataLoader(stream.split, batch_size=stream.batch_size,
                                                           shuffle=True, generator=g, drop_last=True))
