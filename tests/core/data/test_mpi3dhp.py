"""MPI-INF-3DHP (official layout, extracted frames) on a tiny fixture: S1 (train), S7 (val)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures import FOCAL_PX, IMAGE_PX, pose17, project, ring_cameras, write_3dhp
from maskpose_core.data.mpi3dhp import fit_intrinsics, prepare_3dhp, read_calibration
from maskpose_core.data.packed import PackedSplit, read_meta
from maskpose_core.geometry import normalized_to_pixels

S = 32
FRAMES = (1, 11, 21)


def _prepare(raw, tmp, **kw):
    return prepare_3dhp(raw, cache_root=tmp / "cache", image_size=S, workers=1, progress=False, **kw)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("3dhp")
    return _prepare(write_3dhp(tmp / "raw"), tmp)


def _check_projection(a):
    cam = np.einsum("ncij,nkj->ncki", a["R"], a["joints_world_mm"]) + a["t_mm"][:, :, None]
    np.testing.assert_allclose(cam, a["joints_cam_mm"], atol=0.05)
    uvw = np.einsum("ncij,nckj->ncki", a["K"], cam)
    uv = uvw[..., :2] / uvw[..., 2:]
    np.testing.assert_allclose(uv, normalized_to_pixels(a["joints_2d_norm"], S), atol=1e-3)
    px = np.clip(np.round(uv).astype(int), 0, S - 1)
    n, c = np.indices(px.shape[:2])
    assert a["masks"][n[..., None], c[..., None], px[..., 1], px[..., 0]].mean() > 0.97


def test_shapes_splits_joints(packed):
    meta = read_meta(packed)
    assert meta["splits"] == {"train": 3, "val": 3} and meta["num_views"] == 5   # no test set here
    train, val = PackedSplit(packed, "train"), PackedSplit(packed, "val")
    assert train.arrays["images"].shape == (3, 5, S, S, 3)
    assert set(train.subject) == {"S1"} and set(val.subject) == {"S7"}
    # 28 joints with distinct positions -> the 17 named ones, in skeleton.py order
    want = np.stack([pose17(f) for f in FRAMES])
    for split in (train, val):
        np.testing.assert_allclose(split.arrays["joints_world_mm"], want, atol=0.05)
        _check_projection(split.arrays)


def test_calibration_parser(tmp_path):
    write_3dhp(tmp_path, subjects=("S1",))
    calib = read_calibration(tmp_path / "S1" / "Seq1" / "camera.calibration")
    assert sorted(calib) == list(range(14))
    K, R, t = ring_cameras(14, radius_mm=4000.0)[7]
    np.testing.assert_allclose(calib[7][0], K)
    np.testing.assert_allclose(calib[7][1], R, atol=1e-8)
    np.testing.assert_allclose(calib[7][2], t, atol=1e-5)


def test_official_test_set(tmp_path):
    pytest.importorskip("h5py")
    folder = _prepare(write_3dhp(tmp_path / "raw", test_set=True), tmp_path)
    meta = read_meta(folder)
    assert meta["splits"] == {"train": 3, "val": 3, "test": 3}       # frame 2 is not valid_frame
    test = PackedSplit(folder, "test")
    a = test.arrays
    assert a["images"].shape == (3, 1, S, S, 3) and set(test.subject) == {"TS1"}
    # world = camera frame; 17 test-order joints -> H36M-17 order
    K, R, t = ring_cameras(1)[0]
    want = np.stack([pose17(f) @ R.T + t for f in (1, 3, 4)])
    np.testing.assert_allclose(a["joints_world_mm"], want, atol=0.05)
    np.testing.assert_allclose(a["R"][:, 0], np.broadcast_to(np.eye(3), (3, 3, 3)))
    _check_projection(a)   # with intrinsics fitted from annot2 <-> annot3


def test_fit_intrinsics_recovers_K():
    K, R, t = ring_cameras(1)[0]
    pts = np.concatenate([pose17(f) for f in range(5)])
    uv, cam = project(K, R, t, pts)
    np.testing.assert_allclose(fit_intrinsics(uv, cam, "test"), K, atol=1e-6)
    assert K[0, 0] == FOCAL_PX and K[0, 2] == IMAGE_PX / 2


def test_stride(tmp_path):
    folder = _prepare(write_3dhp(tmp_path / "raw"), tmp_path, stride=15)    # 1, (11), 21
    np.testing.assert_allclose(PackedSplit(folder, "train").arrays["root_world_mm"],
                               np.stack([pose17(f)[0] for f in (1, 21)]), atol=0.05)


def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_3dhp"):
        _prepare(tmp_path / "no_3dhp", tmp_path)


def test_missing_annotation(tmp_path):
    raw = write_3dhp(tmp_path / "raw")
    (raw / "S7" / "Seq1" / "annot.mat").unlink()
    with pytest.raises(FileNotFoundError, match=r"S7/Seq1/annot\.mat"):
        _prepare(raw, tmp_path)


def test_corrupt_mat(tmp_path):
    raw = write_3dhp(tmp_path / "raw")
    (raw / "S1" / "Seq1" / "annot.mat").write_bytes(b"MATLAB 5.0 MAT-file garbage" + bytes(200))
    with pytest.raises(ValueError, match=r"S1/Seq1/annot\.mat"):
        _prepare(raw, tmp_path)


def test_mask_size_differs(tmp_path):
    raw = write_3dhp(tmp_path / "raw")
    bad = raw / "S1" / "Seq1" / "FGmasks" / "video_4" / "frame_000011.jpg"
    Image.open(bad).resize((40, 40)).save(bad)
    with pytest.raises(ValueError, match=r"video_4/frame_000011\.jpg.*differs"):
        _prepare(raw, tmp_path)
