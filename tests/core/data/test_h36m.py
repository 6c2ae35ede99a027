"""Human3.6M (h36m-fetch layout) on a tiny fixture: S1 (train) and S9 (test), 4 cameras, 3 frames."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures import pose17, write_h36m
from maskpose_core.data.h36m import prepare_h36m
from maskpose_core.data.packed import PackedSplit, read_meta
from maskpose_core.geometry import normalized_to_pixels

S = 32
TRAIN_FRAMES, TEST_FRAMES = (1, 6, 11), (1, 65, 129)  # fixture frame numbers


def _prepare(raw, tmp, **kw):
    return prepare_h36m(raw, cache_root=tmp / "cache", image_size=S, workers=1, progress=False, **kw)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("h36m")
    return _prepare(write_h36m(tmp), tmp)


def test_shapes_splits_and_meta(packed):
    meta = read_meta(packed)
    assert meta["splits"] == {"train": 3, "test": 3}
    assert meta["num_views"] == 4 and meta["has_labels"] and meta["has_cameras"]
    train, test = PackedSplit(packed, "train"), PackedSplit(packed, "test")
    a = train.arrays
    assert a["images"].shape == (3, 4, S, S, 3) and a["masks"].shape == (3, 4, S, S)
    assert a["geodesic"].shape == (3, 4, S, S) and a["joints_2d_norm"].shape == (3, 4, 17, 2)
    assert set(train.subject) == {"S1"} and set(test.subject) == {"S9"}   # S9/S11 only in test
    assert train[0]["image"].shape == (4, 3, S, S)


def test_joint_order_and_world_frame(packed):
    # the fixture wrote 32 joints with distinct positions in H36M's Z-up world; the 17 named
    # ones must come back in skeleton.py order, in the project's Y-up world
    for split, frames in (("train", TRAIN_FRAMES), ("test", TEST_FRAMES)):
        a = PackedSplit(packed, split).arrays
        want = np.stack([pose17(f) for f in frames])
        np.testing.assert_allclose(a["joints_world_mm"], want, atol=0.05)
        np.testing.assert_allclose(a["root_world_mm"], want[:, 0], atol=0.05)


def test_projection_matches_2d_and_masks(packed):
    for split in ("train", "test"):
        a = PackedSplit(packed, split).arrays
        cam = np.einsum("ncij,nkj->ncki", a["R"], a["joints_world_mm"]) + a["t_mm"][:, :, None]
        np.testing.assert_allclose(cam, a["joints_cam_mm"], atol=0.05)
        uvw = np.einsum("ncij,nckj->ncki", a["K"], cam)
        uv = uvw[..., :2] / uvw[..., 2:]
        np.testing.assert_allclose(uv, normalized_to_pixels(a["joints_2d_norm"], S), atol=1e-3)
        # the person was drawn along the projected bones: joints fall on the packed masks
        px = np.clip(np.round(uv).astype(int), 0, S - 1)
        n, c = np.indices(px.shape[:2])
        on_mask = a["masks"][n[..., None], c[..., None], px[..., 1], px[..., 0]]
        assert on_mask.mean() > 0.97, on_mask.mean()


def test_stride_and_frame_cap(tmp_path):
    raw = write_h36m(tmp_path)
    folder = _prepare(raw, tmp_path, train_stride=6)        # 1, (6: gap 5 < 6), 11
    np.testing.assert_allclose(PackedSplit(folder, "train").arrays["joints_world_mm"][:, 0],
                               np.stack([pose17(f)[0] for f in (1, 11)]), atol=0.05)
    folder = _prepare(raw, tmp_path, train_frames=1, test_frames=2)
    assert read_meta(folder)["splits"] == {"train": 1, "test": 2}


def test_crop_centred_at_pelvis(tmp_path):
    folder = _prepare(write_h36m(tmp_path), tmp_path, center="pelvis")
    a = PackedSplit(folder, "train").arrays
    np.testing.assert_allclose(a["joints_2d_norm"][:, :, 0], 0.0, atol=2.0 / S)   # box rounding < 1 px
    assert a["masks"].reshape(-1, S * S).max(axis=1).all()


def test_metadata_xml_and_h5_match_json(tmp_path, packed):
    pytest.importorskip("h5py")
    raw = write_h36m(tmp_path, annot="h5", cameras_file="xml")
    other = _prepare(raw, tmp_path)
    assert read_meta(other)["camera_file"].endswith("metadata.xml")
    for split in ("train", "test"):
        a, b = PackedSplit(packed, split).arrays, PackedSplit(other, split).arrays
        for k in ("K", "R", "t_mm", "joints_world_mm", "joints_2d_norm"):
            np.testing.assert_allclose(a[k], b[k], atol=2e-3, err_msg=k)


def test_cache_is_reused(tmp_path, monkeypatch):
    raw = write_h36m(tmp_path)
    first = _prepare(raw, tmp_path)
    import maskpose_core.data.h36m as h36m
    monkeypatch.setattr(h36m, "pack_moments", lambda *a, **k: pytest.fail("rebuilt a cached data set"))
    assert _prepare(raw, tmp_path) == first


# ---- bad input: each error names the file -------------------------------------------------

def test_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _prepare(tmp_path / "nowhere", tmp_path)


def test_missing_annotation(tmp_path):
    raw = write_h36m(tmp_path)
    (raw / "S1" / "Directions-1" / "annot.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"S1/Directions-1/annot\.h5"):
        _prepare(raw, tmp_path)


def test_missing_camera_file(tmp_path):
    raw = write_h36m(tmp_path)
    (tmp_path / "camera-parameters.json").unlink()
    with pytest.raises(FileNotFoundError, match="camera-parameters.json"):
        _prepare(raw, tmp_path)


def test_cameras_of_another_rig(tmp_path):
    raw = write_h36m(tmp_path)
    cam = tmp_path / "camera-parameters.json"
    cam.write_text(cam.read_text().replace('"S1": {"54138969": {"R": [[', '"S1": {"54138969": {"R": [[-'))
    with pytest.raises(ValueError, match="disagree"):
        _prepare(raw, tmp_path)


def test_corrupt_image(tmp_path):
    raw = write_h36m(tmp_path)
    bad = raw / "S9" / "Directions-1" / "imageSequence" / "55011271" / "img_000065.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="img_000065.jpg"):
        _prepare(raw, tmp_path)


def test_empty_mask(tmp_path):
    raw = write_h36m(tmp_path)
    bad = raw / "S1" / "Directions-1" / "masks" / "58860488" / "img_000006.png"
    Image.new("L", (96, 96), 0).save(bad)
    with pytest.raises(ValueError, match=r"img_000006\.png.*empty"):
        _prepare(raw, tmp_path)


def test_mask_size_differs(tmp_path):
    raw = write_h36m(tmp_path)
    bad = raw / "S1" / "Directions-1" / "masks" / "54138969" / "img_000001.png"
    Image.open(bad).resize((64, 96)).save(bad)
    with pytest.raises(ValueError, match=r"img_000001\.png.*differs"):
        _prepare(raw, tmp_path)
