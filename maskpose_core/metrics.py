"""Pose metrics: the one implementation used by training, evaluation and reports.

Every per-sample metric takes ``pred`` and ``gt`` of shape (B, J, 3) in millimetres (any
common frame; camera frame in practice), computes in float64 and returns (B,) float64 so
callers can average, aggregate per action or bootstrap. :func:`average` turns one into a
float. Shapes and finiteness are checked at the door (``ValueError`` naming the argument).

Conventions (docs/method.md §1, "Metrics"):

* Root alignment: both poses are translated so that joint 0 (pelvis) is at the origin.
* N-MPJPE (Rhodin et al. 2018): after root alignment the prediction is scaled by
  s = <p, g> / <p, p>, the least-squares optimal scale.
* P-MPJPE: similarity Procrustes (rotation, isotropic scale, translation), exactly as in
  VideoPose3D ``common/loss.py::p_mpjpe``: the SVD solution is forced to a proper rotation
  (det = +1) by flipping the last singular vector when det(V Uᵀ) < 0.
* PCK / AUC (MPI-INF-3DHP protocol): root-aligned per-joint distances; a joint is correct
  when its error is *strictly* below the threshold (official ``mpii_compute_3d_pck``);
  AUC is the mean PCK over the 31 thresholds 0, 5, ..., 150 mm. All J joints count
  unless ``joints`` selects a subset (e.g. :data:`MPI_INF_3DHP_PCK_JOINTS`).
* 2D error: Euclidean error in normalised crop coordinates, which span 2 units edge to
  edge, so an error of d units is 50·d % of the crop side.
* Flip tolerance (†): per sample and per metric, the better of ``pred`` and its
  left-right relabelled copy ``pred[:, FLIP_PERMUTATION]`` (positions unchanged).
* Ambiguity Ratio (authors' code): C views' predictions of one moment; per view and per
  left/right joint j (the 12 of LEFT_RIGHT_PAIRS), "swapped" iff, after moving the view's
  pelvis onto the GT pelvis, |p_j − g_partner(j)| < |p_j − g_j|; k = number of swapping
  views; AR = mean over moments and the 12 joints of min(k, C − k) / C, in %.

Degenerate inputs are handled by their exact minimisers, not by clamps: if the root-aligned
prediction is all zero, every scale is optimal for N-MPJPE and s = 0 is used; likewise a
P-MPJPE prediction (or target) collapsed to one point gets scale 0. P-MPJPE is meant for
evaluation, not as a loss (the SVD has no useful gradient at repeated singular values).
"""
from __future__ import annotations

from typing import Callable

import torch

from maskpose_core.skeleton import FLIP_PERMUTATION, LEFT_RIGHT_PAIRS, NUM_JOINTS, ROOT

Tensor = torch.Tensor
MetricFn = Callable[..., Tensor]

PCK_THRESHOLD_MM = 150.0  # MPI-INF-3DHP protocol (Mehta et al. 2017)
AUC_THRESHOLDS_MM = tuple(5.0 * i for i in range(31))  # 0..150 mm in 31 steps, same protocol
# The 14 joints of the official 3DHP PCK (head, neck, shoulders, elbows, wrists, hips, knees,
# ankles; mpii_get_pck_auc_joint_groups), in this project's H36M-17 order.
MPI_INF_3DHP_PCK_JOINTS = (10, 8, 11, 14, 12, 15, 13, 16, 1, 4, 2, 5, 3, 6)
# The 12 joints that have a left/right partner, in pair order (left of pair, then right).
LR_JOINTS = tuple(j for pair in LEFT_RIGHT_PAIRS for j in pair)
_2D_ERROR_PCT_PER_UNIT = 50.0  # normalised coords span 2 units = 100 % of the crop side

METRIC_KEYS = (
    "mpjpe_mm", "mpjpe_flip_mm", "mpjpe_abs_mm", "mpjpe_abs_flip_mm", "n_mpjpe_mm",
    "n_mpjpe_flip_mm", "p_mpjpe_mm", "p_mpjpe_flip_mm", "pck150_pct", "pck150_flip_pct",
    "auc_pct", "auc_flip_pct", "err2d_pct", "err2d_flip_pct", "ambiguity_ratio_pct",
    "lr_swapped_pct",
)


# ----------------------------------------------------------------------------- validation

