"""Camera conventions: round trips, upright look-at cameras, triangulation."""
import math

import torch

from maskpose_core.geometry import (camera_to_world, look_at, normalized_to_pixels, pixels_to_normalized,
                                    project_to_pixels, triangulate_dlt, unproject_pixels, world_to_camera)


def _camera(angle):
    pos = torch.tensor([5000 * math.cos(angle), 1500.0, 5000 * math.sin(angle)], dtype=torch.float64)
    R, t = look_at(pos, torch.tensor([0.0, 900.0, 0.0], dtype=torch.float64))
    K = torch.tensor([[120.0, 0, 31.5], [0, 120.0, 31.5], [0, 0, 1]], dtype=torch.float64)
    return K, R, t


def test_project_unproject_round_trip():
    K, R, t = _camera(0.3)
    pts = torch.tensor([[100.0, 1700, -50], [-300, 100, 200], [0, 900, 0]], dtype=torch.float64)
    cam = world_to_camera(pts, R, t)
    uv = project_to_pixels(cam, K)
    back = camera_to_world(unproject_pixels(uv, cam[:, 2], K), R, t)
    assert torch.allclose(back, pts, atol=1e-8)
    assert torch.allclose(normalized_to_pixels(pixels_to_normalized(uv, 64), 64), uv)


def test_look_at_is_a_rotation_with_people_upright():
    K, R, t = _camera(1.1)
    assert torch.allclose(R @ R.T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert torch.det(R).item() > 0
    head, feet = torch.tensor([[0.0, 1700, 0]], dtype=torch.float64), torch.tensor([[0.0, 0, 0]], dtype=torch.float64)
    v_head = project_to_pixels(world_to_camera(head, R, t), K)[0, 1]
    v_feet = project_to_pixels(world_to_camera(feet, R, t), K)[0, 1]
    assert v_head < v_feet          # image y grows downward: the head is above the feet


def test_triangulation_recovers_a_point():
    X = torch.tensor([120.0, 950.0, -40.0], dtype=torch.float64)
    cams = [_camera(a) for a in (0.0, 1.6, 3.1, 4.7)]
    K = torch.stack([c[0] for c in cams]); R = torch.stack([c[1] for c in cams]); t = torch.stack([c[2] for c in cams])
    uv = torch.stack([project_to_pixels(world_to_camera(X[None], r, tt), k)[0] for k, r, tt in cams])
    assert torch.allclose(triangulate_dlt(uv, K, R, t), X, atol=1e-6)
