"""The mask losses (docs/method.md §1) and the multi-view render they are taken on.

L = λs·mean(G ⊙ (M − M_skel)²) + λp·mean(G ⊙ (M − M_phys)²) + structure prior.
Every view's 3D prediction is mapped to world space and projected into every view
(C×C renders; ``cross_view=False`` keeps only the C own-view renders).

Label-free terms that are not in the paper, each with its own weight in ``LossConfig``:
coverage (every silhouette pixel near some bone) and extremity (the silhouette's tips near a
limb end); optionally (``hidden_arm_gate``) arms inside the torso are left alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from maskpose_core.geometry import pixels_to_normalized, project_to_pixels_soft, world_to_camera
from maskpose_core.render.skeleton_mask import pixel_centres

TORSO_QUAD = (11, 14, 1, 4)          # l_shoulder, r_shoulder, r_hip, l_hip: a closed loop
GATED_ARM_JOINTS = (12, 13, 15, 16)  # elbows and wrists

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


def coverage(mask: Tensor, dist2: Tensor, weight: Tensor, eps: float, radius: float = 0.0) -> Tensor:
    """Coverage of the silhouette by the skeleton: mean(weight · M · sqrt(e² + eps²)),
    e = max(d − radius, 0).

    mask, weight (..., R, R); dist2 (..., R, R) squared distance d² of each pixel to the nearest
    bone (normalised crop units²). Unlike the Gaussian skeleton term it does not saturate far
    from the bones, so an uncovered hand pulls its arm out instead of being given up.
    ``radius`` (normalised crop units) is the body's thickness around its bones: a pixel that
    close to a bone is covered and pulls nothing, so a wide torso or a thick limb does not drag
    its bones apart (the term's bias at the truth). 0 gives e = d exactly.
    """
    if radius > 0:
        excess = (torch.sqrt(dist2 + 1e-12) - radius).clamp_min(0.0)
        dist2 = excess * excess
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


def hidden_arm_gate(points_norm: Tensor, margin: float = 0.0) -> Tensor:
    """Detach the elbows and wrists that lie inside the torso of their own render.

    points_norm (..., L, 2), L >= 17 landmarks in normalised crop coordinates, the joints first
    (``skeleton.JOINT_NAMES`` order). The torso is the quadrilateral l_shoulder → r_shoulder →
    r_hip → l_hip of the same render; an arm joint strictly inside it (every edge's cross product
    of one sign; a twisted, self-crossing quadrilateral contains nothing) keeps its value but
    loses its gradient: a silhouette says nothing about an arm in front of the torso, so the mask
    terms must not move it. ``margin`` (normalised crop units) also gates the arm joints within
    that distance of the quadrilateral's edges: seen from the side the torso's quadrilateral is a
    line, its silhouette a band. Returns (..., L, 2), equal in value to points_norm.
    """
    quad = points_norm[..., list(TORSO_QUAD), :]                                   # (..., 4, 2)
    edge = quad.roll(-1, dims=-2) - quad                                           # (..., 4, 2)
    arms = points_norm[..., list(GATED_ARM_JOINTS), :]                             # (..., A, 2)
    rel = arms.unsqueeze(-2) - quad.unsqueeze(-3)                                  # (..., A, 4, 2)
    cross = edge.unsqueeze(-3)[..., 0] * rel[..., 1] - edge.unsqueeze(-3)[..., 1] * rel[..., 0]
    inside = (cross > 0).all(-1) | (cross < 0).all(-1)                             # (..., A)
    if margin > 0:
        along = ((rel * edge.unsqueeze(-3)).sum(-1) / (edge * edge).sum(-1).clamp_min(1e-12).unsqueeze(-2))
        foot = quad.unsqueeze(-3) + along.clamp(0.0, 1.0).unsqueeze(-1) * edge.unsqueeze(-3)
        d2 = ((arms.unsqueeze(-2) - foot) ** 2).sum(-1).amin(-1)                  # (..., A) to the nearest edge
        inside = inside | (d2 < margin * margin)
    inside = inside.detach()
    hidden = torch.zeros(points_norm.shape[:-1], dtype=torch.bool, device=points_norm.device)
    hidden[..., list(GATED_ARM_JOINTS)] = inside
    return torch.where(hidden.unsqueeze(-1), points_norm.detach(), points_norm)
