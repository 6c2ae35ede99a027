"""Evaluation: monocular predictions per view, every metric from ``maskpose_core.metrics``.

Each view's image is one monocular prediction, lifted with the data set's root (authors'
code); AR groups the C predictions of one moment in world space. Label-free validation
numbers (``mask_iou``, ``loss_skeleton``) need no 3D labels: Tune's default objective.
"""
from __future__ import annotations

import numpy as np
import torch

from maskpose_core import metrics as M
from maskpose_core.geometry import camera_to_world, pixels_to_normalized, project_to_pixels_soft, world_to_camera
from maskpose_core.loss.mask_loss import downsample
from maskpose_core.metrics_oracle import oracle_metrics
from maskpose_core.skeleton import NUM_JOINTS

EVAL_BATCH = 64  # moments per forward pass


def _loader(split, max_samples: int, batch: int = EVAL_BATCH):
    n = len(split) if max_samples <= 0 else min(max_samples, len(split))
    # evenly spread, deterministic subset (the val split is ordered by subject/sequence)
    idx = np.unique(np.linspace(0, len(split) - 1, n).round().astype(int)).tolist()
    return torch.utils.data.DataLoader(torch.utils.data.Subset(split, idx), batch_size=batch, shuffle=False)


@torch.no_grad()
def predict_split(net, split, *, max_samples: int = 0, sigma2: float | None = None) -> dict[str, torch.Tensor]:
    """Run φ on every view of (a subset of) a split.

    Returns joints_cam_mm (N, C, L, 3), xy_norm (N, C, L, 2), (K > 1) hypotheses_cam_mm
    (N, C, K, L, 3), gt_cam_mm (N, C, J, 3),
    gt_2d_norm (N, C, J, 2), gt_world_mm (N, J, 3), R/t_mm, mask_iou (N, C), plus a few
    own-view renders for figures.
    """
    was_training = net.training
    net.eval()
    out: dict[str, list] = {}
    sigma2 = net.loss_cfg.sigma2 if sigma2 is None else sigma2
    for batch in _loader(split, max_samples):
        b, c = batch["image"].shape[:2]
        root_cam = world_to_camera(batch["root_world_mm"][:, None, None, :].expand(-1, c, 1, 3),
                                   batch["R"], batch["t_mm"]).squeeze(-2)
        pred = net.predict(batch["image"].flatten(0, 1), batch["K"].flatten(0, 1), root_cam.flatten(0, 1),
                           batch["mask"].flatten(0, 1))
        joints = pred["joints_cam_mm"].view(b, c, -1, 3)
        xy = pred["xy_norm"].view(b, c, -1, 2)
        m_skel = net.renderer(xy.flatten(0, 1), sigma2).view(b, c, net.renderer.size, -1)
        # ψ is the shape when it was trained; the supervised reference never trains it
        trained_psi = net.loss_cfg.mode != "supervised_reference" or net.loss_cfg.physique_supervised
        psi = net.physique if trained_psi else None
        shape = psi(m_skel.flatten(0, 1)).view_as(m_skel) if psi is not None else m_skel
        target = downsample(batch["mask"], net.renderer.size)
        inter = ((shape > 0.5) & (target > 0.5)).sum((-1, -2)).float()
        union = ((shape > 0.5) | (target > 0.5)).sum((-1, -2)).float().clamp_min(1)
        geo = downsample(batch["geodesic"], net.renderer.size) if net.loss_cfg.geodesic else 1.0
        parts = {"joints_cam_mm": joints, "xy_norm": xy, "gt_cam_mm": batch["joints_cam_mm"],
                 "gt_2d_norm": batch["joints_2d_norm"], "gt_world_mm": batch["joints_world_mm"],
                 "R": batch["R"], "t_mm": batch["t_mm"], "mask_iou": inter / union,
                 "loss_skeleton": (geo * (target - m_skel) ** 2).mean((-1, -2))}
        if "hypotheses_cam_mm" in pred:        # K > 1: (B, C, K, L, 3), for the oracle protocol only
            parts["hypotheses_cam_mm"] = pred["hypotheses_cam_mm"].view(b, c, *pred["hypotheses_cam_mm"].shape[1:])
        for k, v in parts.items():
            out.setdefault(k, []).append(v)
    net.train(was_training)
    return {k: torch.cat(v) for k, v in out.items()}


