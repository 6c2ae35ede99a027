"""Tables are computed from MLflow runs: planted runs with known metrics appear with their values;
missing and failed seeds are counted, never dropped; paper numbers stay in their own columns;
the study's split chooses the metrics; files are replaced atomically.

Hand-computed: seeds with MPJPE 100 and 110 → mean 105.0, sample std √50 = 7.07 → "105.0 ± 7.1".
"""
from __future__ import annotations

import logging
from dataclasses import replace

import pandas as pd
import pytest

from studies.definitions import TABLE3_STUDY
from studies.runner import report
from studies.runner.plan import plan_study
from studies.runner.report import ReportContext, write_study_reports
from studies.runner.runs import pick_runs, runs_frame

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SPLIT = TABLE3_STUDY.split         # the metrics the table reads: <split>/…


def _full(plan):
    return [p for p in plan if p.row.name == "Full"]


def _ctx(uri: str) -> ReportContext:
    return ReportContext(command="test", profile="smoke", dataset="cmu-mv4", overrides={}, tracking_uri=uri,
                         git_commit="abc", git_dirty="false", wall_s=1.0, trained=0, skipped=0)


def test_planted_runs_fill_the_table_and_nothing_is_trained(store, run_study, caplog, plant):
    caplog.set_level(logging.INFO)
    plan = _full(plan_study(TABLE3_STUDY, profile="smoke", seeds=2))
    ids = [plant(store.uri, p.hash, {f"{SPLIT}/mpjpe_mm": v, f"{SPLIT}/ambiguity_ratio_pct": ar})
           for p, v, ar in zip(plan, (100.0, 110.0), (5.0, 7.0))]
    assert run_study("table3_shape", store.args("--rows", "Full", seeds=2)) == 0
    md = (store.reports / "table3_shape.md").read_text()
    full = next(line for line in md.splitlines() if line.startswith("| Full |"))
    assert "105.0 ± 7.1 (2/2)" in full and "6.00 ± 1.41 (2/2)" in full
    assert full.rstrip(" |").endswith("95.9 | 20.33")                # the paper's, in its own columns
    summary = pd.read_csv(store.reports / "table3_shape.csv")
    assert summary.loc[0, "MPJPE (mm) mean"] == pytest.approx(105.0)
    assert summary.loc[0, "paper MPJPE (mm)"] == pytest.approx(95.9)
    assert set(summary.loc[0, "run_ids"].split(";")) == set(ids)
    assert len(store.runs()) == 2                                     # no training, no extra run
    assert f"skip Full seed=0: finished run {ids[0]}" in caplog.text
    assert (store.reports / "README.md").is_file() and (store.reports / "table3_shape.png").stat().st_size > 1000


def test_missing_and_failed_seeds_are_counted_and_listed(store, plant):
    plan = _full(plan_study(TABLE3_STUDY, profile="smoke", seeds=3))
    plant(store.uri, plan[0].hash, {f"{SPLIT}/mpjpe_mm": 100.0, f"{SPLIT}/ambiguity_ratio_pct": 5.0})
    plant(store.uri, plan[1].hash, {f"{SPLIT}/mpjpe_mm": 110.0, f"{SPLIT}/ambiguity_ratio_pct": 7.0})
    failed = plant(store.uri, plan[2].hash, {f"{SPLIT}/mpjpe_mm": 1.0}, status="FAILED")
    write_study_reports(TABLE3_STUDY.select(["Full"]), plan, pick_runs(runs_frame(store.uri)),
                        report.load_paper_table(), _ctx(store.uri), store.reports)
    md = (store.reports / "table3_shape.md").read_text()
    assert "105.0 ± 7.1 (2/3)" in md                                   # the FAILED run's 1.0 is not averaged in
    assert f"- Full seed=2: FAILED (run {failed})" in md
    runs = pd.read_csv(store.reports / "table3_shape_runs.csv")
    assert list(runs["status"]) == ["FINISHED", "FINISHED", "FAILED"]


