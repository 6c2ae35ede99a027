"""Learning curves and the plateau: how long must a row train before its number stops moving? (val; test beside)

    python studies/convergence.py [--profile quick] [--rows ROW ...] [--dry-run]

Each curve is a set of **full runs** at budgets B = 240 · 2^k steps (k = 0 … 5; ``CURVE_BUDGETS`` per curve, 80 steps an
epoch, the learning rate decaying over each run's own total: a curve read inside one run is not
the plateau), 2 seeds each, compiled backbone (the studies' setting, at accuracy parity:
reports/precision.md). The curves:

* ``target REFERENCE`` — the detector on the target's 3D labels (the recipe's upper reference);
* ``pseudo only`` — stage 1 (supervised on our labelled pseudo images) of B steps, evaluated on
  the target (the recipe's lower bound; each budget is its own stage 1 in the stage store);
* ``pseudo only (dance)`` — the same on a pseudo set that renders only the source subjects'
  dance (``data.pseudo_activities=dance``): a narrower pose distribution than the target's
  (dance, martial arts, sport, walk in train; jump, walk, acrobatics, dance in val), chosen on
  val because the gap to the REFERENCE survives the budget with it (docs/method-notes.md);
* ``stage 2, Full`` and ``stage 2, masks off`` — stage 2 of B steps started from the converged
  stage 1 (``zoo_catalog.PLATEAU_STEPS["stage1"]`` steps on the dance set; the rows exist once
  that plateau is set), and what the masks add at each B (masks off − Full, paired).

**Plateau** (issue 29): the smallest budget B such that the run of 2B steps beats B's final
full-val MPJPE † by less than 2 %, mean of the 2 seeds paired. Chosen on val; the test columns
stand beside it and choose nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from maskpose_core.train.zoo_catalog import PLATEAU_STEPS, PSEUDO_ACTIVITIES     # the narrower pseudo set (chosen on val)
from studies.definitions import MASKS_OFF, NO_TEMPLATE, QUICK_BUDGET, TWO_STAGE
from studies.runner.cli import main_with_section
from studies.runner.paired import paired_effect
from studies.runner.plan import Metric, Row, Study

STEPS_PER_EPOCH = QUICK_BUDGET["quick"]["train.steps_per_epoch"]
BUDGETS = (240, 480, 960, 1920, 3840, 7680)     # steps; 240 · 2^k
PLATEAU_GAIN = 0.02                         # 2B must beat B by less than this share (paired mean)
SEEDS = 2
NARROW = f"pseudo only ({PSEUDO_ACTIVITIES})"
FULL, MASKS_OFF_CURVE = "stage 2, Full", "stage 2, masks off"
STAGE2_CURVES = (FULL, MASKS_OFF_CURVE)
CURVES = ("target REFERENCE", "pseudo only", NARROW) + STAGE2_CURVES
PSEUDO_CURVES = ("pseudo only", NARROW)
# the all-activity curve stops at 1920: it is the "before" of the widening, not a benchmark curve.
# Stage 2 starts from the converged stage 1 (the zoo's plateau), so its curve starts short.
ZOO_CURVES = {"reference": "target REFERENCE", "stage1": NARROW}     # zoo kind -> the curve its budget comes from
# a curve stops one doubling past its plateau (3840 -> 7680 gained +0.3 % for the REFERENCE, +1.1 % for dance;
# 240 -> 480 +0.8 % for stage 2 with masks off).
CURVE_BUDGETS = {"target REFERENCE": BUDGETS, "pseudo only": BUDGETS[:4], NARROW: BUDGETS[2:],
                 FULL: BUDGETS[:3], MASKS_OFF_CURVE: BUDGETS[:2]}


def row_name(curve: str, steps: int) -> str:
    return f"{curve}, {steps} steps"


def _rows(stage1_steps: int | None = PLATEAU_STEPS["stage1"]) -> tuple[Row, ...]:
    """Every (curve, budget) row; the stage-2 curves only once stage 1's plateau ``stage1_steps``
    is measured (they start from that stage 1: the zoo's entry of the same seed, or the curve's run)."""
    out = []
    for steps in BUDGETS:
        epochs = steps // STEPS_PER_EPOCH
        if steps in CURVE_BUDGETS["target REFERENCE"]:
            out.append(Row(name=row_name("target REFERENCE", steps), kind="reference", group="target REFERENCE",
                           seeds=SEEDS, overrides={**NO_TEMPLATE, "loss.mode": "supervised_reference",
                                                   "train.epochs": epochs},
                           note="the detector on the target's 3D labels"))
        if steps in CURVE_BUDGETS["pseudo only"]:
            out.append(Row(name=row_name("pseudo only", steps), group="pseudo only", seeds=SEEDS,
                           overrides={**NO_TEMPLATE, "recipe.stages": "pseudo_only", "recipe.stage1_epochs": epochs},
                           note="stage 1 of this many steps on the pseudo images, evaluated on the target"))
        if steps in CURVE_BUDGETS[NARROW]:
            out.append(Row(name=row_name(NARROW, steps), group=NARROW, seeds=SEEDS,
                           overrides={**NO_TEMPLATE, "recipe.stages": "pseudo_only", "recipe.stage1_epochs": epochs,
                                      "data.pseudo_activities": PSEUDO_ACTIVITIES},
                           note=f"the same on a pseudo set of the source subjects' {PSEUDO_ACTIVITIES} only"))
        for curve, masks in ((FULL, {}), (MASKS_OFF_CURVE, MASKS_OFF)):
            if stage1_steps is None or steps not in CURVE_BUDGETS[curve]:
                continue
            out.append(Row(name=row_name(curve, steps), group=curve, seeds=SEEDS,
                           overrides={**TWO_STAGE, **masks, "train.epochs": epochs,
                                      "recipe.stage1_epochs": stage1_steps // STEPS_PER_EPOCH,
                                      "data.pseudo_activities": PSEUDO_ACTIVITIES},
                           note=f"stage 2 of this many steps from the converged stage 1 ({stage1_steps} steps, "
                                f"{PSEUDO_ACTIVITIES} pseudo set)" + (", every mask weight 0" if masks else "")))
    return tuple(out)


VAL = (Metric("mpjpe_flip_mm", "MPJPE † (mm)"), Metric("p_mpjpe_mm", "P-MPJPE (mm)"),
       Metric("err2d_flip_pct", "2D † (% crop)", digits=2))
TEST = tuple(Metric(m.key, f"test {m.label}", digits=m.digits, split="test") for m in VAL)

STUDY = Study(
    name="convergence",
    title="Learning curves — full runs at 240 · 2^k steps, the plateau of each curve (val; test beside)",
    rows=_rows(),
    metrics=VAL + TEST,
    seeds=SEEDS,
    split="val",
    profile_base=QUICK_BUDGET,
    notes=("Every row is a full run of its budget (cosine decay over its own steps), 80 steps an epoch, "
           "batch 32, compiled backbone; MPJPE † etc. on the whole val split at the run's end.",
           "Plateau: the smallest B whose 2B run beats it by < 2 % on val MPJPE †, mean of 2 seeds paired; "
           "chosen on val, test beside it."),
)


def plateau(runs: pd.DataFrame, curve: str, label: str = "MPJPE † (mm)") -> tuple[int | None, list[str]]:
    """(the plateau budget of ``curve`` or None, markdown lines of its 2B-vs-B steps) from a runs csv.
    A step measured on fewer than :data:`SEEDS` paired seeds is shown as provisional and decides nothing."""
    ok = runs[runs["status"] == "FINISHED"]
    lines, found = [], None
    budgets = CURVE_BUDGETS.get(curve, BUDGETS)
    for b, b2 in zip(budgets, budgets[1:]):
        at = ok[ok["row"] == row_name(curve, b)].set_index("seed")[label]
        at2 = ok[ok["row"] == row_name(curve, b2)].set_index("seed")[label]
        diff = (at - at2).dropna()
        if diff.empty:
            lines.append(f"| {curve} | {b} → {b2} | not measured yet | | |")
            continue
        paired = diff / at.reindex(diff.index)
        gain = float(paired.mean())
        per_seed = ", ".join(f"{g:+.1%} (seed {s})" for s, g in paired.items())
        if len(paired) < SEEDS:
            lines.append(f"| {curve} | {b} → {b2} | {per_seed} | {gain:+.1%} | provisional ({len(paired)} of "
                         f"{SEEDS} seeds) |")
            continue
        verdict = "plateau" if gain < PLATEAU_GAIN else "still learning"
        lines.append(f"| {curve} | {b} → {b2} | {per_seed} | {gain:+.1%} | {verdict} |")
        if found is None and gain < PLATEAU_GAIN:
            found = b
    return found, lines


def section(runs: pd.DataFrame) -> list[str]:
    lines = ["", "## The plateau of each curve", "",
             f"Gain of 2B over B = (MPJPE †(B) − MPJPE †(2B)) / MPJPE †(B), per seed (val); the plateau is the "
             f"smallest B whose mean gain is below {PLATEAU_GAIN:.0%}.", "",
             "![learning curves: val solid, test dashed](convergence_curves.png)", "",
             "| curve | B → 2B | gain per seed | mean | verdict |", "|---|---|---|---|---|"]
    chosen = {}
    for curve in CURVES:
        chosen[curve], rows = plateau(runs, curve)
        lines += rows
    lines += ["", "| curve | plateau (steps) | val MPJPE † | val P-MPJPE | test MPJPE † | test P-MPJPE | test 2D † |",
              "|---|---|---|---|---|---|---|"]
    ok = runs[runs["status"] == "FINISHED"]
    for curve, b in chosen.items():
        if b is None:
            lines.append(f"| {curve} | not decided: no 2B-vs-B step with {SEEDS} paired seeds below "
                         f"{PLATEAU_GAIN:.0%} yet | | | | | |")
            continue
        at = ok[ok["row"] == row_name(curve, b)]
        cell = lambda col: f"{at[col].mean():.1f} ± {at[col].std(ddof=1):.1f}" if len(at) > 1 else "—"  # noqa: E731
        lines.append(f"| {curve} | {b} | {cell('MPJPE † (mm)')} | {cell('P-MPJPE (mm)')} | "
                     f"{cell('test MPJPE † (mm)')} | {cell('test P-MPJPE (mm)')} | {cell('test 2D † (% crop)')} |")
    lines += ["", "What the zoo builds (`maskpose_core/train/zoo_catalog.py: PLATEAU_STEPS`): " +
              "; ".join(_budget_text(kind) + ("" if PLATEAU_STEPS[kind] == chosen[curve] else
                        f" (NOT the measured plateau {chosen[curve]}: set it)") for kind, curve in ZOO_CURVES.items()) +
              "."]
    for pseudo in PSEUDO_CURVES:
        lines += gap_lines(ok, chosen, pseudo)
    return lines + mask_effect_lines(ok)


def _budget_text(kind: str) -> str:
    steps = PLATEAU_STEPS[kind]
    return f"{kind} {steps} steps" if steps else f"{kind}: none yet (no entry can be built)"


EFFECT_COLUMNS = ("MPJPE † (mm)", "P-MPJPE (mm)", "2D † (% crop)", "test MPJPE † (mm)", "test P-MPJPE (mm)")
DIGITS = (1, 1, 2, 1, 1)


def mask_effect_lines(ok: pd.DataFrame) -> list[str]:
    """What the masks add at each stage-2 budget: masks off − Full, paired by seed (> 0: the masks
    help), with its 95 % CI; empty when no stage-2 budget has both rows."""
    lines = []
    for b in CURVE_BUDGETS[FULL]:
        effects = [_paired(ok, row_name(MASKS_OFF_CURVE, b), row_name(FULL, b), col) for col in EFFECT_COLUMNS]
        if effects[0].n:
            lines.append(f"| {b} (n = {effects[0].n}) | " +
                         " | ".join(f"{e.mean:+.{d}f} | {e.ci_cell(d)}" for d, e in zip(DIGITS, effects)) + " |")
    if not lines:
        return []
    return ["", "### What the masks add at each stage-2 budget: masks off − Full, paired by seed (> 0: the masks "
            "help; 95 % CI: t over the per-seed differences)", "",
            "| stage-2 steps | " + " | ".join(f"{c} | 95 % CI" for c in EFFECT_COLUMNS) + " |",
            "|---|" + "---|---|" * len(EFFECT_COLUMNS)] + lines


GAP_COLUMNS = ("MPJPE † (mm)", "P-MPJPE (mm)", "test MPJPE † (mm)", "test P-MPJPE (mm)")
GAP_BARS = {"MPJPE † (mm)": 30.0, "P-MPJPE (mm)": 10.0}     # issue 29: the gap at the plateau, on val


def gap_lines(ok: pd.DataFrame, chosen: dict[str, int | None], pseudo: str = "pseudo only") -> list[str]:
    """The benchmark's gap, ``pseudo`` − target REFERENCE, per budget: mean over seeds paired
    (seed s against seed s) with its 95 % CI; at the plateaus, the bar on val."""
    lines = ["", f"### The gap {pseudo} − target REFERENCE, paired by seed (mm; 95 % CI: t over the per-seed "
             "differences)", "", "| budget | " + " | ".join(f"{c}: gap | 95 % CI" for c in GAP_COLUMNS) + " |",
             "|---|" + "---|---|" * len(GAP_COLUMNS)]
    for b in BUDGETS:
        effects = [_gap(ok, b, b, col, pseudo) for col in GAP_COLUMNS]
        if effects[0].n == 0:
            continue
        lines.append(f"| {b} (n = {effects[0].n}) | " +
                     " | ".join(f"{e.mean:+.1f} | {e.ci_cell()}" for e in effects) + " |")
    if chosen.get(pseudo) is not None and chosen.get("target REFERENCE") is not None:
        verdicts = []
        for col, bar in GAP_BARS.items():
            e = _gap(ok, chosen[pseudo], chosen["target REFERENCE"], col, pseudo)
            verdicts.append(f"{col} {e.mean:+.1f} {e.ci_cell()} (bar ≥ {bar:.0f}: {'met' if e.mean >= bar else 'NOT met'})")
        lines += ["", f"At the plateaus ({pseudo} {chosen[pseudo]} steps, target REFERENCE "
                  f"{chosen['target REFERENCE']} steps), val: " + "; ".join(verdicts) + "."]
    return lines


def _paired(ok: pd.DataFrame, row_a: str, row_b: str, col: str):
    """``col`` of ``row_a`` − ``row_b``, paired by seed, with its 95 % CI."""
    a = ok[ok["row"] == row_a].set_index("seed")[col]
    b = ok[ok["row"] == row_b].set_index("seed")[col]
    return paired_effect((a - b).dropna())


def _gap(ok: pd.DataFrame, b_pseudo: int, b_ref: int, col: str, curve: str = "pseudo only"):
    return _paired(ok, row_name(curve, b_pseudo), row_name("target REFERENCE", b_ref), col)


def curves_png(runs: pd.DataFrame) -> bytes:
    """The learning curves: per curve, val (solid, each seed a dot) and test (dashed) MPJPE † and
    P-MPJPE against the run's budget (log2 axis); PNG bytes."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = runs[runs["status"] == "FINISHED"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("MPJPE † (mm)", "P-MPJPE (mm)")):
        for curve, color in zip(CURVES, ("tab:gray", "tab:blue", "tab:orange", "tab:green", "tab:red")):
            rows = [(b, ok[ok["row"] == row_name(curve, b)]) for b in BUDGETS]
            rows = [(b, r) for b, r in rows if len(r)]
            if not rows:
                continue
            for b, r in rows:
                ax.scatter([b] * len(r), r[metric], color=color, s=12, alpha=0.6)
            ax.plot([b for b, _ in rows], [r[metric].mean() for _, r in rows], color=color, label=f"{curve}, val")
            ax.plot([b for b, _ in rows], [r[f"test {metric}"].mean() for _, r in rows], color=color, ls="--",
                    label=f"{curve}, test")
        ax.set_xscale("log", base=2)
        ax.set_xticks(BUDGETS, [str(b) for b in BUDGETS])
        ax.set_xlabel("training steps (batch 32; cosine decay over each run's own steps)")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def write_curves(reports_dir: Path) -> Path | None:
    """``convergence_curves.png`` from ``convergence_runs.csv`` (None when there is no csv yet)."""
    csv = reports_dir / f"{STUDY.name}_runs.csv"
    if not csv.is_file():
        return None
    out = reports_dir / f"{STUDY.name}_curves.png"
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(curves_png(pd.read_csv(csv)))
    tmp.replace(out)
    return out


def main() -> int:
    return main_with_section(STUDY, description=__doc__, heading="## The plateau of each curve", section=section,
                             after=write_curves)


if __name__ == "__main__":
    sys.exit(main())
