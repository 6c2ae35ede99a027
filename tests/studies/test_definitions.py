"""The paper's study definitions without training: plans, shared hashes, the quick budget.

Hand-checked facts: Table 3 has 5 rows × 3 seeds (the paper's 4 and Full without the template:
4 × 3 + 1 = 13 trainings); the ablation adds 13 component rows × 1 seed, the supervised reference
(1 seed) and the recipe's 4 headline rows × 3 seeds and 4 components at 240 steps → 43; Table 1's ``Ours`` and
``Ours †`` are the same runs read through different metrics.
"""
from __future__ import annotations

import argparse

import pytest

from studies.definitions import TABLE3_STUDY
from studies.runner.plan import plan_study, training_runs
from studies.runner.runs import FIXED_S, STEP_S, estimate_plan_s, estimate_run_s

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _args(**kw) -> argparse.Namespace:
    base = dict(dataset=None, profile=None, overrides=[], raw_root="", storage="", dry_run=True,
                trials=2, concurrent=1, objective="val/mask_iou", search_seed=0, tracking_uri="",
                reports_dir="", data_root="", ray_address=None)
    return argparse.Namespace(**{**base, **kw})


def _hashes(plan, row):
    return [p.hash for p in plan if p.row.name == row]


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper"])
def test_every_study_plans_at_every_profile(profile, load_study):
    for name in ("ablation", "table1_h36m"):
        assert plan_study(load_study(name)["STUDY"], profile=profile)
    assert plan_study(TABLE3_STUDY, profile=profile)
    for name in ("table2_3dhp", "in_the_wild"):
        assert plan_study(load_study(name)["build"](_args()), profile=profile)


def test_ablation_quick_plan_has_the_seeds_and_fits_its_budget(load_study):
    study = load_study("ablation")["STUDY"]
    plan = plan_study(study, profile="quick")
    for row in ("wo ψ,G,Δ", "wo ψ,G", "wo G", "Full"):
        assert len(_hashes(plan, row)) == 3
    assert len(_hashes(plan, "Full, no template")) == 1         # it collapses; a component's seed
    components = [r for r in study.rows if r.group in ("skeleton mask", "physique mask and the rest",
                                                       "our additions (not in the paper)")]
    assert len(components) == 13 and all(len(_hashes(plan, r.name)) == 1 for r in components)
    for row in ("pseudo only (stage 1)", "stage 2, masks off", "stage 2, Full", "target REFERENCE (3D labels)"):
        assert len(_hashes(plan, row)) == 3, row
    for row in ("stage 2, Full, 240 steps", "stage 2, wo G, 240 steps", "stage 2, wo ψ,G, 240 steps",
                "stage 2, wo ψ,G,Δ, 240 steps"):                  # components at a stated shorter budget
        assert len(_hashes(plan, row)) == 1, row
    trainings = training_runs(plan)
    assert len(trainings) == 43                      # 4 × 3 + 1 + 13 + the reference + the recipe's 4 × 3 + 4
    per_run, source = estimate_run_s(_empty_frame(), trainings[0][1].cfg)   # a mask-only row: 1 × 80 steps
    assert "fallback" in source and per_run == FIXED_S["quick"] + 80 * STEP_S["quick"]
    # from nothing but the zoo: stage 1 and the REFERENCE are the zoo's (no stage-1 run; 3 evaluations)
    from maskpose_core.train.recipe import stages
    from maskpose_core.train.zoo import Zoo
    from studies.runner.cli import _final_in_zoo
    total, source = estimate_plan_s(_empty_frame(), [p.cfg for _, p in trainings],
                                    stage1_done=lambda cfg: Zoo().find(stages(cfg)[0]) is not None,
                                    final_in_zoo=_final_in_zoo)
    assert "stage-1 runs" not in source and "3 × evaluation of a zoo entry" in source
    assert total <= study.budget_hours * 3600