def _as_points(name: str, x, spec: str) -> Tensor:
    """``x`` as a float64 tensor of shape ``spec`` (e.g. "(B, J, 3)"); raises ValueError."""
    x = torch.as_tensor(x)
    dims = spec.strip("()").split(", ")
    if x.ndim != len(dims) or any(s == 0 for s in x.shape) or any(
            d.isdigit() and int(d) != s for d, s in zip(dims, x.shape)):
        raise ValueError(f"{name}: expected shape {spec}, got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{name}: {bad} non-finite value(s) in shape {tuple(x.shape)}")
    return x.to(torch.float64)


def _pair(pred, gt, spec: str = "(B, J, 3)", names=("pred", "gt")) -> tuple[Tensor, Tensor]:
    p, g = _as_points(names[0], pred, spec), _as_points(names[1], gt, spec)
    if p.shape != g.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got "
                         f"{tuple(p.shape)} and {tuple(g.shape)}")
    return p, g


def _root_align(x: Tensor) -> Tensor:
    return x - x[..., ROOT:ROOT + 1, :]


def _per_joint_error(p: Tensor, g: Tensor) -> Tensor:
    return torch.linalg.vector_norm(p - g, dim=-1)  # (B, J)


# ----------------------------------------------------------------------------- 3D metrics

def mpjpe(pred, gt) -> Tensor:
    """Root-aligned MPJPE. pred, gt (B, J, 3) mm -> (B,) mm."""
    p, g = _pair(pred, gt)
    return _per_joint_error(_root_align(p), _root_align(g)).mean(-1)


def mpjpe_abs(pred, gt) -> Tensor:
    """MPJPE without any alignment. pred, gt (B, J, 3) mm, same frame -> (B,) mm."""
    p, g = _pair(pred, gt)
    return _per_joint_error(p, g).mean(-1)


def n_mpjpe(pred, gt) -> Tensor:
    """Scale-aligned MPJPE (Rhodin et al. 2018). pred, gt (B, J, 3) mm -> (B,) mm.

    After root alignment, ``pred`` is scaled by s = <p, g> / <p, p> (per sample).
    """
    p, g = _pair(pred, gt)
    p, g = _root_align(p), _root_align(g)
    pp = (p * p).sum(dim=(-1, -2))
    pg = (p * g).sum(dim=(-1, -2))
    # <p,p> = 0 only for an all-zero p, where every s gives the same error: take s = 0.
    s = torch.where(pp > 0, pg / torch.where(pp > 0, pp, torch.ones_like(pp)), torch.zeros_like(pp))
    return _per_joint_error(s[:, None, None] * p, g).mean(-1)


def procrustes_align(pred, gt) -> Tensor:
    """``pred`` (B, J, 3) mapped onto ``gt`` by the optimal similarity transform -> (B, J, 3).

    VideoPose3D's closed form: centre both, normalise to unit Frobenius norm, H = X0ᵀ Y0,
    U S Vᵀ = svd(H), R = V Uᵀ with the last column of V and S negated when det(R) < 0
    (a proper rotation, never a reflection), scale a = tr(S)·|X0| / |Y0|.
    """
    p, g = _pair(pred, gt)
    mu_g, mu_p = g.mean(dim=-2, keepdim=True), p.mean(dim=-2, keepdim=True)
    g0, p0 = g - mu_g, p - mu_p
    norm_g = torch.linalg.vector_norm(g0, dim=(-1, -2), keepdim=True)
    norm_p = torch.linalg.vector_norm(p0, dim=(-1, -2), keepdim=True)
    # A pose collapsed to one point has norm 0; dividing by 1 instead leaves it all zero, so
    # H = 0, tr(S) = 0 and the scale a = 0 (the exact minimiser), never 0/0.
    g0 = g0 / torch.where(norm_g > 0, norm_g, torch.ones_like(norm_g))
    p0 = p0 / torch.where(norm_p > 0, norm_p, torch.ones_like(norm_p))
    U, S, Vt = torch.linalg.svd(g0.transpose(-1, -2) @ p0)
    V = Vt.transpose(-1, -2)
    sign = torch.sign(torch.linalg.det(V @ U.transpose(-1, -2)))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    V = torch.cat([V[..., :-1], V[..., -1:] * sign[:, None, None]], dim=-1)
    S = torch.cat([S[..., :-1], S[..., -1:] * sign[:, None]], dim=-1)
    R = V @ U.transpose(-1, -2)
    a = S.sum(-1)[:, None, None] * norm_g / torch.where(norm_p > 0, norm_p, torch.ones_like(norm_p))
    t = mu_g - a * (mu_p @ R)
    return a * (p @ R) + t


def p_mpjpe(pred, gt) -> Tensor:
    """Procrustes-aligned MPJPE. pred, gt (B, J, 3) mm -> (B,) mm."""
    p, g = _pair(pred, gt)
    return _per_joint_error(procrustes_align(p, g), g).mean(-1)


