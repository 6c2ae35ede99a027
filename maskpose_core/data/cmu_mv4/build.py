"""Build (or find) a packed cmu-mv4 / cmu-3dhp-rig data set: frames -> moments -> folder.

``build_cmu_mv4(DataConfig(...), root=...)`` derives the :class:`GeneratorConfig`, and if
``<root>/<folder_name>`` already holds a complete build with the same hash returns it at
once. Otherwise it renders every selected frame in a process pool (chunks of frames, a
tqdm bar on stderr), each moment seeded by ``[gen_seed, frame index]`` (byte-identical for
any worker count), and writes the splits with ``write_packed`` (atomic: a failed build
leaves no folder). Large builds accumulate into memory-mapped scratch files next to the
output, removed afterwards whatever happens. Concurrent calls for the same folder (e.g.
several training workers) are serialised by a lock file ``<root>/.<name>.lock``: one
builds, the others then find the finished folder. The poses file and the frame selection are
checked before the root is created or the lock taken, so a refused build leaves nothing behind
(``file_lock`` removes its file when released).

Workers are forked where the platform allows it (they only run numpy/scipy code), so a
calling script needs no ``if __name__ == "__main__"`` guard.
"""
from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path


import numpy as np

try:
    from tqdm import tqdm
except ImportError:          # a bare machine (e.g. a GPU box with torch, numpy, scipy only): no bar
    tqdm = None

from maskpose_core.data.cmu_mv4.config import GeneratorConfig, generator_config
from maskpose_core.data.cmu_mv4.frames import PoseSource, load_poses, select_frames
from maskpose_core.data.cmu_mv4.moment import render_moment
from maskpose_core.data.cmu_mv4.rig import RIGS
from maskpose_core.data.configs import DataConfig
from maskpose_core.file_lock import file_lock
from maskpose_core.data.geodesic import UnusableMask
from maskpose_core.data.packed import expected_shapes, write_packed
from maskpose_core.skeleton import NUM_JOINTS

CHUNK_MOMENTS = 32                     # moments per pool task (keeps the bar moving, pickles small)
IN_MEMORY_LIMIT_BYTES = 4 * 1024 ** 3  # above this, accumulate into memory-mapped scratch files
MOCAP_ACKNOWLEDGEMENT = (
    "The data used in this project was obtained from mocap.cs.cmu.edu. The database was "
    "created with funding from NSF EIA-0196217. (CMU Graphics Lab Motion Capture Database; "
    "free for all uses, not to be resold directly, even in converted form.)")
DTYPES = {"images": np.uint8, "masks": np.uint8, "masks_exact": np.uint8, "geodesic": np.float16,
          "K": np.float32, "R": np.float32, "t_mm": np.float32, "root_world_mm": np.float32,
          "joints_world_mm": np.float32, "joints_cam_mm": np.float32, "joints_2d_norm": np.float32}


def _complete(folder: Path, gen: GeneratorConfig) -> bool:
    """Does ``folder`` hold a finished build of ``gen`` (meta.json with its hash, every split)?"""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return False
    splits = meta.get("splits")
    return (meta.get("hash") == gen.hash and isinstance(splits, dict) and bool(splits)
            and all((folder / s / "masks.npy").is_file() for s in splits))


class _NoBar:
    def update(self, n: int) -> None:
        pass


def _render_chunk(task: tuple) -> tuple[str, int, dict[str, np.ndarray]]:
    """Pool task: (gen, split, start, frame indices (n,), poses (n, J, 3)) -> stacked arrays."""
    gen, split, start, frames, poses = task
    outs = []
    for f, pose in zip(frames, poses):
        try:
            outs.append(render_moment(gen, pose, np.random.default_rng([gen.gen_seed, int(f)])))
        except UnusableMask as err:
            raise ValueError(f"{gen.poses or 'the embedded poses file'}, frame {int(f)}, view {err.index[0]}: "
                             f"{err.reason}; G cannot be computed for this mask") from None
    return split, start, {k: np.stack([o[k] for o in outs]) for k in outs[0]}


def _allocate(gen: GeneratorConfig, counts: dict[str, int], scratch: Path | None) -> dict:
    names = [k for k in DTYPES if k != "masks_exact" or gen.mask_noise > 0]
    out = {}
    for split, n in counts.items():
        shapes = expected_shapes(n, gen.num_views, gen.image_size)
        out[split] = {}
        for k in names:
            if scratch is None:
                out[split][k] = np.empty(shapes[k], dtype=DTYPES[k])
            else:
                (scratch / split).mkdir(parents=True, exist_ok=True)
                out[split][k] = np.lib.format.open_memmap(scratch / split / f"{k}.npy", mode="w+",
                                                          dtype=DTYPES[k], shape=shapes[k])
    return out


