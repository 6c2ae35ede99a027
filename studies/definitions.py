"""What several studies share: the quick budget, the mean-pose baseline, the supervised
reference, common metrics and the paper's Table 3 (which ``table3_shape.py`` runs and
``ablation.py`` also writes, from the same runs).

Identical rows of different studies share runs because their configs hash alike: Table 3's
``Full`` is Table 1's ``Ours`` and Table 2's training, so a row defined here once is trained
once. The paper's own numbers are in ``maskpose_core/assets/paper_tables.csv``
(:func:`studies.runner.report.load_paper_table`).
"""
from __future__ import annotations

from maskpose_core.train.zoo_catalog import PLATEAU_STEPS, PSEUDO_ACTIVITIES
from maskpose_core.train.zoo_catalog import SEEDS as ZOO_SEEDS
from studies.runner.plan import Metric, Row, Study

# Quick-profile budget of every study (so their identical rows share runs — Table 3's "Full" is
# Table 1's "Ours" and Table 2's training). One epoch of 80 steps of 32 moments: the mask-trained
# detector plateaus within it (val, seed 1, compiled, 2026-12-04: Full 228.6 / 183.3 mm MPJPE † /
# P-MPJPE after 80 steps against 227.5 / 184.7 after 240; 2026-12-02: 230 → 230 → 235 over
# 3 × 80 steps). The studies compile the backbone (``train.compile``): faster counting its compile
# time (reports/benchmarks.md) and at accuracy parity with eager fp32, 3 seeds paired on val
# (reports/precision.md, 2026-12-03). Rows that learn from labels keep longer budgets of their
# own (:data:`REFERENCE_EPOCHS`, :data:`STAGE2_EPOCHS`).
QUICK_BUDGET = {"quick": {"train.epochs": 1, "train.steps_per_epoch": 80, "train.val_samples": 200,
                          "train.compile": True}}
# The supervised reference keeps 3 × 80 steps: it is an upper reference (it does not plateau:
# 179 → 158 → 148 mm over 240 / 480 / 720 steps, issue 15), not a same-budget control.
REFERENCE_EPOCHS = 3
# Stage 2 of the recipe needs its 240 steps: cut to 80 (1 epoch, val, seed 1, 2026-12-03) it lost
# 42 % of the masks' MPJPE † gain at lr 1e-3 (Full 237.9 vs 218.9 mm; masks off 250.8 vs 241.0)
# and as much at lr 3e-4 (236.3; 248.8) — docs/method-notes.md "Budgets".
STAGE2_EPOCHS = 3
EVAL_ONLY_TRAIN_FRAMES = 64     # an evaluation-only synthetic set: its train split is never used

BASELINE = Row(name="mean-pose baseline", kind="baseline", group="baselines",
               note="the mean root-relative training pose at the ground-truth root; no training")
REFERENCE = Row(name="supervised reference", kind="reference", seeds=1, group="baselines",
                overrides={"loss.mode": "supervised_reference", "train.epochs": REFERENCE_EPOCHS},
                note="the same network trained on 3D labels for 3 × 80 steps: an upper reference, not the method")

MPJPE = Metric("mpjpe_mm", "MPJPE (mm)", paper="mpjpe_mm")
MPJPE_FLIP = Metric("mpjpe_flip_mm", "MPJPE † (mm)")
P_MPJPE = Metric("p_mpjpe_mm", "P-MPJPE (mm)", paper="p_mpjpe_mm")
AR = Metric("ambiguity_ratio_pct", "AR (%)", paper="ambiguity_ratio_pct", digits=2)
TABLE3_METRICS = (MPJPE, AR, MPJPE_FLIP, Metric("n_mpjpe_flip_mm", "N-MPJPE † (mm)"),
                  Metric("p_mpjpe_mm", "P-MPJPE (mm)"), Metric("p_mpjpe_flip_mm", "P-MPJPE † (mm)"),
                  Metric("err2d_flip_pct", "2D † (% crop)", digits=2))


