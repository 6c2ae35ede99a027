"""Human3.6M in the layout written by ``anibali/h36m-fetch`` (``process_all.py``), prepared
into a packed data set (``crop.py``, ``packed.py``).

Accepted on-disk layout (``raw_root`` is h36m-fetch's ``processed/`` folder)::

    <raw_root>/S1/Directions-1/annot.h5                       (or annot.npz, same keys)
    <raw_root>/S1/Directions-1/imageSequence/54138969/img_000001.jpg
    <raw_root>/S1/Directions-1/masks/54138969/img_000001.png  (or .jpg; any segmenter)
    <raw_root>/camera-parameters.json   or   <raw_root>/../camera-parameters.json
    <raw_root>/metadata.xml             or   <raw_root>/../metadata.xml   (if no json)

* ``annot.h5`` (h36m-fetch): datasets ``pose/3d`` (M, 32, 3) camera-frame mm (the
  ``Poses_D3_Positions_mono`` files), ``camera`` (M,) camera id as an int (54138969, ...),
  ``frame`` (M,) 1-based frame number = the ``img_%06d.jpg`` number; rows of the 4 cameras
  are concatenated. Reading it needs ``h5py``; ``annot.npz`` with the same three keys
  (``np.savez(path, **{"pose/3d": ..., "camera": ..., "frame": ...})``) needs only numpy.
  17-joint poses (already in the H36M-17 order) are accepted too.
* Cameras: ``camera-parameters.json`` as in ``karfly/human36m-camera-parameters``
  (``intrinsics/<cam>/calibration_matrix`` 3×3 px, ``extrinsics/<S>/<cam>/R`` 3×3 and ``t``
  3×1 mm, ``X_cam = R X_world + t``), else the official ``metadata.xml`` whose ``<w0>``
  vector is decoded as that repository's ``generate.py`` does. Lens distortion is ignored
  (pinhole K; a few pixels at the image border).

Protocol (docs/method.md §2): train S1 S5 S6 S7 S8, test S9 S11; the packed folder has splits
``train`` and ``test``. A moment is a frame number present in all 4 cameras' annotations.
Frames are thinned with ``keep_by_gap``: a frame is kept when it is >= stride frames after
the last kept one (defaults: 5 in train, 64 in test -- exactly every 5th / 64th frame on a
complete extraction; h36m-fetch's test frames are already every 64th). ``train_frames`` /
``test_frames`` > 0 then keep that many moments, evenly spaced. World joints are the mean
of the 4 cameras' annotations mapped to world (they must agree within
``VIEW_AGREEMENT_TOL_MM``, else the camera file does not belong to the annotations).
World frame: Human3.6M's (Z up) rotated by ``Z_UP_TO_Y_UP`` to the project's +Y up.
Subject folders that are missing are skipped with a warning and listed in ``meta.json``.
A moment with a mask box shorter than ``min_mask_px`` on its longer side in any view is skipped
(``crop.py``: one warning line, every file in ``meta.json``'s ``skipped_masks``).
"""
from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from maskpose_core.data.configs import MIN_MASK_PX
from maskpose_core.data.crop import (CROP_MARGIN, Moment, PackParams, View, cached_packed, check_dir,
                                     even_subset, keep_by_gap, listing_fingerprint, pack_moments, skipped_meta)

log = logging.getLogger(__name__)

H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")  # metadata.xml dbcameras order
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")  # Human3.6M protocol (docs/method.md §2)
TEST_SUBJECTS = ("S9", "S11")
TRAIN_STRIDE = 5    # every 5th frame of 50 Hz video (common protocol)
TEST_STRIDE = 64    # every 64th frame ("Compositional Human Pose Regression", h36m-fetch)
# 32 -> 17 joints in the H36M-17 order of skeleton.py (VideoPose3D / 3d-pose-baseline indices)
H36M_32_TO_17 = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
VIEW_AGREEMENT_TOL_MM = 20.0  # views' world joints must agree (exact up to rounding in H36M)
METADATA_NUM_SUBJECTS = 11    # <w0> holds S1..S11 for each camera (h36m-camera-parameters)
METADATA_INTRINSICS_AT = 264  # 4 cameras x 11 subjects x 6 extrinsic numbers
# Human3.6M world is Z up; the project's world is +Y up (geometry.py): (x, y, z) -> (x, z, -y)
Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])