def _empty_frame():
    import pandas as pd
    return pd.DataFrame(columns=["run_id", "status", "start_time", "end_time", "tags.config_hash"])


def test_seeds_flag_replaces_every_rows_count(load_study):
    plan = plan_study(load_study("ablation")["STUDY"], profile="smoke", seeds=2)
    assert all(len(_hashes(plan, r)) == 2 for r in ("Full", "wo ψ", "supervised reference"))
    assert len(_hashes(plan, "mean-pose baseline")) == 1        # computed, deterministic


def test_identical_rows_of_different_studies_share_runs(load_study):
    ablation = plan_study(load_study("ablation")["STUDY"], profile="quick")
    table3 = plan_study(TABLE3_STUDY, profile="quick")
    for row in ("wo ψ,G,Δ", "wo ψ,G", "wo G", "Full", "mean-pose baseline", "supervised reference"):
        assert _hashes(ablation, row) == _hashes(table3, row)
    table1 = plan_study(load_study("table1_h36m")["STUDY"], profile="quick")
    assert _hashes(table1, "Ours") == _hashes(table1, "Ours †") == _hashes(table3, "Full")
    table2 = plan_study(load_study("table2_3dhp")["build"](_args()), profile="quick")
    assert [p.train_hash for p in table2 if p.row.name == "Ours"] == _hashes(table3, "Full")
    wild = plan_study(load_study("in_the_wild")["build"](_args()), profile="quick")
    assert _hashes(wild, "source only (cmu-mv4)") == _hashes(table2, "Ours")   # the same eval runs


def test_tune_dry_run_before_the_sweep_shows_the_tuned_row_as_not_run(store, run_study, capsys):
    assert run_study("tune_lambdas", store.args("--dry-run")) == 0
    out = capsys.readouterr().out
    assert "tuned" in out and "not run: sweep tune_lambdas-smoke" in out


def test_the_recipe_study_reads_test_and_its_stage2_rows_share_stage1():
    import importlib.util
    from pathlib import Path

    from maskpose_core.config import apply_overrides, profile_config
    from maskpose_core.train.recipe import stage_key, stage1_config

    spec = importlib.util.spec_from_file_location(
        "recipe_study", Path(__file__).resolve().parents[2] / "studies" / "recipe.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.STUDY.split == "test"
    rows = {r.name: r for r in mod.STUDY.rows}
    base = profile_config("quick")
    key = lambda name: stage_key(stage1_config(apply_overrides(base, dict(rows[name].overrides))))   # noqa: E731
    # every stage-2 row (the authors' too: ψ from scratch, their weights and rate) and the rows
    # without ψ (ψ's weights dropped) start from the same stage 1; an architecture of the detector
    # (the image × mask input) would have its own
    stage2 = [n for n, r in rows.items() if r.overrides.get("recipe.stages") == "two_stage"]
    assert len(stage2) >= 15 and {key(n) for n in stage2} == {key("pseudo only (stage 1)")}
    image_mask = stage_key(stage1_config(apply_overrides(base, {**rows["stage 2, Full"].overrides,
                                                                "model.input": "image*mask"})))
    assert image_mask != key("stage 2, Full")
    # stage 1 and the target REFERENCE of every seed come from the package's zoo, at their plateaus
    from maskpose_core.train.recipe import stages
    from maskpose_core.train.zoo import Zoo
    zoo = Zoo()
    plan = plan_study(mod.STUDY, profile="quick")
    for p in plan:
        if p.row.name in ("stage 2, Full", "stage 2, masks off", "pseudo only (stage 1)"):
            assert zoo.find(stages(p.cfg)[0]).name == f"stage1-seed{p.seed}"
        if p.row.name == "target REFERENCE (3D labels)":
            assert zoo.find(stages(p.cfg)[-1]).name == f"reference-seed{p.seed}"
    assert rows["stage 2, Full"].seeds == 5 and rows["target REFERENCE (3D labels)"].seeds == 3
