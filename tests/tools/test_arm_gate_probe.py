"""tools/arm_gate_probe.py: the share of arm joints the gate holds, on hand-placed 2D joints."""
from __future__ import annotations

import runpy
from pathlib import Path

import torch

TOOL = Path(__file__).resolve().parents[2] / "tools" / "arm_gate_probe.py"


def test_gated_share_counts_the_arm_joints_inside_or_near_the_torso_per_view():
    share = runpy.run_path(str(TOOL))["gated_share"]
    p = torch.zeros(17, 2)
    p[11], p[14], p[4], p[1] = map(torch.tensor, ([0.2, -0.4], [-0.2, -0.4], [0.2, 0.2], [-0.2, 0.2]))
    p[12], p[13] = torch.tensor([0.1, -0.1]), torch.tensor([0.0, 0.0])           # inside the torso
    p[15], p[16] = torch.tensor([-0.26, -0.1]), torch.tensor([-0.8, -0.8])       # 0.06 outside, far
    view0 = p.clone()
    view1 = p.clone()
    view1[12], view1[13] = torch.tensor([0.9, 0.9]), torch.tensor([0.8, 0.9])    # both arms far out
    pts = torch.stack([view0, view1])[None].repeat(3, 1, 1, 1)                   # (N=3, C=2, 17, 2)
    assert share(pts, 0.0).tolist() == [0.5, 0.0]          # view 0: 2 of 4 arm joints; view 1: none
    assert share(pts, 0.1).tolist() == [0.75, 0.25]        # the margin adds the right elbow in both
