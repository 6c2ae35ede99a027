"""The mask losses (DESIGN.md §1) and the multi-view render they are taken on.

L = λs·mean(G ⊙ (M − M_skel)²) + λp·mean(G ⊙ (M − M_phys)²) + structure prior.
Every view's 3D prediction is mapped to world space and projected into every view
(C×C renders; ``cross_view=False`` keeps only the C own-view renders).

Label-free terms that are not in the paper, each with its own weight in ``LossConfig``:
coverage (every silhouette pixel near some bone), extremity (the silhouette's tips near a limb
end) and inside (every bone within the silhouette; off by default).
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


def outside_distance(mask: Tensor, *, chunk: int = 16) -> Tensor:
    """(N, R, R) soft mask -> (N, R, R) distance from every pixel centre to the nearest pixel
    centre with mask >= 0.5, in normalised crop units (0 inside the silhouette). Exact, by brute
    force over the R² × R² pixel pairs (R is the loss's render size, 32 by default); no gradient.
    """
    if mask.ndim != 3 or mask.shape[-1] != mask.shape[-2]:
        raise ValueError(f"mask must be (N, R, R), got {tuple(mask.shape)}")
    n, r = mask.shape[0], mask.shape[-1]
    g = (2.0 * torch.arange(r, dtype=mask.dtype, device=mask.device) + 1.0) / r - 1.0
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    pix = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)             # (P, 2)
    pair = torch.cdist(pix, pix)                                            # (P, P)
    far = torch.tensor(float("inf"), dtype=mask.dtype, device=mask.device)
    fg = mask.detach().reshape(n, -1) >= 0.5                                # (N, P)
    out = [torch.where(f[:, None, :], pair, far).amin(-1) for f in fg.split(chunk)]
    dist = torch.cat(out).view(n, r, r)
    if torch.isinf(dist).any():
        raise ValueError("outside_distance: a mask has no foreground pixel at the loss's render size")
    return dist


def inside(points_norm: Tensor, segments: Tensor, outside_dist: Tensor, samples: int) -> Tensor:
    """Skeleton inside the silhouette: mean distance outside the mask of points along every bone.

    points_norm (N, L, 2) normalised crop coordinates; segments (K, 2) long; outside_dist
    (N, R, R) from :func:`outside_distance`; ``samples`` points per bone, ends included.
    The distance is bilinearly sampled (differentiable in the points) and, beyond the crop,
    the distance past its edge is added. Zero for a skeleton wholly inside the silhouette:
    unlike the Gaussian skeleton term it has no preference for where inside a thin limb a
    bone lies, so it does not pull arms into the trunk.
    """
    s = torch.linspace(0.0, 1.0, samples, dtype=points_norm.dtype, device=points_norm.device)
    a, b = points_norm[:, segments[:, 0]], points_norm[:, segments[:, 1]]   # (N, K, 2)
    pts = a.unsqueeze(2) + s.view(1, 1, -1, 1) * (b - a).unsqueeze(2)      # (N, K, S, 2)
    inner = F.grid_sample(outside_dist.unsqueeze(1), pts, mode="bilinear", padding_mode="border",
                          align_corners=False).squeeze(1)                   # (N, K, S)
    beyond = (pts.abs() - 1.0).clamp_min(0.0).norm(dim=-1)
    return (inner + beyond).mean()


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
    g = (2.0 * torch.arange(r, dtype=points_norm.dtype, device=points_norm.device) + 1.0) / r - 1.0
    dx = g.view(1, 1, 1, r) - points_norm[..., 0, None, None]                 # (N, E, 1, R)
    dy = g.view(1, 1, r, 1) - points_norm[..., 1, None, None]                 # (N, E, R, 1)
    d2 = (dx * dx + dy * dy).amin(dim=1)                                      # (N, R, R)
    return (tips * torch.sqrt(d2 + eps * eps)).sum() / tips.sum().clamp_min(1e-6)
