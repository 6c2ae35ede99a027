"""The ``maskpose`` console script (docs/method.md §5): subcommands, last-line contracts, the
plain-process training path (``--workers 0``) logging through the same MLflow code."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestration import cli, tracking


def test_parser_has_the_design_subcommands():
    p = cli.build_parser()
    assert p.parse_args(["data", "build", "--dataset", "cmu-mv4", "--profile", "smoke", "--poses", "x.npz",
                         "--split", "all", "--root", "/r"]).data_command == "build"
    assert p.parse_args(["data", "preview", "--dataset", "cmu-mv4", "--out", "a.png"]).out == "a.png"
    args = p.parse_args(["train", "--profile", "quick", "--workers", "2", "loss.lambda_p=0"])
    assert (args.workers, args.overrides) == (2, ["loss.lambda_p=0"])
    assert p.parse_args(["eval", "--checkpoint", "c.pt", "--dataset", "cmu-mv4", "--poses", "p.npz",
                         "--split", "all"]).split == "all"
    args = p.parse_args(["tune", "--profile", "smoke", "--trials", "4", "--concurrent", "2", "--resume"])
    assert (args.trials, args.concurrent, args.resume) == (4, 2, True)


def test_pyproject_points_the_console_script_here():
    text = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert 'maskpose = "orchestration.cli:main"' in text


def test_data_build_prints_the_folder_last_and_preview_writes_a_png(capsys, smoke_data_root, tmp_path):
    assert cli.main(["data", "build", "--profile", "smoke", "--root", str(smoke_data_root)]) == 0
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert folder.parent == smoke_data_root and (folder / "meta.json").is_file()
    out = tmp_path / "preview.png"
    assert cli.main(["data", "preview", "--profile", "smoke", "--root", str(smoke_data_root),
                     "--out", str(out), "--n", "2"]) == 0
    assert out.stat().st_size > 1000


@pytest.mark.timeout(180)
def test_plain_train_logs_to_mlflow_and_eval_reads_its_checkpoint(capsys, smoke_data_root, tmp_path,
                                                                  tracking_uri):
    assert cli.main(["train", "--profile", "smoke", "--workers", "0", "--study", "plain",
                     "--storage", str(tmp_path / "store"), "--tracking-uri", tracking_uri,
                     "--data-root", str(smoke_data_root), "train.val_samples=16"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    metrics = json.loads(lines[-1])                      # one JSON line, last
    assert "val/mpjpe_mm" in metrics and "val/mask_iou" in metrics
    assert lines[-2].startswith("MLflow run: http://") and "?workflowType=machine_learning" in lines[-2]
    run_id = lines[-2].split("/runs/")[1].split()[0].split("?")[0]
    run = tracking.client(tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["workers"] == "0"
    assert tracking.metric_steps(tracking_uri, run_id, "train/loss") == [0, 1]
    # the checkpoint path, printed before the MLflow line: <storage>/<run folder>/plain/state.pt
    assert lines[-3].startswith("checkpoint: ")
    checkpoint = Path(lines[-3].removeprefix("checkpoint: "))
    assert checkpoint.is_file() and checkpoint.relative_to(tmp_path / "store").parts[1:] == ("plain", "state.pt")
    assert checkpoint.parent.parent.name.startswith("plain_")   # <study>_<variant>_seed<seed>_<hash>
    assert {a.path for a in tracking.client(tracking_uri).list_artifacts(run_id, "checkpoint")} == {
        "checkpoint/state.pt"}                          # the same file, also an artifact of the run
    assert cli.main(["eval", "--checkpoint", str(checkpoint), "--dataset", "cmu-mv4",
                     "--root", str(smoke_data_root), "--max-samples", "16"]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert "val/mpjpe_mm" not in evaluated and "mpjpe_mm" in evaluated