Cameras = dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]  # subject -> cam -> (K, R, t)


def _rotation_xyz(a: np.ndarray) -> np.ndarray:
    """Rx(a0) @ Ry(a1) @ Rz(a2), the metadata.xml angle convention."""
    cx, cy, cz = np.cos(a)
    sx, sy, sz = np.sin(a)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def _cameras_from_json(path: Path) -> Cameras:
    try:
        data = json.loads(path.read_text())
        out: Cameras = {}
        for subject, cams in data["extrinsics"].items():
            out[subject] = {cam: (np.asarray(data["intrinsics"][cam]["calibration_matrix"], float).reshape(3, 3),
                                  np.asarray(ext["R"], float).reshape(3, 3),
                                  np.asarray(ext["t"], float).reshape(3))
                            for cam, ext in cams.items()}
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a Human3.6M camera-parameters.json ({type(e).__name__}: {e})") from e
    return out


def _cameras_from_metadata(path: Path) -> Cameras:
    try:
        text = ET.parse(path).getroot().find("w0").text
        w0 = np.array([float(v) for v in text.strip().strip("[]").split()])
    except (ET.ParseError, AttributeError, ValueError) as e:
        raise ValueError(f"{path}: no readable <w0> camera vector ({e})") from e
    need = METADATA_INTRINSICS_AT + 9 * len(H36M_CAMERA_IDS)
    if w0.size < need:
        raise ValueError(f"{path}: <w0> has {w0.size} numbers, expected >= {need}")
    out: Cameras = {}
    for c, cam in enumerate(H36M_CAMERA_IDS):
        f, pp = w0[METADATA_INTRINSICS_AT + 9 * c:][:2], w0[METADATA_INTRINSICS_AT + 9 * c + 2:][:2]
        K = np.array([[f[0], 0, pp[0]], [0, f[1], pp[1]], [0, 0, 1]])
        for s in range(1, METADATA_NUM_SUBJECTS + 1):
            ext = w0[6 * (c * METADATA_NUM_SUBJECTS + s - 1):][:6]
            R = _rotation_xyz(ext[:3])
            out.setdefault(f"S{s}", {})[cam] = (K, R, -R @ ext[3:6])  # ext[3:6]: camera centre, mm
    return out


def load_h36m_cameras(raw_root: Path) -> tuple[Path, Cameras]:
    """Find and read the camera file (see module docstring) -> (its path, cameras in H36M world)."""
    raw_root = Path(raw_root)
    for name, reader in (("camera-parameters.json", _cameras_from_json), ("metadata.xml", _cameras_from_metadata)):
        for folder in (raw_root, raw_root.parent):
            if (folder / name).is_file():
                return folder / name, reader(folder / name)
    raise FileNotFoundError(f"{raw_root}: no Human3.6M camera file (camera-parameters.json or metadata.xml "
                            f"in {raw_root} or {raw_root.parent})")


