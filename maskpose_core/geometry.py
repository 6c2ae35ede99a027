"""Cameras and coordinate frames, shared by the renderer, the data sets and the model.

Conventions (used everywhere in maskpose):

* World frame: millimetres, right-handed, +Y up (the mocap file's frame).
* Camera frame: millimetres, +X right, +Y down, +Z forward (OpenCV).
  ``X_cam = R @ X_world + t`` with ``R`` (3, 3) and ``t`` (3,) in mm.
* Crop pixels: an S×S crop; pixel (u, v) has its centre at integer coordinates
  0..S-1, u to the right, v down. ``K`` (3, 3) maps camera coordinates to crop
  pixels: ``[u, v, 1]^T ~ K @ X_cam``.
* Normalised crop coordinates: x_n = (2u + 1) / S - 1, so the crop spans [-1, 1]
  edge to edge at every resolution. The model predicts and renders in this frame.
"""
from __future__ import annotations

import torch

Tensor = torch.Tensor


def _check_last(name: str, x: Tensor, size: int) -> None:
    if x.shape[-1] != size:
        raise ValueError(f"{name}: expected last dimension {size}, got shape {tuple(x.shape)}")


def world_to_camera(points_world_mm: Tensor, R: Tensor, t_mm: Tensor) -> Tensor:
    """Points (..., N, 3) in world mm -> camera mm, with R (..., 3, 3), t (..., 3)."""
    _check_last("points_world_mm", points_world_mm, 3)
    return points_world_mm @ R.transpose(-1, -2) + t_mm.unsqueeze(-2)


def camera_to_world(points_cam_mm: Tensor, R: Tensor, t_mm: Tensor) -> Tensor:
    """Inverse of :func:`world_to_camera`: (..., N, 3) camera mm -> world mm."""
    _check_last("points_cam_mm", points_cam_mm, 3)
    return (points_cam_mm - t_mm.unsqueeze(-2)) @ R


def project_to_pixels(points_cam_mm: Tensor, K: Tensor, *, min_depth_mm: float = 1.0) -> Tensor:
    """Perspective projection (..., N, 3) camera mm -> (..., N, 2) crop pixels.

    Depths below ``min_depth_mm`` raise: a point behind the camera has no image.
    """
    _check_last("points_cam_mm", points_cam_mm, 3)
    z = points_cam_mm[..., 2:3]
    if bool((z < min_depth_mm).any()):
        raise ValueError(f"project_to_pixels: {int((z < min_depth_mm).sum())} point(s) have depth "
                         f"< {min_depth_mm} mm (behind or on the camera)")
    uvw = points_cam_mm @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def project_to_pixels_soft(points_cam_mm: Tensor, K: Tensor, *, min_depth_mm: float = 50.0) -> Tensor:
    """Like :func:`project_to_pixels` for predictions during training.

    A predicted point can land behind a camera early in training; its depth is
    floored at ``min_depth_mm`` (its projection then lies far outside the crop and
    contributes nothing to a rendered mask) instead of raising.
    """
    _check_last("points_cam_mm", points_cam_mm, 3)
    z = points_cam_mm[..., 2:3].clamp(min=min_depth_mm)
    uv = (points_cam_mm[..., :2] @ K[..., :2, :2].transpose(-1, -2)) / z
    return uv + K[..., :2, 2].unsqueeze(-2)


def pixels_to_normalized(uv_px: Tensor, size_px: int) -> Tensor:
    """Crop pixels (..., 2) -> normalised crop coordinates in [-1, 1]."""
    return (2.0 * uv_px + 1.0) / size_px - 1.0


def normalized_to_pixels(xy_norm: Tensor, size_px: int) -> Tensor:
    """Normalised crop coordinates (..., 2) -> crop pixels."""
    return ((xy_norm + 1.0) * size_px - 1.0) / 2.0


def unproject_pixels(uv_px: Tensor, depth_mm: Tensor, K: Tensor) -> Tensor:
    """Crop pixels (..., N, 2) with depths (..., N) -> camera mm (..., N, 3)."""
    _check_last("uv_px", uv_px, 2)
    fx, fy = K[..., 0, 0].unsqueeze(-1), K[..., 1, 1].unsqueeze(-1)
    cx, cy = K[..., 0, 2].unsqueeze(-1), K[..., 1, 2].unsqueeze(-1)
    x = (uv_px[..., 0] - cx) / fx * depth_mm
    y = (uv_px[..., 1] - cy) / fy * depth_mm
    return torch.stack([x, y, depth_mm], dim=-1)


def look_at(camera_pos_mm: Tensor, target_mm: Tensor, up=(0.0, 1.0, 0.0)) -> tuple[Tensor, Tensor]:
    """World->camera (R, t) of a camera at ``camera_pos_mm`` (3,) looking at ``target_mm`` (3,).

    The camera's +Y (image down) points along world -up, so people stand upright.
    """
    up_t = torch.as_tensor(up, dtype=camera_pos_mm.dtype)
    z = target_mm - camera_pos_mm
    z = z / z.norm()
    x = torch.linalg.cross(z, up_t)          # image right = forward × up
    if float(x.norm()) < 1e-8:
        raise ValueError("look_at: viewing direction is parallel to the up vector")
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    R = torch.stack([x, y, z], dim=0)
    t = -R @ camera_pos_mm
    return R, t


def triangulate_dlt(uv_px: Tensor, K: Tensor, R: Tensor, t_mm: Tensor) -> Tensor:
    """Linear (DLT) triangulation of one point seen in C views.

    uv_px (..., C, 2), K/R (..., C, 3, 3), t (..., C, 3) -> world mm (..., 3).
    Differentiable; used for the label-free ``root: triangulated`` option.
    """
    P = K @ torch.cat([R, t_mm.unsqueeze(-1)], dim=-1)  # (..., C, 3, 4)
    u, v = uv_px[..., 0:1], uv_px[..., 1:2]
    rows = torch.cat([u * P[..., 2, :] - P[..., 0, :], v * P[..., 2, :] - P[..., 1, :]], dim=-2)
    # rows: (..., 2C, 4); solution = right singular vector of the smallest singular value
    _, _, Vh = torch.linalg.svd(rows)
    X = Vh[..., -1, :]
    return X[..., :3] / X[..., 3:4]