def test_a_finished_run_without_the_metric_shows_na_not_a_smaller_mean(store, plant):
    plan = _full(plan_study(TABLE3_STUDY, profile="smoke", seeds=2))
    plant(store.uri, plan[0].hash, {f"{SPLIT}/mpjpe_mm": 100.0, f"{SPLIT}/ambiguity_ratio_pct": 5.0})
    plant(store.uri, plan[1].hash, {f"{SPLIT}/mpjpe_mm": 110.0})
    write_study_reports(TABLE3_STUDY.select(["Full"]), plan, pick_runs(runs_frame(store.uri)),
                        report.load_paper_table(), _ctx(store.uri), store.reports)
    full = next(line for line in (store.reports / "table3_shape.md").read_text().splitlines()
                if line.startswith("| Full |"))
    assert "105.0 ± 7.1 (2/2)" in full and "n/a (2/2)" in full


def test_the_study_split_chooses_the_metrics_every_row_reads(store, plant):
    plan = _full(plan_study(TABLE3_STUDY, profile="smoke", seeds=1))
    plant(store.uri, plan[0].hash, {"val/mpjpe_mm": 100.0, "test/mpjpe_mm": 90.0})
    picked = pick_runs(runs_frame(store.uri))
    label = TABLE3_STUDY.metrics[0].label                              # MPJPE (mm)
    assert report.gather(replace(TABLE3_STUDY, split="val"), plan, picked).loc[0, label] == 100.0
    assert report.gather(replace(TABLE3_STUDY, split="test"), plan, picked).loc[0, label] == 90.0


def test_a_failure_while_computing_leaves_the_old_files_untouched(store, monkeypatch):
    plan = _full(plan_study(TABLE3_STUDY, profile="smoke", seeds=1))
    store.reports.mkdir(parents=True)
    for suffix in (".md", ".csv", ".png"):
        (store.reports / f"table3_shape{suffix}").write_text("good")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(report, "plot_png", broken)
    with pytest.raises(RuntimeError):
        write_study_reports(TABLE3_STUDY.select(["Full"]), plan, pick_runs(runs_frame(store.uri)),
                            report.load_paper_table(), _ctx(store.uri), store.reports)
    assert all((store.reports / f"table3_shape{s}").read_text() == "good" for s in (".md", ".csv", ".png"))
    assert not list(store.reports.glob(".*tmp*"))


def test_gap_closed_is_computed_from_the_row_means():
    # hand-derived: baseline 250, reference 150, Full 200 -> (250 - 200) / (250 - 150) = 50 %
    labels = report.KIND_LABELS
    metric = TABLE3_STUDY.metrics[0].label
    summary = pd.DataFrame([
        {"row": "mean-pose baseline", "kind": labels["baseline"], f"{metric} mean": 250.0},
        {"row": "supervised reference", "kind": labels["reference"], f"{metric} mean": 150.0},
        {"row": "Full", "kind": labels["train"], f"{metric} mean": 200.0},
        {"row": "wo G", "kind": labels["train"], f"{metric} mean": 275.0}])
    for m in TABLE3_STUDY.metrics[1:]:
        summary[f"{m.label} mean"] = float("nan")
    lines = "\n".join(report._gap_section(TABLE3_STUDY, summary))
    assert "| Full | 50 % |" in lines and "| wo G | -25 % |" in lines
    assert "supervised reference |" not in lines.split("|---|")[1]         # only trained rows
    assert "AR (%)" not in lines                          # the mean pose has a low AR by construction


def test_append_section_replaces_its_own_older_section(tmp_path):
    from studies.runner.report import append_section
    (tmp_path / "s.md").write_text("# S\n\n| a |\n")
    (tmp_path / "s_runs.csv").write_text("row,seed\nx,0\nx,1\n")
    section = lambda runs: ["", "## Extra", "", f"{len(runs)} runs"]     # noqa: E731
    append_section(tmp_path, "s", "## Extra", section)
    append_section(tmp_path, "s", "## Extra", section)                 # again: replaced, not doubled
    assert (tmp_path / "s.md").read_text() == "# S\n\n| a |\n\n## Extra\n\n2 runs\n"
    append_section(tmp_path, "missing", "## Extra", section)           # nothing to append to: no file made
    assert not (tmp_path / "missing.md").exists()
