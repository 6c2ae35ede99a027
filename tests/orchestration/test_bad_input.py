"""Bad input fails with a clear one-line reason before any work starts: no data built, no
MLflow run created, no Ray workers launched."""
from __future__ import annotations

import socket
from pathlib import Path

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


# ---------------------------------------------------------------- issue 14: refused before anything exists

def _nothing_created(tmp_path, store) -> bool:
    """No storage folder (not even the root), no tracking store: the refusal came first."""
    return not store.exists() and not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("overrides, key", [
    (["loss.lambda_s=nan"], "loss.lambda_s must be finite, got nan"),        # was a FloatingPointError traceback
    (["loss.sigma2=inf", "loss.sigma2_start=inf"], "loss.sigma2 must be finite, got inf"),  # was 11 s, σ² unnamed
    (["optim.lr=-inf"], "optim.lr must be finite, got -inf"),
    (["train.precision=fp16"], "TrainConfig.precision must be one of ('fp32', 'bf16'), got 'fp16'"),
    (["recipe.stages=two_stage", "data.pseudo_rig=roof"],
     "DataConfig.pseudo_rig must be one of ['3dhp', 'h36m', 'overhead', 'ring', 'steep'], got 'roof'"),
    (["recipe.stages=two_stage", "data.pseudo_shape=round"],
     "DataConfig.pseudo_shape must be one of ['fixed', 'narrow'], got 'round'"),
    (["model.depth_hypotheses=0"], "ModelConfig.depth_hypotheses (K) must be in 1..heatmap_depth"),
    (["recipe.discriminator_weight=0.5"], "recipe.discriminator_weight > 0 needs recipe.stages='two_stage'"),
    (["loss.hidden_arm_gate=true"], "config key 'loss.hidden_arm_gate' was removed from maskpose: changed nothing on val (docs/method-notes.md §7)"),
    (["train.compile=maybe"], "train.compile: expected a boolean, got 'maybe'"),
])
def test_cli_non_finite_config_value_is_refused_by_key(capsys, tmp_path, tracking_uri, overrides, key):
    store = tmp_path / "store"
    code, err = _run(capsys, "train", "--profile", "smoke", "--workers", "0", *overrides,
                     "--storage", str(store), "--tracking-uri", tracking_uri)
    assert code == 2 and f"maskpose train: error: {key}" in err and "Traceback" not in err
    assert _nothing_created(tmp_path, store)


@pytest.mark.parametrize("overrides, message", [
    (["model.heatmap_size=7"], "model.heatmap_size 7 must be the backbone output size 4 times a power of 2"),
    (["model.backbone=resnet50", "data.image_size=16"], "data.image_size 16 is too small for backbone resnet50"),
    (["loss.render_size=12"], "loss.render_size (12) must divide data.image_size (32)"),
])
def test_cli_model_shape_error_comes_before_the_run_and_its_folder(capsys, tmp_path, tracking_uri,
                                                                  overrides, message):
    # heatmap_size=7 used to be refused only after the MLflow run and the run folder existed
    store = tmp_path / "store"
    code, err = _run(capsys, "train", "--profile", "smoke", "--workers", "0", *overrides,
                     "--storage", str(store), "--tracking-uri", tracking_uri)
    assert code == 2 and message in err and "Traceback" not in err
    assert _nothing_created(tmp_path, store)


def test_the_model_shape_check_allocates_nothing():
    from maskpose_core.config import profile_config
    from orchestration.train import check_model

    check_model(profile_config("paper"))         # ResNet-50 at 256 px, on the meta device: instant


def _bad_roots(tmp_path):
    (tmp_path / "a-file").write_text("x")
    roots = {"an existing file": (tmp_path / "a-file", "is a file, not a folder"),
             "under a file": (tmp_path / "a-file" / "sub", f"{tmp_path / 'a-file'} is a file, not a folder")}
    if Path("/proc/self").is_dir():          # procfs: no folder can be created in it (not even by root)
        roots["in /proc"] = (Path("/proc/maskpose-x"), "cannot create a folder in /proc")
    if Path("/sys/kernel").is_dir():         # sysfs: "Operation not permitted"
        roots["in /sys"] = (Path("/sys/maskpose-x"), "cannot create a folder in /sys")
    return roots


