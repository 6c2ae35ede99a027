"""Crop/resize/intrinsics helpers shared by the real data sets (crop.py)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fixtures import toy_split
from maskpose_core.data.crop import (crop_matrix, crop_resize, cached_packed, even_subset, keep_by_gap,
                                     listing_fingerprint, read_mask, square_box)


def _disc(h, w, cx, cy, r):
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r ** 2


def test_crop_matrix_maps_points_like_the_resized_pixels():
    # a bright disc at (37.3, 52.6) in a 120x100 image; after crop+resize its centroid must sit
    # where the crop matrix sends the centre (pixel centres at integers)
    h, w, S = 100, 120, 40
    mask = _disc(h, w, 37.3, 52.6, 6) | _disc(h, w, 60, 40, 10)
    image = np.zeros((h, w, 3), np.uint8)
    image[_disc(h, w, 37.3, 52.6, 6)] = 255
    box = square_box(mask, margin=1.3)
    img, msk = crop_resize(image, mask, box, S)
    wgt = img[..., 0].astype(float)
    yy, xx = np.mgrid[0:S, 0:S]
    centroid = np.array([(wgt * xx).sum(), (wgt * yy).sum()]) / wgt.sum()
    u = crop_matrix(*box, S) @ np.array([37.3, 52.6, 1.0])
    np.testing.assert_allclose(centroid, u[:2], atol=0.1)
    assert msk.dtype == np.uint8 and set(np.unique(msk)) == {0, 1}


def test_square_box_rules():
    mask = np.zeros((50, 80), bool)
    mask[10:30, 20:60] = True                        # 40 wide, 20 high (pixel edges 19.5..59.5)
    x0, y0, side = square_box(mask, margin=1.2)
    assert side == 48 and (x0 + side / 2 - 0.5, y0 + side / 2 - 0.5) == (39.5, 19.5)
    x0, y0, side = square_box(mask, margin=1.0, center_px=np.array([25.0, 20.0]))
    assert side == 69                                # 2 x (59.5 - 25): reaches the farthest edge
    assert x0 - 0.5 <= 19.5 and x0 + side - 0.5 >= 59.5 and y0 - 0.5 <= 9.5 and y0 + side - 0.5 >= 29.5


def test_read_mask_thresholds(tmp_path):
    m = np.zeros((8, 8), np.uint8)
    m[2:5, 3:6] = 1
    Image.fromarray(m).save(tmp_path / "binary.png")                 # 0/1 PNG
    Image.fromarray(m * 200 + 20).save(tmp_path / "gray.png")        # 8-bit with a floor of 20
    Image.fromarray(np.dstack([m * 255] * 3)).save(tmp_path / "rgb.jpg", quality=95)
    rgba = np.dstack([np.full((8, 8, 3), 90, np.uint8), m * 255])        # cut-out: alpha is the mask
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    pal = Image.fromarray(m * 3, "P")                                       # VOS palette: index 3 = person
    pal.putpalette([0, 0, 0, 10, 10, 10, 20, 20, 20, 0, 0, 60])             # dark colours on purpose
    pal.save(tmp_path / "palette.png")
    for name in ("binary.png", "gray.png", "rgb.jpg", "cutout.png", "palette.png"):
        got = read_mask(tmp_path / name, image_hw=(8, 8), image_path=tmp_path / "img.jpg")
        np.testing.assert_array_equal(got, m.astype(bool), err_msg=name)


def test_frame_selection():
    assert keep_by_gap(list(range(1, 21)), 5) == [1, 6, 11, 16]
    assert keep_by_gap([1, 65, 129], 64) == [1, 65, 129]
    assert keep_by_gap([1, 3, 4, 9, 10, 15], 5) == [1, 9, 15]
    assert even_subset(list(range(10)), 3) == [0, 4, 9] and even_subset([1, 2], 0) == [1, 2]


def test_listing_fingerprint_sees_new_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.jpg").write_bytes(b"1")
    before = listing_fingerprint([tmp_path / "d"])
    (tmp_path / "d" / "b.jpg").write_bytes(b"2")
    assert listing_fingerprint([tmp_path / "d"]) != before


def test_cached_packed_builds_once(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"num_views": 1}, {"train": toy_split()}

    a = cached_packed(tmp_path, "toy", {"k": 1}, build)
    b = cached_packed(tmp_path, "toy", {"k": 1}, build)
    c = cached_packed(tmp_path, "toy", {"k": 2}, build)
    assert a == b != c and len(calls) == 2 and a.name.startswith("toy-") and len(a.name) == len("toy-") + 12


def test_corrupt_mask_file_named(tmp_path):
    (tmp_path / "m.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(ValueError, match=r"m\.png"):
        read_mask(tmp_path / "m.png", image_hw=(4, 4), image_path=tmp_path / "i.jpg")
