"""Masks too small to crop around (a far or half-detected person) are skipped by every real
loader, reported in one line and in meta.json; a folder with none usable is refused by name."""
from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from fixtures import write_h36m, write_wild
from maskpose_core.data.configs import DataConfig
from maskpose_core.data.crop import mask_side_px
from maskpose_core.data.h36m import H36M_CAMERA_IDS, prepare_h36m
from maskpose_core.data.packed import PackedSplit, read_meta
from maskpose_core.data.registry import load_data
from maskpose_core.data.wild import prepare_wild

S = 32
WILD_HW = (64, 80)   # write_wild's frames (H, W)


def _blob(path, *, width: int, height: int, hw=WILD_HW, at=(20, 30)) -> None:
    """A mask file holding one width x height rectangle of foreground at (x, y) = ``at``."""
    m = np.zeros(hw, np.uint8)
    m[at[1]:at[1] + height, at[0]:at[0] + width] = 255
    Image.fromarray(m).save(path)


def _prepare_wild(folder, tmp, **kw):
    return prepare_wild(folder, cache_root=tmp / "cache", image_size=S, workers=1, progress=False, **kw)


def test_mask_side_is_the_longer_side_of_the_box():
    m = np.zeros((10, 10), bool)
    m[4:6, 2:5] = True                         # rows 4-5, columns 2-4: 3 wide, 2 high
    assert mask_side_px(m) == 3
    m[9, 9] = True                             # box now columns 2-9, rows 4-9: 8 x 6
    assert mask_side_px(m) == 8


def test_wild_skips_small_masks_names_them_in_one_line_and_in_meta(tmp_path, caplog):
    raw = write_wild(tmp_path / "wild", stems=tuple("abcde"))
    _blob(raw / "masks" / "b.png", width=2, height=2)          # the 2x2 blob
    _blob(raw / "masks" / "d.png", width=3, height=3)
    with caplog.at_level(logging.WARNING, logger="maskpose_core.data.crop"):
        folder = _prepare_wild(raw, tmp_path)
    lines = [r.getMessage() for r in caplog.records if "min_mask_px" in r.getMessage()]
    assert len(lines) == 1
    assert f"wild data folder {raw}: skipped 2 of 5 moments" in lines[0]
    assert f"{raw / 'masks' / 'b.png'} (2 px), {raw / 'masks' / 'd.png'} (3 px)" in lines[0]
    meta = read_meta(folder)
    assert meta["splits"] == {"train": 3, "all": 3}
    assert meta["skipped_masks"] == {"min_mask_px": 32, "splits": {"train": {
        "kept": 3, "skipped": [[str(raw / "masks" / "b.png"), 2], [str(raw / "masks" / "d.png"), 3]]}}}
    # the kept moments are a, c, e: byte for byte what a folder of only those three gives
    only = write_wild(tmp_path / "only", stems=tuple("abcde"))
    for s in "bd":
        (only / "images" / f"{s}.jpg").unlink(), (only / "masks" / f"{s}.png").unlink()
    ref = PackedSplit(_prepare_wild(only, tmp_path), "train").arrays
    got = PackedSplit(folder, "train").arrays
    for k in ("images", "masks", "K"):
        np.testing.assert_array_equal(got[k], ref[k])
    # reusing the prepared folder says it again, in one line
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="maskpose_core.data.crop"):
        assert _prepare_wild(raw, tmp_path) == folder
    again = [r.getMessage() for r in caplog.records if "min_mask_px" in r.getMessage()]
    assert len(again) == 1 and "skipped 2 of 5 moments" in again[0] and "b.png (2 px)" in again[0]


def test_the_threshold_is_inclusive_at_min_mask_px(tmp_path):
    raw = write_wild(tmp_path / "wild", stems=("a", "b"))
    _blob(raw / "masks" / "a.png", width=31, height=5)          # 31 px < 32: skipped
    _blob(raw / "masks" / "b.png", width=6, height=32, at=(20, 10))   # 32 px: kept
    meta = read_meta(_prepare_wild(raw, tmp_path))
    assert meta["splits"]["train"] == 1
    assert meta["skipped_masks"]["splits"]["train"]["skipped"] == [[str(raw / "masks" / "a.png"), 31]]
    # min_mask_px = 0 keeps every non-empty mask (the old behaviour); a new cache folder
    meta0 = read_meta(_prepare_wild(raw, tmp_path, min_mask_px=0))
    assert meta0["splits"]["train"] == 2 and meta0["skipped_masks"]["splits"]["train"]["skipped"] == []


def test_a_folder_with_no_usable_mask_is_refused_by_name_and_nothing_is_written(tmp_path):
    raw = write_wild(tmp_path / "wild", stems=("a", "b"))
    _blob(raw / "masks" / "a.png", width=2, height=2)
    _blob(raw / "masks" / "b.png", width=3, height=2)
    with pytest.raises(ValueError) as err:
        _prepare_wild(raw, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"wild data folder {raw}: no usable mask: skipped 2 of 2 moments")
    assert "data.min_mask_px = 32 px" in msg and "a.png (2 px)" in msg and "b.png (3 px)" in msg
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []


def test_data_config_passes_min_mask_px_to_the_loader_and_refuses_a_negative_one(tmp_path):
    raw = write_wild(tmp_path / "wild", stems=("a", "b"))
    _blob(raw / "masks" / "a.png", width=20, height=12)
    cfg = DataConfig(dataset="wild", root=str(raw), image_size=S)
    assert load_data(cfg, root=tmp_path / "cache", workers=1, progress=False).train.meta["splits"]["train"] == 1
    small = DataConfig(dataset="wild", root=str(raw), image_size=S, min_mask_px=20)
    assert load_data(small, root=tmp_path / "cache", workers=1, progress=False).train.meta["splits"]["train"] == 2
    with pytest.raises(ValueError, match=r"DataConfig.min_mask_px must be >= 0, got -1"):
        DataConfig(min_mask_px=-1)


def test_h36m_skips_a_moment_when_one_of_its_views_is_small(tmp_path):
    raw = write_h36m(tmp_path)                                  # S1 frames 1, 6, 11 (train)
    small = raw / "S1" / "Directions-1" / "masks" / H36M_CAMERA_IDS[2] / "img_000006.png"
    _blob(small, width=3, height=3, hw=(96, 96))
    folder = prepare_h36m(raw, cache_root=tmp_path / "cache", image_size=S, workers=1, progress=False)
    meta = read_meta(folder)
    assert meta["splits"] == {"train": 2, "test": 3}
    assert meta["skipped_masks"]["splits"] == {"train": {"kept": 2, "skipped": [[str(small), 3]]},
                                               "test": {"kept": 3, "skipped": []}}
