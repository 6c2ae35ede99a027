"""Reference poses for the detector's optional init prior (``model.init_prior``).

* ``mean_pose`` (Table 1's "UP", unpaired pose prior): the mean training pose in
  normalised crop coordinates — uses 3D labels' mean only, never per-sample labels.
* ``template`` (Table 1's "T"): a hand-made standing pose (``skeleton.TEMPLATE_MM``), no data at all.
* ``none``: no prior (the paper's setting).
Landmarks beyond the J joints (SPP) start evenly spaced along their bone.
"""
from __future__ import annotations

import numpy as np
import torch

from maskpose_core.config import ExperimentConfig
from maskpose_core.data.packed import DataBundle
from maskpose_core.skeleton import NUM_JOINTS, TEMPLATE_MM, TREE_BONES



def norm_per_mm(data: DataBundle) -> float:
    """Normalised crop units per mm at the root depth, averaged over the training split."""
    a = data.train.arrays
    K = np.asarray(a["K"][:256], dtype=np.float64)
    R, t = np.asarray(a["R"][:256], dtype=np.float64), np.asarray(a["t_mm"][:256], dtype=np.float64)
    root = np.asarray(a["root_world_mm"][:256], dtype=np.float64)
    depth = np.einsum("ncij,nj->nci", R, root)[..., 2] + t[..., 2]
    return float(np.mean(K[..., 0, 0] / depth * 2.0 / data.train.image_size))


def reference_pose_norm(cfg: ExperimentConfig, data: DataBundle) -> torch.Tensor:
    """(J, 3) reference pose in (x_norm, y_norm, z_norm) for the configured prior."""
    if cfg.model.init_prior == "mean_pose":
        a = data.train.arrays
        xy = np.asarray(a["joints_2d_norm"], dtype=np.float64).mean(axis=(0, 1))
        cam = np.asarray(a["joints_cam_mm"], dtype=np.float64)
        z = (cam[..., 2] - cam[..., :1, 2]).mean(axis=(0, 1)) / cfg.model.depth_range_mm
        return torch.from_numpy(np.concatenate([xy, z[:, None]], axis=1)).float()
    s = norm_per_mm(data)
    pose = TEMPLATE_MM.astype(np.float64)
    return torch.tensor(np.stack([pose[:, 0] * s, pose[:, 1] * s, pose[:, 2] / cfg.model.depth_range_mm], 1)).float()


def with_landmarks(joints: torch.Tensor, num_landmarks: int) -> torch.Tensor:
    """(J, 3) -> (L, 3): extra landmarks evenly spaced along their tree bone."""
    m = (num_landmarks - NUM_JOINTS) // len(TREE_BONES)
    extra = [joints[a] + (k + 1) / (m + 1) * (joints[b] - joints[a]) for a, b in TREE_BONES for k in range(m)]
    return torch.cat([joints, torch.stack(extra)]) if extra else joints


def apply_init_prior(net, cfg: ExperimentConfig, data: DataBundle) -> None:
    if cfg.model.init_prior == "none":
        return
    ref = with_landmarks(reference_pose_norm(cfg, data), cfg.model.num_landmarks)
    tau = cfg.model.prior_tau_mm * norm_per_mm(data)
    net.detector.set_prior(ref, tau)
