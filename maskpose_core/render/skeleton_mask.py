"""Skeleton mask M_skel (docs/method.md §1): Gaussian bone maps from 2D joints, differentiable.

For segment k between points a_k and b_k and pixel p:
    B_k(p) = exp(-d_k(p)² / σ_k²),  d_k the distance from p to the segment,
    M_skel = Σ_k B_k (``combine='sum'``, the poster) or max_k B_k (``'max'``, authors' code).

Coordinates are normalised crop coordinates (geometry.py): the R×R render's pixel
centres lie at (2i + 1)/R - 1. Everything is vectorised over (batch, segments, pixels);
the distance is computed per x/y component on separable grids (docs/findings-early.md: 5× faster
forward+backward than on stacked [..., K, P, 2] tensors).
"""
from __future__ import annotations

import torch

from maskpose_core.render.fast_bones import MaxBones, NearestBoneDist2, SumBones
from maskpose_core.skeleton import ARM_JOINTS, landmark_is_arm, landmark_segments

Tensor = torch.Tensor


def pixel_centres(size: int, *, dtype=torch.float32, device=None) -> Tensor:
    """(size,) normalised coordinates of pixel centres along one axis."""
    return (2.0 * torch.arange(size, dtype=dtype, device=device) + 1.0) / size - 1.0


def segment_sigma2(num_landmarks: int, *, delta: bool, sigma2: float, arm_factor: float) -> Tensor:
    """(K,) σ² per segment: ``sigma2``, arms × ``arm_factor`` (authors' code: 1/2)."""
    arm = torch.tensor(landmark_is_arm(num_landmarks, delta=delta))
    return torch.where(arm, sigma2 * arm_factor, sigma2).float()


def render_segments(points_norm: Tensor, segments: Tensor, sigma2: Tensor, size: int, *,
                    combine: str = "max") -> Tensor:
    """Render the skeleton mask.

    points_norm  (N, L, 2) normalised crop coordinates (x right, y down)
    segments     (K, 2) long, indices into L
    sigma2       (K,) bone widths σ² in normalised units²
    returns      (N, size, size) in [0, 1] for 'max', [0, K] for 'sum'; (N, K, size, size), one map
                 per segment, for 'none'
    """
    if points_norm.ndim != 3 or points_norm.shape[-1] != 2:
        raise ValueError(f"points_norm must be (N, L, 2), got {tuple(points_norm.shape)}")
    if segments.ndim != 2 or segments.shape[1] != 2 or sigma2.shape != (segments.shape[0],):
        raise ValueError(f"segments must be (K, 2) with sigma2 (K,), got {tuple(segments.shape)}, "
                         f"{tuple(sigma2.shape)}")
    if combine not in ("sum", "max", "none"):
        raise ValueError(f"combine must be 'sum', 'max' or 'none', got {combine!r}")
    grid = pixel_centres(size, dtype=points_norm.dtype, device=points_norm.device)
    a = points_norm[:, segments[:, 0]]              # (N, K, 2)
    b = points_norm[:, segments[:, 1]]
    v = b - a
    vv = (v * v).sum(-1).clamp_min(1e-12)           # (N, K); a zero-length bone is a point
    ax, ay = a[..., 0, None, None], a[..., 1, None, None]     # (N, K, 1, 1)
    vx, vy = v[..., 0, None, None], v[..., 1, None, None]
    wx = grid.view(1, 1, 1, size) - ax             # (N, K, 1, W)
    wy = grid.view(1, 1, size, 1) - ay             # (N, K, H, 1)
    t = ((wx * vx + wy * vy) / vv[..., None, None]).clamp(0.0, 1.0)   # (N, K, H, W)
    dx = wx - t * vx
    dy = wy - t * vy
    bone = torch.exp(-(dx * dx + dy * dy) / sigma2.to(points_norm).view(1, -1, 1, 1))
    if combine == "none":
        return bone
    return bone.amax(dim=1) if combine == "max" else bone.sum(dim=1)


