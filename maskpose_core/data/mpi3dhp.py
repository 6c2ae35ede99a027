"""MPI-INF-3DHP in its official layout, prepared into a packed data set (``crop.py``).

Accepted on-disk layout (``raw_root`` holds the subject folders of the official download)::

    <raw_root>/S1/Seq1/annot.mat                 (MATLAB v5: annot3, cameras, ...)
    <raw_root>/S1/Seq1/camera.calibration        (Skeletool text format)
    <raw_root>/S1/Seq1/imageSequence/video_0/frame_000001.jpg
    <raw_root>/S1/Seq1/FGmasks/video_0/frame_000001.jpg      (or .png)
    <raw_root>/mpi_inf_3dhp_test_set/TS1/annot_data.mat      (optional; or <raw_root>/../...)
    <raw_root>/mpi_inf_3dhp_test_set/TS1/imageSequence/img_000001.jpg
    <raw_root>/mpi_inf_3dhp_test_set/TS1/FGmasks/img_000001.png          (any segmenter)

The official ``imageSequence/video_<cam>.avi`` and ``FGmasks/video_<cam>.avi`` are videos;
decoding them needs extra dependencies, so this loader reads frames extracted from them
(e.g. ``ffmpeg -i video_0.avi -qscale:v 2 video_0/frame_%06d.jpg``): row j (0-based) of
``annot3`` is ``frame_{j+1:06d}`` (ffmpeg's 1-based numbering, as SPIN's preprocessing).
Only frames extracted for every used camera are used. FG masks: any channel >= 128.

* ``annot.mat``: ``annot3`` a 14×1 cell, cell i = camera ``cameras[i]``, (F, 28·3) camera mm;
  28 joints mapped to H36M-17 by ``MPI28_TO_H36M17``. ``camera.calibration``: per camera
  ``name <n>`` then ``intrinsic`` and ``extrinsic`` as 16 numbers (4×4 row-major; the
  extrinsic maps world mm -> camera mm). World is the studio's (+Y up).
* Protocol (as the authors, docs/method.md §2): cameras 0 2 4 7 8 (chest height); splits
  ``train`` = S1-S6, ``val`` = S7-S8, thinned with ``keep_by_gap`` (stride 10 by default).
* Official test set (split ``test``, if its folder exists): monocular (C = 1), the frames
  with ``valid_frame``; ``annot_data.mat`` (MATLAB v7.3 = HDF5, read with ``h5py``; a v5
  re-save is read with scipy) with ``annot2``/``annot3`` (17 joints, MPI test order,
  camera mm). World = camera frame (R = I, t = 0). Intrinsics are fitted per sequence from
  annot2 <-> annot3 by linear least squares (the set ships no calibration file).
* A moment with a mask box shorter than ``min_mask_px`` on its longer side in any view is
  skipped (``crop.py``: one warning line, every file in ``meta.json``'s ``skipped_masks``).
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import scipy.io

from maskpose_core.data.configs import MIN_MASK_PX
from maskpose_core.data.crop import (CROP_MARGIN, Moment, PackParams, View, cached_packed, check_dir,
                                     even_subset, keep_by_gap, listing_fingerprint, pack_moments, skipped_meta)

log = logging.getLogger(__name__)

MPI3DHP_CAMERAS = (0, 2, 4, 7, 8)  # chest-height cameras used by the authors (docs/method.md §2)
TRAIN_SUBJECTS = ("S1", "S2", "S3", "S4", "S5", "S6")
VAL_SUBJECTS = ("S7", "S8")
SEQUENCES = ("Seq1", "Seq2")
TEST_SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
STRIDE = 10        # every 10th frame (25/50 fps video), as common 3DHP training subsets
TEST_STRIDE = 1    # the official evaluation uses every valid test frame
# 28 joints (mpii_get_joint_set 'all') -> H36M-17 order of skeleton.py: pelvis, r_hip, r_knee,
# r_ankle, l_hip, l_knee, l_ankle, spine, neck (thorax), head (nose), head_top, l_shoulder,
# l_elbow, l_wrist, r_shoulder, r_elbow, r_wrist
MPI28_TO_H36M17 = (4, 23, 24, 25, 18, 19, 20, 3, 5, 6, 7, 9, 10, 11, 14, 15, 16)
# 17 joints of the test set (mpii 'relevant': head_top, neck, r_sho, r_elb, r_wri, l_sho, l_elb,
# l_wri, r_hip, r_knee, r_ank, l_hip, l_knee, l_ank, pelvis, spine, head) -> H36M-17 order
MPI17_TO_H36M17 = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
VIEW_AGREEMENT_TOL_MM = 50.0  # per-camera annot3 come from one world skeleton
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # at offset 0 or 512 (MATLAB v7.3 header block)
MAT_ERRORS = (ValueError, TypeError, OSError, KeyError, IndexError, NotImplementedError,
              scipy.io.matlab.MatReadError)


def read_calibration(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``camera.calibration`` -> {camera: (K (3, 3) px, R (3, 3), t_mm (3,))}, world -> camera."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: camera calibration file not found")
    cams: dict[int, dict[str, np.ndarray]] = {}
    current = None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        try:
            if parts and parts[0] == "name":
                current = int(parts[1])
                cams[current] = {}
            elif parts and parts[0] in ("intrinsic", "extrinsic") and current is not None:
                cams[current][parts[0]] = np.array([float(v) for v in parts[1:]]).reshape(4, 4)
        except (ValueError, IndexError) as e:
            raise ValueError(f"{path}:{n}: malformed line {line.strip()!r} ({e})") from e
    out = {}
    for cam, d in cams.items():
        if "intrinsic" not in d or "extrinsic" not in d:
            raise ValueError(f"{path}: camera {cam} lacks an intrinsic or extrinsic row")
        out[cam] = (d["intrinsic"][:3, :3], d["extrinsic"][:3, :3], d["extrinsic"][:3, 3])
    return out


def _load_mat(path: Path) -> dict:
    """A .mat file -> dict of arrays (v7.3/HDF5 via h5py, arrays in h5py's reversed axis order)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    with open(path, "rb") as f:
        head = f.read(520)
    if head[:8] == HDF5_SIGNATURE or head[512:520] == HDF5_SIGNATURE:
        try:
            import h5py  # optional dependency: MATLAB v7.3 files only
        except ImportError as e:
            raise ImportError(f"{path}: MATLAB v7.3 file; reading it needs h5py (pip install h5py)") from e
        try:
            with h5py.File(path, "r") as f:
                return {"__hdf5__": True, **{k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}}
        except OSError as e:
            raise ValueError(f"{path}: cannot read MATLAB v7.3 file ({e})") from e
    try:
        return scipy.io.loadmat(path)
    except MAT_ERRORS as e:
        raise ValueError(f"{path}: cannot read .mat file ({type(e).__name__}: {e})") from e


def read_annot(path: Path) -> dict[int, np.ndarray]:
    """Training ``annot.mat`` -> {camera: (F, 28, 3) camera mm}."""
    mat = _load_mat(path)
    try:
        cells, cam_ids = mat["annot3"], np.asarray(mat["cameras"]).ravel().astype(int)
        poses = [np.asarray(cells.ravel()[i], dtype=np.float64) for i in range(len(cam_ids))]
    except MAT_ERRORS as e:
        raise ValueError(f"{path}: expected keys 'annot3' (cell per camera) and 'cameras' ({e})") from e
    out = {}
    for cam, p in zip(cam_ids, poses):
        if p.ndim != 2 or p.shape[1] != 28 * 3:
            raise ValueError(f"{path}: annot3 of camera {cam} must be (F, 84), got {p.shape}")
        out[int(cam)] = p.reshape(len(p), 28, 3)
    return out


def _frames_on_disk(folder: Path, pattern: str) -> set[int]:
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder not found")
    rx = re.compile(pattern)
    return {int(m.group(1)) for p in folder.iterdir() if (m := rx.fullmatch(p.name))}


def _mask_file(folder: Path, stem: str, suffixes: tuple[str, ...] = (".jpg", ".png")) -> Path:
    """The first of ``folder/stem + suffix`` that exists (else the first, for the error message)."""
    paths = [folder / f"{stem}{s}" for s in suffixes]
    return next((p for p in paths if p.is_file()), paths[0])


def sequence_moments(seq_dir: Path, subject: str, cameras: tuple[int, ...], stride: int) -> list[Moment]:
    """Moments of ``S*/Seq*``: frames extracted for every camera, thinned with ``keep_by_gap``."""
    annot = read_annot(seq_dir / "annot.mat")
    calib = read_calibration(seq_dir / "camera.calibration")
    for cam in cameras:
        if cam not in annot:
            raise ValueError(f"{seq_dir / 'annot.mat'}: no annot3 for camera {cam}")
        if cam not in calib:
            raise ValueError(f"{seq_dir / 'camera.calibration'}: no camera {cam}")
    num = min(len(annot[c]) for c in cameras)
    on_disk = [_frames_on_disk(seq_dir / "imageSequence" / f"video_{c}", r"frame_(\d+)\.jpg") for c in cameras]
    common = sorted(f for f in set.intersection(*on_disk) if 1 <= f <= num)
    if not common:
        log.warning("%s: no frame extracted for all cameras %s; sequence skipped", seq_dir, cameras)
        return []
    frames = np.array(keep_by_gap(common, stride))
    R = np.stack([calib[c][1] for c in cameras])
    t = np.stack([calib[c][2] for c in cameras])
    cam_joints = np.stack([annot[c][frames - 1][:, MPI28_TO_H36M17] for c in cameras], axis=1)  # (F, C, J, 3)
    world = np.einsum("fcjk,ckl->fcjl", cam_joints - t[None, :, None], R)
    mean = world.mean(axis=1)
    spread = np.linalg.norm(world - mean[:, None], axis=-1).max()
    if spread > VIEW_AGREEMENT_TOL_MM:
        raise ValueError(f"{seq_dir / 'annot.mat'}: cameras' annot3 disagree by {spread:.0f} mm in world "
                         f"space (> {VIEW_AGREEMENT_TOL_MM}): camera.calibration does not match")
    return [Moment(views=tuple(View(image_path=seq_dir / "imageSequence" / f"video_{c}" / f"frame_{f:06d}.jpg",
                                    mask_path=_mask_file(seq_dir / "FGmasks" / f"video_{c}", f"frame_{f:06d}"),
                                    K=calib[c][0], R=calib[c][1], t_mm=calib[c][2]) for c in cameras),
                   joints_world_mm=w, root_world_mm=w[0].copy(), subject=subject)
            for f, w in zip(frames.tolist(), mean)]


def read_test_annot(path: Path) -> dict[str, np.ndarray]:
    """``annot_data.mat`` -> annot2 (N, 17, 2) px, annot3 (N, 17, 3) camera mm, valid (N,) bool."""
    mat = _load_mat(path)
    try:
        arr = {k: np.asarray(mat[k], dtype=np.float64) for k in ("annot2", "annot3", "valid_frame")}
    except MAT_ERRORS as e:
        raise ValueError(f"{path}: expected keys annot2, annot3, valid_frame ({e})") from e
    if not mat.get("__hdf5__"):                      # MATLAB (3, 17, 1, N) -> h5py order (N, 1, 17, 3)
        arr = {k: v.T for k, v in arr.items()}
    valid = arr["valid_frame"].ravel() > 0
    n = len(valid)
    try:
        a2, a3 = arr["annot2"].reshape(n, 17, 2), arr["annot3"].reshape(n, 17, 3)
    except ValueError as e:
        raise ValueError(f"{path}: annot2/annot3 shapes {arr['annot2'].shape}, {arr['annot3'].shape} do not "
                         f"fit {n} frames of 17 joints") from e
    return {"annot2": a2, "annot3": a3, "valid": valid}


def fit_intrinsics(uv_px: np.ndarray, xyz_cam_mm: np.ndarray, where: str) -> np.ndarray:
    """Pinhole K (3, 3) from 2D (M, 2) <-> camera 3D (M, 3) points by linear least squares."""
    ratio = xyz_cam_mm[:, :2] / xyz_cam_mm[:, 2:3]
    K = np.eye(3)
    for a in (0, 1):
        A = np.stack([ratio[:, a], np.ones(len(ratio))], axis=1)
        (f, c), *_ = np.linalg.lstsq(A, uv_px[:, a], rcond=None)
        K[a, a], K[a, 2] = f, c
    if not (np.isfinite(K).all() and K[0, 0] > 0 and K[1, 1] > 0):
        raise ValueError(f"{where}: cannot fit intrinsics from annot2/annot3 (got {K.tolist()})")
    return K


def test_set_moments(test_root: Path, stride: int) -> list[Moment]:
    """Monocular moments of the official test set's ``TS*`` folders (valid frames only)."""
    out: list[Moment] = []
    for ts in TEST_SEQUENCES:
        d = test_root / ts
        if not d.is_dir():
            log.warning("%s: test sequence folder not found; skipped", d)
            continue
        ann = read_test_annot(d / "annot_data.mat")
        rows = np.flatnonzero(ann["valid"])
        K = fit_intrinsics(ann["annot2"][rows].reshape(-1, 2), ann["annot3"][rows].reshape(-1, 3),
                           str(d / "annot_data.mat"))
        for f in keep_by_gap((rows + 1).tolist(), stride):
            joints = ann["annot3"][f - 1][list(MPI17_TO_H36M17)]
            out.append(Moment(views=(View(image_path=d / "imageSequence" / f"img_{f:06d}.jpg",
                                          mask_path=_mask_file(d / "FGmasks", f"img_{f:06d}", (".png", ".jpg")),
                                          K=K, R=np.eye(3), t_mm=np.zeros(3)),),
                              joints_world_mm=joints, root_world_mm=joints[0].copy(), subject=ts))
    return out


def find_test_root(raw_root: Path) -> Path | None:
    for d in (raw_root / "mpi_inf_3dhp_test_set", raw_root.parent / "mpi_inf_3dhp_test_set"):
        if d.is_dir():
            return d
    return None


def mpi3dhp_moments(raw_root: Path, subjects: tuple[str, ...], cameras: tuple[int, ...], stride: int) -> list[Moment]:
    out: list[Moment] = []
    for s in subjects:
        for seq in SEQUENCES:
            d = raw_root / s / seq
            if not d.is_dir():
                log.warning("%s: sequence folder not found; skipped", d)
                continue
            out.extend(sequence_moments(d, s, cameras, stride))
    return out


def prepare_3dhp(raw_root: Path, *, cache_root: Path, image_size: int, train_frames: int = 0,
                 val_frames: int = 0, test_frames: int = 0, stride: int = STRIDE, test_stride: int = TEST_STRIDE,
                 cameras: tuple[int, ...] = MPI3DHP_CAMERAS, train_subjects: tuple[str, ...] = TRAIN_SUBJECTS,
                 val_subjects: tuple[str, ...] = VAL_SUBJECTS, margin: float = CROP_MARGIN, center: str = "mask",
                 min_mask_px: int = MIN_MASK_PX, workers: int | None = None, progress: bool = True) -> Path:
    """Prepare (or find in the cache) MPI-INF-3DHP -> packed folder with splits ``train`` and
    ``val`` (C = len(cameras)) and, if the official test set is present, ``test`` (C = 1)."""
    raw_root = check_dir(raw_root, "MPI-INF-3DHP data root")
    splits = {"train": tuple(train_subjects), "val": tuple(val_subjects)}
    present = {k: [s for s in v if (raw_root / s).is_dir()] for k, v in splits.items()}
    for split, subs in present.items():
        if not subs:
            raise FileNotFoundError(f"{raw_root}: none of the {split} subject folders {list(splits[split])} found")
    missing = sorted(set(splits["train"] + splits["val"]) - set(present["train"] + present["val"]))
    if missing:
        log.warning("%s: subject folders %s not found; preparing without them", raw_root, missing)
    test_root = find_test_root(raw_root)
    params = PackParams(image_size=image_size, margin=margin, center=center, min_mask_px=min_mask_px)
    sources = [raw_root / s for s in present["train"] + present["val"]] + ([test_root] if test_root else [])
    key = {"dataset": "3dhp", "source": str(raw_root.resolve()), "subjects": present, "cameras": list(cameras),
           "listing": listing_fingerprint(sources), "strides": [stride, test_stride],
           "frames": [train_frames, val_frames, test_frames], "params": repr(params)}

    def build():
        arrays, skipped = {}, {}
        for split, limit in (("train", train_frames), ("val", val_frames)):
            moments = even_subset(mpi3dhp_moments(raw_root, tuple(present[split]), tuple(cameras), stride), limit)
            arrays[split], skipped[split] = pack_moments(moments, params, workers=workers, progress=progress,
                                                         what=f"3dhp/{split} ({raw_root}, {present[split]})")
        if test_root is not None:
            moments = even_subset(test_set_moments(test_root, test_stride), test_frames)
            arrays["test"], skipped["test"] = pack_moments(moments, params, workers=workers, progress=progress,
                                                           what=f"3dhp/test ({test_root})")
        meta = {"num_views": len(cameras), "image_size": image_size, "has_labels": True, "has_cameras": True,
                "source": str(raw_root), "test_source": str(test_root) if test_root else None,
                "layout": "MPI-INF-3DHP official, frames extracted", "subjects": present,
                "missing_subjects": missing, "cameras": list(cameras),
                "world_frame": "3DHP studio (+Y up); test split: camera frame",
                "skipped_masks": skipped_meta(min_mask_px, {k: len(v["subject"]) for k, v in arrays.items()}, skipped)}
        return meta, arrays

    return cached_packed(Path(cache_root), "3dhp", key, build)
