"""SPP stage (docs/method.md §1): after unsupervised training, map the L landmarks to the J
joints with θ fitted on ``train.spp_labelled`` labelled training moments (all views).

Reported in its own group (``val_spp/…``, and ``test_spp/…`` where the data has a test split)
with the labelled-set size, never mixed with the label-free numbers. θ is fitted on training
moments only; val and test are only predicted.
"""
from __future__ import annotations

import torch

from maskpose_core.config import ExperimentConfig
from maskpose_core.data.packed import DataBundle
from maskpose_core.model.spp import SPPMapping, fit_spp_mapping
from maskpose_core.skeleton import NUM_JOINTS
from maskpose_core.train.evaluate import metrics_from_predictions, predict_split

SPP_LR = 1e-3
SPP_BATCH = 256


def _landmarks_and_targets(net, split, n: int):
    pred = predict_split(net, split, max_samples=n)
    lm = pred["joints_cam_mm"].flatten(0, 1)                    # (N·C, L, 3)
    return pred, lm, pred["gt_cam_mm"].flatten(0, 1)


def apply_mapping(mapping: SPPMapping, pred: dict) -> dict:
    """Replace the predicted joints by θ(landmarks), placed at the predicted root."""
    n, c, l, _ = pred["joints_cam_mm"].shape
    lm = pred["joints_cam_mm"].flatten(0, 1)
    with torch.no_grad():
        joints = mapping(lm) + lm[:, :1]
    out = dict(pred)
    out["joints_cam_mm"] = joints.view(n, c, NUM_JOINTS, 3)
    out["xy_norm"] = pred["xy_norm"][:, :, :NUM_JOINTS]  # 2D error stays that of the joints' landmarks
    return out


def fit_spp_stage(net, cfg: ExperimentConfig, data: DataBundle) -> tuple[SPPMapping, dict[str, float]]:
    if not data.train.has_labels:
        raise ValueError(f"train.spp_labelled > 0 needs a labelled training split; {data.name} has none")
    _, lm, gt = _landmarks_and_targets(net, data.train, cfg.train.spp_labelled)
    mapping = fit_spp_mapping(lm, gt, epochs=cfg.train.spp_epochs, lr=SPP_LR, seed=cfg.seed, batch_size=SPP_BATCH)
    out: dict[str, float] = {}
    for name, split in (("val", data.val), ("test", data.test)):
        if split is None:
            continue
        metrics = metrics_from_predictions(apply_mapping(mapping, predict_split(net, split)), has_labels=True)
        out.update({f"{name}_spp/{k}": v for k, v in metrics.items()})
    out["val_spp/labelled_moments"] = float(min(cfg.train.spp_labelled, len(data.train)))
    out["val_spp/fit_loss_final"] = mapping.loss_curve[-1]
    return mapping, out
