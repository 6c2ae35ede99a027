"""Study definitions without training: plans, shared hashes, the quick budget, bad input.

Hand-checked facts: Table 3 has 5 rows × 3 seeds (the paper's 4 and Full without the template);
the ablation adds 13 component rows × 1 seed and the supervised reference (1 seed) →
15 + 13 + 1 = 29 trainings; Table 1's ``Ours`` and
``Ours †`` are the same runs read through different metrics.
"""
from __future__ import annotations

import argparse
import logging

import pytest

from orchestration.study_cli import STEP_S, FIXED_S, estimate_run_s
from orchestration.study_runner import (REFERENCE, TABLE3_STUDY, Metric, Row, Study, plan_study, row_config,
                                        base_config, training_runs)

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


def test_ablation_quick_plan_has_the_seeds_and_fits_three_hours(load_study):
    study = load_study("ablation")["STUDY"]
    plan = plan_study(study, profile="quick")
    for row in ("wo ψ,G,Δ", "wo ψ,G", "wo G", "Full", "Full, no template"):
        assert len(_hashes(plan, row)) == 3
    components = [r for r in study.rows if r.group in ("skeleton mask", "physique mask and the rest",
                                                       "our additions (not in the paper)")]
    assert len(components) == 13 and all(len(_hashes(plan, r.name)) == 1 for r in components)
    trainings = training_runs(plan)
    assert len(trainings) == 29                      # 5 × 3 + 13 + the supervised reference
    per_run, source = estimate_run_s(_empty_frame(), trainings[0][1].cfg)
    assert "fallback" in source and per_run == FIXED_S["quick"] + 240 * STEP_S["quick"]
    assert len(trainings) * per_run <= study.budget_hours * 3600


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


def test_rows_and_metric_views():
    assert Metric("mpjpe_mm", "x").logged_key("flip") == "val/mpjpe_flip_mm"
    assert Metric("ambiguity_ratio_pct", "x").logged_key("flip") == "val/ambiguity_ratio_pct"
    assert Metric("p_mpjpe_mm", "x").logged_key("spp") == "val_spp/p_mpjpe_mm"
    assert Row(name="wo ψ,G,Δ").slug == "wo-psi-G-Delta"
    assert [r.name for r in TABLE3_STUDY.select(["wo-psi-G", "Full"]).rows] == ["wo ψ,G", "Full"]


def test_reference_values_copy_another_key():
    base = base_config(TABLE3_STUDY, profile="smoke")
    cfg = row_config(base, Row(name="s", overrides={"loss.sigma2": 5e-2, "loss.sigma2_start": "@loss.sigma2"}), 0)
    assert cfg.loss.sigma2 == cfg.loss.sigma2_start == 5e-2      # valid only when applied together
    with pytest.raises(ValueError, match="row 's'.*@loss.nope"):
        row_config(base, Row(name="s", overrides={"loss.sigma2": "@loss.nope"}), 0)


def test_bad_definitions_name_the_field():
    base = base_config(TABLE3_STUDY, profile="smoke")
    with pytest.raises(ValueError, match="row 'x'.*loss.lambda_x"):
        row_config(base, Row(name="x", overrides={"loss.lambda_x": 1}), 0)
    with pytest.raises(ValueError, match="REFERENCE"):
        row_config(base, Row(name="x", overrides={"loss.mode": "supervised_reference"}), 0)
    assert row_config(base, REFERENCE, 0).loss.mode == "supervised_reference"
    with pytest.raises(ValueError, match="must say why"):
        Row(name="x", kind="unavailable")
    with pytest.raises(ValueError, match="duplicate row names"):
        Study(name="s", title="t", rows=(Row(name="a"), Row(name="a")), metrics=(Metric("mpjpe_mm", "m"),))
    with pytest.raises(ValueError, match="not a logged metric"):
        Metric("mpjpe", "m")
    with pytest.raises(ValueError, match="unknown row"):
        TABLE3_STUDY.select(["Fulll"])


@pytest.mark.parametrize("argv, message", [
    (["loss.lambda_x=1"], "loss.lambda_x"),
    (["--rows", "Fulll"], "unknown row"),
    (["--dataset", "h36m"], "--raw-root"),
    (["--dataset", "3dhp", "--raw-root", "/no/such/folder"], "/no/such/folder"),
    (["--parallel", "2"], "tracking server"),
])
def test_bad_command_lines_exit_2_before_any_work(argv, message, store, run_study, capsys):
    assert run_study("table3_shape", store.args(*argv)) == 2
    assert message in capsys.readouterr().err
    assert not store.reports.exists() and not store.storage.exists()


def test_paper_table_with_a_missing_column_is_refused_and_the_old_report_kept(store, run_study, capsys, tmp_path):
    good = tmp_path / "good.csv"
    from orchestration.study_report import default_paper_csv
    lines = default_paper_csv().read_text().splitlines()
    good.write_text("\n".join(",".join(c for i, c in enumerate(l.split(",")) if i != 14) for l in lines[:1]) + "\n")
    store.reports.mkdir(parents=True)
    (store.reports / "table3_shape.md").write_text("a good table")
    assert run_study("table3_shape", store.args("--paper-csv", str(good))) == 2
    assert "ambiguity_ratio_pct" in capsys.readouterr().err
    assert (store.reports / "table3_shape.md").read_text() == "a good table"


def test_dry_run_prints_rows_hashes_status_and_an_estimate(store, run_study, load_study, capsys, caplog):
    caplog.set_level(logging.INFO)
    assert run_study("ablation", store.args("--dry-run", profile="quick", seeds=None)) == 0
    out = capsys.readouterr().out
    plan = plan_study(load_study("ablation")["STUDY"], profile="quick")
    assert all(p.hash[:12] in out for p in plan)
    assert "29 distinct trainings" in out and "to run: 29 trainings" in out and "estimate: 29 ×" in out
    assert not store.reports.exists()


def test_tune_dry_run_before_the_sweep_shows_the_tuned_row_as_not_run(store, run_study, capsys):
    assert run_study("tune_lambdas", store.args("--dry-run")) == 0
    out = capsys.readouterr().out
    assert "tuned" in out and "not run: sweep tune_lambdas-smoke" in out
