"""A label-free 3D target from the detector's own 2D in C calibrated views, robust to left/right
confusions and to outlier views (issue 31, lever 3).

The plain triangulation term (``structure.triangulation_loss``) triangulates each joint from
the C views' 2D as predicted. A detector confuses left and right differently in different views,
and one confused view pulls the triangulated joint off the body. Here:

1. **Left/right resolved across views.** For each left/right pair (l, r) independently, every
   assignment s ∈ {0, 1}^C (view c swaps its l and r 2D when s_c = 1; view 0 fixed, the global
   swap being the same labelling mirrored) is triangulated, and the assignment with the smallest
   reprojection error of both joints over the views wins. If it swaps more than half of the views,
   its complement is used instead, so the labels follow the majority of the views.
2. **An outlier view dropped.** After the assignment, with C ≥ 3 views, each view of a joint is
   judged by the others: its reprojection error against the triangulation of the other views. The
   worst view is left out of that joint when its error is above ``max(min_px, outlier_factor ×
   the median of those errors)``, and the joint is triangulated from the views kept.
3. **A target, not a path.** Everything above is computed without gradient: the result is a
   world pose per moment, a pseudo-label.

:func:`robust_triangulation_loss` pulls each view's root-relative camera-frame prediction
towards that target, after a Procrustes alignment of the target to the prediction when
``align=True`` (then only the articulation is taught: the masks and the pseudo images keep
the pose's place, facing and size).

Shapes: uv_px (B, C, J, 2), K/R (B, C, 3, 3), t_mm (B, C, 3); world (B, J, 3).
"""
from __future__ import annotations

import itertools

import torch

from maskpose_core.geometry import normalized_to_pixels, world_to_camera
from maskpose_core.metrics import procrustes_align
from maskpose_core.skeleton import LEFT_RIGHT_PAIRS, ROOT

Tensor = torch.Tensor
MIN_PX = 2.0            # a view is an outlier only when its error against the others is above this …
OUTLIER_FACTOR = 3.0    # … and above this many times the median of the views' errors
MAX_SPREAD_MM = 3000.0  # a target joint farther than this from its root is no body: the moment is left out


def _projection(K: Tensor, R: Tensor, t: Tensor) -> Tensor:
    return K @ torch.cat([R, t.unsqueeze(-1)], dim=-1)                                  # (…, C, 3, 4)


def weighted_dlt(uv: Tensor, P: Tensor, w: Tensor) -> Tensor:
    """DLT of one point per batch index from C views with weights. uv (N, C, 2), P (N, C, 3, 4),
    w (N, C) ≥ 0 (0 = view left out) → world (N, 3)."""
    u, v = uv[..., 0:1], uv[..., 1:2]
    rows = torch.cat([u * P[..., 2, :] - P[..., 0, :], v * P[..., 2, :] - P[..., 1, :]], dim=-2)   # (N, 2C, 4)
    rows = rows * torch.cat([w, w], dim=-1).unsqueeze(-1)
    _, _, vh = torch.linalg.svd(rows)
    x = vh[..., -1, :]
    w4 = x[..., 3:4]
    return x[..., :3] / torch.where(w4.abs() < 1e-12, torch.full_like(w4, 1e-12), w4)   # rays parallel: far, finite


def reprojection_px(world: Tensor, uv: Tensor, P: Tensor) -> Tensor:
    """Pixel distance of ``world`` (N, 3) projected by P (N, C, 3, 4) to ``uv`` (N, C, 2) → (N, C)."""
    h = P @ torch.cat([world, torch.ones_like(world[..., :1])], dim=-1).unsqueeze(-2).unsqueeze(-1)
    h = h.squeeze(-1)                                                                  # (N, C, 3)
    proj = h[..., :2] / h[..., 2:3].clamp_min(1e-6)
    return (proj - uv).norm(dim=-1)


def _assignments(views: int) -> Tensor:
    """(2^(C−1), C) swap patterns with view 0 unswapped."""
    return torch.tensor([(0,) + s for s in itertools.product((0, 1), repeat=views - 1)], dtype=torch.bool)


