"""The staleness check: a report replanned with today's defaults is current; a changed default
is flagged STALE naming the key; a report without recorded configs is STALE; the header mark
comes and goes. (It tests the check, never the committed reports.)"""
from __future__ import annotations

import pandas as pd

from maskpose_core.config import apply_overrides, profile_config
from studies.definitions import TABLE3_STUDY
from studies.runner import report, staleness
from studies.runner.plan import plan_study


def _write_runs(tmp_path, study=TABLE3_STUDY, profile="smoke", overrides=None):
    plan = plan_study(study, profile=profile, seeds=1, overrides=overrides or {})
    runs = report.gather(study, plan, pd.DataFrame(columns=["status"]), profile=profile, overrides=overrides or {})
    path = tmp_path / f"{study.name}_runs.csv"
    runs.to_csv(path, index=False)
    return path


def test_a_report_made_with_todays_defaults_is_current(tmp_path):
    path = _write_runs(tmp_path, overrides={"loss.lambda_p": 0.5})     # command-line overrides replan too
    verdict = staleness.check_runs_csv(path)
    assert not verdict.stale and verdict.text == "current", verdict.reasons


def test_a_changed_default_is_flagged_naming_the_key(tmp_path, monkeypatch):
    path = _write_runs(tmp_path)
    real = profile_config
    # as if loss.lambda_s's default had changed since the report was written
    monkeypatch.setattr(staleness, "profile_config", lambda name: apply_overrides(real(name), {"loss.lambda_s": 0.25}))
    verdict = staleness.check_runs_csv(path)
    assert verdict.stale
    assert any(r.startswith("loss.lambda_s: ") and r.endswith("→ 0.25") for r in verdict.reasons), verdict.reasons
    assert not any("loss.lambda_p" in r for r in verdict.reasons)        # only what changed is named


def test_a_report_without_recorded_configs_is_stale_and_the_mark_comes_and_goes(tmp_path):
    old = tmp_path / "old_runs.csv"
    pd.DataFrame({"row": ["Full"], "seed": [0], "config_hash": ["abc"]}).to_csv(old, index=False)
    verdict = staleness.check_runs_csv(old)
    assert verdict.stale and "predates recorded configs" in verdict.text
    md = tmp_path / "old.md"
    md.write_text("# Old table\n\n- command: `x`\n")
    assert staleness.mark_report(md, verdict)
    assert md.read_text().splitlines()[2].startswith("> **STALE** — made with other defaults")
    assert not staleness.mark_report(md, verdict)                        # idempotent
    assert staleness.mark_report(md, staleness.Staleness("old", False))
    assert md.read_text() == "# Old table\n\n- command: `x`\n"
    assert staleness.check_reports(tmp_path)["old"].stale


def test_todays_study_budget_and_rows_are_replanned_and_every_row_must_be_reported(tmp_path):
    from dataclasses import replace

    from studies.runner.plan import Row
    path = _write_runs(tmp_path)
    assert not staleness.check_runs_csv(path, TABLE3_STUDY).stale           # the study it was made with
    longer = replace(TABLE3_STUDY, profile_base={"smoke": {"train.epochs": 7}})      # a study budget changed
    verdict = staleness.check_runs_csv(path, longer)
    assert verdict.stale and any(r.startswith("train.epochs: ") and r.endswith("→ 7") for r in verdict.reasons)
    rows = tuple(replace(r, overrides={**r.overrides, "loss.lambda_p": 0.5}) if r.name == "wo G" else r
                 for r in TABLE3_STUDY.rows)                                 # a row's overrides changed
    verdict = staleness.check_runs_csv(path, replace(TABLE3_STUDY, rows=rows))
    assert verdict.stale and [r for r in verdict.reasons if r.startswith("loss.lambda_p: ")] == ["loss.lambda_p: 1.0 → 0.5"]
    added = replace(TABLE3_STUDY, rows=TABLE3_STUDY.rows + (Row(name="Full, λp 0.5", seeds=1, overrides={"loss.lambda_p": 0.5}),))
    assert staleness.check_runs_csv(path, added).reasons == ["row Full, λp 0.5: in today's study, not in the report"]
    dropped = replace(TABLE3_STUDY, rows=TABLE3_STUDY.rows[1:])
    assert staleness.check_runs_csv(path, dropped).reasons == [f"row {TABLE3_STUDY.rows[0].name}: no longer in the study"]


def test_todays_studies_are_every_scripts_study_by_name():
    studies = staleness.todays_studies()
    assert studies["table3_shape"] is TABLE3_STUDY and {"ablation", "recipe", "precision"} <= set(studies)
