"""The packed split: the one on-disk and in-memory form every data set is turned into.

A built or prepared data set is a folder ``<root>/<name>-<hash>/`` holding ``meta.json``
and one sub-folder per split (``train``, ``val``, ``test`` or ``all``) with the arrays
below as ``.npy`` files (N moments, C cameras, S crop pixels, J = 17 joints):

====================  =========  ==================  =========================================
file                  dtype      shape               meaning
====================  =========  ==================  =========================================
images.npy            uint8      (N, C, S, S, 3)     RGB crops
masks.npy             uint8      (N, C, S, S)        supervision masks (0/1; segmenter output)
geodesic.npy          float16    (N, C, S, S)        geodesic weight G of ``masks`` (docs/method.md §1)
K.npy                 float32    (N, C, 3, 3)        crop intrinsics (camera mm -> crop px)
R.npy                 float32    (N, C, 3, 3)        world -> camera rotation
t_mm.npy              float32    (N, C, 3)           world -> camera translation, mm
root_world_mm.npy     float32    (N, 3)              pelvis in world mm (the "dataset root")
joints_world_mm.npy   float32    (N, J, 3)           ground truth, world mm (NaN if no labels)
joints_cam_mm.npy     float32    (N, C, J, 3)        ground truth, camera mm (NaN if no labels)
joints_2d_norm.npy    float32    (N, C, J, 2)        ground truth, normalised crop coordinates
subject.npy           <U         (N,)                subject id (splits never share one)
====================  =========  ==================  =========================================

Optional: ``masks_exact.npy`` (uint8, like masks) where the masks carry segmentation noise.
``meta.json`` holds at least ``name``, ``hash``, ``num_views``, ``image_size``,
``has_labels``, ``has_cameras``, ``splits`` ({split: N}) and the generator/preparation config.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maskpose_core.skeleton import NUM_JOINTS

REQUIRED = {
    "images": np.uint8, "masks": np.uint8, "geodesic": np.float16, "K": np.float32,
    "R": np.float32, "t_mm": np.float32, "root_world_mm": np.float32,
    "joints_world_mm": np.float32, "joints_cam_mm": np.float32, "joints_2d_norm": np.float32,
}
OPTIONAL = {"masks_exact": np.uint8}


def expected_shapes(n: int, c: int, s: int) -> dict[str, tuple[int, ...]]:
    j = NUM_JOINTS
    return {
        "images": (n, c, s, s, 3), "masks": (n, c, s, s), "geodesic": (n, c, s, s),
        "K": (n, c, 3, 3), "R": (n, c, 3, 3), "t_mm": (n, c, 3), "root_world_mm": (n, 3),
        "joints_world_mm": (n, j, 3), "joints_cam_mm": (n, c, j, 3), "joints_2d_norm": (n, c, j, 2),
        "masks_exact": (n, c, s, s), "subject": (n,),
    }


def validate_split(arrays: dict[str, np.ndarray], *, where: str) -> tuple[int, int, int]:
    """Check names, dtypes and shapes of one split's arrays; return (N, C, S)."""
    missing = [k for k in (*REQUIRED, "subject") if k not in arrays]
    if missing:
        raise ValueError(f"{where}: missing arrays {missing}")
    n, c, s = arrays["masks"].shape[:3]
    shapes = expected_shapes(n, c, s)
    for name, arr in arrays.items():
        if name not in shapes:
            raise ValueError(f"{where}: unknown array {name!r}")
        if tuple(arr.shape) != shapes[name]:
            raise ValueError(f"{where}/{name}: expected shape {shapes[name]}, got {tuple(arr.shape)}")
        want = REQUIRED.get(name) or OPTIONAL.get(name)
        if want is not None and arr.dtype != want:
            raise ValueError(f"{where}/{name}: expected dtype {np.dtype(want)}, got {arr.dtype}")
    empty = np.flatnonzero(arrays["masks"].reshape(n * c, -1).max(axis=1) == 0)
    if empty.size:
        i, v = divmod(int(empty[0]), c)
        raise ValueError(f"{where}/masks: {empty.size} mask(s) have no foreground (first: moment {i}, view {v})")
    return n, c, s


