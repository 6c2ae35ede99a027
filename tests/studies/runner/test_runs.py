"""Finding a study's runs in MLflow: one run per hash (the newest FINISHED wins), runs that hold
no result are left out, only FINISHED runs count as done; how long a training takes here.

Hand-computed estimates: at the smoke fallback a run of S steps takes 4 + 0.5·S s; finished runs
of 100, 200 and 400 s of the same size → median 200 s (a run of another size does not count).
"""
from __future__ import annotations

import pandas as pd
import pytest

from maskpose_core.config import profile_config
from orchestration import tracking
from studies.definitions import TABLE3_STUDY
from studies.runner.plan import plan_study
from studies.runner.runs import (FIXED_S, SIZE_PARAMS, STEP_S, estimate_run_s, finished_ids, finished_runs,
                                 pick_runs, runs_frame)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _full(plan):
    return [p for p in plan if p.row.name == "Full"]


def test_newest_finished_run_wins_and_a_sweep_parent_is_not_a_result(store, plant):
    h = _full(plan_study(TABLE3_STUDY, profile="smoke", seeds=1))[0].hash
    plant(store.uri, h, {"val/mpjpe_mm": 1.0})
    newer = plant(store.uri, h, {"val/mpjpe_mm": 2.0})
    plant(store.uri, h, {"val/mpjpe_mm": 3.0}, status="FAILED")
    exp = tracking.ensure_experiment(store.uri, "sweep")
    tracking.create_run(store.uri, exp, run_name="sweep", tags={"config_hash": h, "variant": "sweep"},
                        params={"search.trials": 2})                  # as orchestration.tune tags its parent
    picked = pick_runs(runs_frame(store.uri))
    assert picked.loc[h, "run_id"] == newer


def test_only_finished_runs_are_done(store, plant):
    a, b = (p.hash for p in _full(plan_study(TABLE3_STUDY, profile="smoke", seeds=2)))
    done = plant(store.uri, a, {"val/mpjpe_mm": 1.0})
    plant(store.uri, b, {"val/mpjpe_mm": 2.0}, status="FAILED")
    assert finished_ids(pick_runs(runs_frame(store.uri))) == {a: done}
    assert finished_runs(store.uri) == {a: done}


def test_an_empty_store_has_no_runs(store):
    assert runs_frame(store.uri).empty and finished_runs(store.uri) == {}


def _frame(cfg, seconds: list[float], epochs: list[int]) -> pd.DataFrame:
    """Finished training runs of ``cfg``'s size (but ``train.epochs``) taking ``seconds``."""
    start = pd.Timestamp("2026-01-01", tz="UTC")
    size = {"train.epochs": None, "train.steps_per_epoch": cfg.train.steps_per_epoch,
            "data.train_frames": cfg.data.train_frames, "optim.batch_size": cfg.optim.batch_size,
            "model.backbone": cfg.model.backbone, "data.image_size": cfg.data.image_size,
            "train.device": cfg.train.device, "recipe.stages": cfg.recipe.stages}
    assert set(size) == set(SIZE_PARAMS)
    return pd.DataFrame([{"status": "FINISHED", "tags.profile": cfg.profile, "tags.kind": "train",
                          "start_time": start, "end_time": start + pd.Timedelta(seconds=s),
                          **{f"params.{k}": str(e if k == "train.epochs" else v) for k, v in size.items()}}
                         for s, e in zip(seconds, epochs)])


def test_the_estimate_is_the_median_of_finished_runs_of_the_same_size():
    cfg = profile_config("smoke")
    e = cfg.train.epochs
    per, source = estimate_run_s(_frame(cfg, [100.0, 200.0, 400.0, 10.0], [e, e, e, e + 1]), cfg)
    assert per == 200.0 and "median of 3 finished smoke runs" in source


def test_without_runs_of_the_size_the_estimate_is_the_measured_fallback():
    cfg = profile_config("smoke")
    steps = cfg.train.epochs * (cfg.train.steps_per_epoch or max(cfg.data.train_frames // cfg.optim.batch_size, 1))
    per, source = estimate_run_s(_frame(cfg, [], []), cfg)
    assert per == FIXED_S["smoke"] + STEP_S["smoke"] * steps == 4.0 + 0.5 * steps
    assert "fallback" in source
    assert estimate_run_s(_frame(cfg, [], []), profile_config("paper"))[0] is None      # no measurement


def test_a_plan_estimate_adds_each_distinct_stage_1_once_and_weights_stage_2_steps():
    from maskpose_core.config import apply_overrides
    from studies.runner.runs import STAGE2_STEP_FACTOR, SUPERVISED_STEP_FACTOR, estimate_plan_s
    base = apply_overrides(profile_config("smoke"), {"recipe.stages": "two_stage"})
    cfgs = [apply_overrides(base, {"seed": 0}), apply_overrides(base, {"seed": 0, "loss.lambda_p": 0.0}),
            apply_overrides(base, {"seed": 1})]                  # two rows share seed 0's stage 1
    steps = base.train.epochs * (base.train.steps_per_epoch or max(base.data.train_frames // base.optim.batch_size, 1))
    s1 = base.recipe.stage1_epochs * base.recipe.stage1_steps_per_epoch
    empty = _frame(base, [], [])
    total, source = estimate_plan_s(empty, cfgs)
    stage2 = FIXED_S["smoke"] + STEP_S["smoke"] * STAGE2_STEP_FACTOR * steps
    stage1 = FIXED_S["smoke"] + STEP_S["smoke"] * SUPERVISED_STEP_FACTOR[True] * s1     # supervised, ψ beside φ
    assert total == pytest.approx(3 * stage2 + 2 * stage1) and "2 stage-1 runs" in source
    cached, _ = estimate_plan_s(empty, cfgs, stage1_done=lambda cfg: True)
    assert cached == pytest.approx(3 * stage2)


def test_a_run_whose_final_stage_the_zoo_holds_is_estimated_as_one_evaluation():
    from maskpose_core.config import apply_overrides
    from studies.runner.runs import ZOO_EVAL_S, estimate_plan_s
    ref = apply_overrides(profile_config("smoke"), {"loss.mode": "supervised_reference", "train.epochs": 40})
    empty = _frame(ref, [], [])
    trained, _ = estimate_plan_s(empty, [ref])
    held, source = estimate_plan_s(empty, [ref], final_in_zoo=lambda cfg: True)
    assert held == ZOO_EVAL_S["smoke"] and "evaluation of a zoo entry" in source
    assert trained > 10 * held                    # 40 epochs of training, not one evaluation
