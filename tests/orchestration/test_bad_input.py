"""Bad input fails with a clear one-line reason before any work starts: no data built, no
MLflow run created, no Ray workers launched."""
from __future__ import annotations

import socket

import pytest

from orchestration import cli
from orchestration.runtime import check_storage_path, plan_resources


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- resource arithmetic (no Ray)

def test_derived_cpu_share_fits_the_cluster():
    # docs/stack.md's working setting: 2 concurrent trials × (0.1 driver + 2 workers × 0.45) = 2.0
    plan = plan_resources(workers=2, cluster={"CPU": 2.0}, driver_cpus=0.1, concurrent=2)
    assert plan.cpus_per_worker == pytest.approx(0.45)
    assert plan.concurrent * plan.cpus_per_launch == pytest.approx(2.0)
    assert plan_resources(workers=2, cluster={"CPU": 2.0}).cpus_per_worker == pytest.approx(1.0)


def test_workers_times_cpus_beyond_the_cluster_is_refused_with_the_arithmetic():
    with pytest.raises(ValueError, match=r"1 × \(0 driver \+ 3 workers × 1 CPU\) = 3 of 2 CPUs"):
        plan_resources(workers=3, cluster={"CPU": 2.0}, cpus_per_worker=1.0)
    with pytest.raises(ValueError, match=r"cluster too small: 4 × \(0.1 driver \+ 5 workers"):
        plan_resources(workers=5, cluster={"CPU": 2.0}, driver_cpus=0.1, concurrent=4)
    with pytest.raises(ValueError, match=r"2 workers × 1 GPU = 2 > 0 GPUs"):
        plan_resources(workers=2, cluster={"CPU": 8.0}, gpus_per_worker=1.0)


def test_unwritable_storage_path_names_the_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ValueError, match="a-file/store.*not writable"):
        check_storage_path(blocker / "store")
    assert check_storage_path(tmp_path / "new" / "store").is_dir()


# ---------------------------------------------------------------- the command line

def _run(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def test_cli_unwritable_storage(capsys, tmp_path, tracking_uri):
    (tmp_path / "f").write_text("x")
    code, err = _run(capsys, "train", "--profile", "smoke", "--storage", str(tmp_path / "f" / "s"),
                     "--tracking-uri", tracking_uri)
    assert code == 2 and "not writable" in err and str(tmp_path / "f" / "s") in err
    assert not (tmp_path / "mlflow.db").exists()          # nothing was recorded


def test_cli_tracking_server_down(capsys, tmp_path):
    uri = f"http://127.0.0.1:{_free_port()}"
    code, err = _run(capsys, "train", "--profile", "smoke", "--storage", str(tmp_path), "--tracking-uri", uri)
    assert code == 2 and uri in err and "unreachable" in err


def test_cli_tracking_server_down_via_env(capsys, tmp_path, monkeypatch):
    uri = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, err = _run(capsys, "tune", "--profile", "smoke", "--trials", "2", "--storage", str(tmp_path))
    assert code == 2 and uri in err


def test_cli_unknown_search_space_key(capsys, tmp_path, tracking_uri):
    code, err = _run(capsys, "tune", "--profile", "smoke", "--space", "loss.lambda_q=0.1:1",
                     "--storage", str(tmp_path), "--tracking-uri", tracking_uri)
    assert code == 2 and "unknown search-space key 'loss.lambda_q'" in err


def test_cli_non_positive_lambda_range(capsys, tmp_path, tracking_uri):
    code, err = _run(capsys, "tune", "--profile", "smoke", "--space", "loss.lambda_p=0:1",
                     "--storage", str(tmp_path), "--tracking-uri", tracking_uri)
    assert code == 2 and "'loss.lambda_p' must be positive" in err


def test_cli_unknown_config_key(capsys, tmp_path, tracking_uri):
    code, err = _run(capsys, "train", "--profile", "smoke", "loss.lambda_x=1",
                     "--storage", str(tmp_path), "--tracking-uri", tracking_uri)
    assert code == 2 and "loss.lambda_x" in err


def test_cli_fault_injection_needs_ray(capsys, tmp_path, tracking_uri):
    code, err = _run(capsys, "train", "--profile", "smoke", "--workers", "0", "train.fault_kill_epoch=0",
                     "--storage", str(tmp_path), "--tracking-uri", tracking_uri)
    assert code == 2 and "fault_kill_epoch" in err


@pytest.mark.ray
@pytest.mark.timeout(60)
def test_cli_workers_times_cpus_exceeding_the_cluster(ray_cluster, capsys, tmp_path, tracking_uri):
    code, err = _run(capsys, "train", "--profile", "smoke", "--workers", "3", "--cpus-per-worker", "1",
                     "--storage", str(tmp_path / "store"), "--tracking-uri", tracking_uri)
    assert code == 2 and "3 workers × 1 CPU) = 3 of 2 CPUs" in err
    assert list((tmp_path / "store").iterdir()) == []      # refused before any run folder exists
    code, err = _run(capsys, "tune", "--profile", "smoke", "--trials", "2", "--concurrent", "8",
                     "--workers", "2", "--storage", str(tmp_path / "store"), "--tracking-uri", tracking_uri)
    assert code == 2 and "cluster too small" in err


def test_cli_resume_of_a_sweep_that_never_ran(capsys, tmp_path, tracking_uri):
    code, err = _run(capsys, "tune", "--profile", "smoke", "--name", "nothing-here", "--resume",
                     "--storage", str(tmp_path), "--tracking-uri", tracking_uri)
    assert code == 2 and "no sweep to resume" in err
