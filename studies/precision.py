"""bf16 and torch.compile against plain fp32 at the studies' budget: do the faster numerics keep the accuracy? (val split)

    python studies/precision.py [--profile quick] [--seeds 3] [--dry-run]

Six rows on the cmu-mv4 val subjects, 3 seeds each, paired by seed: the supervised REFERENCE and
Table 3's Full (the mask-supervised method), each in fp32, in bf16 (``train.precision``) and in
fp32 with the compiled backbone (``train.compile``, the studies' default since its parity held
here), all at 3 × 80 steps (``PRECISION_BUDGET``; the REFERENCE's compiled row is the very run
of Table 3's supervised reference). Below the table, the paired differences variant − fp32 per metric, mean ± std
over seeds. A variant may become the studies' default only if, for both rows, |mean| ≤ its own
std and < 2 mm on MPJPE † and P-MPJPE (issue 15's parity rule; the default choice is made on val).
"""
from __future__ import annotations

import math
import sys

import pandas as pd

from studies.definitions import MPJPE_FLIP, P_MPJPE, QUICK_BUDGET, REFERENCE, table3_rows
from studies.runner.cli import main_with_section
from studies.runner.plan import Row, Study

PRECISION = "precision"
PAIRS = (("REFERENCE", "supervised reference"), ("Full", "Full"))
# the studies compile the backbone (QUICK_BUDGET, adopted after this study's parity): the plain
# fp32 baseline and the bf16 variant set it off, so each variant is measured against eager fp32
EAGER = {"train.compile": False}
# each variant against plain fp32: its row suffix and the overrides that make it
VARIANTS = {"bf16": {**EAGER, "train.precision": "bf16"}, "fp32 + compile": {"train.compile": True}}
PARITY_MM = 2.0
# the budget this study measured parity at (3 × 80 steps, the studies' budget on 2026-12-03): its
# own, so its runs stand now that the mask-only rows of the other studies train 1 × 80 steps
PRECISION_BUDGET = {"quick": {**QUICK_BUDGET["quick"], "train.epochs": 3}}
FULL = next(r for r in table3_rows(seeds=3) if r.name == "Full")


def _rows() -> tuple[Row, ...]:
    out = []
    for label, _ in PAIRS:
        base = REFERENCE if label == "REFERENCE" else FULL
        out.append(Row(name=f"{label}, fp32", kind=base.kind, group=PRECISION, seeds=3,
                       overrides={**base.overrides, **EAGER}))
        for variant, over in VARIANTS.items():
            out.append(Row(name=f"{label}, {variant}", kind=base.kind, group=PRECISION, seeds=3,
                           overrides={**base.overrides, **over}))
    return tuple(out)


STUDY = Study(
    name="precision",
    title="Precision — bf16 (train.precision) and torch.compile (train.compile) against fp32 at the studies' "
          "budget, paired by seed (val split)",
    rows=_rows(),
    metrics=(MPJPE_FLIP, P_MPJPE),
    seeds=3,
    profile_base=PRECISION_BUDGET,
    notes=("fp32 rows are Table 3's Full and supervised reference in eager fp32 (train.compile=false); bf16 rows "
           "change only train.precision, compile rows only train.compile (the studies' default since this "
           "study's parity: studies.definitions.QUICK_BUDGET). 3 × 80 steps for every row.",),
)


def paired_differences(runs: pd.DataFrame) -> list[str]:
    """Markdown lines: per variant, pair and metric, variant − fp32 per seed, mean ± std, and the
    verdict per variant."""
    lines = ["", "## Paired differences against fp32 (same seed)", "",
             "| variant | row | metric | per seed | mean ± std | parity (|mean| ≤ std and < 2 mm) |",
             "|---|---|---|---|---|---|"]
    failing: dict[str, list[str]] = {}
    for variant in VARIANTS:
        failing[variant] = []
        for label, _ in PAIRS:
            for metric in (MPJPE_FLIP.label, P_MPJPE.label):
                a = runs[runs["row"] == f"{label}, fp32"].set_index("seed")[metric]
                b = runs[runs["row"] == f"{label}, {variant}"].set_index("seed")[metric]
                diff = (b - a).dropna()
                if len(diff) < 2:
                    lines.append(f"| {variant} | {label} | {metric} | {len(diff)} pair(s) | — | not measured |")
                    failing[variant].append(f"{label} / {metric} (not measured)")
                    continue
                mean, std = float(diff.mean()), float(diff.std(ddof=1))
                ok = abs(mean) <= std and abs(mean) < PARITY_MM and math.isfinite(mean)
                if not ok:
                    failing[variant].append(f"{label} / {metric}")
                per = ", ".join(f"{d:+.1f}" for d in diff)
                lines.append(f"| {variant} | {label} | {metric} | {per} | {mean:+.1f} ± {std:.1f} | "
                             f"{'yes' if ok else 'NO'} |")
    lines.append("")
    for variant, bad in failing.items():
        lines.append(f"- **{variant}: parity holds** for every row and metric: it may be the studies' default."
                     if not bad else f"- **{variant}: parity does not hold** for: {'; '.join(bad)}. "
                     "The default stays plain fp32.")
    return lines


if __name__ == "__main__":
    sys.exit(main_with_section(STUDY, description=__doc__, heading="## Paired differences", section=paired_differences))
