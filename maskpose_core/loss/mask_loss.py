"""The mask losses (docs/method.md §1) and the multi-view render they are taken on.

L = λs·mean(G ⊙ (M − M_skel)²) + λp·mean(G ⊙ (M − M_phys)²) + structure prior.
Every view's 3D prediction is mapped to world space and projected into every view
(C×C renders; ``cross_view=False`` keeps only the C own-view renders).

Label-free terms that are not in the paper, each with its own weight in ``LossConfig``:
coverage (every silhouette pixel near some bone) and extremity (the silhouette's tips near a
limb end).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from maskpose_core.geometry import pixels_to_normalized, project_to_pixels_soft, world_to_camera
from maskpose_core.render.skeleton_mask import pixel_centres


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


def weighted_mse(target: Tensor, pred: Tensor, weight: Tensor) -> Tensor:
    """mean(weight · (target − pred)²) over all elements."""
    return (weight * (target - pred) ** 2).mean()


def coverage(mask: Tensor, dist2: Tensor, weight: Tensor, eps: float) -> Tensor:
    """Coverage of the silhouette by the skeleton: mean(weight · M · sqrt(d² + eps²)).

    mask, weight (..., R, R); dist2 (..., R, R) squared distance d² of each pixel to the nearest
    bone (normalised crop units²). Unlike the Gaussian skeleton term it does not saturate far
    from the bones, so an uncovered hand pulls its arm out instead of being given up.
    """
    return (weight * mask * torch.sqrt(dist2 + eps * eps)).mean()


def tip_weight(mask: Tensor, geodesic: Tensor, threshold: float) -> Tensor:
    """Where the silhouette's limbs end: (N, R, R) soft mask and G -> (N, R, R) weight in [0, 1].

    Inside the mask (>= 0.5) G grows with the geodesic distance from the centroid
    (``data/geodesic.py``); per image it is rescaled to t in [0, 1] over the inside pixels, and
    the weight is (t − threshold) / (1 − threshold), clipped at 0: the far ends of arms, legs
    and head. An image whose inside G is constant (G off, or its centroid outside the mask)
    gets no tips.
    """
    inside = mask >= 0.5
    big = torch.finfo(geodesic.dtype).max
    lo = torch.where(inside, geodesic, big).amin(dim=(-1, -2), keepdim=True)
    hi = torch.where(inside, geodesic, -big).amax(dim=(-1, -2), keepdim=True)
    span = hi - lo
    t = (geodesic - lo) / torch.where(span > 1e-6, span, torch.ones_like(span))
    w = ((t - threshold) / (1.0 - threshold)).clamp(0.0, 1.0) * inside
    return torch.where(span > 1e-6, w, torch.zeros_like(w))


def extremity(points_norm: Tensor, tips: Tensor, eps: float) -> Tensor:
    """Every limb tip of the silhouette is reached by a limb end of the skeleton.

    points_norm (N, E, 2) the extremity joints (``skeleton.EXTREMITY_JOINTS``) in normalised
    crop coordinates; tips (N, R, R) from :func:`tip_weight`. Returns
    Σ tips · sqrt(d² + ε²) / Σ tips, d the distance from each pixel centre to the nearest
    extremity joint: the coverage term restricted to the tips and to the limb ends, so a
    raised hand pulls a wrist (not the nearest bone of any kind) out to it. 0 without tips.
    """
    r = tips.shape[-1]
    g = pixel_centres(r, dtype=points_norm.dtype, device=points_norm.device)
    dx = g.view(1, 1, 1, r) - points_norm[..., 0, None, None]                 # (N, E, 1, R)
    dy = g.view(1, 1, r, 1) - points_norm[..., 1, None, None]                 # (N, E, R, 1)
    d2 = (dx * dx + dy * dy).amin(dim=1)                                      # (N, R, R)
    return (tips * torch.sqrt(d2 + eps * eps)).sum() / tips.sum().clamp_min(1e-6)


def outside_share(mask: Tensor, bones: Tensor, weight: Tensor) -> Tensor:
    """Per-bone share of each bone map's mass that lies outside the mask, averaged.

    mask / weight (N, R, R), bones (N, K, R, R) → (). For bone k: Σ_p w (1 − M) B_k / Σ_p w B_k,
    so a bone is judged by the share of itself that leaves the silhouette, not by its length: a
    short or hidden bone earns nothing by shrinking. 0 when every bone lies inside the mask.
    """
    w = weight.unsqueeze(1)
    inside = (w * bones).flatten(2).sum(-1).clamp_min(1e-6)                       # (N, K)
    outside = (w * (1.0 - mask.unsqueeze(1)) * bones).flatten(2).sum(-1)
    return (outside / inside).mean()
