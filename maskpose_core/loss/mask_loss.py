"""The mask losses (DESIGN.md §1) and the multi-view render they are taken on.

L = λs·mean(G ⊙ (M − M_skel)²) + λp·mean(G ⊙ (M − M_phys)²) + structure prior.
Every view's 3D prediction is mapped to world space and projected into every view
(C×C renders; ``cross_view=False`` keeps only the C own-view renders).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from maskpose_core.geometry import pixels_to_normalized, project_to_pixels_soft, world_to_camera

Tensor = torch.Tensor


def downsample(maps: Tensor, size: int) -> Tensor:
    """(B, C, S, S) -> (B, C, size, size) by area averaging (a soft mask at low resolution)."""
    if maps.shape[-1] == size:
        return maps
    if maps.shape[-1] % size:
        raise ValueError(f"loss.render_size {size} must divide the image size {maps.shape[-1]}")
    return F.avg_pool2d(maps, maps.shape[-1] // size)


def cross_view_points(joints_world_mm: Tensor, K: Tensor, R: Tensor, t_mm: Tensor, image_size: int, *,
                      cross_view: bool) -> tuple[Tensor, Tensor]:
    """Project each source view's world prediction into target views.

    joints_world_mm (B, Cs, L, 3); K, R (B, C, 3, 3); t_mm (B, C, 3)
    returns points_norm (B, Cs, Ct, L, 2) and the target-view index per render (Cs, Ct)
    — with ``cross_view`` Ct = C (all views), else Ct = 1 (own view; needs Cs == C).
    """
    b, cs, l, _ = joints_world_mm.shape
    if cross_view:
        # (B, Cs, 1, L, 3) against cameras (B, 1, C, ...)
        cam = world_to_camera(joints_world_mm.unsqueeze(2), R.unsqueeze(1), t_mm.unsqueeze(1))
        uv = project_to_pixels_soft(cam, K.unsqueeze(1))
        target = torch.arange(K.shape[1]).expand(cs, -1)
    else:
        cam = world_to_camera(joints_world_mm, R, t_mm).unsqueeze(2)
        uv = project_to_pixels_soft(cam, K.unsqueeze(2))
        target = torch.arange(cs).unsqueeze(1)
    return pixels_to_normalized(uv, image_size), target


def weighted_mse(target: Tensor, pred: Tensor, weight: Tensor, valid: Tensor | None = None) -> Tensor:
    """mean(weight · (target − pred)² [· valid]) over all elements."""
    err = weight * (target - pred) ** 2
    if valid is not None:
        err = err * valid
    return err.mean()


def coverage(mask: Tensor, dist2: Tensor, weight: Tensor, eps: float) -> Tensor:
    """Coverage of the silhouette by the skeleton: mean(weight · M · sqrt(d² + eps²)).

    mask, weight (..., R, R); dist2 (..., R, R) squared distance of each pixel to the nearest
    bone (normalised crop units²). Unlike the Gaussian skeleton term it does not saturate far
    from the bones, so an uncovered hand pulls its arm out instead of being given up.
    """
    return (weight * mask * torch.sqrt(dist2 + eps * eps)).mean()