def _check_joints(joints, num_joints: int) -> list[int]:
    idx = list(range(num_joints)) if joints is None else [int(j) for j in joints]
    if not idx or any(not 0 <= j < num_joints for j in idx):
        raise ValueError(f"joints: expected a non-empty subset of 0..{num_joints - 1}, got {joints}")
    return idx


def pck(pred, gt, threshold_mm: float = PCK_THRESHOLD_MM, *, joints=None) -> Tensor:
    """Root-aligned PCK: % of ``joints`` (default all) with error < ``threshold_mm``. -> (B,) %."""
    p, g = _pair(pred, gt)
    if not threshold_mm >= 0:
        raise ValueError(f"threshold_mm must be >= 0, got {threshold_mm}")
    err = _per_joint_error(_root_align(p), _root_align(g))[:, _check_joints(joints, p.shape[1])]
    return 100.0 * (err < threshold_mm).to(torch.float64).mean(-1)


def auc(pred, gt, *, joints=None) -> Tensor:
    """Mean of :func:`pck` over :data:`AUC_THRESHOLDS_MM` (0..150 mm, 31 steps). -> (B,) %."""
    p, g = _pair(pred, gt)
    err = _per_joint_error(_root_align(p), _root_align(g))[:, _check_joints(joints, p.shape[1])]
    thr = torch.tensor(AUC_THRESHOLDS_MM, dtype=torch.float64)
    return 100.0 * (err[:, :, None] < thr).to(torch.float64).mean(dim=(-1, -2))


def error_2d_pct(pred_2d_norm, gt_2d_norm) -> Tensor:
    """Mean 2D joint error in % of the crop side. (B, J, 2) normalised crop coords -> (B,) %."""
    p, g = _pair(pred_2d_norm, gt_2d_norm, "(B, J, 2)", ("pred_2d_norm", "gt_2d_norm"))
    return _2D_ERROR_PCT_PER_UNIT * _per_joint_error(p, g).mean(-1)


# ----------------------------------------------------------------------------- flip tolerance

def flip_pose(pose) -> Tensor:
    """Left-right relabelled copy: joint i of the result is joint FLIP_PERMUTATION[i].

    pose (..., J, D) with J = 17; positions are unchanged, only labels are swapped.
    """
    x = torch.as_tensor(pose)
    if x.ndim < 2 or x.shape[-2] != NUM_JOINTS:
        raise ValueError(f"pose: expected shape (..., {NUM_JOINTS}, D), got {tuple(x.shape)}")
    return x[..., list(FLIP_PERMUTATION), :]


def flip_tolerant(metric: MetricFn, pred, gt, *, higher_is_better: bool = False, **kwargs) -> Tensor:
    """Per sample, the better of ``metric(pred, gt)`` and ``metric(flip_pose(pred), gt)``. -> (B,)."""
    plain = metric(pred, gt, **kwargs)
    flipped = metric(flip_pose(pred), gt, **kwargs)
    return torch.maximum(plain, flipped) if higher_is_better else torch.minimum(plain, flipped)


def mpjpe_flip(pred, gt) -> Tensor:
    """MPJPE† (B,) mm."""
    return flip_tolerant(mpjpe, pred, gt)


def mpjpe_abs_flip(pred, gt) -> Tensor:
    """MPJPE-abs† (B,) mm."""
    return flip_tolerant(mpjpe_abs, pred, gt)


def n_mpjpe_flip(pred, gt) -> Tensor:
    """N-MPJPE† (B,) mm."""
    return flip_tolerant(n_mpjpe, pred, gt)


def p_mpjpe_flip(pred, gt) -> Tensor:
    """P-MPJPE† (B,) mm."""
    return flip_tolerant(p_mpjpe, pred, gt)


def pck_flip(pred, gt, threshold_mm: float = PCK_THRESHOLD_MM, *, joints=None) -> Tensor:
    """PCK† (B,) %."""
    return flip_tolerant(pck, pred, gt, higher_is_better=True, threshold_mm=threshold_mm, joints=joints)


def auc_flip(pred, gt, *, joints=None) -> Tensor:
    """AUC† (B,) %."""
    return flip_tolerant(auc, pred, gt, higher_is_better=True, joints=joints)


def error_2d_pct_flip(pred_2d_norm, gt_2d_norm) -> Tensor:
    """2D error† (B,) %."""
    return flip_tolerant(error_2d_pct, pred_2d_norm, gt_2d_norm)


