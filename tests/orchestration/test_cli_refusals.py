"""A refused ``maskpose data build`` exits with status 2 and one line naming the file and what is
wrong with it, and leaves the data root exactly as it was: no folder, no lock, no temp file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from orchestration import cli

J = 17  # joints of a poses file (skeleton.NUM_JOINTS)


def _listing(root: Path) -> list[str] | None:
    """Every path under ``root`` (hidden ones included), or None when it does not exist."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else None


def _poses(path: Path, kind: str) -> Path:
    if kind == "16 joints":
        np.savez(path, poses=np.zeros((3, 16, 3)), subject=np.array(["a", "b", "c"]))
    elif kind == "NaN":
        poses = np.ones((3, J, 3))
        poses[1, 4, 2] = np.nan
        np.savez(path, poses=poses, subject=np.array(["a", "b", "c"]))
    elif kind == "text":
        path.write_text("frame,x,y,z\n0,1,2,3\n")
    elif kind == "npy":
        with open(path, "wb") as f:                # np.save to a file object keeps the name
            np.save(f, np.ones((3, J, 3)))
    elif kind == "objects":
        np.savez(path, poses=np.array([np.ones((J, 3)), "x"], dtype=object))
    return path


BAD_POSES = [
    ("16 joints", "field 'poses' must have shape [N, 17, 3] with N >= 1, got (3, 16, 3)"),
    ("NaN", "field 'poses' has 1 frame(s) with NaN/inf (first: frame 1)"),
    ("text", "a text file (first line 'frame,x,y,z'), not an .npz poses file"),
    ("npy", "a single .npy array (np.save; write poses files with np.savez(path, poses=...)), not an .npz"),
    ("objects", "field 'poses' holds Python objects (a pickled object array), not numbers or strings"),
]


@pytest.mark.parametrize("kind, reason", BAD_POSES, ids=[k for k, _ in BAD_POSES])
def test_a_refused_build_leaves_the_data_root_as_it_was(tmp_path, capsys, kind, reason):
    bad = _poses(tmp_path / "poses.npz", kind)
    fresh, used = tmp_path / "fresh-root", tmp_path / "used-root"
    (used / "cmu-mv4-an-earlier-build").mkdir(parents=True)
    before = _listing(used)
    for root in (fresh, used):
        code = cli.main(["data", "build", "--profile", "smoke", "--poses", str(bad), "--root", str(root)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2
        assert err[-1].startswith(f"maskpose data: error: {bad}: {reason}"), err[-1]
        assert not any("Traceback" in line or "allow_pickle" in line for line in err)
    assert _listing(fresh) is None                # not even the root folder was created
    assert _listing(used) == before == ["cmu-mv4-an-earlier-build"]   # no lock, no temp folder


def test_a_wild_folder_with_no_usable_mask_is_refused_and_nothing_is_cached(tmp_path, capsys, monkeypatch):
    raw = tmp_path / "frames"
    for stem, side in (("f1", 2), ("f2", 3)):   # a far person: 2x2 and 3x3 masks in 48x40 frames
        (raw / "images").mkdir(parents=True, exist_ok=True), (raw / "masks").mkdir(exist_ok=True)
        Image.new("RGB", (48, 40), (90, 90, 90)).save(raw / "images" / f"{stem}.png")
        mask = np.zeros((40, 48), np.uint8)
        mask[10:10 + side, 20:20 + side] = 255
        Image.fromarray(mask).save(raw / "masks" / f"{stem}.png")
    cache = tmp_path / "cache"
    monkeypatch.setenv("MASKPOSE_DATA", str(cache))
    code = cli.main(["data", "build", "--dataset", "wild", "--profile", "smoke", "--root", str(raw),
                     "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1] == (f"maskpose data: error: wild data folder {raw}: no usable mask: skipped 2 of 2 moments "
                       f"whose mask box is under data.min_mask_px = 32 px on its longer side (a far or "
                       f"half-detected person): {raw / 'masks' / 'f1.png'} (2 px), {raw / 'masks' / 'f2.png'} (3 px)")
    assert _listing(cache) is None
    # with the minimum lowered to 2 px both frames are kept and the folder is built
    assert cli.main(["data", "build", "--dataset", "wild", "--profile", "smoke", "--root", str(raw),
                     "--workers", "1", "data.min_mask_px=2"]) == 0
    folder = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert folder.parent == cache and (folder / "train" / "masks.npy").is_file()
