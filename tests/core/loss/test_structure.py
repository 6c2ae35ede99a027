"""Structure and multi-view terms: hand-derived zeros, and the gradient that pulls a bad view back."""
import math

import pytest
import torch

from maskpose_core.geometry import look_at, pixels_to_normalized, project_to_pixels, world_to_camera
from maskpose_core.loss.structure import consistency_loss, symmetry_loss, template_loss, triangulation_loss
from maskpose_core.skeleton import TEMPLATE_MM

SIZE = 64


def _rig(views: int = 4):
    """4 cameras 5 m away at 90° steps, 1.5 m high, looking at (0, 900, 0); 64-px crops."""
    K, R, t = [], [], []
    for c in range(views):
        a = c * math.pi / 2
        Rc, tc = look_at(torch.tensor([5000 * math.cos(a), 1500.0, 5000 * math.sin(a)]),
                         torch.tensor([0.0, 900.0, 0.0]))
        K.append(torch.tensor([[90.0, 0, 32.0], [0, 90.0, 32.0], [0, 0, 1]]))
        R.append(Rc)
        t.append(tc)
    return torch.stack(K)[None], torch.stack(R)[None], torch.stack(t)[None]


def _views_of(world):
    K, R, t = _rig()
    cam = world_to_camera(world[None, None].expand(1, 4, -1, -1), R, t)        # (1, 4, J, 3)
    xy = pixels_to_normalized(project_to_pixels(cam, K), SIZE)
    return cam, xy, K, R, t


def test_consistent_views_cost_nothing_and_a_wrong_depth_is_pulled_back():
    world = torch.tensor(TEMPLATE_MM) * torch.tensor([1.0, -1.0, 1.0]) + torch.tensor([0.0, 900.0, 0.0])
    cam, xy, K, R, t = _views_of(world)
    assert triangulation_loss(cam, xy, K, R, t, SIZE).item() < 1e-8
    # view 0's wrist 300 mm too deep: (0.3 m)² / (4 views · 17 joints) of loss, and the gradient
    # moves that wrist's depth back towards the camera
    bad = cam.clone()
    bad[0, 0, 13, 2] += 300.0
    bad.requires_grad_(True)
    loss = triangulation_loss(bad, xy, K, R, t, SIZE)
    assert abs(loss.item() - 0.09 / 68) < 1e-6
    loss.backward()
    assert bad.grad[0, 0, 13, 2] > 0 and bad.grad[0, 1:].abs().max() < 1e-9   # other views: float noise only


def test_symmetry_and_consistency_zero_for_a_symmetric_pose_seen_alike():
    pose = torch.tensor(TEMPLATE_MM)
    assert symmetry_loss(pose).item() < 1e-4                     # template: equal left/right bones
    views = pose[None, None].expand(2, 4, -1, -1)
    assert consistency_loss(views).item() == 0.0


def test_template_loss_is_zero_for_a_similarity_of_the_template_and_pulls_towards_it():
    tpl = torch.tensor(TEMPLATE_MM, dtype=torch.float64)
    c, s = math.cos(0.7), math.sin(0.7)
    rot = torch.tensor([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]], dtype=torch.float64)
    moved = 1.3 * tpl @ rot.T + torch.tensor([40.0, -20.0, 3000.0], dtype=torch.float64)
    assert template_loss(moved[None], tpl).item() == pytest.approx(0.0, abs=1e-12)
    # raise the left wrist: the residual grows, and descent lowers it back towards the template
    pose = moved.clone()
    pose[13, 1] -= 400.0
    pose.requires_grad_(True)
    loss = template_loss(pose[None], tpl)
    loss.backward()
    assert loss.item() > 0.01
    assert pose.grad[13, 1] < 0 and pose.grad[13, 1].abs() == pose.grad.abs().max()
