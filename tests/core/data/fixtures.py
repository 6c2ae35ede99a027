"""Tiny real-format data sets written into a test's tmp_path (Human3.6M, MPI-INF-3DHP, wild).

Each writer lays files out exactly as the loaders' docstrings say the real data sets do:
JPEG frames, PNG/JPEG masks (a person drawn as thick bones and a head disc), camera files
and annotations with the real keys and joint counts. The 32/28-joint annotations give
every joint a distinct position: the 17 used ones come from ``BASE_POSE`` by name, the
others are parked 3-20 cm away from the pelvis, so a wrong index mapping is visible.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import scipy.io
import torch
from PIL import Image, ImageDraw

from maskpose_core.geometry import look_at
from maskpose_core.skeleton import JOINT_NAMES, TREE_BONES

IMAGE_PX = 96        # square test frames (the real ones are ~1000 / 2048 px; size does not matter)
FOCAL_PX = 150.0
# A standing person, world mm, +Y up, in skeleton.JOINT_NAMES terms (left = +x).
BASE_POSE = {
    "pelvis": (0, 950, 0), "r_hip": (-120, 950, 0), "r_knee": (-130, 500, 30), "r_ankle": (-140, 80, 0),
    "l_hip": (120, 950, 0), "l_knee": (130, 500, 30), "l_ankle": (140, 80, 0), "spine": (0, 1200, 0),
    "thorax": (0, 1450, 0), "nose": (0, 1580, 60), "head_top": (0, 1750, 0), "l_shoulder": (180, 1420, 0),
    "l_elbow": (330, 1200, 0), "l_wrist": (420, 980, 50), "r_shoulder": (-180, 1420, 0),
    "r_elbow": (-330, 1200, 0), "r_wrist": (-420, 980, 50),
}
# Human3.6M 32-joint file indices of the 17 names (the standard layout, by name)
H36M32_INDEX = {"pelvis": 0, "r_hip": 1, "r_knee": 2, "r_ankle": 3, "l_hip": 6, "l_knee": 7, "l_ankle": 8,
                "spine": 12, "thorax": 13, "nose": 14, "head_top": 15, "l_shoulder": 17, "l_elbow": 18,
                "l_wrist": 19, "r_shoulder": 25, "r_elbow": 26, "r_wrist": 27}
# MPI-INF-3DHP joint names (mpii_get_joint_set 'all' / 'relevant') and their H36M-17 names
MPI28_NAMES = ("spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top", "left_clavicle",
               "left_shoulder", "left_elbow", "left_wrist", "left_hand", "right_clavicle", "right_shoulder",
               "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee", "left_ankle", "left_foot",
               "left_toe", "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe")
MPI17_NAMES = ("head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
               "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
               "pelvis", "spine", "head")
MPI_TO_H36M_NAME = {"pelvis": "pelvis", "right_hip": "r_hip", "right_knee": "r_knee", "right_ankle": "r_ankle",
                    "left_hip": "l_hip", "left_knee": "l_knee", "left_ankle": "l_ankle", "spine": "spine",
                    "neck": "thorax", "head": "nose", "head_top": "head_top", "left_shoulder": "l_shoulder",
                    "left_elbow": "l_elbow", "left_wrist": "l_wrist", "right_shoulder": "r_shoulder",
                    "right_elbow": "r_elbow", "right_wrist": "r_wrist"}
Z_UP_FROM_Y_UP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # H36M (Z up) <- project (Y up)


def pose17(frame: int) -> np.ndarray:
    """(17, 3) world mm (Y up) in the H36M-17 order; shifted by frame % 7 (40 mm steps in x)."""
    return np.array([BASE_POSE[n] for n in JOINT_NAMES], float) + np.array([40.0 * (frame % 7), 0, 10.0 * (frame % 5)])


def scatter(pose: np.ndarray, index_of: dict[str, int], num: int) -> np.ndarray:
    """17 named joints into a (num, 3) file pose; unnamed slots at distinct spots near the pelvis."""
    out = np.array([pose[0] + np.array([30.0 + 7 * i, 20.0 * (i % 3), 150.0 - 5 * i]) for i in range(num)])
    for name, i in index_of.items():
        out[i] = pose[JOINT_NAMES.index(name)]
    return out


def ring_cameras(n: int, radius_mm: float = 4500.0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """n cameras on a circle looking at the person: (K, R, t) world (Y up) -> camera."""
    K = np.array([[FOCAL_PX, 0, IMAGE_PX / 2], [0, FOCAL_PX, IMAGE_PX / 2], [0, 0, 1]])
    out = []
    for c in range(n):
        a = 2 * math.pi * c / n + 0.3
        pos = torch.tensor([radius_mm * math.cos(a), 1300.0 + 50 * c, radius_mm * math.sin(a)], dtype=torch.float64)
        R, t = look_at(pos, torch.tensor([0.0, 950.0, 0.0], dtype=torch.float64))
        out.append((K, R.numpy(), t.numpy()))
    return out


def project(K, R, t, pts):
    cam = pts @ R.T + t
    uv = cam @ K.T
    return uv[:, :2] / uv[:, 2:3], cam


def draw(image_path: Path, mask_path: Path, uv: np.ndarray, *, size=(IMAGE_PX, IMAGE_PX)) -> None:
    """A person as thick bones + head disc: JPEG image and (by suffix) PNG or JPEG mask."""
    mask = Image.new("L", size, 0)
    d = ImageDraw.Draw(mask)
    for p, c in TREE_BONES:
        d.line([tuple(uv[p]), tuple(uv[c])], fill=255, width=5)
    for x, y in uv:                                     # round joints, so every joint is inside
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=255)
    hx, hy = uv[JOINT_NAMES.index("head_top")]
    d.ellipse([hx - 4, hy - 4, hx + 4, hy + 4], fill=255)
    img = Image.new("RGB", size, (40, 80, 120))
    img.paste((210, 160, 110), mask=mask)
    image_path.parent.mkdir(parents=True, exist_ok=True)
    mask_path.parent.mkdir(parents=True, exist_ok=True)
    img.save(image_path, quality=95)
    mask.save(mask_path, **({"quality": 95} if mask_path.suffix == ".jpg" else {}))


def write_h36m(root: Path, *, subjects=("S1", "S9"), annot: str = "npz", cameras_file: str = "json") -> Path:
    """h36m-fetch ``processed/`` with one action, 4 cameras, 3 frames per subject; returns it."""
    from maskpose_core.data.h36m import H36M_CAMERA_IDS
    processed = root / "processed"
    cams = ring_cameras(4)
    frames = {"S9": [1, 65, 129], "S11": [1, 65, 129]}
    for s in subjects:
        seq = processed / s / "Directions-1"
        fr = frames.get(s, [1, 6, 11])
        pose3d, cam_col, frame_col = [], [], []
        for cid, (K, R, t) in zip(H36M_CAMERA_IDS, cams):
            for f in fr:
                world17 = pose17(f)
                uv, _ = project(K, R, t, world17)
                draw(seq / "imageSequence" / cid / f"img_{f:06d}.jpg", seq / "masks" / cid / f"img_{f:06d}.png", uv)
                world32_z_up = scatter(world17, H36M32_INDEX, 32) @ Z_UP_FROM_Y_UP.T
                R_h = R @ Z_UP_FROM_Y_UP.T          # camera from H36M world
                pose3d.append(world32_z_up @ R_h.T + t)
                cam_col.append(int(cid))
                frame_col.append(f)
        data = {"pose/3d": np.stack(pose3d), "camera": np.array(cam_col), "frame": np.array(frame_col)}
        if annot == "h5":
            import h5py
            with h5py.File(seq / "annot.h5", "w") as fh:
                for k, v in data.items():
                    fh.create_dataset(k, data=v)
        else:
            np.savez(seq / "annot.npz", **data)
    _write_h36m_cameras(root, cams, cameras_file)
    return processed


def _write_h36m_cameras(root: Path, cams, kind: str) -> None:
    from maskpose_core.data.h36m import H36M_CAMERA_IDS
    ext_h = [(R @ Z_UP_FROM_Y_UP.T, t) for _, R, t in cams]
    if kind == "json":   # karfly/human36m-camera-parameters layout, json next to processed/
        data = {"intrinsics": {cid: {"calibration_matrix": K.tolist(), "distortion": [0.0] * 5}
                               for cid, (K, _, _) in zip(H36M_CAMERA_IDS, cams)},
                "extrinsics": {f"S{s}": {cid: {"R": R.tolist(), "t": t.reshape(3, 1).tolist()}
                                         for cid, (R, t) in zip(H36M_CAMERA_IDS, ext_h)} for s in range(1, 12)}}
        (root / "camera-parameters.json").write_text(json.dumps(data))
        return
    # metadata.xml: <w0> = per camera c, subject s: angles (Rx Ry Rz) + centre; then 9 intrinsics per camera
    w0 = np.zeros(264 + 36)
    for c, (R, t) in enumerate(ext_h):
        b = math.asin(R[0, 2])
        a, g = math.atan2(-R[1, 2], R[2, 2]), math.atan2(-R[0, 1], R[0, 0])
        for s in range(11):
            w0[6 * (c * 11 + s):][:6] = [a, b, g, *(-R.T @ t)]
        K = cams[c][0]
        w0[264 + 9 * c:][:4] = [K[0, 0], K[1, 1], K[0, 2], K[1, 2]]
    xml = f"<h36m><mapping/><w0>[{' '.join(f'{v:.12g}' for v in w0)}]</w0></h36m>"
    (root / "metadata.xml").write_text(xml)


def write_3dhp(root: Path, *, subjects=("S1", "S7"), frames=(1, 11, 21), num_rows=25,
               test_set: bool = False) -> Path:
    """Official-layout MPI-INF-3DHP: 14 cameras calibrated, the 5 used ones with extracted
    frames and JPEG FG masks; optionally the test set (TS1, v7.3 .mat written with h5py)."""
    cams = ring_cameras(14, radius_mm=4000.0)
    idx28 = {n: MPI28_NAMES.index(n) for n in MPI_TO_H36M_NAME}
    idx28 = {MPI_TO_H36M_NAME[n]: i for n, i in idx28.items()}
    for s in subjects:
        seq = root / s / "Seq1"
        seq.mkdir(parents=True)
        lines = ["Skeletool Camera Calibration File V1.0"]
        for c, (K, R, t) in enumerate(cams):
            K4, E = np.eye(4), np.eye(4)
            K4[:3, :3], E[:3, :3], E[:3, 3] = K, R, t
            lines += [f"name          {c}", "  sensor      10 10", f"  size        {IMAGE_PX} {IMAGE_PX}",
                      "  animated    0", "  intrinsic   " + " ".join(f"{v:.10g}" for v in K4.ravel()),
                      "  extrinsic   " + " ".join(f"{v:.10g}" for v in E.ravel()), "  radial      0"]
        (seq / "camera.calibration").write_text("\n".join(lines) + "\n")
        annot3 = np.empty((14, 1), dtype=object)
        annot2 = np.empty((14, 1), dtype=object)
        for c, (K, R, t) in enumerate(cams):
            rows3, rows2 = [], []
            for j in range(num_rows):
                uv, cam = project(K, R, t, scatter(pose17(j + 1), idx28, 28))
                rows3.append(cam.ravel()), rows2.append(uv.ravel())
            annot3[c, 0], annot2[c, 0] = np.array(rows3), np.array(rows2)
            if c in (0, 2, 4, 7, 8):
                for f in frames:
                    uv, _ = project(K, R, t, pose17(f))
                    draw(seq / "imageSequence" / f"video_{c}" / f"frame_{f:06d}.jpg",
                         seq / "FGmasks" / f"video_{c}" / f"frame_{f:06d}.jpg", uv)
        scipy.io.savemat(seq / "annot.mat", {"annot3": annot3, "annot2": annot2, "univ_annot3": annot3,
                                              "cameras": np.arange(14)[None], "frames": np.arange(num_rows)[:, None]})
    if test_set:
        _write_3dhp_test(root / "mpi_inf_3dhp_test_set" / "TS1")
    return root


def _write_3dhp_test(ts: Path, valid=(1, 0, 1, 1)) -> None:
    import h5py
    K, R, t = ring_cameras(1)[0]
    idx17 = {MPI_TO_H36M_NAME[n]: i for i, n in enumerate(MPI17_NAMES)}
    a2, a3 = [], []
    for f in range(1, len(valid) + 1):
        uv, cam = project(K, R, t, scatter(pose17(f), idx17, 17))
        a2.append(uv), a3.append(cam)
        if valid[f - 1]:
            uv_ok, _ = project(K, R, t, pose17(f))
            draw(ts / "imageSequence" / f"img_{f:06d}.jpg", ts / "FGmasks" / f"img_{f:06d}.png", uv_ok)
    path = ts / "annot_data.mat"
    with h5py.File(path, "w", userblock_size=512) as fh:   # MATLAB v7.3 = HDF5 after a 512-byte header
        fh.create_dataset("annot2", data=np.array(a2)[:, None])          # (N, 1, 17, 2) as h5py shows it
        fh.create_dataset("annot3", data=np.array(a3)[:, None])
        fh.create_dataset("univ_annot3", data=np.array(a3)[:, None])
        fh.create_dataset("valid_frame", data=np.array(valid, float)[:, None])
    with open(path, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .".ljust(116))


def write_wild(root: Path, *, stems=("a", "b", "c"), size=(80, 64)) -> Path:
    """``images/<stem>.jpg`` + ``masks/<stem>.png`` of one drawn person each (no labels)."""
    K, R, t = ring_cameras(1)[0]
    for i, s in enumerate(stems):
        uv, _ = project(K, R, t, pose17(i))
        draw(root / "images" / f"{s}.jpg", root / "masks" / f"{s}.png", uv - np.array([8.0, 16.0]), size=size)
    return root


def toy_split(n: int = 1, c: int = 1, s: int = 16, subject: str = "x") -> dict[str, np.ndarray]:
    """Minimal valid packed-split arrays (full masks), for tests that only need a folder."""
    f32 = np.float32
    return {"images": np.zeros((n, c, s, s, 3), np.uint8), "masks": np.ones((n, c, s, s), np.uint8),
            "geodesic": np.ones((n, c, s, s), np.float16), "K": np.ones((n, c, 3, 3), f32),
            "R": np.ones((n, c, 3, 3), f32), "t_mm": np.ones((n, c, 3), f32), "root_world_mm": np.zeros((n, 3), f32),
            "joints_world_mm": np.zeros((n, 17, 3), f32), "joints_cam_mm": np.zeros((n, c, 17, 3), f32),
            "joints_2d_norm": np.zeros((n, c, 17, 2), f32), "subject": np.array([subject] * n)}