def test_cli_bad_data_root_is_one_line_naming_the_root(capsys, tmp_path, tracking_uri):
    for what, (root, reason) in _bad_roots(tmp_path).items():
        existed = root.exists()
        code, err = _run(capsys, "data", "build", "--dataset", "cmu-mv4", "--profile", "smoke",
                         "--root", str(root), "--workers", "1")
        assert code == 2, what
        assert f"maskpose data: error: data root {root}: " in err and reason in err, (what, err)
        assert "Traceback" not in err and root.exists() == existed, what
        store = tmp_path / "store"
        for how in (["data.root=" + str(root)], ["--data-root", str(root)]):
            code, err = _run(capsys, "train", "--profile", "smoke", "--workers", "0", *how,
                             "--storage", str(store), "--tracking-uri", tracking_uri)
            assert code == 2 and f"data root {root}: " in err and reason in err, (what, how, err)
            assert _nothing_created(tmp_path, store), (what, how)


def test_cli_eval_tells_what_is_wrong_with_the_checkpoint(capsys, tmp_path):
    import torch

    folder = tmp_path / "run"
    (folder / "plain").mkdir(parents=True)
    torch.save({"format": "x"}, folder / "plain" / "state.pt")
    (tmp_path / "notes.txt").write_text("hello")
    torch.save({"model": torch.zeros(1000)}, tmp_path / "whole.pt")
    data = (tmp_path / "whole.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    cases = {
        folder: f"checkpoint {folder} is a folder, not a checkpoint file; *.pt files in it: plain/state.pt",
        tmp_path / "empty": f"checkpoint {tmp_path / 'empty'} is a folder, not a checkpoint file; "
                            "it holds no *.pt file",
        tmp_path / "missing.pt": f"checkpoint {tmp_path / 'missing.pt'} does not exist",
        tmp_path / "notes.txt": f"checkpoint {tmp_path / 'notes.txt'} is not a PyTorch checkpoint",
        tmp_path / "truncated.pt": f"checkpoint {tmp_path / 'truncated.pt'} is a corrupt or truncated "
                                   "PyTorch checkpoint",
        tmp_path / "whole.pt": f"checkpoint {tmp_path / 'whole.pt'} is a PyTorch file but not a maskpose checkpoint",
    }
    (tmp_path / "empty").mkdir()
    for path, message in cases.items():
        code, err = _run(capsys, "eval", "--checkpoint", str(path))
        assert code == 2 and f"maskpose eval: error: {message}" in err, (path, err)


@pytest.mark.parametrize("value, message", [("-1", "must be >= 0 (0 = the whole split), got -1"),
                                            ("two", "expected an integer >= 0, got 'two'")])
def test_cli_eval_refuses_a_negative_max_samples(capsys, tmp_path, value, message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", "--checkpoint", str(tmp_path / "c.pt"), "--max-samples", value])
    assert exit_.value.code == 2
    assert f"argument --max-samples: {message}" in capsys.readouterr().err


# ---------------------------------------------------------------- the two-stage recipe

def _target_only_poses(path: Path) -> Path:
    """A poses file holding only subjects of the target's splits: no pseudo source left."""
    import numpy as np
    from maskpose_core.data.cmu_mv4.config import EMBEDDED_POSES
    with np.load(EMBEDDED_POSES) as d:
        keep = np.isin(d["subject"], ["cmu61", "cmu85", "cmu49"])
        np.savez(path, poses=d["poses"][keep], subject=d["subject"][keep], near_duplicate=d["near_duplicate"][keep])
    return path


@pytest.mark.parametrize("overrides, message", [
    (["data.pseudo_poses={poses}"], "target_only.npz: field 'subject' holds no subject outside"),
    (["loss.mode=supervised_reference"], "loss.mode must be 'unsupervised'"),
    (["data.dataset=pseudo"], "data.dataset must be the target, not 'pseudo'"),
])
def test_cli_bad_recipe_input_is_refused_before_anything_exists(capsys, tmp_path, tracking_uri, overrides,
                                                                message):
    poses = _target_only_poses(tmp_path / "target_only.npz")
    store, data = tmp_path / "store", tmp_path / "data"
    code, err = _run(capsys, "train", "--profile", "smoke", "--workers", "0", "recipe.stages=two_stage",
                     *[o.format(poses=poses) for o in overrides], "--storage", str(store),
                     "--tracking-uri", tracking_uri, "--data-root", str(data))
    assert code == 2 and message in err and "Traceback" not in err
    assert _nothing_created(tmp_path, store) and not data.exists()
