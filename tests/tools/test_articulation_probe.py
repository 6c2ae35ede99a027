"""tools/articulation_probe.py at the smoke profile on a small built set, in seconds.

Hand-derived: the template turned about the vertical by any yaw is its own oracle (MPJPE 0);
the truth scored against itself has P-MPJPE 0 and every bone-share ratio 1; a checkpoint of the
untrained network scores exactly what the untrained network scores (same weights, same moments).
"""
from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest
import torch

TOOL = Path(__file__).resolve().parents[2] / "tools" / "articulation_probe.py"


@pytest.fixture(scope="module")
def probe():
    return runpy.run_path(str(TOOL))


def _turned_template(yaw_deg: list[float]) -> torch.Tensor:
    from maskpose_core.skeleton import TEMPLATE_MM

    yaw = torch.tensor(yaw_deg, dtype=torch.float64).deg2rad()
    c, s, o, z = torch.cos(yaw), torch.sin(yaw), torch.ones_like(yaw), torch.zeros_like(yaw)
    R = torch.stack([torch.stack([c, z, -s], -1), torch.stack([z, o, z], -1), torch.stack([s, z, c], -1)], -2)
    return torch.einsum("nij,kj->nki", R, torch.tensor(TEMPLATE_MM, dtype=torch.float64))


def test_the_turned_template_is_its_own_oracle(probe):
    truth = _turned_template([0.0, 30.0, -90.0, 180.0])
    assert torch.allclose(probe["oracle_yaw_template"](truth), truth, atol=1e-9)


def test_the_truth_against_itself_scores_zero_and_right_proportions(probe):
    truth = _turned_template([10.0, 200.0]) + torch.tensor([0.0, 0.0, 4000.0], dtype=torch.float64)
    s = probe["score_poses"](truth, truth)
    assert float(s["p_mpjpe_mm"]) < 1e-6 and float(s["per_joint_mm"].max()) < 1e-6
    assert torch.allclose(s["bone_share_ratio"], torch.ones(16, dtype=torch.float64))


def test_a_checkpoint_of_the_untrained_net_scores_what_the_untrained_net_scores(probe, smoke_data_root,
                                                                              tmp_path, capsys):
    from maskpose_core.config import profile_config, to_dict
    from maskpose_core.data.registry import load_data
    from maskpose_core.train.checkpoint import save_checkpoint
    from maskpose_core.train.fit import build_model

    cfg = profile_config("smoke")
    net = build_model(cfg, load_data(cfg.data, root=smoke_data_root, progress=False))
    path = str(save_checkpoint(tmp_path / "state.pt", {"config": to_dict(cfg), "model": net.state_dict()}))
    scores = probe["main"]([path, "--profile", "smoke", "--data-root", str(smoke_data_root), "--moments", "8"])
    untrained, oracle, loaded = scores[probe["UNTRAINED"]], scores[probe["ORACLE"]], scores[path]
    for key in ("p_mpjpe_mm", "mpjpe_flip_mm", "per_joint_mm", "bone_share_ratio"):
        assert torch.equal(untrained[key], loaded[key]), key
    assert int(untrained["count"]) == 8 * 4                                   # 8 moments × 4 views
    assert all(math.isfinite(float(v)) and float(v) > 0 for v in (*oracle.values(), untrained["p_mpjpe_mm"]))
    text = capsys.readouterr().out
    assert text.count("per joint (mm)") == 2 and "oracle (not a method)" in text


def test_negative_moments_exit_2(probe):
    with pytest.raises(SystemExit) as done:
        probe["main"](["--moments", "-1", "--profile", "smoke"])
    assert done.value.code == 2