def table3_rows(seeds: int = 3) -> tuple[Row, ...]:
    """The paper's Table 3 (shape-reconstruction ablation); ``Full`` is the base config.

    Without G there are no silhouette tips, so the rows without G also drop the extremity term.
    """
    group = "Table 3"
    no_g = {"loss.geodesic": False, "loss.extremity_weight": 0.0}
    return (Row(name="wo ψ,G,Δ", seeds=seeds, group=group, paper="wo psi, G, Delta",
                overrides={"model.physique": False, **no_g, "loss.delta": False}),
            Row(name="wo ψ,G", seeds=seeds, group=group, paper="wo psi, G",
                overrides={"model.physique": False, **no_g}),
            Row(name="wo G", seeds=seeds, group=group, paper="wo G", overrides=no_g),
            Row(name="Full", seeds=seeds, group=group, paper="Full"),
            Row(name="Full, no template", seeds=min(seeds, 1), group=group,
                overrides={"model.init_prior": "none", "loss.template_weight": 0.0},
                note="Full without the template (T: init prior and articulation prior): the paper's "
                     "prior-free setting; 1 seed (it collapses: 505 ± 23 mm over 3 seeds, 2026-12-02)"))


# ---------------------------------------------------------------- the two-stage recipe's group

RECIPE = "two-stage recipe"
NO_TEMPLATE = {"model.init_prior": "none", "loss.template_weight": 0.0}
# Stage 2 without the multi-view terms (triangulation, consistency): chosen on val, 1 seed
# (docs/method-notes.md "Why stage 2 harms P-MPJPE"): with them stage 2 pays ~6-9 mm of P-MPJPE
# for the same MPJPE †; the authors' stage 2 has no cross-view term either.
STAGE2_NO_MULTI_VIEW = {"loss.triangulation_weight": 0.0, "loss.consistency_weight": 0.0}
STEPS_PER_EPOCH = QUICK_BUDGET["quick"]["train.steps_per_epoch"]
# Every recipe row starts from the zoo's converged stage 1 (its plateau on the benchmark's dance
# pseudo set: maskpose_core/zoo, reports/convergence.md), so pseudo only is an evaluation of the
# zoo's entry and stage 2 never trains a stage 1 of its own.
ZOO_STAGE1 = {"recipe.stage1_epochs": PLATEAU_STEPS["stage1"] // STEPS_PER_EPOCH,
              "data.pseudo_activities": PSEUDO_ACTIVITIES}
# Stage 2's plateau from that stage 1 (reports/convergence.md, val, 2 seeds paired): Full gains
# +2.2 % from 240 to 480 steps and +1.1 % from 480 to 960 (+1.2 %, +1.1 % per seed): plateau 480;
# masks off gains +0.8 % from 240 to 480: plateau 240 (the headline pairs both at 480).
STAGE2_PLATEAU_STEPS = 480
STAGE2_EPOCHS = STAGE2_PLATEAU_STEPS // STEPS_PER_EPOCH
# Component rows of the main job (Table 3's rows as stage-2 variants) run at a stated shorter
# budget, beside Full at the same budget, so that the main job stays near 90 min on 2 cores.
STAGE2_COMPONENT_STEPS = 240
TWO_STAGE = {**NO_TEMPLATE, "recipe.stages": "two_stage", "train.epochs": STAGE2_EPOCHS, **STAGE2_NO_MULTI_VIEW,
             **ZOO_STAGE1}