def render_segments_loop(points_norm: Tensor, segments: Tensor, sigma2: Tensor, size: int, *,
                         combine: str = "max") -> Tensor:
    """Straightforward reference: one segment at a time on stacked (P, 2) pixel coordinates.

    Same output as :func:`render_segments`; kept for tests and the benchmark.
    """
    grid = pixel_centres(size, dtype=points_norm.dtype, device=points_norm.device)
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    pix = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=-1)      # (P, 2)
    out = None
    for k in range(segments.shape[0]):
        a = points_norm[:, int(segments[k, 0])][:, None, :]           # (N, 1, 2)
        b = points_norm[:, int(segments[k, 1])][:, None, :]
        v = b - a
        t = (((pix - a) * v).sum(-1, keepdim=True) / (v * v).sum(-1, keepdim=True).clamp_min(1e-12))
        closest = a + t.clamp(0.0, 1.0) * v
        d2 = ((pix - closest) ** 2).sum(-1)                            # (N, P)
        m = torch.exp(-d2 / sigma2[k]).view(-1, size, size)
        out = m if out is None else (torch.maximum(out, m) if combine == "max" else out + m)
    return out


class SkeletonMaskRenderer(torch.nn.Module):
    """M_skel for a fixed landmark layout; no learnable parameters.

    forward(points_norm (N, L, 2), sigma2: float) -> (N, size, size)
    """

    def __init__(self, *, num_landmarks: int, delta: bool, size: int, combine: str,
                 arm_sigma_factor: float, primitive: str = "bones"):
        super().__init__()
        if primitive == "bones":
            segs = torch.tensor(landmark_segments(num_landmarks, delta=delta), dtype=torch.long)
            arm = landmark_is_arm(num_landmarks, delta=delta)
        elif primitive == "joints":
            # Gaussian maps at the joint points: zero-length segments (j, j); Δ does not apply
            segs = torch.arange(num_landmarks).repeat(2, 1).T.contiguous()
            arm = tuple(j in ARM_JOINTS for j in range(num_landmarks))
        else:
            raise ValueError(f"loss.primitive must be 'bones' or 'joints', got {primitive!r}")
        self.register_buffer("segments", segs, persistent=False)
        self.register_buffer("arm_factor", torch.tensor([arm_sigma_factor if a else 1.0 for a in arm]),
                             persistent=False)
        self.size, self.combine, self.num_landmarks = size, combine, num_landmarks

    def forward(self, points_norm: Tensor, sigma2: float) -> Tensor:
        return render_skeleton(points_norm, self.segments, sigma2 * self.arm_factor, self.size,
                               combine=self.combine)

    def bone_maps(self, points_norm: Tensor, sigma2: float) -> Tensor:
        """(N, L, 2) -> (N, K, size, size): each segment's own map B_k (autograd; the per-bone terms)."""
        return render_segments(points_norm, self.segments, sigma2 * self.arm_factor, self.size, combine="none")

    def nearest_dist2(self, points_norm: Tensor) -> Tensor:
        """(N, L, 2) -> (N, size, size): squared distance from every pixel centre to the nearest
        segment, in normalised crop units² (the coverage term), differentiable in the points."""
        if points_norm.ndim != 3 or points_norm.shape[-1] != 2:
            raise ValueError(f"points_norm must be (N, L, 2), got {tuple(points_norm.shape)}")
        ones = torch.ones(self.segments.shape[0], dtype=points_norm.dtype, device=points_norm.device)
        return NearestBoneDist2.apply(points_norm, self.segments, ones, self.size)


def render_skeleton(points_norm: Tensor, segments: Tensor, sigma2: Tensor, size: int, *,
                    combine: str = "max") -> Tensor:
    """Same as :func:`render_segments`, with the fast hand-written gradients (training path)."""
    if points_norm.ndim != 3 or points_norm.shape[-1] != 2:
        raise ValueError(f"points_norm must be (N, L, 2), got {tuple(points_norm.shape)}")
    fn = {"max": MaxBones, "sum": SumBones}.get(combine)
    if fn is None:
        raise ValueError(f"combine must be 'sum' or 'max', got {combine!r}")
    return fn.apply(points_norm, segments, sigma2.to(points_norm), size)
