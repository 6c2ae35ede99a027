"""Paired effects over seeds: the mean per-seed difference and its 95 % confidence interval.

A row pair that shares its seeds (stage 2 of seed s starts from stage 1 of seed s; the REFERENCE
and pseudo only of seed s see the same data order) is judged on the per-seed differences
``d_s = a_s − b_s``, not on the two rows' spreads:

    CI = mean(d) ± t(0.975, n − 1) · s(d) / √n          (Student's t, n seeds, s with ddof = 1)

* :func:`paired_effect` — n, mean, s, the CI's bounds and half-width; fewer than 2 seeds give no CI.
* :func:`superiority` — "yes" when the mean reaches a bar and the CI's lower bound is above 0.
* :func:`non_inferiority` — "yes" when the CI's lower bound is above −margin, judged only when the
  CI's half-width is at most ``max_half_width`` (else "undecided": add seeds).

Signs: callers pass differences oriented so that positive is good (e.g. masks off − Full of an
error in mm: a positive difference is an error the masks removed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class PairedEffect:
    n: int                 # seeds with both rows finished
    mean: float            # mean per-seed difference
    sd: float              # its standard deviation (ddof = 1); nan below 2 seeds
    lo: float              # the CI's bounds; nan below 2 seeds
    hi: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2

    def ci_cell(self, digits: int = 1) -> str:
        """``[lo, hi]`` as the report prints it under ``95 % CI`` ("—" below 2 seeds)."""
        if self.n < 2:
            return "—"
        return f"[{self.lo:+.{digits}f}, {self.hi:+.{digits}f}]"


def paired_effect(diffs: Iterable[float], level: float = LEVEL) -> PairedEffect:
    """The mean of ``diffs`` (per-seed differences) and its two-sided ``level`` t interval."""
    values = [float(d) for d in diffs if not math.isnan(float(d))]
    n = len(values)
    if n == 0:
        return PairedEffect(0, math.nan, math.nan, math.nan, math.nan)
    mean = sum(values) / n
    if n < 2:
        return PairedEffect(1, mean, math.nan, math.nan, math.nan)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return PairedEffect(n, mean, sd, mean - half, mean + half)


def superiority(effect: PairedEffect, *, bar: float = 0.0) -> str:
    """"yes" when the mean gain reaches ``bar`` and the CI's lower bound is above 0, else "no"
    ("undecided" below 2 seeds: there is no interval)."""
    if effect.n < 2:
        return "undecided"
    return "yes" if effect.mean >= bar and effect.lo > 0 else "no"


def non_inferiority(effect: PairedEffect, *, margin: float = 5.0, max_half_width: float = 4.0) -> str:
    """"yes" when the CI's lower bound is above ``−margin``; "no" when it is not; "undecided"
    when the CI is wider than ``±max_half_width`` (or there is none): more seeds are needed."""
    if effect.n < 2 or effect.half_width > max_half_width:
        return "undecided"
    return "yes" if effect.lo > -margin else "no"
