"""The command line every study script shares: bad input exits 2 before any work (no report,
no checkpoint folder), a bad paper table keeps the old report, ``--dry-run`` runs nothing."""
from __future__ import annotations

import logging

import pytest

from studies.runner.plan import plan_study
from studies.runner.report import default_paper_csv

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("argv, message", [
    (["loss.lambda_x=1"], "loss.lambda_x"),
    (["--rows", "Fulll"], "unknown row"),
    (["--dataset", "h36m"], "--raw-root"),
    (["--dataset", "3dhp", "--raw-root", "/no/such/folder"], "/no/such/folder"),
    (["--parallel", "2"], "tracking server"),
    (["--dataset", "pseudo"], "invalid choice: 'pseudo'"),
])
def test_bad_command_lines_exit_2_before_any_work(argv, message, store, run_study, capsys):
    assert run_study("table3_shape", store.args(*argv)) == 2
    assert message in capsys.readouterr().err
    assert not store.reports.exists() and not store.storage.exists()


def test_paper_table_with_a_missing_column_is_refused_and_the_old_report_kept(store, run_study, capsys, tmp_path):
    good = tmp_path / "good.csv"
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
    assert "43 distinct trainings" in out and "to run: 43 trainings" in out and "estimate: ≈ " in out
    # every stage 1 and target REFERENCE comes from the zoo: no stage-1 run, the REFERENCE evaluated
    assert "(43 runs: " in out and "stage-1 runs" not in out and "3 × evaluation of a zoo entry" in out
    assert not store.reports.exists()


def test_a_study_on_test_reads_val_where_the_loader_has_no_test_split():
    """3dhp's and wild's loaders evaluate on val (plan.NO_TEST_SPLIT): a study that reports on test
    reads val there, and keeps test on the synthetic rigs and h36m (whose test split is S9, S11)."""
    import argparse

    from studies.runner.cli import resolve_study
    from studies.runner.plan import Metric, Row, Study

    m = (Metric("mpjpe_mm", "MPJPE (mm)"),)
    study = Study(name="s", title="t", rows=(Row(name="Ours"),), metrics=m, split="test")
    args = lambda dataset: argparse.Namespace(dataset=dataset, rows=None)        # noqa: E731
    assert resolve_study(study, args(None)).split == "test"
    assert resolve_study(study, args("h36m")).split == "test"
    assert resolve_study(study, args("3dhp")).split == "val"
    evaluated_on_wild = Study(name="s", title="t", metrics=m, split="test",
                              rows=(Row(name="Ours", evaluate_on={"data.dataset": "wild"}),))
    assert resolve_study(evaluated_on_wild, args(None)).split == "val"
    assert resolve_study(Study(name="s", title="t", rows=(Row(name="Ours"),), metrics=m), args("3dhp")).split == "val"


def test_report_only_writes_the_table_from_finished_runs_and_trains_nothing(store, run_study, capsys):
    """A long study stopped part-way: --report-only writes its report from what finished (here
    nothing: every row 0 of N planned) and starts no training (no checkpoint folder)."""
    assert run_study("convergence", store.args("--report-only", "--rows", "target REFERENCE, 240 steps")) == 0
    text = (store.reports / "convergence.md").read_text()
    assert "target REFERENCE, 240 steps" in text and "0/" in text
    assert not store.storage.exists()