def write_packed(folder: Path, meta: dict, splits: dict[str, dict[str, np.ndarray]]) -> Path:
    """Write a packed data set atomically: into ``folder.tmp-<pid>``, then rename to ``folder``.

    A half-written folder is never visible under the final name.
    """
    folder = Path(folder)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        counts = {}
        for split, arrays in splits.items():
            n, c, s = validate_split(arrays, where=f"{folder.name}/{split}")
            counts[split] = n
            (tmp / split).mkdir()
            for name, arr in arrays.items():
                np.save(tmp / split / f"{name}.npy", arr)
        meta = {**meta, "splits": counts}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_meta(folder: Path) -> dict:
    path = Path(folder) / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not a packed data set (no meta.json)")
    return json.loads(path.read_text())


class PackedSplit(torch.utils.data.Dataset):
    """One split of a packed data set as a map-style torch Dataset of multi-view moments.

    ``ds[i]`` is a dict of tensors (C views, S pixels, J joints):
    image (C, 3, S, S) float in [0, 1]; mask (C, S, S) float 0/1; geodesic (C, S, S) float;
    K, R (C, 3, 3); t_mm (C, 3); root_world_mm (3,); joints_world_mm (J, 3);
    joints_cam_mm (C, J, 3); joints_2d_norm (C, J, 2); index () long.
    Arrays are memory-mapped; ``load_in_memory()`` reads them once for fast training.
    """

    def __init__(self, folder: Path, split: str):
        self.folder = Path(folder)
        self.meta = read_meta(self.folder)
        if split not in self.meta["splits"]:
            raise ValueError(f"{self.folder}: no split {split!r}; it has {sorted(self.meta['splits'])}")
        self.split = split
        d = self.folder / split
        self.arrays = {name: np.load(d / f"{name}.npy", mmap_mode="r") for name in REQUIRED}
        self.subject = np.load(d / "subject.npy")
        n, self.num_views, self.image_size = self.arrays["masks"].shape[:3]
        self._len = n

    def load_in_memory(self) -> "PackedSplit":
        self.arrays = {k: np.ascontiguousarray(v) for k, v in self.arrays.items()}
        return self

    @property
    def has_labels(self) -> bool:
        return bool(self.meta.get("has_labels", True))

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        a = self.arrays
        out = {
            "image": torch.from_numpy(np.array(a["images"][i])).permute(0, 3, 1, 2).float() / 255.0,
            "mask": torch.from_numpy(np.array(a["masks"][i])).float(),
            "geodesic": torch.from_numpy(np.asarray(a["geodesic"][i]).astype(np.float32)),
            "index": torch.tensor(i, dtype=torch.long),
        }
        for k in ("K", "R", "t_mm", "root_world_mm", "joints_world_mm", "joints_cam_mm", "joints_2d_norm"):
            out[k] = torch.from_numpy(np.array(a[k][i]))
        return out


@dataclass(frozen=True)
class DataBundle:
    """What ``fit`` trains and validates on: packed splits plus the data set's description.

    ``extra``: single-view samples of a second data set (``DataConfig.extra``,
    data/single_view.py), trained on with the mask loss only; None when there is none.
    ``test``: the split numbers are reported on (None where the data set has none: the
    final metrics then come from ``val`` alone). ``pseudo``: the two-stage recipe's labelled
    pseudo images (``registry.pseudo_data_config``), None outside the recipe.
    """
    train: PackedSplit
    val: PackedSplit
    name: str
    folder: Path
    extra: torch.utils.data.Dataset | None = None
    test: PackedSplit | None = None          # reported numbers (val: every choice)
    pseudo: PackedSplit | None = None        # two-stage recipe: labelled pseudo images (train split)

    @property
    def num_views(self) -> int:
        return self.train.num_views
