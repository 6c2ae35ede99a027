"""Ray Train DDP end to end on the smoke profile: a 2-worker fit logs one MLflow run with
params, per-epoch curves, a figure and the checkpoint; a worker killed mid-epoch is
restarted from the last checkpoint and the run still has every epoch exactly once."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from maskpose_core.config import flatten, profile_config
from orchestration import cli, tracking
from orchestration.train import LaunchOptions, run_names, run_training
from orchestration.worker import FAULT_MARKER


def _artifacts(uri, run_id, path=None):
    return {a.path for a in tracking.client(uri).list_artifacts(run_id, path)}


@pytest.mark.ray
@pytest.mark.timeout(240)
def test_maskpose_train_two_workers_logs_one_complete_run(ray_cluster, smoke_data_root, tracking_uri,
                                                          tmp_path, capsys):
    cfg = profile_config("smoke")
    t0 = time.perf_counter()
    assert cli.main(["train", "--profile", "smoke", "--workers", "2", "--study", "ddp",
                     "--storage", str(tmp_path / "store"), "--tracking-uri", tracking_uri,
                     "--data-root", str(smoke_data_root)]) == 0
    wall = time.perf_counter() - t0
    lines = capsys.readouterr().out.strip().splitlines()
    final = json.loads(lines[-1])                                   # the metrics, one JSON line, last
    run_id = lines[-2].split("/runs/")[1].split()[0].split("?")[0]               # "MLflow run: <url>"
    with capsys.disabled():
        print(f"\n2-worker smoke fit via maskpose train: {wall:.1f} s wall")
    run = tracking.client(tracking_uri).get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"{cfg.hash}/seed=0"          # experiment "ddp": no prefix
    assert len(run.data.params) == len(flatten(cfg))
    assert run.data.tags["workers"] == "2" and run.data.tags["config_hash"] == cfg.hash
    for key in ("train/loss", "val/mpjpe_mm", "val/mask_iou"):
        assert tracking.metric_steps(tracking_uri, run_id, key) == list(range(cfg.train.epochs))
    assert {"config.json", "final_metrics.json", "figures", "checkpoint"} <= _artifacts(tracking_uri, run_id)
    assert _artifacts(tracking_uri, run_id, "checkpoint") == {"checkpoint/state.pt"}
    assert _artifacts(tracking_uri, run_id, "figures") == {       # a val figure every epoch
        f"figures/val_epoch{e:03d}.png" for e in range(cfg.train.epochs)}
    assert final["val/mpjpe_mm"] == pytest.approx(run.data.metrics["val/mpjpe_mm"])
    # the checkpoint path (Ray's last checkpoint folder in the run's storage folder)
    checkpoint = Path(lines[-3].removeprefix("checkpoint: "))
    assert lines[-3].startswith("checkpoint: ") and checkpoint.is_file()
    assert checkpoint.relative_to(tmp_path / "store").parts[1:] == (
        f"checkpoint_epoch{cfg.train.epochs - 1:04d}", "state.pt")


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_worker_killed_mid_epoch_resumes_with_every_epoch_once(ray_cluster, smoke_data_root,
                                                               tracking_uri, tmp_path):
    epochs = 3
    cfg = profile_config("smoke", **{"train.epochs": epochs, "train.fault_kill_epoch": 1})
    storage = tmp_path / "store"
    opts = LaunchOptions(workers=2, max_failures=2, storage_path=str(storage), study="fault",
                         tracking_uri=tracking_uri, data_root=str(smoke_data_root), system_metrics=False)
    out = run_training(cfg, opts)
    marker = storage / run_names(cfg, opts)[1] / FAULT_MARKER
    assert marker.is_file(), "the fault was never injected"
    assert "in epoch 1" in marker.read_text()
    runs = tracking.client(tracking_uri).search_runs([out.experiment_id])
    assert [r.info.run_id for r in runs] == [out.run_id]                 # exactly one MLflow run
    assert runs[0].info.status == "FINISHED"
    for key in ("train/loss", "val/mpjpe_mm", "time/epoch_s"):
        assert tracking.metric_steps(tracking_uri, out.run_id, key) == [0, 1, 2], key