def lr_swapped(pred, gt) -> Tensor:
    """(B,) bool: the flipped prediction has a strictly lower root-aligned MPJPE."""
    return mpjpe(flip_pose(pred), gt) < mpjpe(pred, gt)


def average(metric: MetricFn, *args, **kwargs) -> float:
    """Convenience: the mean over samples of a per-sample metric, as a float."""
    return float(metric(*args, **kwargs).mean())


# ----------------------------------------------------------------------------- ambiguity ratio

def lr_swap_counts(pred_views, gt, *, root_align: bool = True) -> Tensor:
    """k: for each sample and left/right joint, how many of the C views swap it. -> (B, 12) int64.

    pred_views (B, C, J, 3): predictions of one moment from C views, all in one frame (world
    mm, or each view's own camera frame when ``gt`` is given per view). gt (B, J, 3) in that
    frame, or (B, C, J, 3) per view. Joint j of view c is *swapped* when its prediction is
    strictly closer to the GT position of its partner j' = FLIP_PERMUTATION[j] than to its
    own: |p_j - g_j'| < |p_j - g_j|. This test is invariant under a rigid map applied to both
    prediction and GT, so world and camera frames give the same k. With ``root_align`` each
    view's prediction is first translated so its pelvis sits on the GT pelvis (the swap is
    then judged independently of root localisation). Columns follow :data:`LR_JOINTS`.
    """
    p = _as_points("pred_views", pred_views, "(B, C, J, 3)")
    g = torch.as_tensor(gt)
    g = _as_points("gt", g, "(B, J, 3)" if g.ndim == 3 else "(B, C, J, 3)")
    if g.ndim == 3:
        g = g[:, None].expand(-1, p.shape[1], -1, -1)
    if g.shape != p.shape or p.shape[2] != NUM_JOINTS:
        raise ValueError(f"pred_views {tuple(p.shape)} and gt {tuple(torch.as_tensor(gt).shape)} "
                         f"must be (B, C, {NUM_JOINTS}, 3) and (B, [C,] {NUM_JOINTS}, 3) alike")
    if root_align:
        p = p - p[..., ROOT:ROOT + 1, :] + g[..., ROOT:ROOT + 1, :]
    own = list(LR_JOINTS)
    partner = [FLIP_PERMUTATION[j] for j in own]
    d_own = torch.linalg.vector_norm(p[..., own, :] - g[..., own, :], dim=-1)
    d_partner = torch.linalg.vector_norm(p[..., own, :] - g[..., partner, :], dim=-1)
    return (d_partner < d_own).sum(dim=1)


def ambiguity_ratio(pred_views, gt, *, root_align: bool = True) -> Tensor:
    """Ambiguity Ratio per sample, (B,) %: mean over the 12 left/right joints of min(k, C−k)/C.

    k from :func:`lr_swap_counts`. 0 % when all views agree (all swap or none does), the
    maximum 50 % (C even) when the views split evenly. AR = the mean of this over samples.
    """
    k = lr_swap_counts(pred_views, gt, root_align=root_align)
    c = torch.as_tensor(pred_views).shape[1]
    return 100.0 * (torch.minimum(k, c - k).to(torch.float64) / c).mean(-1)


# ----------------------------------------------------------------------------- report dict

_3D_METRICS: tuple[tuple[str, MetricFn, bool], ...] = (
    ("mpjpe_mm", mpjpe, False), ("mpjpe_abs_mm", mpjpe_abs, False),
    ("n_mpjpe_mm", n_mpjpe, False), ("p_mpjpe_mm", p_mpjpe, False),
    ("pck150_pct", pck, True), ("auc_pct", auc, True),
)


def _flip_key(key: str) -> str:
    stem, unit = key.rsplit("_", 1)
    return f"{stem}_flip_{unit}"