def _bytes_needed(gen: GeneratorConfig, total_moments: int) -> int:
    per_view = gen.image_size ** 2 * (3 + 1 + 2 + (1 if gen.mask_noise > 0 else 0))
    return total_moments * gen.num_views * per_view


def _render_all(gen: GeneratorConfig, src: PoseSource, frames: dict[str, np.ndarray],
                arrays: dict, workers: int, progress: bool, desc: str) -> None:
    tasks = [(gen, split, s, idx[s:s + CHUNK_MOMENTS], src.poses[idx[s:s + CHUNK_MOMENTS]])
             for split, idx in frames.items() for s in range(0, len(idx), CHUNK_MOMENTS)]
    total = sum(len(v) for v in frames.values())
    bar_cm = (tqdm(total=total, desc=desc, unit="moment", file=sys.stderr, disable=not progress)
              if tqdm is not None else contextlib.nullcontext(_NoBar()))
    with bar_cm as bar:
        if workers == 1:
            results = map(_render_chunk, tasks)
            pool = None
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
            pool = multiprocessing.get_context(method).Pool(workers)
            results = pool.imap_unordered(_render_chunk, tasks)
        try:
            for split, start, chunk in results:
                n = len(chunk["masks"])
                for k, arr in chunk.items():
                    if k in arrays[split]:
                        arrays[split][k][start:start + n] = arr
                bar.update(n)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()


def _meta(gen: GeneratorConfig, folder: Path, src: PoseSource, frames: dict, seconds: float) -> dict:
    return {
        "name": folder.name, "hash": gen.hash, "generator": gen.to_dict(),
        "generator_module": __name__.rsplit(".", 1)[0], "dataset": gen.dataset,
        "num_views": gen.num_views, "image_size": gen.image_size, "num_joints": NUM_JOINTS,
        "has_labels": True, "has_cameras": True, "has_masks_exact": gen.mask_noise > 0,
        "val_subjects": list(gen.val_subjects) if "val" in frames else [],
        "test_subjects": list(gen.test_subjects) if "test" in frames else [],
        "excluded_subjects": list(gen.exclude_subjects),
        "counts": {s: len(v) for s, v in frames.items()},
        "subjects": {s: sorted(set(src.subject[v].tolist())) for s, v in frames.items()},
        "rig": {"name": gen.rig, "focal_px_full_frame": RIGS[gen.rig].focal_px,
                "frame_px": RIGS[gen.rig].frame_px, "crop_mm": gen.crop_mm},
        "poses_file": str(src.path), "build_seconds": round(seconds, 1),
        "mocap_acknowledgement": MOCAP_ACKNOWLEDGEMENT,
    }


def build_cmu_mv4(data_cfg: DataConfig, *, root: Path, workers: int | None = None,
                  progress: bool = True) -> Path:
    """Build the synthetic benchmark of ``data_cfg`` under ``root``; return its folder.

    Reuses ``<root>/<dataset>-<size>-<hash12>`` when it is a complete build of the same
    generator config. ``workers`` processes (default ``os.cpu_count()``; 1 = in-process).
    """
    gen = generator_config(data_cfg)
    root = Path(root)
    folder = root / gen.folder_name
    if _complete(folder, gen):
        return folder
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"build_cmu_mv4: workers must be >= 1 (or None = all cores), got {workers}")
    t0 = time.perf_counter()
    src = load_poses(gen)                    # bad input is refused before anything is created
    frames = select_frames(gen, src)
    load_seconds = time.perf_counter() - t0
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / f".{folder.name}.lock"):
        if not _complete(folder, gen):       # another process may have built it meanwhile
            _build(gen, folder, src, frames, workers, progress, load_seconds)
    return folder


def _build(gen: GeneratorConfig, folder: Path, src: PoseSource, frames: dict[str, np.ndarray],
           workers: int, progress: bool, load_seconds: float) -> None:
    t0 = time.perf_counter() - load_seconds   # build_seconds counts reading the poses, not waiting
    total = sum(len(v) for v in frames.values())
    scratch = None
    if _bytes_needed(gen, total) > IN_MEMORY_LIMIT_BYTES:
        scratch = folder.parent / f".{folder.name}.scratch-{os.getpid()}"
    try:
        arrays = _allocate(gen, {s: len(v) for s, v in frames.items()}, scratch)
        _render_all(gen, src, frames, arrays, workers, progress, folder.name)
        for split, idx in frames.items():
            arrays[split]["subject"] = src.subject[idx].astype(str)
        meta = _meta(gen, folder, src, frames, time.perf_counter() - t0)
        write_packed(folder, meta, arrays)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
