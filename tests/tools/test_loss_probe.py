"""tools/loss_probe.py at the smoke profile on a small built set, in seconds: started at the truth
its start error is 0 mm (hand-derived: the pose *is* the truth); the loss at the truth is lower
than at a collapsed pose (every joint at the root) and than at the template start; a few Adam
steps from the truth lower the loss further (the bias the probe exists to show)."""
from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest
import torch

TOOL = Path(__file__).resolve().parents[2] / "tools" / "loss_probe.py"


@pytest.fixture(scope="module")
def probe():
    return runpy.run_path(str(TOOL))


def _argv(root, *extra: str) -> list[str]:
    return [*extra, "--profile", "smoke", "--data-root", str(root), "--moments", "4"]


def test_from_the_truth_the_start_error_is_zero_and_the_loss_falls(probe, smoke_data_root, capsys):
    out = probe["main"](_argv(smoke_data_root, "gt", "--steps", "5"))
    assert out["start_mpjpe_flip_mm"] == 0.0 and out["loss_start"] == out["loss_gt"]
    assert math.isfinite(out["loss_end"]) and out["end_mpjpe_mm"] > 0           # the optimum is not the truth
    text = capsys.readouterr().out
    assert "loss at the truth" in text and "after 5 steps" in text and text.count("per joint") == 2


def test_the_truth_scores_better_than_a_collapsed_pose_and_the_template(probe, smoke_data_root):
    from maskpose_core.config import profile_config
    from maskpose_core.data.registry import load_data

    cfg = profile_config("smoke")
    batch = probe["probe_batch"](load_data(cfg.data, root=smoke_data_root, progress=False).val, 4)
    loss_of = probe["PoseLoss"](cfg, batch)
    gt = batch["joints_world_mm"]
    collapsed = batch["root_world_mm"][:, None].expand_as(gt).clone()
    template = probe["start_pose"]("template", batch)
    with torch.no_grad():
        at_gt, at_zero, at_template = (float(loss_of(w)) for w in (gt, collapsed, template))
    assert math.isfinite(at_gt) and at_gt < at_zero and at_gt < at_template
    assert "loss_physique" not in loss_of.terms(gt)                             # ψ is left out
    end, _ = probe["optimise"](loss_of, gt, batch["root_world_mm"], steps=5)
    assert torch.equal(end[:, 0], batch["root_world_mm"])                       # the root is held
    with torch.no_grad():
        assert float(loss_of(end)) < at_gt


@pytest.mark.parametrize("argv", [["gt", "--moments", "0"], ["gt", "--steps", "-1"], ["gt", "loss.nope=1"],
                                  ["nowhere"]])
def test_bad_input_exits_2(probe, argv, capsys):
    with pytest.raises(SystemExit) as done:
        probe["main"](argv + ["--profile", "smoke"])
    assert done.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_the_drift_table_probes_each_term_set_with_a_trained_psi(smoke_data_root, tmp_path, capsys):
    # a smoke ψ from a one-step supervised run: the physique term renders with it; each named term
    # set gives one row ending in the gate's verdict, the file holds the printed table, and an
    # unknown set is refused
    import sys
    sys.path.insert(0, str(TOOL.parent))
    table = runpy.run_path(str(TOOL.parent / "drift_table.py"))
    from maskpose_core.config import apply_overrides, profile_config
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import save_checkpoint
    from maskpose_core.train.fit import fit
    from maskpose_core.train.hooks import TrainHooks
    cfg = apply_overrides(profile_config("smoke"), {"loss.mode": "supervised_reference", "loss.physique_supervised": True,
                                                    "train.epochs": 1, "train.steps_per_epoch": 1, "train.val_samples": 4,
                                                    "train.figure_samples": 0})
    reports = []
    fit(cfg, load_data(cfg.data, root=smoke_data_root, progress=False), hooks=TrainHooks(report=reports.append))
    psi = save_checkpoint(tmp_path / "state.pt", reports[-1].state)
    out = tmp_path / "drift.md"
    lines = table["main"](["--profile", "smoke", "--data-root", str(smoke_data_root), "--moments", "2", "--steps", "3",
                           "--psi", str(psi), "--sets", "physique only", "structure priors only", "--out", str(out)])
    rows = [l for l in lines if l.startswith("| physique only") or l.startswith("| structure priors only")]
    assert len(rows) == 2 and all(r.endswith("| fail |") or r.endswith("| pass |") for r in rows)
    assert out.read_text().splitlines()[-1] == lines[-1]
    with pytest.raises(SystemExit):
        table["main"](["--profile", "smoke", "--sets", "no such set"])
    assert "--sets must name term sets" in capsys.readouterr().err
