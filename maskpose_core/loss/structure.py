"""Structure prior (docs/method.md §1): left/right bone-length symmetry and limb ratios, and the
template articulation prior (T).

All three are scale-free (relative errors), so they shape a pose without fixing its size.
Also the multi-view consistency term and the mean joint-to-root spread (collapse monitor).
"""
from __future__ import annotations

import torch

from maskpose_core.geometry import normalized_to_pixels, triangulate_dlt, world_to_camera
from maskpose_core.metrics import procrustes_align
from maskpose_core.skeleton import LIMB_RATIOS, NUM_JOINTS, ROOT, SYMMETRIC_BONES

Tensor = torch.Tensor
EPS_MM = 1.0  # guards bone-length ratios of collapsed (zero-length) bones


def bone_lengths(joints_mm: Tensor, bones: tuple[tuple[int, int], ...]) -> Tensor:
    """(..., J, 3) -> (..., len(bones)) lengths in mm."""
    a = torch.tensor([b[0] for b in bones], device=joints_mm.device)
    b = torch.tensor([b[1] for b in bones], device=joints_mm.device)
    return (joints_mm[..., b, :] - joints_mm[..., a, :]).norm(dim=-1)


def symmetry_loss(joints_mm: Tensor) -> Tensor:
    """Mean squared relative difference of left and right bone lengths. (..., J, 3) -> ()."""
    left = bone_lengths(joints_mm, tuple(lb for lb, _ in SYMMETRIC_BONES))
    right = bone_lengths(joints_mm, tuple(rb for _, rb in SYMMETRIC_BONES))
    return (((left - right) / (0.5 * (left + right) + EPS_MM)) ** 2).mean()


def limb_ratio_loss(joints_mm: Tensor) -> Tensor:
    """Mean squared log-error of limb ratios against anthropometric values. (..., J, 3) -> ()."""
    num = bone_lengths(joints_mm, tuple(a for a, _, _ in LIMB_RATIOS))
    den = bone_lengths(joints_mm, tuple(b for _, b, _ in LIMB_RATIOS))
    want = torch.tensor([r for _, _, r in LIMB_RATIOS], device=joints_mm.device, dtype=joints_mm.dtype)
    return ((torch.log((num + EPS_MM) / (den + EPS_MM)) - torch.log(want)) ** 2).mean()


def template_loss(joints_mm: Tensor, template_mm: Tensor) -> Tensor:
    """How far a pose is from a similarity transform of the template (its articulation).

    joints_mm (..., J, 3); template_mm (J, 3). The template is Procrustes-fitted to each pose
    (rotation, scale, translation; detached: at the fit's optimum its own gradient vanishes),
    and the residual's mean square is divided by the pose's mean squared spread around its
    centroid, so the term is scale-free and 0 exactly for a rotated, scaled template. () >= 0.
    """
    flat = joints_mm.reshape(-1, *joints_mm.shape[-2:])
    fit = procrustes_align(template_mm.to(flat).expand_as(flat), flat.detach()).detach()
    spread = ((flat - flat.mean(dim=-2, keepdim=True)) ** 2).sum(-1).mean(-1)
    resid = ((flat - fit) ** 2).sum(-1).mean(-1)
    return (resid / (spread.detach() + EPS_MM ** 2)).mean()


def consistency_loss(joints_world_mm: Tensor, scale_mm: float = 1000.0) -> Tensor:
    """Disagreement of the C views' world-space predictions of the same moment.

    (B, C, L, 3) -> () mean squared distance to the per-moment mean, in (scale_mm)².
    """
    centre = joints_world_mm.mean(dim=1, keepdim=True)
    return (((joints_world_mm - centre) / scale_mm) ** 2).sum(-1).mean()


def triangulation_loss(joints_cam_mm: Tensor, xy_norm: Tensor, K: Tensor, R: Tensor, t_mm: Tensor,
                       image_size: int, scale_mm: float = 1000.0) -> Tensor:
    """Multi-view self-consistency through triangulation (label-free: cameras only).

    The C views' predicted 2D joints are triangulated (DLT, detached) into one world pose;
    each view's root-relative camera-frame prediction is pulled towards it. The 2D that the
    masks teach in every view thus reaches each view's depth.
    joints_cam_mm (B, C, J, 3), xy_norm (B, C, J, 2), K/R (B, C, 3, 3), t_mm (B, C, 3) -> ().
    """
    b, c, j, _ = joints_cam_mm.shape
    with torch.no_grad():
        uv = normalized_to_pixels(xy_norm, image_size).transpose(1, 2)                 # (B, J, C, 2)
        expand = lambda x: x.unsqueeze(1).expand(b, j, *x.shape[1:])                    # noqa: E731
        world = triangulate_dlt(uv.double(), expand(K).double(), expand(R).double(),
                                expand(t_mm).double()).float()                          # (B, J, 3)
        target = world_to_camera(world.unsqueeze(1).expand(b, c, j, 3), R, t_mm)         # (B, C, J, 3)
        target = target - target[:, :, ROOT:ROOT + 1]
    rel = joints_cam_mm - joints_cam_mm[:, :, ROOT:ROOT + 1]
    return (((rel - target) / scale_mm) ** 2).sum(-1).mean()


def spread_mm(joints_mm: Tensor) -> Tensor:
    """Mean joint-to-root distance (..., J, 3) -> () mm; ≈ 440 mm for real poses (docs/findings-early.md)."""
    rel = joints_mm[..., :NUM_JOINTS, :] - joints_mm[..., ROOT:ROOT + 1, :]
    return rel.norm(dim=-1)[..., 1:].mean()
