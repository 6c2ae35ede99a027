"""Coarse-to-fine schedule (docs/method.md §1) and learning rate, as functions of progress.

progress p = global step / total steps, in [0, 1].
* σ²: geometric interpolation from ``sigma2_start`` to ``sigma2`` over the first
  ``anneal_fraction`` of training, then constant (stage 1: wide bones, coarse pose).
* ψ: its gradient reaches the joints once p >= ``physique_warmup`` (stage 2).
* lr: linear warm-up over the first 2 % of steps, then cosine decay to lr·lr_final_factor.
"""
from __future__ import annotations

import math

from maskpose_core.loss.config import LossConfig
from maskpose_core.config import OptimConfig

LR_WARMUP_FRACTION = 0.02


def sigma2_at(loss: LossConfig, progress: float) -> float:
    if loss.anneal_fraction <= 0 or progress >= loss.anneal_fraction:
        return loss.sigma2
    f = progress / loss.anneal_fraction
    return math.exp((1 - f) * math.log(loss.sigma2_start) + f * math.log(loss.sigma2))


def physique_on_at(loss: LossConfig, progress: float) -> bool:
    return progress >= loss.physique_warmup


def lr_factor_at(optim: OptimConfig, progress: float) -> float:
    if progress < LR_WARMUP_FRACTION:
        return max(progress / LR_WARMUP_FRACTION, 0.05)
    f = (progress - LR_WARMUP_FRACTION) / (1 - LR_WARMUP_FRACTION)
    lo = optim.lr_final_factor
    return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * min(f, 1.0)))