def read_annotation(seq_dir: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """``annot.h5`` or ``annot.npz`` of a sequence -> (path, {"pose/3d", "camera", "frame"})."""
    h5, npz = seq_dir / "annot.h5", seq_dir / "annot.npz"
    keys = ("pose/3d", "camera", "frame")
    if h5.is_file():
        try:
            import h5py  # optional dependency: only for h36m-fetch's HDF5 annotations
        except ImportError as e:
            raise ImportError(f"{h5}: reading annot.h5 needs h5py (pip install h5py), or convert it to "
                              f"annot.npz with keys {keys}") from e
        path = h5
        try:
            with h5py.File(h5, "r") as f:
                ann = {k: f[k][()] for k in keys if k in f}
        except OSError as e:
            raise ValueError(f"{h5}: cannot read HDF5 annotation ({e})") from e
    elif npz.is_file():
        path = npz
        try:
            with np.load(npz) as f:
                ann = {k: f[k] for k in keys if k in f.files}
        except (OSError, ValueError) as e:
            raise ValueError(f"{npz}: cannot read annotation ({e})") from e
    else:
        raise FileNotFoundError(f"{h5}: annotation file not found (nor {npz.name})")
    missing = [k for k in keys if k not in ann]
    if missing:
        raise ValueError(f"{path}: missing annotation keys {missing}")
    pose = np.asarray(ann["pose/3d"], dtype=np.float64)
    if pose.ndim != 3 or pose.shape[1:] not in ((32, 3), (17, 3)) or len(pose) != len(ann["frame"]) \
            or len(pose) != len(ann["camera"]):
        raise ValueError(f"{path}: pose/3d must be (M, 32|17, 3) with M = len(frame) = len(camera), got "
                         f"{pose.shape}, {len(ann['frame'])}, {len(ann['camera'])}")
    if pose.shape[1] == 32:
        pose = pose[:, H36M_32_TO_17]
    return path, {"pose/3d": pose, "camera": np.asarray(ann["camera"]).astype(np.int64),
                  "frame": np.asarray(ann["frame"]).astype(np.int64)}


def _mask_path(folder: Path, frame: int) -> Path:
    png = folder / f"img_{frame:06d}.png"
    jpg = png.with_suffix(".jpg")
    return jpg if not png.is_file() and jpg.is_file() else png


def sequence_moments(seq_dir: Path, subject: str, cams: dict, stride: int) -> list[Moment]:
    """Moments of one sequence folder (all 4 cameras), thinned with ``keep_by_gap``."""
    path, ann = read_annotation(seq_dir)
    rows = {}
    for cam in H36M_CAMERA_IDS:
        sel = np.flatnonzero(ann["camera"] == int(cam))
        rows[cam] = dict(zip(ann["frame"][sel].tolist(), sel.tolist()))
    common = sorted(set.intersection(*(set(r) for r in rows.values())))
    if not common:
        log.warning("%s: no frame annotated in all %d cameras; sequence skipped", path, len(H36M_CAMERA_IDS))
        return []
    frames = keep_by_gap(common, stride)
    idx = np.array([[rows[c][f] for c in H36M_CAMERA_IDS] for f in frames])          # (F, C)
    R = np.stack([cams[c][1] for c in H36M_CAMERA_IDS])                                 # (C, 3, 3)
    t = np.stack([cams[c][2] for c in H36M_CAMERA_IDS])                                 # (C, 3)
    world = np.einsum("fcjk,ckl->fcjl", ann["pose/3d"][idx] - t[None, :, None], R)     # R^T (X - t)
    mean = world.mean(axis=1)
    spread = np.linalg.norm(world - mean[:, None], axis=-1).max()
    if spread > VIEW_AGREEMENT_TOL_MM:
        raise ValueError(f"{path}: the 4 cameras' annotations disagree by {spread:.0f} mm in world space "
                         f"(> {VIEW_AGREEMENT_TOL_MM} mm): camera parameters of {subject} do not match")
    world_y_up = mean @ Z_UP_TO_Y_UP.T
    views = [(c, cams[c][0], cams[c][1] @ Z_UP_TO_Y_UP.T, cams[c][2]) for c in H36M_CAMERA_IDS]
    return [Moment(views=tuple(View(image_path=seq_dir / "imageSequence" / c / f"img_{f:06d}.jpg",
                                    mask_path=_mask_path(seq_dir / "masks" / c, f), K=K, R=Rc, t_mm=tc)
                               for c, K, Rc, tc in views),
                   joints_world_mm=w, root_world_mm=w[0].copy(), subject=subject)
            for f, w in zip(frames, world_y_up)]


def h36m_moments(raw_root: Path, subjects: tuple[str, ...], stride: int, cameras: Cameras,
                 camera_file: Path) -> list[Moment]:
    """All moments of the given subjects present under ``raw_root`` (sorted by subject, sequence, frame)."""
    out: list[Moment] = []
    for s in subjects:
        if not (raw_root / s).is_dir():
            continue
        if s not in cameras or any(c not in cameras[s] for c in H36M_CAMERA_IDS):
            raise ValueError(f"{camera_file}: no parameters for all cameras of subject {s}")
        for seq_dir in sorted(p for p in (raw_root / s).iterdir() if p.is_dir()):
            out.extend(sequence_moments(seq_dir, s, cameras[s], stride))
    return out


def prepare_h36m(raw_root: Path, *, cache_root: Path, image_size: int, train_frames: int = 0,
                 test_frames: int = 0, train_stride: int = TRAIN_STRIDE, test_stride: int = TEST_STRIDE,
                 margin: float = CROP_MARGIN, center: str = "mask",
                 train_subjects: tuple[str, ...] = TRAIN_SUBJECTS, test_subjects: tuple[str, ...] = TEST_SUBJECTS,
                 min_mask_px: int = MIN_MASK_PX, workers: int | None = None, progress: bool = True) -> Path:
    """Prepare (or find in the cache) Human3.6M -> packed folder with splits ``train`` and ``test``.

    C = 4 views, S = ``image_size``; ``*_frames`` = 0 keeps every moment after the stride.
    """
    raw_root = check_dir(raw_root, "Human3.6M data root (h36m-fetch 'processed' folder)")
    camera_file, _ = load_h36m_cameras(raw_root)
    splits = {"train": tuple(train_subjects), "test": tuple(test_subjects)}
    present = {k: [s for s in v if (raw_root / s).is_dir()] for k, v in splits.items()}
    for split, subs in present.items():
        if not subs:
            raise FileNotFoundError(f"{raw_root}: none of the {split} subject folders {list(splits[split])} found")
    missing = sorted(set(splits["train"] + splits["test"]) - set(present["train"] + present["test"]))
    if missing:
        log.warning("%s: subject folders %s not found; preparing without them", raw_root, missing)
    params = PackParams(image_size=image_size, margin=margin, center=center, min_mask_px=min_mask_px)
    key = {"dataset": "h36m", "source": str(raw_root.resolve()), "subjects": present,
           "listing": listing_fingerprint([raw_root / s for s in present["train"] + present["test"]] + [camera_file]),
           "strides": [train_stride, test_stride], "frames": [train_frames, test_frames],
           "params": repr(params)}

    def build():
        _, cameras = load_h36m_cameras(raw_root)
        arrays, skipped = {}, {}
        for split, stride, limit in (("train", train_stride, train_frames), ("test", test_stride, test_frames)):
            moments = even_subset(h36m_moments(raw_root, tuple(present[split]), stride, cameras, camera_file), limit)
            arrays[split], skipped[split] = pack_moments(moments, params, workers=workers, progress=progress,
                                                         what=f"h36m/{split} ({raw_root}, {present[split]})")
        meta = {"num_views": len(H36M_CAMERA_IDS), "image_size": image_size, "has_labels": True,
                "has_cameras": True, "source": str(raw_root), "camera_file": str(camera_file),
                "layout": "h36m-fetch processed/", "subjects": present, "missing_subjects": missing,
                "cameras": list(H36M_CAMERA_IDS), "world_frame": "Human3.6M world rotated to +Y up",
                "skipped_masks": skipped_meta(min_mask_px, {k: len(v["subject"]) for k, v in arrays.items()}, skipped)}
        return meta, arrays

    return cached_packed(Path(cache_root), "h36m", key, build)
