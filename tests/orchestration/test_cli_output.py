"""The final line a command prints is the last line on standard output: Ray's held-back worker
lines come before it (docs/stack.md: Ray prints them when it disconnects, which at interpreter
exit is after everything else)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestration import cli, runtime, train, tune

HELD_BACK = "(RayTrainWorker pid=4242) a worker line [repeated 5x across cluster]"


@pytest.fixture
def fake_ray(monkeypatch):
    """Ray as ``own_ray`` sees it: connected once the command's work ran; disconnecting prints
    the held-back line, as ``ray.shutdown()`` does."""
    state = {"connected": False, "disconnects": 0}

    def disconnect():
        state["connected"] = False
        state["disconnects"] += 1
        print(HELD_BACK)

    monkeypatch.setattr(runtime, "ray_connected", lambda: state["connected"])
    monkeypatch.setattr(runtime, "disconnect_ray", disconnect)
    return state


def _train_outcome(state):
    def run_training(cfg, opts):
        state["connected"] = True              # the command started Ray
        return train.TrainOutcome({"val/mpjpe_mm": 12.5}, "rid", "eid", "http://mlflow/run", "/ck/state.pt")
    return run_training


def test_train_prints_its_json_after_rays_held_back_lines(fake_ray, monkeypatch, capsys):
    monkeypatch.setattr(train, "run_training", _train_outcome(fake_ray))
    assert cli.main(["train", "--profile", "smoke", "--workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [HELD_BACK, "checkpoint: /ck/state.pt", "MLflow run: http://mlflow/run",
                     '{"val/mpjpe_mm": 12.5}']
    assert fake_ray["disconnects"] == 1 and not fake_ray["connected"]


def test_tune_prints_its_json_after_rays_held_back_lines(fake_ray, monkeypatch, capsys):
    def run_sweep(cfg, opts):
        fake_ray["connected"] = True
        return tune.SweepOutcome("sweep-a", "pid", "http://mlflow/sweep", 2, False, {"objective": 0.5})

    monkeypatch.setattr(tune, "run_sweep", run_sweep)
    assert cli.main(["tune", "--profile", "smoke", "--trials", "2", "--concurrent", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == HELD_BACK and lines[1] == "MLflow sweep run: http://mlflow/sweep"
    assert json.loads(lines[-1]) == {"sweep": "sweep-a", "trials": 2, "best": {"objective": 0.5}}
    assert len(lines) == 3


def test_a_failing_command_also_disconnects_before_its_error(fake_ray, monkeypatch, capsys):
    def run_training(cfg, opts):
        fake_ray["connected"] = True
        raise ValueError("storage path 'x' is not writable")

    monkeypatch.setattr(train, "run_training", run_training)
    assert cli.main(["train", "--profile", "smoke", "--workers", "1"]) == 2
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [HELD_BACK]
    assert captured.err.splitlines()[-1] == "maskpose train: error: storage path 'x' is not writable"


def test_a_ray_connection_the_caller_had_is_left_open(fake_ray, monkeypatch, capsys):
    fake_ray["connected"] = True               # a notebook or a test session's Ray
    monkeypatch.setattr(train, "run_training", _train_outcome(fake_ray))
    assert cli.main(["train", "--profile", "smoke", "--workers", "1"]) == 0
    assert fake_ray["disconnects"] == 0 and fake_ray["connected"]
    assert HELD_BACK not in capsys.readouterr().out


# A real Ray: three actors print the same line; Ray prints it once and holds back the other two
# ("[repeated 2x across cluster]") until it disconnects. The script waits (up to 60 s) until the
# driver holds them, then leaves own_ray and prints its final line.
SCRIPT = textwrap.dedent('''
    import json, time
    import ray
    from ray._private import worker as ray_worker
    from orchestration.runtime import ensure_ray, own_ray

    @ray.remote(num_cpus=0)
    class Talker:
        def say(self):
            print("the same line from every worker", flush=True)
            return 1

    with own_ray():
        ensure_ray(num_cpus=1)
        talkers = [Talker.remote() for _ in range(3)]
        ray.get([t.say.remote() for t in talkers])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
                s.count >= 2 for s in ray_worker.stdout_deduplicator.recent.values()):
            time.sleep(0.1)
    print(json.dumps({"final": True}))
''')


@pytest.mark.ray
@pytest.mark.timeout(180)
def test_with_a_real_ray_the_held_back_lines_come_before_the_final_line(tmp_path):
    env = {**os.environ, **runtime.RAY_QUIET_ENV}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=170,
                          cwd=Path(runtime.__file__).resolve().parents[1], env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == '{"final": true}', done.stdout
    repeated = [line for line in lines if "the same line from every worker" in line]
    # the first print arrived at once, the two others were held back and printed at the disconnect
    assert len(repeated) == 2 and "[repeated 2x across cluster]" in repeated[1], done.stdout
