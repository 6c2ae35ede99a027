"""The recipe's headline as the report prints it: the gap, the masks' paired gain with its 95 %
CI, and each bar's verdict; and the paired effect of every ablation row against its base row.

Inputs are a study's runs csv as a DataFrame (``row``, ``seed``, ``status`` and one column per
metric label, :mod:`studies.runner.report`); only FINISHED runs count. Pairing is by seed: stage 2
of seed s starts from the zoo's stage 1 of seed s, so the per-seed difference removes what the
seeds share (:mod:`studies.runner.paired`).

* **Gap** = pseudo only − REFERENCE, the two rows' means (both from the zoo: at their plateaus).
* **Gain** = masks off − Full per seed (positive: an error the masks removed); mean and
  ``CI = mean ± t(0.975, n − 1) · s / √n``.
* **Bars** (issue 30): a metric in :data:`SUPERIORITY` passes when the mean gain is ≥
  :data:`SHARE_BAR` of the gap and the CI's lower bound is > 0; a metric in
  :data:`NON_INFERIORITY` passes when the CI's lower bound is > −margin, judged only when the CI's
  half-width is ≤ :data:`MAX_HALF_WIDTH_MM` (else "undecided": more seeds); other metrics are shown,
  not judged.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from studies.runner.paired import PairedEffect, non_inferiority, paired_effect, superiority

SHARE_BAR = 0.30                  # the masks' MPJPE † gain must reach 30 % of the gap
NON_INFERIORITY_MARGIN_MM = 5.0   # P-MPJPE: no worse than 5 mm (the CI's lower bound above −5)
MAX_HALF_WIDTH_MM = 4.0           # … judged only when the CI is at most ± 4 mm wide
SUPERIORITY = ("MPJPE † (mm)",)
NON_INFERIORITY = ("P-MPJPE (mm)",)


@dataclass(frozen=True)
class Verdict:
    text: str          # "yes" | "no" | "undecided" | "—" (not judged)
    rule: str          # the bar in words, with its numbers


def _finished(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "FINISHED"] if "status" in runs else runs


def per_seed(runs: pd.DataFrame, row: str, metric: str) -> pd.Series:
    """{seed: value} of ``row``'s finished runs on ``metric`` (empty when none)."""
    ok = _finished(runs)
    if metric not in ok:
        return pd.Series(dtype=float)
    return ok[ok["row"] == row].set_index("seed")[metric].dropna()


def paired(runs: pd.DataFrame, a: str, b: str, metric: str) -> tuple[pd.Series, PairedEffect]:
    """Per-seed ``a − b`` on ``metric`` over the seeds both rows finished, and its effect."""
    diff = (per_seed(runs, a, metric) - per_seed(runs, b, metric)).dropna()
    return diff, paired_effect(diff.tolist())


def verdict(metric: str, effect: PairedEffect, gap: float) -> Verdict:
    """The bar of ``metric`` applied to the masks' gain ``effect`` (positive: better with masks)."""
    if metric in SUPERIORITY:
        bar = SHARE_BAR * gap
        return Verdict(superiority(effect, bar=bar), f"mean ≥ {SHARE_BAR:.0%} of the gap ({bar:.1f}) and CI above 0")
    if metric in NON_INFERIORITY:
        text = non_inferiority(effect, margin=NON_INFERIORITY_MARGIN_MM, max_half_width=MAX_HALF_WIDTH_MM)
        rule = (f"no harm: CI's lower bound > −{NON_INFERIORITY_MARGIN_MM:g}, judged when its half-width "
                f"≤ {MAX_HALF_WIDTH_MM:g}")
        if text == "undecided" and effect.n >= 2:
            rule += f" (it is ± {effect.half_width:.1f}: add seeds, up to 10"
            rule += "; the whole CI is below 0: a harm at 95 %)" if effect.hi < 0 else ")"
        return Verdict(text, rule)
    return Verdict("—", "shown, not judged")


def _cell(values: pd.Series) -> str:
    if values.empty:
        return "—"
    sd = f" ± {values.std(ddof=1):.1f}" if len(values) > 1 else ""
    return f"{values.mean():.1f}{sd} (n={len(values)})"


def headline_lines(runs: pd.DataFrame, *, pseudo: str, reference: str, off: str, full: str,
                   metrics: tuple[str, ...]) -> list[str]:
    """Markdown lines of the headline table (one line per metric label in ``metrics``)."""
    lines = ["| metric | pseudo only | REFERENCE | gap | masks off | Full | gain per seed (masks off − Full) | "
             "mean gain | 95 % CI | share of gap | bar | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for metric in metrics:
        cols = {name: per_seed(runs, name, metric) for name in (pseudo, reference, off, full)}
        if any(c.empty for c in cols.values()):
            lines.append(f"| {metric} | not measured yet |" + " |" * 10)
            continue
        gap = cols[pseudo].mean() - cols[reference].mean()
        diff, effect = paired(runs, off, full, metric)
        share = f"{effect.mean / gap:.0%}" if gap > 0 else "—"
        v = verdict(metric, effect, gap)
        seeds = ", ".join(f"{d:+.1f}" for d in diff)
        lines.append(f"| {metric} | {_cell(cols[pseudo])} | {_cell(cols[reference])} | {gap:.1f} | {_cell(cols[off])} | "
                     f"{_cell(cols[full])} | {seeds} | {effect.mean:+.1f} | {effect.ci_cell()} | {share} | {v.rule} | "
                     f"**{v.text}** |")
    return lines


def effects_lines(runs: pd.DataFrame, pairs: list[tuple[str, str]], metrics: tuple[str, ...]) -> list[str]:
    """Markdown lines: per (row, base) pair, the paired ``row − base`` per metric (mean, 95 % CI,
    seeds). Positive: the row's error is higher than its base's."""
    head = " | ".join(f"{m}: mean [95 % CI]" for m in metrics)
    lines = [f"| row | against | seeds | {head} |", "|---|---|---|" + "---|" * len(metrics)]
    for row, base in pairs:
        effects = [paired(runs, row, base, m)[1] for m in metrics]
        n = max(e.n for e in effects)
        if n == 0:
            lines.append(f"| {row} | {base} | 0 | " + " | ".join("not measured yet" for _ in metrics) + " |")
            continue
        cells = [f"{e.mean:+.1f} {e.ci_cell()}" if e.n >= 2 else (f"{e.mean:+.1f} (1 seed)" if e.n else "—")
                 for e in effects]
        lines.append(f"| {row} | {base} | {n} | " + " | ".join(cells) + " |")
    return lines
