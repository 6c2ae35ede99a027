"""Every study at the smoke profile, for real (1 seed; the ablation on a subset of its rows).

The studies share one MLflow store in this module, as they do in real use: Table 3's ``Full`` is
Table 1's ``Ours`` and Table 2's training, so later studies train only what is new to them.
Run again, a study trains nothing; interrupted, it keeps the old report and continues.
"""
from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240),
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]
REPO = Path(__file__).resolve().parents[2]


def _row(md: str, name: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith(f"| {name} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_table3_runs_every_row_then_a_rerun_trains_nothing(shared_store, run_study, caplog):
    caplog.set_level(logging.INFO)
    assert run_study("table3_shape", shared_store.args()) == 0
    md = (shared_store.reports / "table3_shape.md").read_text()
    for field in ("- data set: cmu-mv4", "- profile: smoke", "- seeds:", "- git commit:", "- date:"):
        assert field in md
    assert "| row | group | kind | UP | T | SF |" in md
    for name in ("wo ψ,G,Δ", "wo ψ,G", "wo G", "Full", "mean-pose baseline", "supervised reference"):
        assert "(1/1)" in _row(md, name)[6]
    assert _row(md, "mean-pose baseline")[2].startswith("BASELINE")
    assert _row(md, "supervised reference")[2].startswith("REFERENCE")
    runs = shared_store.runs()
    caplog.clear()
    assert run_study("table3_shape", shared_store.args()) == 0
    assert len(shared_store.runs()) == len(runs)                          # nothing new
    for name in ("wo ψ,G,Δ", "wo ψ,G", "wo G", "Full", "mean-pose baseline", "supervised reference"):
        assert f"skip {name} seed=0: finished run" in caplog.text


def test_every_run_of_a_study_lines_up_in_the_mlflow_ui(shared_store, run_study):
    """What the MLflow UI shows, read back through MlflowClient: short run names, the same
    param keys and tags on the baseline as on a training run, Source / User / git in MLflow's
    own fields, dataset inputs, and artifacts on every run (compare views never break)."""
    from mlflow.tracking import MlflowClient

    assert run_study("table3_shape", shared_store.args()) == 0            # (its runs exist: a no-op)
    c = MlflowClient(tracking_uri=shared_store.uri)
    exp = c.get_experiment_by_name("table3_shape")
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    import json
    view = json.loads(exp.tags["mlflow.sharedViewState.pose"])                 # the runs table's columns
    assert "metrics.`test MPJPE flip mm`" in view["selectedColumns"] and "params.`seed`" in view["selectedColumns"]
    runs = c.search_runs([exp.experiment_id])
    by_kind = {r.data.tags["kind"]: r for r in runs}
    train, base = by_kind["train"], by_kind["baseline"]
    for r in runs:
        assert not r.info.run_name.startswith("table3_shape/"), r.info.run_name
        assert r.data.tags["mlflow.source.name"] == "studies/table3_shape.py"
        assert r.data.tags["mlflow.source.type"] == "LOCAL" and r.data.tags["mlflow.user"]
        assert len(r.data.tags["mlflow.source.git.commit"]) in (40, len("unknown"))
        assert r.inputs.dataset_inputs, r.info.run_name                  # "Datasets" is filled
    assert base.info.run_name.endswith("/seed=0/baseline") and train.info.run_name.count("/") == 1
    for r in (train, base):                                 # the table's one-decimal copy of the truth
        assert r.data.metrics["test MPJPE flip mm"] == round(r.data.metrics["test/mpjpe_flip_mm"], 1)
    data_keys = {k for k in train.data.params if k.startswith("data.")}
    assert data_keys and data_keys <= set(base.data.params)                 # the same data.* keys...
    for k in data_keys | {"seed", "profile"}:                               # ...with the same values
        assert base.data.params[k] == train.data.params[k], k
    assert not any(k.startswith("train.data.") for k in base.data.params)
    assert set(base.data.tags) >= {"study", "variant", "seed", "config_hash", "profile", "dataset", "git_commit"}
    assert base.data.tags["dataset_hash"] == train.data.tags["dataset_hash"] != ""
    assert {a.path for a in c.list_artifacts(base.info.run_id)} >= {"metrics.json", "config.json"}
    train_inputs = {d.dataset.name: {t.key: t.value for t in d.tags} for d in train.inputs.dataset_inputs}
    assert set(train_inputs) == {"cmu-mv4/train", "cmu-mv4/val", "cmu-mv4/test"}
    assert train_inputs["cmu-mv4/train"]["mlflow.data.context"] == "training"
    assert train_inputs["cmu-mv4/test"] == {"mlflow.data.context": "evaluation", "split": "test"}
    assert {d.dataset.digest for d in train.inputs.dataset_inputs} == {train.data.tags["dataset_hash"][:12]}
    figures = {a.path for a in c.list_artifacts(train.info.run_id, "figures")}
    epochs = int(train.data.params["train.epochs"])
    assert figures == {f"figures/val_epoch{e:03d}.png" for e in range(epochs)}   # every epoch


def test_table1_reads_ours_and_ours_flip_from_the_same_runs(shared_store, run_study):
    assert run_study("table1_h36m", shared_store.args()) == 0
    summary = pd.read_csv(shared_store.reports / "table1_h36m.csv").set_index("row")
    assert summary.loc["Ours", "run_ids"] == summary.loc["Ours †", "run_ids"]
    assert summary.loc["Ours †", "SF"] == "yes" and summary.loc["Ours", "SF"] == "no"
    assert summary.loc["Ours (SPP)", "n"] == 1 and "SPP" in summary.loc["Ours (SPP)", "kind"]
    assert summary.loc["Ours", "paper MPJPE (mm)"] == pytest.approx(95.9)
    md = (shared_store.reports / "table1_h36m.md").read_text()
    assert "- Ours (SPP): θ fitted on train.spp_labelled = " in md        # row notes are printed


def test_table2_evaluates_the_trained_checkpoints_on_the_second_rig(shared_store, run_study):
    assert run_study("table2_3dhp", shared_store.args()) == 0
    runs = shared_store.runs()
    evals = runs[runs["tags.kind"] == "eval"]
    assert set(evals["tags.dataset"]) == {"cmu-3dhp-rig"} and len(evals) >= 3
    sources = set(evals["tags.source_run_id"])
    assert sources <= set(runs["run_id"])                              # linked to training runs
    summary = pd.read_csv(shared_store.reports / "table2_3dhp.csv").set_index("row")
    cm = summary.loc["Ours", "MPJPE (cm) mean"]
    mm = runs.set_index("run_id").loc[summary.loc["Ours", "run_ids"], "metrics.test/mpjpe_mm"]
    assert cm == pytest.approx(mm / 10)                    # the table reads the test subjects
    assert summary.loc["Ours (SPP)", "n"] == 1             # θ applied on the test split too (test_spp/…)
    assert "split the numbers are on: test" in (shared_store.reports / "table2_3dhp.md").read_text()
    assert "evaluated on cmu-3dhp-rig" in (shared_store.reports / "table2_3dhp.md").read_text()


def test_in_the_wild_trains_source_plus_target_masks_and_evaluates_on_the_target(shared_store, run_study):
    assert run_study("in_the_wild", shared_store.args()) == 0
    md = (shared_store.reports / "in_the_wild.md").read_text()
    for row in ("source only (cmu-mv4)", "target only (cmu-3dhp-rig), single-view masks",
                "source + target (cmu-3dhp-rig) masks"):
        assert "(1/1)" in _row(md, row)[6], row
    assert "## Rows not run" not in md


def test_ablation_writes_its_report_and_table3s(shared_store, run_study):
    rows = ["Full", "joint Gaussian maps", "wo coarse-to-fine"]
    assert run_study("ablation", shared_store.args("--rows", *rows)) == 0
    md = (shared_store.reports / "ablation.md").read_text()
    assert all("(1/1)" in _row(md, r)[6] for r in rows)
    assert (shared_store.reports / "table3_shape.md").is_file()
    index = (shared_store.reports / "README.md").read_text()
    assert "[ablation.md](ablation.md)" in index and "ray job submit" in index and "ray submit" in index


def test_interrupted_study_keeps_the_old_report_and_the_rerun_continues(shared_store, run_study, caplog):
    old = (shared_store.reports / "ablation.md").read_text()
    rows = ["sum over bones", "wo ψ"]
    cmd = [sys.executable, str(REPO / "studies" / "ablation.py"), *shared_store.args("--rows", *rows)]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stderr:
            if "finished sum over bones seed=0" in line:
                proc.send_signal(signal.SIGINT)                      # as Ctrl-C, during "wo ψ"
                break
        assert proc.wait(timeout=120) == 130
    finally:
        proc.kill()
    assert (shared_store.reports / "ablation.md").read_text() == old
    caplog.set_level(logging.INFO)
    assert run_study("ablation", shared_store.args("--rows", *rows)) == 0
    assert "skip sum over bones seed=0: finished run" in caplog.text
    md = (shared_store.reports / "ablation.md").read_text()
    assert all("(1/1)" in _row(md, r)[6] for r in rows)
