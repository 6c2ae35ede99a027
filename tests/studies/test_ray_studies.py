"""The Ray paths of the studies, each in its own process (Ray starts there and stops with it):
a training through Ray Train (``--workers 1``) and the λ/σ search (Ray Tune + Optuna) followed
by the re-run of the best config. Timeouts turn a placement group that never fits into a failure."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}


def _run(name: str, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "studies" / f"{name}.py"), *argv], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **RAY_ENV})


@pytest.mark.timeout(300)
def test_a_study_trains_through_ray_train_with_workers(store):
    args = store.args("--rows", "Full", "--workers", "1", "train.val_samples=16")
    done = _run("table3_shape", args, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = store.runs()
    assert list(runs["tags.workers"]) == ["1"] and list(runs["status"]) == ["FINISHED"]
    again = _run("table3_shape", args, timeout=120)
    assert again.returncode == 0 and "skip Full seed=0: finished run" in again.stderr


@pytest.mark.timeout(600)
def test_tune_lambdas_searches_then_reruns_the_best_config(store):
    args = store.args("--trials", "2", "--concurrent", "2", "train.val_samples=16")
    done = _run("tune_lambdas", args, timeout=560)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = pd.read_csv(store.reports / "tune_lambdas.csv").set_index("row")
    tuned = [r for r in summary.index if r.startswith("tuned: ")]
    assert len(tuned) == 1 and summary.loc[tuned[0], "n"] == 1
    assert (store.reports / "tune_lambdas_trace.png").stat().st_size > 1000
    md = (store.reports / "tune_lambdas.md").read_text()
    assert "label-free" in md and "tune_lambdas_trace.png" in md
    again = _run("tune_lambdas", args + ["--dry-run"], timeout=120)
    assert again.returncode == 0 and "missing" not in again.stdout


@pytest.fixture
def mlflow_server(tmp_path):
    """A local MLflow tracking server (``--parallel`` needs one: SQLite takes one writer)."""
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri",
           f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "artifacts"),
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        yield uri
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.timeout(400)
def test_parallel_runs_trainings_at_once_as_ray_tasks(store, mlflow_server):
    args = store.args("--rows", "wo G", "Full", "--parallel", "2", "--tracking-uri", mlflow_server)
    done = _run("table3_shape", args, timeout=380)
    assert done.returncode == 0, done.stderr[-3000:]
    from studies.runner.runs import runs_frame
    runs = runs_frame(mlflow_server)
    assert sorted(runs["tags.row"]) == ["Full", "wo G"] and set(runs["status"]) == {"FINISHED"}
    first, second = runs.sort_values("start_time").itertuples()
    assert second.start_time < first.end_time                        # they overlapped
    md = (store.reports / "table3_shape.md").read_text()
    assert "| Full |" in md and "(1/1)" in md