MASKS_OFF = {"loss.lambda_s": 0.0, "loss.lambda_p": 0.0, "loss.coverage_weight": 0.0, "loss.extremity_weight": 0.0}
NO_G = {"loss.geodesic": False, "loss.extremity_weight": 0.0}
# The target REFERENCE at its plateau: the zoo's reference entries (evaluated, never retrained).
TARGET_REFERENCE = {**NO_TEMPLATE, "loss.mode": "supervised_reference",
                    "train.epochs": PLATEAU_STEPS["reference"] // STEPS_PER_EPOCH}
HEADLINE_SEEDS = 5                   # stage 2 of seed s starts from the zoo's stage1-seed<s> (s = 0 … 4)
REFERENCE_SEEDS = len(ZOO_SEEDS["reference"])


def component_row(name: str, overrides: dict, *, seeds: int = 1, note: str = "") -> Row:
    """A stage-2 variant at :data:`STAGE2_COMPONENT_STEPS` (the main job's component budget)."""
    return Row(name=f"{name}, {STAGE2_COMPONENT_STEPS} steps", group=f"{RECIPE}: components at {STAGE2_COMPONENT_STEPS} steps",
               seeds=seeds, overrides={**TWO_STAGE, **overrides, "train.epochs": STAGE2_COMPONENT_STEPS // STEPS_PER_EPOCH},
               note=note or f"stage 2 of {STAGE2_COMPONENT_STEPS} steps (a component budget: below the plateau)")


def recipe_rows(seeds: int = HEADLINE_SEEDS, component_seeds: int = 1) -> tuple[Row, ...]:
    """The recipe's group, shared by every table (identical rows share runs), every row from the
    zoo: pseudo only (the zoo's stage 1 evaluated on the target), stage 2 with masks off (same
    streams, steps and BatchNorm exposure as Full, so a gain over it is the masks') and Full at
    stage 2's plateau, the target REFERENCE at its plateau (the zoo's entries), and Table 3's rows
    as stage-2 variants beside Full at the component budget. No template: the labelled pseudo
    images replace it."""
    return (
        Row(name="pseudo only (stage 1)", group=RECIPE, seeds=seeds,
            overrides={**NO_TEMPLATE, "recipe.stages": "pseudo_only", **ZOO_STAGE1},
            note="the zoo's stage 1 (supervised on our labelled pseudo images, at its plateau), evaluated on the target"),
        Row(name="stage 2, masks off", group=RECIPE, seeds=seeds, overrides={**TWO_STAGE, **MASKS_OFF},
            note=f"stage 2 at its plateau ({STAGE2_PLATEAU_STEPS} steps) with every mask weight 0: same streams, "
                 "steps and BatchNorm exposure as Full"),
        Row(name="stage 2, Full", group=RECIPE, seeds=seeds, overrides=TWO_STAGE,
            note=f"stage 2 at its plateau ({STAGE2_PLATEAU_STEPS} steps) from the zoo's stage 1 of the same seed"),
        Row(name="target REFERENCE (3D labels)", kind="reference", group=RECIPE, seeds=min(seeds, REFERENCE_SEEDS),
            overrides=TARGET_REFERENCE,
            note=f"the same network on the target's 3D labels at its plateau ({PLATEAU_STEPS['reference']} steps): "
                 "the zoo's reference entries, an upper reference"),
        component_row("stage 2, Full", {}, seeds=component_seeds),
        component_row("stage 2, wo G", NO_G, seeds=component_seeds),
        component_row("stage 2, wo ψ,G", {**NO_G, "model.physique": False}, seeds=component_seeds),
        component_row("stage 2, wo ψ,G,Δ", {**NO_G, "model.physique": False, "loss.delta": False}, seeds=component_seeds),
    )


TABLE3_STUDY = Study(
    name="table3_shape",
    title="Table 3 — shape reconstruction ablation (MPJPE, Ambiguity Ratio)",
    rows=table3_rows(seeds=3) + recipe_rows(seeds=3) + (BASELINE, REFERENCE),
    metrics=TABLE3_METRICS,
    seeds=3,
    split="test",
    profile_base=QUICK_BUDGET,
    paper_table="3",
    paper_dataset="Human3.6M",
    notes=("AR (Ambiguity Ratio): per joint, how many of the C views swap it with its left/right "
           "partner, min(k, C−k)/C averaged (authors' code); lower is better.",
           "MPJPE † and P-MPJPE are not in the paper's Table 3; † is the better of a prediction and "
           "its left-right mirror, per sample."),
)