@torch.no_grad()
def resolve_left_right(uv: Tensor, P: Tensor) -> tuple[Tensor, Tensor]:
    """uv (B, C, J, 2) with each view's left/right pairs swapped where that minimises the pair's
    reprojection error over the views, and the swap pattern (B, C, pairs) it applied."""
    b, c, j, _ = uv.shape
    if c < 2:
        raise ValueError(f"left/right resolution needs at least 2 views per moment, got {c}")
    out = uv.clone()
    pats = _assignments(c).to(uv.device)                                               # (S, C)
    chosen = torch.zeros(b, c, len(LEFT_RIGHT_PAIRS), dtype=torch.bool, device=uv.device)
    Pn = P.unsqueeze(1).expand(b, len(pats), c, 3, 4).reshape(-1, c, 3, 4)
    for k, (l, r) in enumerate(LEFT_RIGHT_PAIRS):
        ul, ur = uv[:, :, l], uv[:, :, r]                                              # (B, C, 2)
        sw = pats[None, :, :, None]                                                    # (1, S, C, 1)
        al = torch.where(sw, ur[:, None], ul[:, None]).reshape(-1, c, 2)               # (B·S, C, 2)
        ar = torch.where(sw, ul[:, None], ur[:, None]).reshape(-1, c, 2)
        ones = torch.ones(al.shape[:2], dtype=uv.dtype, device=uv.device)
        err = (reprojection_px(weighted_dlt(al, Pn, ones), al, Pn).sum(-1)
               + reprojection_px(weighted_dlt(ar, Pn, ones), ar, Pn).sum(-1)).view(b, len(pats))
        best = pats[err.argmin(dim=1)]                                                 # (B, C)
        best = torch.where(best.sum(-1, keepdim=True) * 2 > c, ~best, best)            # follow the majority
        chosen[:, :, k] = best
        out[:, :, l] = torch.where(best[..., None], ur, ul)
        out[:, :, r] = torch.where(best[..., None], ul, ur)
    return out, chosen


@torch.no_grad()
def robust_triangulate(uv: Tensor, K: Tensor, R: Tensor, t_mm: Tensor, *, min_px: float = MIN_PX,
                       outlier_factor: float = OUTLIER_FACTOR) -> tuple[Tensor, Tensor]:
    """World pose (B, J, 3) from 2D uv (B, C, J, 2): left/right resolved, an outlier view dropped
    per joint; and the weights used (B, C, J): 1 for a view kept, 0 for one dropped."""
    b, c, j, _ = uv.shape
    P = _projection(K, R, t_mm).to(uv.dtype)                                           # (B, C, 3, 4)
    fixed, _ = resolve_left_right(uv, P)
    per = fixed.transpose(1, 2).reshape(b * j, c, 2)                                   # (B·J, C, 2)
    Pj = P.unsqueeze(1).expand(b, j, c, 3, 4).reshape(b * j, c, 3, 4)
    keep = torch.ones(b * j, c, dtype=uv.dtype, device=uv.device)
    if c >= 3:          # each view judged by the others: its error against the triangulation without it
        loo = torch.stack([reprojection_px(weighted_dlt(per, Pj, 1.0 - torch.eye(c, dtype=uv.dtype, device=uv.device)[v]
                                                        .expand(b * j, c)), per, Pj)[:, v] for v in range(c)], -1)
        worst, at = loo.max(dim=-1)
        limit = torch.clamp_min(outlier_factor * loo.median(dim=-1).values, min_px)
        drop = worst > limit                                                           # (B·J,) at most one view
        keep[drop, at[drop]] = 0.0
    world = weighted_dlt(per, Pj, keep)
    return world.view(b, j, 3), keep.view(b, j, c).transpose(1, 2)


def robust_triangulation_loss(joints_cam_mm: Tensor, xy_norm: Tensor, K: Tensor, R: Tensor, t_mm: Tensor,
                              image_size: int, *, align: bool = True, scale_mm: float = 1000.0) -> Tensor:
    """Each view's root-relative prediction (B, C, J, 3) pulled towards the robust triangulation of
    the views' predicted 2D xy_norm (B, C, J, 2) (detached), in (scale_mm)²; ``align``: the target
    Procrustes-aligned to each prediction first (only the articulation is taught). () ≥ 0."""
    b, c, j, _ = joints_cam_mm.shape
    if c < 2:
        raise ValueError(f"loss.robust_triangulation_weight > 0 needs at least 2 views per moment, got {c}")
    with torch.no_grad():
        uv = normalized_to_pixels(xy_norm, image_size).double()
        world, _ = robust_triangulate(uv, K.double(), R.double(), t_mm.double())
        # a moment whose target is not a body (a joint triangulated far off: rays nearly parallel)
        # teaches nothing: it is left out
        rel_world = world - world[:, ROOT:ROOT + 1]
        ok = (rel_world.norm(dim=-1) < MAX_SPREAD_MM).all(-1)                           # (B,)
        target = world_to_camera(world.float().unsqueeze(1).expand(b, c, j, 3), R, t_mm)
        target = target - target[:, :, ROOT:ROOT + 1]
    rel = joints_cam_mm - joints_cam_mm[:, :, ROOT:ROOT + 1]
    if align:
        target = procrustes_align(target.reshape(-1, j, 3), rel.detach().reshape(-1, j, 3)).view_as(rel).detach()
    per_moment = (((rel - target) / scale_mm) ** 2).sum(-1).mean((1, 2))              # (B,)
    return torch.where(ok, per_moment, torch.zeros_like(per_moment)).sum() / ok.sum().clamp_min(1)
