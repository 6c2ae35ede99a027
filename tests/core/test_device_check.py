"""The device check runs on a bare machine: only torch, numpy and scipy importable."""
import json
import subprocess
import sys

# Run the check as a GPU box would: these packages raise ImportError (G falls back to the graph method).
BARE = """
import builtins, runpy, sys
real = builtins.__import__
def guarded(name, *a, **k):
    if name.split(".")[0] in ("ray", "mlflow", "optuna", "skfmm", "tqdm", "PIL", "pandas", "orchestration"):
        raise ImportError(name + " is not on this machine")
    return real(name, *a, **k)
builtins.__import__ = guarded
sys.argv = ["device_check"] + sys.argv[1:]
runpy.run_module("maskpose_core.device_check", run_name="__main__")
"""


def test_device_check_smoke_on_cpu_without_orchestration_packages(tmp_path):
    out = tmp_path / "check.json"
    args = ["--device", "cpu", "--profile", "smoke", "--frames", "48", "--paper-steps", "1", "--paper-size", "64",
            "--paper-batch", "2", "--paper-frames", "4", "--root", str(tmp_path / "data"), "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", BARE, *args], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    phases = {r["phase"]: r for r in json.loads(out.read_text())}
    assert list(phases) == ["device", "build", "fit", "paper_build", "paper"]
    assert phases["build"]["geodesic"] == "graph" and phases["build"]["moments"]["train"] == 48
    assert phases["fit"]["steps"] == 8 and phases["fit"]["images_per_s"] > 0
    assert 0 < phases["fit"]["val/mpjpe_mm"] < 2000 and phases["paper"]["images_per_s"] > 0
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["phase"] for r in printed] == list(phases)          # one JSON line per phase, as it ends


def test_device_check_refuses_cuda_without_a_device_or_bad_sizes(tmp_path):
    import torch
    from maskpose_core import device_check
    if not torch.cuda.is_available():
        proc = subprocess.run([sys.executable, "-m", "maskpose_core.device_check", "--device", "cuda",
                               "--root", str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert proc.returncode != 0 and "no CUDA device" in proc.stderr
    for bad in (["--frames", "0"], ["--paper-size", "100"]):
        proc = subprocess.run([sys.executable, "-m", "maskpose_core.device_check", *bad], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2 and "must be" in proc.stderr
    assert callable(device_check.main)
    assert not any(tmp_path.iterdir())                                  # nothing built
