"""``ray job submit`` against a loopback ``ray start --head`` (127.0.0.1, auth disabled on both
sides as docs/stack.md says), running a smoke training with the documented working-dir excludes.
Stops only the head it started (its own process group and temp dir; never ``ray stop``)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from orchestration.cluster import JOB_EXCLUDES
from orchestration.runtime import project_root

VENV_BIN = Path(sys.executable).parent
AGENT_RETRIES = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


def _stop_head(proc: subprocess.Popen, temp_dir: str) -> None:
    """SIGTERM the head's process group, then SIGKILL whatever still runs from its temp dir."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            if temp_dir.encode() in (pid_dir / "cmdline").read_bytes():
                os.kill(int(pid_dir.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue
    shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.ray
@pytest.mark.timeout(300)
def test_job_submit_runs_a_smoke_training_on_a_loopback_head(smoke_data_root, tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    for key in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS"):     # this process's own Ray must not leak in
        env.pop(key, None)
    temp_dir = tempfile.mkdtemp(prefix="mpray-", dir="/tmp")      # short: unix socket paths
    gcs, dash = _free_port(), _free_port()
    head = subprocess.Popen(
        [str(VENV_BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={gcs}", "--num-cpus=1", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dash}", f"--temp-dir={temp_dir}", "--disable-usage-stats",
         # fixed defaults (agent 52365, ...) collide with any other Ray on the host: pick free ports
         f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
         f"--runtime-env-agent-port={_free_port()}", f"--metrics-export-port={_free_port()}"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_http(f"http://127.0.0.1:{dash}/api/version", timeout_s=90)
        uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
        runtime_env = {"excludes": JOB_EXCLUDES,
                       "env_vars": {"MLFLOW_TRACKING_URI": uri, "MASKPOSE_DATA": str(smoke_data_root),
                                    "MASKPOSE_STORAGE": str(tmp_path / "store"),
                                    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.1"}}
        cmd = [str(VENV_BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{dash}",
               "--working-dir", str(project_root()), "--runtime-env-json", json.dumps(runtime_env), "--",
               sys.executable, "-m", "orchestration.cli", "train", "--profile", "smoke", "--workers", "1",
               "--study", "jobsubmit", "train.epochs=1", "train.val_samples=16"]
        for _ in range(AGENT_RETRIES):       # the dashboard answers before the node's job agent
            job = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
            if "No available agent" not in job.stderr:
                break
            time.sleep(3)
        assert job.returncode == 0, job.stdout[-3000:] + job.stderr[-3000:]
        assert "succeeded" in job.stdout.lower()             # "Job '...' succeeded"
        metrics = json.loads([ln for ln in job.stdout.splitlines() if ln.startswith("{")][-1])
        assert "val/mpjpe_mm" in metrics
    finally:
        _stop_head(head, temp_dir)
