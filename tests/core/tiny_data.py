"""A tiny packed data set for core tests, independent of the cmu-mv4 renderer.

Real CMU poses, 4 look-at cameras around the subject, masks drawn as thick bones (a
cheap stand-in for a body), G from the real geodesic code. Seconds to build.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from maskpose_core.data.geodesic import geodesic_weights
from maskpose_core.data.packed import DataBundle, PackedSplit, write_packed
from maskpose_core.geometry import look_at, pixels_to_normalized, project_to_pixels, world_to_camera
from maskpose_core.render.skeleton_mask import render_segments
from maskpose_core.skeleton import landmark_segments

ASSET = Path(__file__).resolve().parents[2] / "maskpose_core" / "assets" / "cmu_h36m17_dev.npz"
CROP_SIDE_MM = 2200.0


def _cameras(root: np.ndarray, yaw: float, n_views: int = 4):
    Rs, ts = [], []
    for c in range(n_views):
        a = yaw + 2 * math.pi * c / n_views
        pos = torch.tensor([root[0] + 5000 * math.cos(a), 1500.0, root[2] + 5000 * math.sin(a)], dtype=torch.float64)
        R, t = look_at(pos, torch.tensor(root, dtype=torch.float64))
        Rs.append(R), ts.append(t)
    return Rs, ts


def _split(poses: np.ndarray, subjects: np.ndarray, size: int, rng: np.random.Generator) -> dict:
    n, c = len(poses), 4
    out = {k: [] for k in ("K", "R", "t_mm", "joints_cam_mm", "joints_2d_norm")}
    for i in range(n):
        root = poses[i, 0].astype(np.float64)
        Rs, ts = _cameras(root, rng.uniform(0, 2 * math.pi))
        for R, t in zip(Rs, ts):
            cam = world_to_camera(torch.tensor(poses[i], dtype=torch.float64), R, t)
            rc = world_to_camera(torch.tensor(root)[None], R, t)[0]
            f = size / 2 * float(rc[2]) / (CROP_SIDE_MM / 2)          # crop side at the root depth
            u0 = size / 2 - 0.5 - f * float(rc[0] / rc[2])
            v0 = size / 2 - 0.5 - f * float(rc[1] / rc[2])
            K = torch.tensor([[f, 0, u0], [0, f, v0], [0, 0, 1]], dtype=torch.float64)
            out["K"].append(K), out["R"].append(R), out["t_mm"].append(t), out["joints_cam_mm"].append(cam)
            out["joints_2d_norm"].append(pixels_to_normalized(project_to_pixels(cam, K), size))
    arr = {k: torch.stack(v).view(n, c, *v[0].shape).float().numpy() for k, v in out.items()}
    segs = torch.tensor(landmark_segments(17, delta=True))
    sig = torch.full((len(segs),), 8e-3)
    body = render_segments(torch.from_numpy(arr["joints_2d_norm"]).flatten(0, 1), segs, sig, size)
    masks = (body > 0.5).view(n, c, size, size).numpy().astype(np.uint8)
    shade = rng.uniform(0.1, 0.5, size=(n, c, size, size, 3))
    images = np.where(masks[..., None] > 0, 0.8, shade) * 255
    arr.update(images=images.astype(np.uint8), masks=masks, geodesic=geodesic_weights(masks),
               root_world_mm=poses[:, 0].astype(np.float32), joints_world_mm=poses.astype(np.float32),
               subject=subjects)
    return arr


def build_tiny(folder: Path, *, size: int = 32, n_train: int = 48, n_val: int = 16, seed: int = 0) -> DataBundle:
    d = np.load(ASSET)
    subj = d["subject"]
    rng = np.random.default_rng(seed)
    tr = rng.choice(np.flatnonzero(~np.isin(subj, ["cmu85", "cmu14", "cmu07"])), n_train, replace=False)
    va = rng.choice(np.flatnonzero(np.isin(subj, ["cmu85", "cmu14", "cmu07"])), n_val, replace=False)
    splits = {"train": _split(d["poses"][tr], subj[tr], size, rng), "val": _split(d["poses"][va], subj[va], size, rng)}
    folder = write_packed(folder, {"name": "tiny", "hash": "tiny", "num_views": 4, "image_size": size,
                                   "has_labels": True, "has_cameras": True}, splits)
    return DataBundle(train=PackedSplit(folder, "train").load_in_memory(),
                      val=PackedSplit(folder, "val").load_in_memory(), name="tiny", folder=folder)
