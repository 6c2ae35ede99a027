"""In-the-wild folder (images/ + masks/, no cameras, no labels) on a tiny fixture."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures import write_wild
from maskpose_core.data.crop import mask_bounds, read_mask
from maskpose_core.data.packed import PackedSplit, read_meta
from maskpose_core.data.wild import NOMINAL_DEPTH_MM, NOMINAL_HEIGHT_MM, prepare_wild

S = 32


def _prepare(folder, tmp, **kw):
    return prepare_wild(folder, cache_root=tmp / "cache", image_size=S, workers=1, progress=False, **kw)


def test_packed_unlabelled_single_view(tmp_path):
    folder = _prepare(write_wild(tmp_path / "wild"), tmp_path)
    meta = read_meta(folder)
    assert meta["splits"] == {"train": 3, "all": 3}
    assert meta["has_labels"] is False and meta["has_cameras"] is False and meta["num_views"] == 1
    split = PackedSplit(folder, "train")
    a = split.arrays
    assert a["images"].shape == (3, 1, S, S, 3) and not split.has_labels
    assert np.isnan(a["joints_world_mm"]).all() and np.isnan(a["joints_2d_norm"]).all()
    np.testing.assert_array_equal(a["root_world_mm"], 0)
    np.testing.assert_array_equal(a["R"], np.broadcast_to(np.eye(3), (3, 1, 3, 3)))
    np.testing.assert_array_equal(a["t_mm"], np.broadcast_to([0, 0, NOMINAL_DEPTH_MM], (3, 1, 3)))
    # the root (world origin) projects to the crop centre (box rounding: < 1 px)
    uvw = a["K"][:, 0] @ a["t_mm"][:, 0, :, None]
    np.testing.assert_allclose(uvw[:, :2, 0] / uvw[:, 2:, 0], (S - 1) / 2, atol=1.0)


def test_nominal_focal_from_mask_height(tmp_path):
    raw = write_wild(tmp_path / "wild", stems=("only",))
    a = PackedSplit(_prepare(raw, tmp_path), "train").arrays
    m = read_mask(raw / "masks" / "only.png", image_hw=(64, 80), image_path=raw / "images" / "only.jpg")
    x0, y0, x1, y1 = mask_bounds(m)
    side = round(1.2 * max(x1 - x0, y1 - y0))        # crop side in full-image px (CROP_MARGIN)
    f_full = (y1 - y0) * NOMINAL_DEPTH_MM / NOMINAL_HEIGHT_MM
    np.testing.assert_allclose(a["K"][0, 0, 0, 0], f_full * S / side, rtol=1e-5)


def test_frame_cap(tmp_path):
    folder = _prepare(write_wild(tmp_path / "wild", stems=tuple("abcde")), tmp_path, max_frames=2)
    assert read_meta(folder)["splits"] == {"train": 2, "all": 2}


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here"):
        _prepare(tmp_path / "nothing_here", tmp_path)


def test_missing_mask(tmp_path):
    raw = write_wild(tmp_path / "wild")
    (raw / "masks" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"masks/b\.png"):
        _prepare(raw, tmp_path)


def test_corrupt_image(tmp_path):
    raw = write_wild(tmp_path / "wild")
    (raw / "images" / "c.jpg").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"images/c\.jpg"):
        _prepare(raw, tmp_path)


def test_empty_and_wrong_size_masks(tmp_path):
    raw = write_wild(tmp_path / "wild")
    Image.new("L", (80, 64), 0).save(raw / "masks" / "a.png")
    with pytest.raises(ValueError, match=r"masks/a\.png.*empty"):
        _prepare(raw, tmp_path)
    Image.new("L", (64, 64), 255).save(raw / "masks" / "a.png")
    with pytest.raises(ValueError, match=r"masks/a\.png.*differs"):
        _prepare(raw, tmp_path)