def metrics_from_predictions(pred: dict[str, torch.Tensor], *, has_labels: bool,
                             oracle: bool = True) -> dict[str, float]:
    """Flat metric dict (keys of ``metrics.compute_metrics`` plus the label-free ones, plus with
    ``oracle`` the authors' ORACLE-ASSISTED protocol under its own ``oracle_…`` keys)."""
    out = {"mask_iou": float(pred["mask_iou"].mean()), "loss_skeleton": float(pred["loss_skeleton"].mean())}
    if not has_labels:
        return out
    joints = pred["joints_cam_mm"][:, :, :NUM_JOINTS]
    n, c = joints.shape[:2]
    world = camera_to_world(joints, pred["R"], pred["t_mm"])
    out.update(M.compute_metrics(joints.reshape(n * c, NUM_JOINTS, 3), pred["gt_cam_mm"].reshape(n * c, -1, 3),
                                 pred["xy_norm"][:, :, :NUM_JOINTS].reshape(n * c, -1, 2),
                                 pred["gt_2d_norm"].reshape(n * c, -1, 2),
                                 pred_world_mm=world, gt_world_mm=pred["gt_world_mm"]))
    if oracle:
        hyp = pred.get("hypotheses_cam_mm")
        if hyp is not None:
            hyp = hyp[..., :NUM_JOINTS, :].reshape(n * c, hyp.shape[2], NUM_JOINTS, 3)
        out.update(oracle_metrics(joints.reshape(n * c, NUM_JOINTS, 3), pred["gt_cam_mm"].reshape(n * c, -1, 3),
                                  pred["xy_norm"][:, :, :NUM_JOINTS].reshape(n * c, -1, 2),
                                  pred["gt_2d_norm"].reshape(n * c, -1, 2), hypotheses_3d=hyp))
    return out


def evaluate(net, split, *, max_samples: int = 0, oracle: bool | None = None) -> dict[str, float]:
    """Metrics of ``net`` on (a subset of) a split: see :func:`metrics_from_predictions`.
    ``oracle``: the oracle-assisted group too (None = where the split has labels; True on a
    split without labels is refused)."""
    if oracle and not split.has_labels:
        raise ValueError(f"the oracle-assisted protocol needs ground-truth joints; split {split.split!r} of "
                         f"{split.folder} has none")
    return metrics_from_predictions(predict_split(net, split, max_samples=max_samples),
                                    has_labels=split.has_labels, oracle=split.has_labels if oracle is None else oracle)


def mean_pose_metrics(train_split, val_split, *, max_samples: int = 0) -> dict[str, float]:
    """The mean-pose baseline: the training mean root-relative camera pose at the GT root."""
    gt_train = torch.from_numpy(np.array(train_split.arrays["joints_cam_mm"])).flatten(0, 1)
    mean_pose = M.mean_pose_baseline(gt_train)
    idx = _loader(val_split, max_samples).dataset.indices
    gt = torch.from_numpy(np.array(val_split.arrays["joints_cam_mm"])[idx])          # (N, C, J, 3)
    n, c = gt.shape[:2]
    pred = M.mean_pose_predictions(mean_pose, gt.flatten(0, 1)).float()
    K = torch.from_numpy(np.array(val_split.arrays["K"])[idx]).flatten(0, 1)
    pred_2d = pixels_to_normalized(project_to_pixels_soft(pred, K), val_split.image_size)
    gt_2d = torch.from_numpy(np.array(val_split.arrays["joints_2d_norm"])[idx]).flatten(0, 1)
    R = torch.from_numpy(np.array(val_split.arrays["R"])[idx])
    t = torch.from_numpy(np.array(val_split.arrays["t_mm"])[idx])
    world = camera_to_world(pred.view(n, c, -1, 3), R, t)
    gt_world = torch.from_numpy(np.array(val_split.arrays["joints_world_mm"])[idx])
    return M.compute_metrics(pred, gt.flatten(0, 1), pred_2d, gt_2d, pred_world_mm=world, gt_world_mm=gt_world)