def _ambiguity(pred_cam, gt_cam, views, pred_world_mm, gt_world_mm) -> float | None:
    if views is not None and pred_world_mm is not None:
        raise ValueError("give either views (camera-frame grouping) or pred_world_mm, not both")
    if (pred_world_mm is None) != (gt_world_mm is None):
        raise ValueError("pred_world_mm and gt_world_mm must be given together")
    if pred_world_mm is not None:
        return average(ambiguity_ratio, _as_points("pred_world_mm", pred_world_mm, "(M, C, J, 3)"),
                       _as_points("gt_world_mm", gt_world_mm, "(M, J, 3)"))
    if views is None:
        return None
    n = pred_cam.shape[0]
    if int(views) < 1 or n % int(views):
        raise ValueError(f"views: must be >= 1 and divide the {n} samples of pred_cam_mm, got {views}")
    shape = (n // int(views), int(views)) + tuple(pred_cam.shape[1:])
    return average(ambiguity_ratio, pred_cam.reshape(shape), gt_cam.reshape(shape))


def compute_metrics(pred_cam_mm, gt_cam_mm, pred_2d_norm=None, gt_2d_norm=None, views=None, *,
                    pred_world_mm=None, gt_world_mm=None) -> dict[str, float]:
    """All metrics as the flat dict logged to MLflow and gathered into reports.

    pred_cam_mm, gt_cam_mm  (N, 17, 3) camera frame, mm (one monocular prediction per sample)
    pred_2d_norm, gt_2d_norm  optional (N, 17, 2) normalised crop coords -> ``err2d_pct``, ``err2d_flip_pct``
    views                   optional int C: the N samples are M = N / C moments ordered
                            moment-major (sample m·C + c is moment m from view c); AR is then
                            computed from the camera-frame predictions (see :func:`lr_swap_counts`)
    pred_world_mm, gt_world_mm  optional (M, C, 17, 3) and (M, 17, 3) world mm: AR from these
                            instead (exclusive with ``views``)

    Keys (a subset of :data:`METRIC_KEYS`; the 2D and AR keys only when their inputs are
    given): each 3D metric and its † version, ``lr_swapped_pct`` (% of samples whose
    flipped prediction has a strictly lower root-aligned MPJPE) and ``ambiguity_ratio_pct``.
    Values are means over samples; PCK/AUC count all 17 joints.
    """
    pred, gt = _pair(pred_cam_mm, gt_cam_mm, f"(N, {NUM_JOINTS}, 3)", ("pred_cam_mm", "gt_cam_mm"))
    pred, gt = pred.detach(), gt.detach()
    out: dict[str, float] = {}
    for key, fn, higher in _3D_METRICS:
        out[key] = average(fn, pred, gt)
        out[_flip_key(key)] = average(flip_tolerant, fn, pred, gt, higher_is_better=higher)
    if (pred_2d_norm is None) != (gt_2d_norm is None):
        raise ValueError("pred_2d_norm and gt_2d_norm must be given together")
    if pred_2d_norm is not None:
        p2, g2 = _pair(pred_2d_norm, gt_2d_norm, f"(N, {NUM_JOINTS}, 2)", ("pred_2d_norm", "gt_2d_norm"))
        if p2.shape[0] != pred.shape[0]:
            raise ValueError(f"pred_2d_norm: expected {pred.shape[0]} samples like pred_cam_mm, "
                             f"got shape {tuple(p2.shape)}")
        out["err2d_pct"] = average(error_2d_pct, p2, g2)
        out["err2d_flip_pct"] = average(error_2d_pct_flip, p2, g2)
    out["lr_swapped_pct"] = 100.0 * average(lambda p, g: lr_swapped(p, g).to(torch.float64), pred, gt)
    ar = _ambiguity(pred, gt, views, pred_world_mm, gt_world_mm)
    if ar is not None:
        out["ambiguity_ratio_pct"] = ar
    return out


# ----------------------------------------------------------------------------- mean-pose baseline

def mean_pose_baseline(train_gt_cam_mm) -> Tensor:
    """The training set's mean root-relative pose in the camera frame. (N, J, 3) mm -> (J, 3) mm."""
    gt = _as_points("train_gt_cam_mm", train_gt_cam_mm, "(N, J, 3)")
    return _root_align(gt).mean(dim=0)


def mean_pose_predictions(mean_pose_mm, gt_cam_mm) -> Tensor:
    """The mean pose placed at each sample's GT root. (J, 3), (N, J, 3) mm -> (N, J, 3) mm."""
    m = _as_points("mean_pose_mm", mean_pose_mm, "(J, 3)")
    gt = _as_points("gt_cam_mm", gt_cam_mm, "(N, J, 3)")
    if m.shape[0] != gt.shape[1]:
        raise ValueError(f"mean_pose_mm has {m.shape[0]} joints, gt_cam_mm shape {tuple(gt.shape)}")
    return m[None] - m[None, ROOT:ROOT + 1] + gt[:, ROOT:ROOT + 1]


def evaluate_mean_pose(mean_pose_mm, gt_cam_mm, **kwargs) -> dict[str, float]:
    """:func:`compute_metrics` of the mean-pose predictor (placed at the GT root, so
    ``mpjpe_abs_mm`` equals ``mpjpe_mm``). ``kwargs`` go to :func:`compute_metrics`."""
    return compute_metrics(mean_pose_predictions(mean_pose_mm, gt_cam_mm), gt_cam_mm, **kwargs)
